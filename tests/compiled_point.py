"""A compiled point mass with a cost (the README's env contract), shared by the tests.

Reward: the speed; cost: 1 per step faster than ``params[0]`` (0.3). The functions are cached
like a user's (``cache=True``).
"""

import numpy as np
from gymnasium import spaces
from numba import njit

from fasttrpo.envs.compiled import CompiledEnv, uniform


@njit(cache=True)
def point_reset(params, rng, state):
    state[0] = uniform(rng, -0.1, 0.1)  # position
    state[1] = 0.0  # velocity


@njit(cache=True)
def point_step(params, rng, state, action):
    state[1] = 0.9 * state[1] + 0.1 * action[0]
    state[0] += state[1]
    return state[1], 1.0 if state[1] > params[0] else 0.0, False, False


@njit(cache=True)
def point_observe(params, state, obs):
    obs[0], obs[1] = state[0] / 10.0, state[1]


def point_env(step=point_step, has_cost=True, max_episode_steps=50):
    return CompiledEnv("point", point_reset, step, point_observe,
                       spaces.Box(-np.inf, np.inf, (2,), np.float64),
                       spaces.Box(-1.0, 1.0, (1,), np.float32), state_dim=2, params=[0.3],
                       max_episode_steps=max_episode_steps, has_cost=has_cost)
