"""One update's transaction (fasttrpo/algorithms/update.py): batch preparation, the batch
check, and the rollback, each against an independent computation."""

import math

import gymnasium as gym
import numpy as np
import pytest

from fasttrpo import CPO, TRPO
from fasttrpo.algorithms import update

from toy_envs import CounterEnv, MatchEnv

POINT = "fasttrpo/SafetyPointVelocity-v0"


def _prepared(model, steps):
    """The (RolloutBatch, UpdateBatch) pairs of a learn call, captured at prepare_batch."""
    pairs = []
    prepare = model.prepare_batch
    model.prepare_batch = lambda batch: pairs.append((batch, prepare(batch))) or pairs[-1][1]
    model.learn(steps)
    return pairs


@pytest.mark.parametrize("k", [1, 3])
def test_prepare_batch_sub_samples_and_normalises_as_sb3_contrib(k):
    model = CPO("MlpPolicy", POINT, n_envs=2, n_steps=60, batch_size=60, seed=0,
                sub_sampling_factor=k, cost_limit=5.0, policy_kwargs=dict(net_arch=[8]))
    batch, data = _prepared(model, 120)[-1]
    assert len(data.obs) == 120  # every row valid (no NEXT_STEP reset rows here)
    np.testing.assert_array_equal(data.policy_obs, data.obs[::k])
    np.testing.assert_array_equal(data.policy_actions, data.actions[::k])
    reward, cost = data.advantages["reward"][::k], data.advantages["cost"][::k]
    np.testing.assert_allclose(data.policy_advantages["reward"],
                               (reward - reward.mean()) / (reward.std() + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(data.policy_advantages["cost"], cost - cost.mean(), rtol=1e-12)
    assert data.signal_means["cost"] == pytest.approx(
        float(np.mean(batch.flat(batch.signals["cost"]))))


def test_prepare_batch_returns_are_advantages_plus_values():
    """R = A + V(s) row by row, V the critic's values before its fit (GAE's definition)."""
    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=64, batch_size=64, seed=1,
                 policy_kwargs=dict(net_arch=[8]), normalize_advantage=False)
    captured = []
    prepare = model.prepare_batch

    def spy(batch):
        values = model.value_function.predict(batch.flat(batch.obs))
        captured.append((values, prepare(batch)))
        return captured[-1][1]

    model.prepare_batch = spy
    model.learn(256)
    assert len(captured) == 2
    values, data = captured[-1]
    np.testing.assert_allclose(data.returns["reward"], data.advantages["reward"] + values,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(data.policy_advantages["reward"], data.advantages["reward"])


@pytest.mark.parametrize(("dtype", "peak", "ok"), [
    ("float32", 1e10, True), ("float32", 1e17, False), ("float64", 1e100, True),
    ("float64", 1e152, False), ("float32", math.nan, False), ("float64", math.inf, False)])
def test_check_batch_bounds_are_the_dtypes(dtype, peak, ok):
    """|value| <= sqrt(max float) / 1000: 1.8e16 in float32, 1.3e151 in float64."""
    rows = np.zeros(4)
    rows[2] = peak
    data = update.UpdateBatch(np.zeros((4, 1)), np.zeros((4, 1)), {"reward": np.zeros(4)},
                              {"reward": rows}, np.zeros((4, 1)), np.zeros((4, 1)),
                              {"reward": np.zeros(4)}, [], {"reward": 0.0})
    if ok:
        update.check_batch(data, np.dtype(dtype))
    else:
        with pytest.raises(ValueError, match="reward: value targets reach .* Nothing was "
                                             "updated"):
            update.check_batch(data, np.dtype(dtype))


def test_rollback_restores_policy_critics_optimisers_and_state():
    model = TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=2,
                 policy_kwargs=dict(net_arch=[8])).learn(128)
    before = (model.policy.get_params(), model.value_function.get_params(),
              {k: np.array(v) for k, v in model.vf_fitter.state_dict().items()})
    with pytest.raises(ValueError, match="boom"):
        with update.rollback(model.policy, model.value_functions, model.vf_fitters,
                             model.algorithm_state, model.load_algorithm_state):
            model.policy.set_params(before[0] + 1.0)
            model.value_function.set_params(before[1] - 1.0)
            model.vf_fitter.fit(np.zeros((8, 4)), np.ones(8), np.random.default_rng(0))
            raise ValueError("boom")
    np.testing.assert_array_equal(model.policy.get_params(), before[0])
    np.testing.assert_array_equal(model.value_function.get_params(), before[1])
    for key, value in model.vf_fitter.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), before[2][key])


