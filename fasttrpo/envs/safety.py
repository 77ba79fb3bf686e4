"""The safety tasks of `fasttrpo.envs` and the cost-convention wrapper."""

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["VELOCITY_TASKS", "CostInInfo", "PointTwoCostsEnv", "PointVelocityEnv", "VelocityCost",
           "make_velocity_env"]

#: robot -> (gymnasium base id, speed threshold of safety-gymnasium's v1 tasks, speed
#: measured: "x" forward velocity, or "xy" planar speed as safety-gymnasium's Ant and Humanoid)
VELOCITY_TASKS: dict[str, tuple[str, float, str]] = {
    "Hopper": ("Hopper-v5", 0.7402, "x"),
    "HalfCheetah": ("HalfCheetah-v5", 3.2096, "x"),
    "Walker2d": ("Walker2d-v5", 2.3415, "x"),
    "Ant": ("Ant-v5", 2.6222, "xy"),
    "Swimmer": ("Swimmer-v5", 0.2282, "x"),
    "Humanoid": ("Humanoid-v5", 1.4149, "xy"),
}


class CostInInfo(gym.Wrapper):
    """Move the cost of an env whose ``step`` returns six values into ``info["cost"]``.

    ``(obs, reward, cost, terminated, truncated, info)`` becomes the gymnasium five-tuple
    with ``info["cost"] = float(cost)``.
    """

    def step(self, action):
        """Step the env and return the gymnasium five-tuple with the cost in ``info``."""
        result = self.env.step(action)
        if not isinstance(result, tuple) or len(result) != 6:
            raise ValueError(
                "env: CostInInfo wraps envs whose step returns (obs, reward, cost, terminated, "
                f"truncated, info); got {len(result) if isinstance(result, tuple) else result!r}"
                " values")
        obs, reward, cost, terminated, truncated, info = result
        info = dict(info)
        info["cost"] = float(cost)
        return obs, reward, terminated, truncated, info


class VelocityCost(gym.Wrapper):
    """Cost ``1[speed > threshold]`` per step on a MuJoCo locomotion env.

    ``speed`` is ``info["x_velocity"]`` ("x") or the planar speed
    ``hypot(info["x_velocity"], info["y_velocity"])`` ("xy"); the observations and rewards
    are the wrapped env's. The speed is also reported as ``info["speed"]``.
    """

    def __init__(self, env: gym.Env, threshold: float, speed: str = "x") -> None:
        super().__init__(env)
        if speed not in ("x", "xy"):
            raise ValueError(f"speed: expected 'x' or 'xy', got {speed!r}")
        if not (threshold > 0 and math.isfinite(threshold)):
            raise ValueError(f"threshold: must be a positive number, got {threshold!r}")
        self.threshold, self.speed = float(threshold), speed

    def step(self, action):
        """Step the env and add ``info["cost"]`` (and ``info["speed"]``)."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        try:
            speed = (float(info["x_velocity"]) if self.speed == "x"
                     else math.hypot(info["x_velocity"], info["y_velocity"]))
        except KeyError as err:
            raise ValueError(f"env: VelocityCost needs info[{err}] from the wrapped env "
                             "(gymnasium's MuJoCo v5 locomotion envs report it)") from None
        info = dict(info)
        info["speed"] = speed
        info["cost"] = float(speed > self.threshold)
        return obs, reward, terminated, truncated, info


def make_velocity_env(robot: str, **kwargs: Any) -> gym.Env:
    """``fasttrpo/Safety<robot>Velocity-v1``: gymnasium's v5 env with the velocity cost.

    ``kwargs`` go to ``gym.make`` of the base env (``render_mode``, ``max_episode_steps``...).
    """
    try:
        base, threshold, speed = VELOCITY_TASKS[robot]
    except KeyError:
        raise ValueError(f"robot: expected one of {', '.join(VELOCITY_TASKS)}, "
                         f"got {robot!r}") from None
    return VelocityCost(gym.make(base, **kwargs), threshold, speed)


class PointVelocityEnv(gym.Env):
    """A point mass on a line, rewarded for speed, with a speed limit: the fast safety task.

    ``v' = 0.8 v + 0.4 a + 0.05 noise`` with the force ``a`` in [-1, 1] (speed up to 2 at
    full force); the reward is ``v'`` (progress), the cost ``1[v' > 1]``. The observation is
    ``[v, t / episode_steps]``; episodes last ``episode_steps`` steps (a TimeLimit, as
    registered). Unconstrained, the best policy pushes at full force and pays a cost on
    almost every step (~96 per episode); with a limit of 10 it must hold the speed just under 1,
    so a constrained and an unconstrained learner end far apart in cost within ~2e4 steps.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium.Env declares it so)
    episode_steps: ClassVar[int] = 100
    speed_limit: ClassVar[float] = 1.0

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self._speed, self._t = 0.0, 0

    def _obs(self) -> np.ndarray:
        return np.array([self._speed, self._t / self.episode_steps])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start at rest (speed uniform in [-0.1, 0.1])."""
        super().reset(seed=seed)
        self._speed, self._t = float(self.np_random.uniform(-0.1, 0.1)), 0
        return self._obs(), {}

    def step(self, action):
        """Apply the force; reward the new speed, cost 1 above the limit."""
        force = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self._speed = (0.8 * self._speed + 0.4 * force
                       + 0.05 * float(self.np_random.standard_normal()))
        self._t += 1
        cost = float(self._speed > self.speed_limit)
        return self._obs(), self._speed, False, False, {"cost": cost}


class PointTwoCostsEnv(PointVelocityEnv):
    """`PointVelocityEnv` with two constraints: a speed limit and an effort limit.

    The same point mass and reward; each step reports two named costs, as safety-gymnasium
    reports ``cost_hazards``, ``cost_vases``, ...: ``info["cost_speed"] = 1[v' > 1]`` and
    ``info["cost_effort"] = 1[|a| > 0.3]`` (``a`` the force applied, the sampled action),
    and ``info["cost"]`` their sum. Holding the speed just under 1 takes a force of 0.5, over
    the effort threshold, and the force that costs no effort (0.3) holds the speed at 0.6:
    with limits 10 (speed) and 70 (effort) per 100-step episode both constraints bind (the
    speed limit alone leaves an effort cost on almost every step) and neither implies the
    other. Unconstrained, the best policy pays ~96 and ~100. The costs constrain the
    stochastic policy that trains; a deterministic policy (the mean force) that sits just
    above 0.3 pays effort on every step.
    """

    effort_limit: ClassVar[float] = 0.3

    def step(self, action):
        """Apply the force; reward the new speed; cost_speed, cost_effort and their sum."""
        force = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        obs, reward, terminated, truncated, info = super().step(action)
        effort = float(abs(force) > self.effort_limit)
        return obs, reward, terminated, truncated, {
            "cost": info["cost"] + effort, "cost_speed": info["cost"], "cost_effort": effort}
