"""Fuzz: misbehaving environments and degenerate batches.

Each case trains a tiny model with random, often degenerate hyperparameters (one-step
rollouts, minibatches larger than the batch, every-50th-sample policy steps, gamma 0 or 1,
saturating log_std, a learning rate that makes the critic diverge) on an environment that,
with a random per-step probability, returns NaN, infinite or huge rewards, costs and
observations, observations of the wrong shape or type, or raises its own error.

Documented outcomes: ``learn`` completes, raises ValueError (fasttrpo refused the data) or
lets the environment's own exception through (or one gymnasium's vector env raises while
stacking a malformed observation). After any of them the model's state is finite,
it saves a file that loads, and once the environment behaves it trains on (nothing poisoned).
"""

import os
import traceback

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import fasttrpo
from fasttrpo.algorithms import ALGORITHMS

from fuzzing import Tally, n_cases, rng

PACKAGE = os.path.dirname(fasttrpo.__file__) + os.sep
FAULTS = ("nan_reward", "inf_reward", "huge_reward", "nan_obs", "huge_obs", "wrong_shape",
          "wrong_type", "nan_cost", "raise")


class EnvFault(RuntimeError):
    """The environment's own error: it must reach the caller unchanged."""


class EnvStackError(RuntimeError):
    """An error raised inside gymnasium (its vector env stacking a malformed observation)."""


def _learn(model, steps: int) -> None:
    """``model.learn``; an exception raised inside gymnasium becomes an EnvStackError.

    What the environment and gymnasium's vector env raise is theirs, and passes through;
    fasttrpo's own code raises ValueError only. The innermost frame tells them apart.
    """
    try:
        model.learn(steps)
    except (ValueError, EnvFault):
        raise
    except Exception as err:
        files = [frame.filename for frame in traceback.extract_tb(err.__traceback__)]
        ours = [i for i, name in enumerate(files) if name.startswith(PACKAGE)]
        below = files[ours[-1] + 1:] if ours else []  # what fasttrpo's last frame called
        if below and f"{os.sep}gymnasium{os.sep}" in below[0]:
            raise EnvStackError(f"{type(err).__name__} in {below[0]}: {err}") from err
        raise


class ChaosEnv(gym.Env):
    """Box(3) observations, a target-matching reward and a cost; faults injected at random.

    ``fault_rate`` is the per-step probability of a fault drawn from ``faults``; 0 makes it
    a healthy env (set between ``learn`` calls).
    """

    def __init__(self, action_space, faults, fault_rate, horizon, seed):
        self.observation_space = spaces.Box(-10.0, 10.0, (3,), dtype=np.float32)
        self.action_space = action_space
        self.faults, self.fault_rate, self.horizon = faults, fault_rate, horizon
        self._chaos = np.random.default_rng(seed)
        self._t = 0

    def _obs(self):
        return self._chaos.uniform(-1, 1, 3).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        obs, reward, cost = self._obs(), float(-np.sum(np.square(action))), 0.5
        if self._chaos.random() < self.fault_rate:
            fault = self.faults[int(self._chaos.integers(len(self.faults)))]
            if fault == "raise":
                raise EnvFault("the environment broke")
            reward = {"nan_reward": np.nan, "inf_reward": -np.inf,
                      "huge_reward": float(self._chaos.choice([1e20, -1e200, 1e300]))
                      }.get(fault, reward)
            cost = np.nan if fault == "nan_cost" else cost
            obs = {"nan_obs": np.full(3, np.nan, np.float32),
                   "huge_obs": np.full(3, 1e300),
                   "wrong_shape": np.zeros(int(self._chaos.integers(1, 6)), np.float32),
                   "wrong_type": np.array(["a", "b", "c"])}.get(fault, obs)
        return obs, reward, self._t >= self.horizon, False, {"cost": cost}


