"""Train on your own gymnasium environment: a point on a line pushed towards a moving target."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fasttrpo import TRPO
from fasttrpo.evaluation import evaluate_policy


class TrackTarget(gym.Env):
    """Observation (position, target); action: a push in [-1, 1]; reward -|position - target|."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        """Start at 0 with a random target."""
        super().reset(seed=seed)
        self.position, self.target, self.t = 0.0, self.np_random.uniform(-2, 2), 0
        return self._obs(), {}

    def step(self, action):
        """Push, move the target, reward the closeness; 100-step episodes."""
        self.position += 0.2 * float(action[0])
        self.target += 0.05 * np.sin(0.1 * self.t)
        self.t += 1
        reward = -abs(self.position - self.target)
        return self._obs(), reward, False, self.t >= 100, {}

    def _obs(self):
        return np.array([self.position, self.target], dtype=np.float32)


model = TRPO("MlpPolicy", TrackTarget(), n_steps=1024, seed=0)
model.learn(30_000)
mean, std = evaluate_policy(model, TrackTarget(), n_eval_episodes=10, deterministic=True)
print(f"mean return {mean:.1f} +/- {std:.1f} (doing nothing: about -100)")
