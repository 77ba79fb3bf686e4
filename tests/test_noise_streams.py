"""Per-env noise streams: stream i is SeedSequence(seed).spawn(n)[i], blocks draw the same
numbers as one call, envs split over samplers with env_offset act as one sampler, and a saved
model continues its streams."""

import numpy as np
import pytest

import fasttrpo
from fasttrpo import TRPO
from fasttrpo.rollout import NoiseStreams, RolloutBatch, VectorEnvSampler, make_vector_env
from fasttrpo.rollout.streams import RolloutNoise


def test_stream_i_is_the_ith_spawned_child_whatever_the_count():
    children = np.random.SeedSequence(7).spawn(5)
    streams = NoiseStreams(7, 2)
    assert len(streams) == 2
    policy = fasttrpo.GaussianMLPPolicy(3, 2, (4,), dtype=np.float64, seed=0)
    noise = streams.draw(policy, 3, 0, 5)  # creates streams 2..4 on demand
    assert noise.shape == (3, 5, 2) and noise.flags.c_contiguous
    for i, child in enumerate(children):
        np.testing.assert_array_equal(noise[:, i], np.random.default_rng(child)
                                      .standard_normal((3, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocks_draw_what_one_call_draws(dtype, monkeypatch):
    policy = fasttrpo.CategoricalMLPPolicy(3, 4, (4,), dtype=dtype, seed=0)
    whole = NoiseStreams(1).draw(policy, 9, 0, 3)
    monkeypatch.setattr("fasttrpo.rollout.streams._BLOCK_VALUES", 6)  # 2 draws per block
    noise = RolloutNoise(NoiseStreams(1), policy, 9, 0, 3)
    assert noise.block_size == 2
    np.testing.assert_array_equal(np.stack([noise.at(t) for t in range(9)]), whole)


def test_envs_split_over_samplers_act_as_one_sampler():
    """env_offset seeds env i with seed + i; the streams are the run's: the Ray sampler's
    equivalence without Ray."""
    model = TRPO("MlpPolicy", "Pendulum-v1", n_envs=4, seed=0, policy_kwargs=dict(net_arch=[8]))

    def batch(n_envs):
        return RolloutBatch(20, n_envs, 3, 1, model.dtype)

    whole = VectorEnvSampler(make_vector_env("Pendulum-v1", 4), model.encoder, model.codec,
                             dtype=model.dtype)
    whole.reset(seed=5)
    one = batch(4)
    assert whole.collect(model.policy, one, NoiseStreams(9))
    streams = NoiseStreams(9)
    for offset in (0, 2):
        part = VectorEnvSampler(make_vector_env("Pendulum-v1", 2), model.encoder, model.codec,
                                dtype=model.dtype, env_offset=offset)
        part.reset(seed=5)
        share = batch(2)
        worker_streams = NoiseStreams.from_states(streams.states(offset, offset + 2))
        assert part.collect(model.policy, share, worker_streams)
        streams.set_states(offset, worker_streams.states())
        for name in ("obs", "actions", "rewards"):
            np.testing.assert_array_equal(getattr(share, name),
                                          getattr(one, name)[:, offset:offset + 2], name)


def test_a_loaded_model_continues_its_streams(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, seed=2,
                 policy_kwargs=dict(net_arch=[4])).learn(32)
    loaded = TRPO.load(model.save(tmp_path / "m"))
    assert loaded.noise_streams.states() == model.noise_streams.states()
    assert loaded.noise_streams.entropy == 2
    model.set_random_seed(3)
    assert model.noise_streams.states(0, 1) == NoiseStreams(3, 1).states()


def test_bad_streams_are_refused():
    policy = fasttrpo.CategoricalMLPPolicy(2, 2, (4,))
    with pytest.raises(TypeError, match="streams: expected fasttrpo.rollout.NoiseStreams"):
        RolloutNoise(np.random.default_rng(0), policy, 4)
    with pytest.raises(ValueError, match="noise_streams: invalid generator state"):
        NoiseStreams.from_states([{"bit_generator": "PCG64", "state": "x"}])
    with pytest.raises(ValueError, match="noise_streams: entropy must be"):
        NoiseStreams.from_state_dict({"entropy": -1, "states": []})
    with pytest.raises(ValueError, match="noise_streams: expected"):
        NoiseStreams.from_state_dict([1, 2])
