"""rl-baselines3-zoo's velocity-masked tasks: gymnasium's env, velocities zeroed, nothing else."""

import gymnasium as gym
import numpy as np
import pytest

import fasttrpo.envs  # noqa: F401 (registers the ids)
from fasttrpo.envs.no_velocity import (
    NO_VELOCITY_TASKS,
    VELOCITY_INDICES,
    MaskVelocity,
    make_no_velocity_env,
)

CLASSIC = [env_id for env_id, base in NO_VELOCITY_TASKS.items()
           if not base.startswith("LunarLander")]  # LunarLander needs box2d


@pytest.mark.parametrize("env_id", CLASSIC)
def test_a_masked_task_is_its_env_with_velocities_zeroed(env_id):
    base_id = NO_VELOCITY_TASKS[env_id]
    masked, base = gym.make(env_id), gym.make(base_id)
    assert masked.observation_space == base.observation_space
    assert masked.action_space == base.action_space
    assert masked.spec.max_episode_steps is None or masked.spec.max_episode_steps > 0
    hidden = list(VELOCITY_INDICES[base_id])
    shown = [i for i in range(base.observation_space.shape[0]) if i not in hidden]
    obs_m, _ = masked.reset(seed=3)
    obs_b, _ = base.reset(seed=3)
    base.action_space.seed(4)
    steps, ended = 0, False
    while not ended and steps < 300:
        action = base.action_space.sample()
        np.testing.assert_array_equal(obs_m[shown], obs_b[shown])
        assert (obs_m[hidden] == 0).all()
        obs_m, r_m, term_m, trunc_m, _ = masked.step(action)
        obs_b, r_b, term_b, trunc_b, _ = base.step(action)
        assert (r_m, term_m, trunc_m) == (r_b, term_b, trunc_b)
        ended, steps = term_b or trunc_b, steps + 1
    # the base env's velocities are not all zero: masking hides information
    assert steps > 5


def test_the_sampler_collects_no_velocity():
    """A model's rollout batch over the masked CartPole holds zeros in the velocity columns."""
    import fasttrpo
    from fasttrpo import TRPO

    model = TRPO("MlpPolicy", "fasttrpo/CartPoleNoVel-v1", n_envs=2, n_steps=64, batch_size=64,
                 seed=0)
    batch = fasttrpo.rollout.RolloutBatch(64, 2, 4, 1, model.dtype, model.signals)
    model.sampler.reset(seed=0)
    model.sampler.collect(model.policy, batch, model.noise_streams, None)
    assert (batch.obs[:, :, [1, 3]] == 0).all()
    assert np.ptp(batch.obs[:, :, [0, 2]]) > 0  # the positions move


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no velocity table"):
        make_no_velocity_env("Hopper-v5")
    with pytest.raises(ValueError, match="indices"):
        MaskVelocity(gym.make("CartPole-v1"), [4])
    with pytest.raises(ValueError, match="flat Box"):
        MaskVelocity(gym.make("FrozenLake-v1"), [0])
