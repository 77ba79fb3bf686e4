"""The compiled sampler: the same batches as the gymnasium sampler, every algorithm on it,
``compiled=True``, user envs, errors."""

import numpy as np
import pytest
from numba import njit

import fasttrpo
from fasttrpo import CPO, PCPO, TRPO, TRPOPIDLagrangian
from fasttrpo.algorithms.lagrangian import TRPOLagrangian
from fasttrpo.envs.compiled import CompiledVectorEnv, make_port
from fasttrpo.models.normalize import ObservationNormalizer, RewardScaler
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.rollout import CompiledSampler, NoiseStreams, RolloutBatch, VectorEnvSampler

from compiled_point import point_env


def _policy(port, dtype):
    encoder, codec = ObsEncoder.for_space(port.observation_space), \
        ActionCodec.for_space(port.action_space)
    if codec.kind == "gaussian":
        policy = fasttrpo.GaussianMLPPolicy(encoder.obs_dim, codec.width, hidden_sizes=(8,),
                                            dtype=dtype, seed=0)
    else:
        policy = fasttrpo.CategoricalMLPPolicy(encoder.obs_dim, int(port.action_space.n),
                                               hidden_sizes=(8,), dtype=dtype, seed=0)
    return policy, encoder, codec


def _rollouts(port, kind, n_envs, dtype, normalize, n_steps=250, iterations=3, policy=None):
    """Batches of ``policy`` (default: `_policy`'s) from either sampler, and the statistics."""
    default, encoder, codec = _policy(port, dtype)
    policy = policy or default
    obs_norm = ObservationNormalizer(encoder.obs_dim) if normalize else None
    reward_scaler = RewardScaler(n_envs, 0.99) if normalize else None
    if kind == "compiled":
        sampler = CompiledSampler(port, n_envs, encoder, codec, obs_norm, reward_scaler, dtype)
    else:
        sampler = VectorEnvSampler(CompiledVectorEnv(port, n_envs), encoder, codec, obs_norm,
                                   reward_scaler, dtype)
    rng = NoiseStreams(1)
    sampler.reset(seed=3)
    batches = []
    for _ in range(iterations):
        batch = RolloutBatch(n_steps, n_envs, encoder.obs_dim, policy.action_width, dtype)
        assert sampler.collect(policy, batch, rng)
        batches.append(batch)
    stats = [n.state_dict() for n in (obs_norm, reward_scaler) if n is not None]
    return batches, stats


@pytest.mark.parametrize(("env_id", "n_envs", "dtype", "normalize"), [
    ("CartPole-v1", 3, np.float32, True),
    ("CartPole-v1", 9, np.float64, True),  # >= 8 envs: numpy's pairwise sums in the stats
    ("Acrobot-v1", 2, np.float32, False),
    ("MountainCar-v0", 4, np.float64, True),  # time-limit truncations: final_obs bootstraps
])
def test_same_batches_as_the_gymnasium_sampler(env_id, n_envs, dtype, normalize):
    """Bit-identical batches from the same seed: observations, actions, rewards (scaled),
    flags, bootstrap observations, episodes and the normalisation statistics."""
    port = make_port(env_id)
    compiled, compiled_stats = _rollouts(port, "compiled", n_envs, dtype, normalize)
    gym, gym_stats = _rollouts(port, "gym", n_envs, dtype, normalize)
    episodes = finals = 0
    for ours, theirs in zip(compiled, gym, strict=True):
        for name in ("obs", "actions", "rewards", "flags", "last_obs"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name),
                                          err_msg=name)
        assert ours.finished_episodes == theirs.finished_episodes
        assert ours.final_obs.keys() == theirs.final_obs.keys()
        for key, row in ours.final_obs.items():
            np.testing.assert_array_equal(row, theirs.final_obs[key])
        episodes += len(ours.finished_episodes)
        finals += len(ours.final_obs)
    for ours, theirs in zip(compiled_stats, gym_stats, strict=True):
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert episodes > 0 and (finals > 0 or env_id != "MountainCar-v0")


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_gaussian_batches_match_the_gymnasium_sampler(env_id):
    """Gaussian heads: the same batches up to the last bit of the means (the Cython acting
    forward and the compiled rollout sum the output layer in different orders), float64."""
    port = make_port(env_id)
    compiled, _ = _rollouts(port, "compiled", 3, np.float64, True, iterations=2)
    gym, _ = _rollouts(port, "gym", 3, np.float64, True, iterations=2)
    for ours, theirs in zip(compiled, gym, strict=True):
        for name in ("obs", "actions", "rewards"):
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name),
                                       rtol=1e-9, atol=1e-9, err_msg=name)
        np.testing.assert_array_equal(ours.flags, theirs.flags)
        assert [e["l"] for e in ours.finished_episodes] == \
            [e["l"] for e in theirs.finished_episodes]


