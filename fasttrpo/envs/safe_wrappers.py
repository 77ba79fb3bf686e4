"""Constrained MDPs turned into ones any algorithm can train on: Sauté and early termination.

Both read the per-step cost from ``info["cost"]`` and work with every sampler that steps
gymnasium envs (wrap the env, or pass the class to ``gymnasium.make_vec(wrappers=...)``):

- `SauteEnv` (Sootla et al., 2022, "Sauté RL: Almost Surely Safe Reinforcement Learning
  Using State Augmentation"): the observation gains the remaining safety budget
  ``z`` (1 at the start, ``z <- (z - c / d) / gamma_c`` per step) and the reward becomes
  ``unsafe_reward`` at every step that leaves ``z <= 0``, so a plain TRPO learns to keep the
  episode cost under ``d``.
- `EarlyTerminated` (Sun et al., 2021, "Safe Exploration by Solving Early Terminated MDP"):
  the episode ends (``terminated``, no bootstrap) at the step where its cumulative cost
  exceeds the limit.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["EarlyTerminated", "SauteEnv", "step_cost"]

#: the key under which `SauteEnv` adds the budget to a Dict observation
SAUTE_KEY = "saute_budget"


def step_cost(info: dict) -> float:
    """Return the step's ``info["cost"]`` as a finite float; ValueError names what is wrong."""
    if "cost" not in info:
        raise ValueError("env: the step's info has no 'cost' (constrained wrappers need "
                         "info['cost'] every step; fasttrpo.envs.CostInInfo adapts envs that "
                         "return it as a sixth value)")
    cost = float(info["cost"])
    if not math.isfinite(cost):
        raise ValueError(f"env: info['cost'] must be finite, got {cost}")
    return cost


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name}: must be a positive number, got {value!r}")
    return value


class SauteEnv(gym.Wrapper):
    """Sauté: the safety budget in the state, the reward replaced once it is spent.

    Parameters
    ----------
    env : gymnasium.Env
        Reports ``info["cost"]`` every step; Box or Dict observations.
    cost_limit : float
        ``d``, the episode cost allowed (> 0).
    saute_gamma : float, default 1.0
        ``gamma_c`` in (0, 1]: the budget's discount. Below 1 the budget is rescaled to
        ``d (1 - gamma_c^T) / ((1 - gamma_c) T)`` with ``T = max_episode_steps``, as in the
        paper, so that ``d`` stays an episode total.
    unsafe_reward : float, default 0.0
        The reward of every step after which the budget is spent (``z <= 0``); <= 0.
    max_episode_steps : int, optional
        ``T`` (default: the env's time limit); needed when ``saute_gamma < 1``.

    Notes
    -----
    The observation gains ``z`` as one more value of its float type (a Box is flattened
    first) or as the Dict entry ``"saute_budget"`` (float32); ``info["saute_budget"]`` and
    ``info["true_reward"]`` hold ``z`` and the env's own reward.
    """

    def __init__(self, env: gym.Env, cost_limit: float, saute_gamma: float = 1.0,
                 unsafe_reward: float = 0.0, max_episode_steps: int | None = None) -> None:
        super().__init__(env)
        self.cost_limit = _positive("cost_limit", cost_limit)
        if not 0.0 < saute_gamma <= 1.0:
            raise ValueError(f"saute_gamma: must lie in (0, 1], got {saute_gamma!r}")
        if not (unsafe_reward <= 0 and math.isfinite(unsafe_reward)):
            raise ValueError(f"unsafe_reward: must be a number <= 0, got {unsafe_reward!r}")
        self.saute_gamma, self.unsafe_reward = float(saute_gamma), float(unsafe_reward)
        budget = self.cost_limit
        if self.saute_gamma < 1.0:
            horizon = max_episode_steps or (env.spec.max_episode_steps if env.spec else None)
            if not horizon:
                raise ValueError("max_episode_steps: needed with saute_gamma < 1 (the env "
                                 "has no time limit to read it from)")
            budget *= (1 - self.saute_gamma**horizon) / ((1 - self.saute_gamma) * horizon)
        self.budget = budget  # d, rescaled for the discount
        self.z = 1.0
        space = env.observation_space
        unbounded = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        if isinstance(space, spaces.Dict):
            if SAUTE_KEY in space.spaces:
                raise ValueError(f"env: the observation already has a {SAUTE_KEY!r} entry")
            self.observation_space = spaces.Dict({**space.spaces, SAUTE_KEY: unbounded})
        elif isinstance(space, spaces.Box) and space.dtype.kind == "f":
            dtype = space.dtype  # z in the observations' own float type
            low = np.append(space.low.ravel(), -np.inf).astype(dtype)
            high = np.append(space.high.ravel(), np.inf).astype(dtype)
            self.observation_space = spaces.Box(low, high, dtype=dtype)
        else:
            raise ValueError(f"env: SauteEnv takes float Box or Dict observations, got {space}")

    def _augment(self, obs):
        if isinstance(self.observation_space, spaces.Dict):
            return {**obs, SAUTE_KEY: np.array([self.z], np.float32)}
        dtype = self.observation_space.dtype
        return np.append(np.asarray(obs, dtype).ravel(), dtype.type(self.z))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and the budget (``z = 1``)."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.z = 1.0
        return self._augment(obs), {**info, "saute_budget": self.z}

    def step(self, action):
        """Step, spend the budget by the step's cost, replace the reward once it is spent."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.z = (self.z - step_cost(info) / self.budget) / self.saute_gamma
        info = {**info, "saute_budget": self.z, "true_reward": reward}
        if self.z <= 0.0:
            reward = self.unsafe_reward
        return self._augment(obs), reward, terminated, truncated, info


class EarlyTerminated(gym.Wrapper):
    """End the episode when its cumulative cost exceeds ``cost_limit``.

    The step that takes the episode's cost above the limit returns ``terminated=True`` (a
    true end: no value is bootstrapped past it) and ``info["early_terminated"] = True``;
    rewards and observations are the env's.
    """

    def __init__(self, env: gym.Env, cost_limit: float) -> None:
        super().__init__(env)
        self.cost_limit = float(cost_limit)
        if not (self.cost_limit >= 0 and math.isfinite(self.cost_limit)):
            raise ValueError(f"cost_limit: must be a number >= 0, got {cost_limit!r}")
        self.episode_cost = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and the episode's cost."""
        self.episode_cost = 0.0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        """Step; terminate once the episode's cost exceeds the limit."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_cost += step_cost(info)
        if self.episode_cost > self.cost_limit and not terminated:
            terminated, info = True, {**info, "early_terminated": True}
        return obs, reward, terminated, truncated, info
