"""An env written as three Numba functions: the whole rollout runs compiled (compiled=True).

A point mass pushed towards the origin; the contract is in fasttrpo/envs/compiled/contract.py.
"""

import numpy as np
from gymnasium import spaces
from numba import njit

from fasttrpo import TRPO
from fasttrpo.envs.compiled import CompiledEnv, CompiledVectorEnv, uniform


@njit(cache=True)
def reset(params, rng, state):
    """Start at a random position, at rest: state = (position, velocity)."""
    state[0] = uniform(rng, -1.0, 1.0)
    state[1] = 0.0


@njit(cache=True)
def step(params, rng, state, action):
    """Push with the force action[0] (clipped to [-1, 1]); reward closeness to the origin."""
    state[1] = state[1] + params[0] * action[0]
    state[0] = state[0] + params[0] * state[1]
    reward = -state[0] ** 2 - 0.1 * action[0] ** 2
    return reward, 0.0, abs(state[0]) > 5.0, False  # reward, cost, terminated, truncated


@njit(cache=True)
def observe(params, state, obs):
    """Observe the position and the velocity."""
    obs[0], obs[1] = state[0], state[1]


point = CompiledEnv("Point", reset, step, observe,
                    observation_space=spaces.Box(-np.inf, np.inf, (2,), np.float64),
                    action_space=spaces.Box(-1.0, 1.0, (1,), np.float32),
                    state_dim=2, params=[0.1], max_episode_steps=100)
model = TRPO("MlpPolicy", point, n_envs=4, n_steps=256, seed=0).learn(20_000)
venv = CompiledVectorEnv(point, num_envs=4)  # the same env as a gymnasium VectorEnv
