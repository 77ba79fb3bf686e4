"""Tiny gymnasium environments whose optimal actions are known, for learning tests."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class MatchEnv(gym.Env):
    """One-step episodes: the observation encodes a target, the reward says how close the action
    is to it. A working update learns the target map; a broken one does not.

    kind: "box" (reward -|a - tanh(2 obs[:d])|^2), "discrete" (reward 1 for the class
    argmax(obs[:n])), "multidiscrete" (one point per sub-action matching its block's argmax),
    "multibinary" (one point per bit equal to obs[i] > 0).
    """

    def __init__(self, kind: str, obs_dim: int = 4, horizon: int = 1):
        self.kind = kind
        self.horizon = horizon
        self.observation_space = spaces.Box(-1.0, 1.0, (obs_dim,), dtype=np.float32)
        self.action_space = {
            "box": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32),
            "discrete": spaces.Discrete(3),
            "multidiscrete": spaces.MultiDiscrete([2, 2]),
            "multibinary": spaces.MultiBinary(3),
        }[kind]
        self._obs = None
        self._t = 0

    def _new_obs(self):
        self._obs = self.np_random.uniform(-1, 1, self.observation_space.shape).astype(np.float32)
        return self._obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._new_obs(), {}

    def optimal(self, obs):
        if self.kind == "box":
            return np.tanh(2 * obs[:2])
        if self.kind == "discrete":
            return int(np.argmax(obs[:3]))
        if self.kind == "multidiscrete":
            return np.array([int(obs[0] > obs[1]) ^ 1, int(obs[2] > obs[3]) ^ 1])
        return (obs[:3] > 0).astype(np.int8)

    def reward(self, obs, action):
        best = self.optimal(obs)
        if self.kind == "box":
            return float(-np.sum((np.asarray(action) - best) ** 2))
        return float(np.sum(np.asarray(action) == best))

    def step(self, action):
        assert self.action_space.contains(action), action
        reward = self.reward(self._obs, action)
        self._t += 1
        return self._new_obs(), reward, self._t >= self.horizon, False, {}


class CounterEnv(gym.Env):
    """Deterministic: obs = [t, 1], reward = t + 1; terminates at ``terminate_at`` steps if
    given; wrap in TimeLimit for truncation. With ``cost_scale``, ``info["cost"]`` is
    ``cost_scale * reward``."""

    def __init__(self, terminate_at: int | None = None, discrete_action: bool = True,
                 cost_scale: float | None = None):
        self.terminate_at = terminate_at
        self.cost_scale = cost_scale
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), dtype=np.float64)
        self.action_space = spaces.Discrete(2) if discrete_action else spaces.Box(-1, 1, (1,))
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return np.array([0.0, 1.0]), {}

    def step(self, action):
        reward = float(self._t + 1)
        self._t += 1
        terminated = self.terminate_at is not None and self._t >= self.terminate_at
        info = {} if self.cost_scale is None else {"cost": self.cost_scale * reward}
        return np.array([float(self._t), 1.0]), reward, terminated, False, info


class DictObsEnv(gym.Env):
    observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,))})
    action_space = spaces.Discrete(2)


class SleepyCartPole(gym.Wrapper):
    """CartPole-v1 whose step first sleeps ``seconds`` (a slow simulator, for Ray tests)."""

    def __init__(self, seconds: float = 0.003):
        super().__init__(gym.make("CartPole-v1"))
        self.seconds = seconds

    def step(self, action):
        import time

        time.sleep(self.seconds)
        return self.env.step(action)


class RaisingCartPole(gym.Wrapper):
    """CartPole-v1 that raises at its 5th step after a reset with seed ``RAISE_SEED``."""

    RAISE_SEED = 103

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.armed, self.steps = False, 0

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.armed = seed == self.RAISE_SEED
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self.steps += 1
        if self.armed and self.steps >= 5:
            raise FloatingPointError("the simulator blew up at step 5")
        return self.env.step(action)


class DictCartPole(gym.ObservationWrapper):
    """CartPole-v1 with Dict observations: positions, velocities and a constant Discrete."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.observation_space = spaces.Dict({
            "pos": spaces.Box(-np.inf, np.inf, (2,)), "vel": spaces.Box(-np.inf, np.inf, (2,)),
            "k": spaces.Discrete(3)})

    def observation(self, observation):
        return {"pos": observation[[0, 2]], "vel": observation[[1, 3]], "k": 1}
