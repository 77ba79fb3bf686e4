"""The shared on-policy core: signals in a batch, the sampler protocol, a second algorithm on
the base, and normalisers owned by the model."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

import fasttrpo
from fasttrpo import TRPO
from fasttrpo.algorithms import OnPolicyAlgorithm, UpdateBatch
from fasttrpo.config import OnPolicyConfig
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.models.value_function import ValueFunction
from fasttrpo.rollout import NoiseStreams, RolloutBatch, Sampler, VectorEnvSampler

from toy_envs import CounterEnv, MatchEnv

TINY = dict(n_steps=32, batch_size=16, policy_kwargs=dict(net_arch=[4]), n_critic_updates=1)


def _counter_batch(signals=("reward",), cost_scale=None):
    env = SyncVectorEnv([lambda: TimeLimit(CounterEnv(4, cost_scale=cost_scale), 6)] * 2,
                        autoreset_mode=AutoresetMode.SAME_STEP)
    sampler = VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                               ActionCodec.for_space(env.single_action_space), dtype=np.float64)
    batch = RolloutBatch(11, 2, 2, 1, np.float64, signals=signals)
    sampler.reset(seed=0)
    assert sampler.collect(fasttrpo.CategoricalMLPPolicy(2, 2, (4,), dtype=np.float64), batch,
                           NoiseStreams(0))
    return batch


def test_a_new_signal_needs_no_batch_code():
    # GAE is linear in (rewards, values): a cost signal of 3 * reward with a critic of
    # 3 * V must give 3 times the reward's advantages and targets.
    batch = _counter_batch(signals=("reward", "cost"), cost_scale=3.0)
    assert list(batch.signals) == ["reward", "cost"]
    np.testing.assert_array_equal(batch.signals["cost"], 3.0 * batch.rewards)
    vf = ValueFunction(2, (), dtype=np.float64)
    vf.set_params([0.5, -1.0, 2.0])
    adv, ret = batch.advantages_and_returns("reward", vf.predict, 0.9, 0.8)
    cost_adv, cost_ret = batch.advantages_and_returns(
        "cost", lambda obs: 3.0 * vf.predict(obs), 0.9, 0.8)
    np.testing.assert_allclose(cost_adv, 3.0 * adv, rtol=1e-12)
    np.testing.assert_allclose(cost_ret, 3.0 * ret, rtol=1e-12)
    with pytest.raises(ValueError, match="signal: 'energy' is not in this batch"):
        batch.advantages_and_returns("energy", vf.predict, 0.9, 0.8)


def test_finished_episodes_are_reported_per_rollout():
    batch = _counter_batch()
    # 11 steps of 2 envs, episodes terminate after 4 steps with rewards 1 + 2 + 3 + 4
    assert batch.finished_episodes == [{"r": 10.0, "l": 4}] * 4


class ReplaySampler:
    """A sampler of another kind (no gymnasium env attached to the model): it delegates to a
    VectorEnvSampler and counts its calls, as a compiled or remote sampler would be used."""

    def __init__(self, env_id, model):
        venv = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
        self.inner = VectorEnvSampler(venv, model.encoder, model.codec, model.obs_normalizer,
                                      None, model.dtype)
        self.num_envs = self.inner.num_envs
        self.observation_space = self.inner.observation_space
        self.action_space = self.inner.action_space
        self.resets, self.collects = [], 0

    def reset(self, seed=None):
        self.resets.append(seed)
        self.inner.reset(seed)

    def collect(self, policy, batch, rng, on_step=None):
        self.collects += 1
        return self.inner.collect(policy, batch, rng, on_step)

    def close(self):
        self.inner.close()


def test_a_pluggable_sampler_drives_training():
    model = TRPO("MlpPolicy", "CartPole-v1", seed=5, **TINY)
    sampler = ReplaySampler("CartPole-v1", model)
    assert isinstance(sampler, Sampler)
    model.set_sampler(sampler)
    assert model.get_env() is None and model.n_envs == 2
    model.learn(128)
    assert sampler.resets == [5] and sampler.collects == 2 and model.num_timesteps == 128
    with pytest.raises(TypeError, match="does not implement fasttrpo.rollout.Sampler"):
        model.set_sampler(object())
    bad = ReplaySampler("CartPole-v1", model)
    bad.action_space = gym.spaces.Discrete(3)
    with pytest.raises(ValueError, match="action_space"):
        model.set_sampler(bad)


class FrozenPolicy(OnPolicyAlgorithm):
    """A second algorithm needs a config class, a name and its policy step only."""

    config_class = OnPolicyConfig
    algorithm_name = "FrozenPolicy"

    def __init__(self, policy, env, **kwargs):
        super().__init__(policy, env, OnPolicyConfig(**kwargs))

    def update_policy(self, data: UpdateBatch) -> None:
        self.seen = data


def test_a_second_algorithm_reuses_the_whole_base(tmp_path):
    model = FrozenPolicy("MlpPolicy", MatchEnv("discrete"), seed=0, sub_sampling_factor=4,
                         **TINY)
    before = model.policy.get_params()
    model.learn(64)
    np.testing.assert_array_equal(model.policy.get_params(), before)  # its step does nothing
    data = model.seen
    assert data.obs.shape == (32, 4) and data.policy_obs.shape == (8, 4)
    adv = data.policy_advantages["reward"]
    assert abs(adv.mean()) < 1e-9 and abs(adv.std() - 1.0) < 1e-6  # normalised
    assert model.n_steps == 32 and not hasattr(model, "target_kl")
    path = model.save(tmp_path / "frozen")
    loaded = FrozenPolicy.load(path)
    np.testing.assert_array_equal(loaded.value_function.get_params(),
                                  model.value_function.get_params())
    with pytest.raises(ValueError, match="not a fasttrpo TRPO model"):
        TRPO.load(path)


