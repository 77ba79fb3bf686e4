"""safety-gymnasium's Circle task for any `Robot`: `CircleEnv`, `PointCircleEnv`, `CarCircleEnv`.

The robot should run along a circle of radius 1.5 about the origin: the reward is its
counterclockwise speed about the origin, ``(x v - y u) / r``, divided by ``1 + |r - 1.5|``, times
0.1. From level 1 on, sigwalls (walls nothing collides with) at ``x = +-1.125`` (level 2: also at
``y = +-1.125``) mark where it may not go: ``cost_out_of_boundary`` is 1 while it is beyond
them. Episodes last 500 steps; the lidar sees the circle's centre, with a range of 6. The reset,
the step loop and the placement are `NavEnv`'s (safety-gymnasium's
``tasks/safe_navigation/circle/circle_level{0,1,2}.py``, ``assets/geoms/circle.py``,
``assets/geoms/sigwalls.py``).
"""

from typing import ClassVar

from fasttrpo.envs.navigation.base import NavEnv
from fasttrpo.envs.navigation.kernels import circle_reward
from fasttrpo.envs.navigation.robots import CAR, POINT, Robot
from fasttrpo.envs.navigation.world import (
    CIRCLE_AGENT_KEEPOUT,
    CIRCLE_AGENT_PLACEMENT,
    CIRCLE_EPISODE_STEPS,
    CIRCLE_LEVELS,
    CIRCLE_LIDAR_MAX_DIST,
    CIRCLE_RADIUS,
    CIRCLE_REWARD_FACTOR,
    LIDAR_EXP_GAIN,
    SIGWALL_LOCATE,
    Layout,
)

__all__ = ["CarCircleEnv", "CircleEnv", "PointCircleEnv"]

_WORLD = 0   # the world body: its xpos is the origin, where safety-gymnasium's circle.pos is


class CircleEnv(NavEnv):
    """safety-gymnasium's ``Safety<Robot>Circle<level>-v0``: run along the circle.

    The robot is placed uniformly in [-0.8, 0.8]^2 (keep-out 0); the circle at the origin and
    the sigwalls at their fixed locations (each drawn within 1e-9 of it, as safety-gymnasium
    draws fixed locations). Observation (float64): the robot's observed sensors, then a 16-bin
    lidar of the origin (range 6). Reward: ``0.1 (x v - y u) / r / (1 + |r - 1.5|)`` with
    ``(x, y)`` the robot body's position, ``(u, v)`` its velocity (world frame) and ``r`` its
    distance to the origin; no goal. Costs: ``cost_out_of_boundary`` (levels 1, 2), 1 while
    ``|x| > 1.125`` (level 2: or ``|y| > 1.125``), and ``cost_sum``. Episodes last 500
    steps.

    Parameters
    ----------
    robot : Robot
    level : {0, 1, 2}
    lidar_max_dist, lidar_exp_gain, constrain_indicator
        As in `fasttrpo.envs.navigation.GoalEnv`; the range defaults to 6 here.
    """

    episode_steps: ClassVar[int] = CIRCLE_EPISODE_STEPS

    def __init__(self, robot: Robot, level: int = 1,
                 lidar_max_dist: float | None = CIRCLE_LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        if level not in CIRCLE_LEVELS:
            raise ValueError(f"level: expected 0, 1 or 2, got {level!r}")
        n_sigwalls = CIRCLE_LEVELS[level]
        loc = SIGWALL_LOCATE
        sigwall_xy = [(loc, 0.0), (-loc, 0.0), (0.0, loc), (0.0, -loc)][:n_sigwalls]
        # placement order: agent, the geoms as circle_level0/1.py add them (circle, sigwalls)
        keepouts = {"agent": CIRCLE_AGENT_KEEPOUT, "circle": 0.0}
        keepouts.update({f"sigwall{i}": 0.0 for i in range(n_sigwalls)})
        regions = {"agent": CIRCLE_AGENT_PLACEMENT, "circle": Layout.location(0.0, 0.0, 0.0)}
        regions.update({f"sigwall{i}": Layout.location(x, y, 0.0)
                        for i, (x, y) in enumerate(sigwall_xy)})
        super().__init__(robot, level, (-2.0, -2.0, 2.0, 2.0), keepouts, ["circle_lidar"],
                         goal_size=None, circle=True, n_sigwalls=n_sigwalls, regions=regions,
                         lidar_max_dist=lidar_max_dist, lidar_exp_gain=lidar_exp_gain,
                         constrain_indicator=constrain_indicator)
        self._set_lidars([[_WORLD]])
        self._root = int(self.model.body_rootid[self._agent])

    def _observe(self) -> None:
        self._observe_lidars(-1, contacts=False)   # no contact costs in Circle

    def _reward(self) -> tuple[float, bool]:
        # agent.vel is get_body_xvelp, the velocity of the body's origin (see the kernel)
        d = self.data
        return circle_reward(self._xpos, d.cvel, d.subtree_com, self._agent, self._root,
                             CIRCLE_RADIUS, CIRCLE_REWARD_FACTOR), False

    def _costs(self) -> dict[str, float]:
        if not self.n_sigwalls:
            return {}
        x, y = self._xpos[self._agent, :2]
        out = abs(x) > SIGWALL_LOCATE or (self.n_sigwalls == 4 and abs(y) > SIGWALL_LOCATE)
        return {"cost_out_of_boundary": float(out)}

    def _update_world(self) -> None:
        self._mj.mj_forward(self.model, self.data)   # circle_level0.py: no goal to draw
        self._observe()


class PointCircleEnv(CircleEnv):
    """safety-gymnasium's ``SafetyPointCircle<level>-v0`` (`CircleEnv` with `POINT`).

    Observation: 12 sensor floats, then the circle's lidar (28 floats).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = CIRCLE_LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(POINT, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)


class CarCircleEnv(CircleEnv):
    """safety-gymnasium's ``SafetyCarCircle<level>-v0`` (`CircleEnv` with `CAR`).

    Observation: 24 sensor floats, then the circle's lidar (40 floats).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = CIRCLE_LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(CAR, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)