def _zoo(**kwargs):
    return dict(n_steps=256, batch_size=256, gae_lambda=0.98, cg_damping=1e-3,
                n_critic_updates=5, policy_kwargs=dict(net_arch=[16]), seed=0, **kwargs)


def test_trpo_compiled_learns_cartpole_and_is_reproducible():
    model = TRPO("MlpPolicy", "CartPole-v1", compiled=True, n_envs=4, **_zoo())
    assert isinstance(model.sampler, CompiledSampler) and model.get_env() is None
    model.learn(40_000)
    assert np.mean([e["r"] for e in model.ep_info_buffer]) > 150
    again = TRPO("MlpPolicy", "CartPole-v1", compiled=True, n_envs=4, **_zoo())
    again.learn(40_000)
    np.testing.assert_array_equal(model.policy.get_params(), again.policy.get_params())


def test_compiled_model_saves_and_loads_compiled(tmp_path):
    model = TRPO("MlpPolicy", "Pendulum-v1", compiled=True, n_envs=2, normalize_obs=True,
                 normalize_reward=True, **_zoo())
    model.learn(1024)
    model.save(tmp_path / "pendulum")
    loaded = TRPO.load(tmp_path / "pendulum", env="Pendulum-v1")
    assert loaded.config.compiled and isinstance(loaded.sampler, CompiledSampler)
    np.testing.assert_array_equal(loaded.obs_normalizer.mean, model.obs_normalizer.mean)
    loaded.learn(512)
    obs = np.zeros((5, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0].shape, (5, 1))


def test_unknown_port_is_a_clear_error():
    with pytest.raises(ValueError, match="no compiled port of 'LunarLander-v3'.*Acrobot-v1"):
        TRPO("MlpPolicy", "LunarLander-v3", compiled=True)


# ---- a user env with a cost: the README's contract, constrained algorithms ----------------
@njit(cache=True)
def _point_step_nan(params, rng, state, action):
    state[0] = np.nan if state[1] > 1.0 else state[0] + 0.1 * action[0]  # after 100 steps
    state[1] += 0.01
    return 0.0, 0.0, False, False


_point_env = point_env


@pytest.mark.parametrize("algorithm", [CPO, PCPO, TRPOLagrangian, TRPOPIDLagrangian])
def test_constrained_algorithms_run_on_a_compiled_env_with_costs(algorithm):
    model = algorithm("MlpPolicy", _point_env(), cost_limit=5.0, n_envs=2, **_zoo())
    model.learn(1024)
    episodes = list(model.ep_info_buffer)
    assert episodes and all(e["l"] == 50 and "c" in e for e in episodes)
    assert all(0 <= e["c"] <= 50 for e in episodes)


def test_constrained_algorithm_needs_a_cost():
    model = CPO("MlpPolicy", _point_env(has_cost=False), cost_limit=5.0, **_zoo())
    with pytest.raises(ValueError, match="needs a per-step cost.*has_cost=False"):
        model.learn(256)


def test_non_finite_env_is_reported_with_env_and_step():
    model = TRPO("MlpPolicy", _point_env(step=_point_step_nan, has_cost=False,
                                         max_episode_steps=None), n_envs=2, **_zoo())
    with pytest.raises(ValueError, match=r"point produced a non-finite observation.*env 0, "
                                         r"step \d+ of the rollout"):
        model.learn(256)


def test_callback_can_stop_a_compiled_rollout():
    calls = []

    def stop_after_100(locals_, globals_):
        calls.append(1)
        return len(calls) < 100

    model = TRPO("MlpPolicy", "CartPole-v1", compiled=True, n_envs=2, **_zoo())
    model.learn(10_000, callback=stop_after_100)
    assert len(calls) == 100 and model._n_updates == 0
    assert model.num_timesteps == 200
