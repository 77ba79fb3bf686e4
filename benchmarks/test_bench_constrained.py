"""A constrained update against a TRPO update on the same batch (one thread).

The issue's target: the CPO update (a second gradient, a second CG solve on the same
linearisation, the cost critic's fit) costs well under 2x a TRPO update. Every variant trains
on one synthetic rollout (11 -> 64 -> 64 -> 3 Gaussian, 1024 steps x 2 envs, float32; random
observations, the policy's own samples, random rewards and costs) from the same parameters.

- ``update``: ``model.train(batch)``: GAE per signal, the policy step, every critic's fit;
- ``policy_step``: the step alone (`trpo_step` / `cpo_step`) on the same advantages.

Run: ``python -m pytest benchmarks/test_bench_constrained.py --benchmark-only``; the ratios
are printed and kept in ``extra_info``.
"""

import gymnasium as gym
import numpy as np
import pytest

from benchmarks import _config
from fasttrpo import CPO, TRPO, TRPOLagrangian
from fasttrpo.rollout import RolloutBatch
from fasttrpo.steps.cpo import cpo_step
from fasttrpo.steps.trpo import trpo_step

ALGORITHMS = {"trpo": TRPO, "cpo": CPO, "trpo_lagrangian": TRPOLagrangian}
_medians: dict = {}


class _Spaces(gym.Env):
    """Spaces only: the batch is synthetic, the env is never stepped."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1, 1, (act_dim,), np.float32)

    def reset(self, *, seed=None, options=None):  # pragma: no cover - never called
        raise NotImplementedError

    def step(self, action):  # pragma: no cover - never called
        raise NotImplementedError


def _sizes():
    if _config.MODE == "smoke":
        return (16, 16), 64
    return (64, 64), 1024


def _model_and_batch(name):
    hidden, n_steps = _sizes()
    kwargs = dict(n_steps=n_steps, n_envs=2, seed=0, policy_kwargs=dict(net_arch=list(hidden)))
    model = ALGORITHMS[name]("MlpPolicy", _Spaces(11, 3), **kwargs)
    rng = np.random.default_rng(0)
    batch = RolloutBatch(n_steps, 2, 11, 3, model.dtype, model.signals)
    batch.obs[:] = rng.normal(size=batch.obs.shape)
    for t in range(n_steps):
        model.policy.act_into(batch.obs[t], False, rng, batch.actions[t])
    batch.rewards[:] = rng.normal(size=batch.rewards.shape)
    if "cost" in batch.signals:
        batch.signals["cost"][:] = rng.random(batch.rewards.shape) < 0.3
    batch.dones[::200] = 1  # an episode end every 200 steps
    batch.finished_episodes = [{"r": 10.0, "l": 200, "c": 60.0}] * 8
    batch.last_obs[:] = batch.obs[-1]
    return model, batch


def _restorer(model):
    """A pedantic ``setup`` putting every network and optimiser back to its first state."""
    policy_params = model.policy.get_params()
    critics = {s: (vf.get_params(), model.vf_fitters[s].state_dict())
               for s, vf in model.value_functions.items()}

    def setup():
        model.policy.set_params(policy_params)
        for signal, (params, state) in critics.items():
            model.value_functions[signal].set_params(params)
            model.vf_fitters[signal].load_state_dict(state)

    return setup


def _note(benchmark, kernel, name):
    benchmark.group = f"constrained {kernel}"
    benchmark.extra_info.update(suite="constrained", kernel=kernel, impl=name)
    if benchmark.stats is None:
        return
    _medians[(kernel, name)] = benchmark.stats.stats.median
    base = _medians.get((kernel, "trpo"))
    if base and name != "trpo":
        ratio = benchmark.stats.stats.median / base
        benchmark.extra_info["ratio_to_trpo"] = ratio
        print(f"\n{kernel} {name}: {ratio:.2f}x the TRPO {kernel}")


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_update(benchmark, name):
    model, batch = _model_and_batch(name)
    model.train(batch)  # compile outside the timing
    benchmark.pedantic(model.train, args=(batch,), setup=_restorer(model), rounds=15,
                       warmup_rounds=1)
    _note(benchmark, "update", name)


@pytest.mark.parametrize("name", ["trpo", "cpo"])
def test_policy_step(benchmark, name):
    model, batch = _model_and_batch("cpo")
    data = model.prepare_batch(batch)
    obs, actions = data.policy_obs, data.policy_actions
    adv_r, adv_c = data.policy_advantages["reward"], data.policy_advantages["cost"]
    cfg = dict(max_kl=0.01, cg_max_steps=15, cg_damping=0.1)
    if name == "trpo":
        def step():
            return trpo_step(model.policy, obs, actions, adv_r, **cfg)
    else:
        def step():  # c = 0.5 per step above the limit: the constraint binds
            return cpo_step(model.policy, obs, actions, adv_r, adv_c, 0.05, **cfg)
    step()
    benchmark.pedantic(step, setup=_restorer(model), rounds=20, warmup_rounds=1)
    _note(benchmark, "policy_step", name)