TINY = dict(n_steps=32, batch_size=16, n_critic_updates=2, seed=0,
            policy_kwargs=dict(net_arch=[8]))


# ---- 1 / 7: a batch the critic cannot fit is refused before anything changes --------------
@pytest.mark.parametrize(("dtype", "reward"), [("float32", 1e20), ("float64", 1e200)])
def test_huge_rewards_are_refused_before_any_update_and_the_model_stays_savable(
        tmp_path, dtype, reward):
    model = TRPO("MlpPolicy", ScaledReward(MatchEnv("box"), reward), dtype=dtype, **TINY)
    before = _state(model)
    with pytest.raises(ValueError, match=r"reward: value targets reach .*Nothing was updated"):
        model.learn(32)
    _assert_same(before, _state(model))
    loaded = TRPO.load(model.save(tmp_path / "m"))  # what was saved loads
    _assert_same(before, _state(loaded))


def test_a_diverging_critic_fit_is_undone_with_the_policy_step(tmp_path):
    model = TRPO("MlpPolicy", CounterEnv(terminate_at=5), learning_rate=1e30,
                 **{**TINY, "batch_size": 8, "n_critic_updates": 5})
    before = _state(model)
    with pytest.raises(ValueError, match="reward: the critic fit diverged"):
        model.learn(32)
    _assert_same(before, _state(model))
    TRPO.load(model.save(tmp_path / "m"))


def test_an_overflowing_reward_does_not_poison_later_learning():
    env = ScaledReward(MatchEnv("box"), 1e200)
    model = TRPO("MlpPolicy", env, normalize_reward=True, dtype="float64", **TINY)
    with pytest.raises(ValueError, match="rewards: .*cannot be normalised"):
        model.learn(32)
    env.reward = 1.0  # the env recovers: training goes on
    model.learn(64)
    assert all(np.isfinite(v).all() for v in model.reward_scaler.state_dict().values())
    assert all(np.isfinite(a).all() for a in _state(model))


# ---- degenerate batches ---------------------------------------------------------------------
def test_a_rollout_of_only_autoreset_steps_updates_nothing():
    # one-step episodes in NEXT_STEP autoreset mode: every other step is a reset step, so a
    # one-step rollout may hold no valid transition at all
    venv = gym.vector.SyncVectorEnv([lambda: MatchEnv("box")])
    model = TRPO("MlpPolicy", venv, **{**TINY, "n_steps": 1, "batch_size": 1,
                                       "normalize_advantage": False})  # sb3-contrib refuses 1 row
    critic = model.value_function.get_params()
    model.learn(8)  # was: ValueError "obs: needs at least one row"; now empty rollouts skip
    assert model.num_timesteps == 8
    assert not np.array_equal(model.value_function.get_params(), critic)  # the others update


class ScaledReward(gym.Wrapper):
    """Every reward replaced by ``self.reward`` (changeable between ``learn`` calls)."""

    def __init__(self, env, reward):
        super().__init__(env)
        self.reward = reward

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, self.reward, terminated, truncated, info


def _state(model):
    """Everything an update may change: policy, critic, Adam state."""
    return [model.policy.get_params(), model.value_function.get_params(),
            *model.vf_fitter.state_dict().values()]


def _assert_same(before, after):
    for want, got in zip(before, after, strict=True):
        np.testing.assert_array_equal(got, want)