def _hyperparameters(generator, algo: str) -> dict:
    pick = lambda *options: options[int(generator.integers(len(options)))]  # noqa: E731
    kwargs = dict(
        n_steps=pick(1, 2, 3, 8, 16), batch_size=pick(1, 4, 64), n_critic_updates=pick(1, 2),
        sub_sampling_factor=pick(1, 3, 50), normalize_obs=pick(False, True),
        normalize_reward=pick(False, True), normalize_advantage=pick(True, False),
        dtype=pick("float32", "float64"), vf_optimizer=pick("adam", "adam", "lbfgs"),
        gamma=pick(0.0, 0.5, 0.99, 1.0), gae_lambda=pick(0.0, 0.95, 1.0),
        n_envs=pick(1, 2), learning_rate=pick(1e-3, 1e-3, 1e30), seed=int(generator.integers(99)),
        target_kl=pick(1e-8, 0.01, 10.0), cg_damping=pick(0.0, 0.1), cg_max_steps=pick(1, 10),
        line_search_max_iter=pick(1, 10),
        policy_kwargs=dict(net_arch=pick([], [4], [4, 4]), log_std_init=pick(-20.0, 0.0, 20.0),
                           activation_fn=pick("tanh", "relu")))
    if algo != "trpo":
        kwargs.update(cost_limit=pick(0.0, 1.0, 100.0), cost_gamma=pick(0.0, 0.99))
    return kwargs


def _assert_healthy(model, folder) -> None:
    arrays = [model.policy.get_params(),
              *(critic.get_params() for critic in model.value_functions.values())]
    for fitter in model.vf_fitters.values():
        arrays += [np.asarray(v) for v in fitter.state_dict().values()]
    for normalizer in (model.obs_normalizer, model.reward_scaler):
        if normalizer is not None:
            arrays += [np.asarray(v) for v in normalizer.state_dict().values()]
    assert all(np.isfinite(a).all() for a in arrays), "non-finite model state"
    type(model).load(model.save(folder / "model"))


@pytest.mark.filterwarnings("ignore:.* step skipped:RuntimeWarning")  # reported, not failures
def test_fuzz_misbehaving_envs_and_degenerate_batches(tmp_path):
    seed = 1508
    generator, tally = rng(seed), Tally("envs and batches", seed)
    names = list(ALGORITHMS)
    for index in range(n_cases(60)):
        algo = names[int(generator.choice([0, 0, 1, 2]))]
        kwargs = _hyperparameters(generator, algo)
        action_space = (spaces.Box(-1.0, 1.0, (2,), np.float32) if generator.random() < 0.6
                        else spaces.Discrete(3))
        faults = [str(f) for f in generator.choice(FAULTS, int(generator.integers(1, 4)),
                                                   replace=False)]
        fault_rate = float(generator.choice([0.0, 0.01, 0.1, 0.5]))
        envs = [ChaosEnv(action_space, faults, fault_rate, int(generator.choice([1, 5, 1000])),
                         seed=index * 10 + k) for k in range(kwargs["n_envs"])]
        venv = gym.vector.SyncVectorEnv([lambda e=e: e for e in envs])
        steps = kwargs["n_steps"] * kwargs["n_envs"] * int(generator.integers(1, 4))

        def case(algo=algo, kwargs=kwargs, venv=venv, envs=envs, steps=steps):
            model = ALGORITHMS[algo]("MlpPolicy", venv, **kwargs)
            try:
                _learn(model, steps)
            finally:
                _assert_healthy(model, tmp_path)
                for env in envs:  # the env recovers: training goes on from the same model
                    env.fault_rate = 0.0
            try:
                model.learn(steps)
            except ValueError as err:  # what the healthy env gives may still be refused,
                # but only by the settings (e.g. a diverging critic), never by stale state
                assert "the critic fit diverged" in str(err) or "can fit" in str(err), err
            _assert_healthy(model, tmp_path)

        description = f"{algo} {kwargs} faults={faults} rate={fault_rate}"
        with np.errstate(all="ignore"):  # the faults are meant to overflow
            tally.run(index, description, case, expected=(ValueError, EnvFault, EnvStackError))
    tally.report()
    assert tally.counts.get("ok", 0) > 0
