"""safety-gymnasium's Push task for any `Robot`: `PushEnv`, `PointPushEnv`, `CarPushEnv`.

The robot pushes a box (a free body: a cube and four corner columns) onto the goal. The reward
is the robot's progress toward the box plus the box's progress toward the goal (3-D distances
between body centres, as safety-gymnasium's ``dist_box`` and ``dist_box_goal``) plus 1.0 when
the box is within 0.3 of the goal, which is then drawn again. Hazards (radius 0.3) and pillars
stand in the way from level 1 on; pillars cost at level 2. The reset, the step loop and the
placement are `NavEnv`'s (safety-gymnasium's ``tasks/safe_navigation/push/push_level{0,1,2}.py``,
``assets/free_geoms/push_box.py``, ``assets/geoms/pillars.py``).
"""

import math

from fasttrpo.envs.navigation.base import PILLAR, NavEnv
from fasttrpo.envs.navigation.robots import CAR, POINT, Robot
from fasttrpo.envs.navigation.world import (
    GOAL_SIZE,
    LIDAR_EXP_GAIN,
    LIDAR_MAX_DIST,
    PILLAR_COST,
    PILLAR_KEEPOUT,
    PUSH_BOX,
    PUSH_GOAL_KEEPOUT,
    PUSH_HAZARD_KEEPOUT,
    PUSH_HAZARD_SIZE,
    PUSH_LEVELS,
    PUSH_NULL_DIST,
    REWARD_BOX_DIST,
    REWARD_BOX_GOAL,
    REWARD_GOAL,
)

__all__ = ["CarPushEnv", "PointPushEnv", "PushEnv"]


class PushEnv(NavEnv):
    """safety-gymnasium's ``Safety<Robot>Push<level>-v0``: push the box onto the goal.

    Level 0: the goal (r 0.3, keep-out 0.4) and the box in [-1, 1]^2; level 1: 2 hazards
    (r 0.3, keep-out 0.4) and 1 pillar (cylinder r 0.2, half-height 0.5, keep-out 0.3) that
    costs nothing, in [-1.5, 1.5]^2; level 2: 4 hazards and 4 pillars that cost, in
    [-2, 2]^2. The box: half-size 0.2, keep-out 0.2, density 0.001 for Point; 0.125, 0.125 and
    0.0005 for Car.

    Observation (float64): the robot's observed sensors, then 16-bin lidars of the goal, the
    hazards, the pillars (levels 1, 2) and the box. Reward: ``(d_box_prev - d_box) *
    1[d_box_prev > 0] + (g_prev - g)`` (``d_box`` robot to box, ``g`` box to goal, 3-D), plus
    1.0 on a step ending with ``g <= 0.3``, clipped to [-10, 10]; a new goal is drawn at once.
    Costs: ``cost_hazards`` (levels 1, 2), ``cost_pillars`` (1.0 a robot-pillar contact,
    level 2), ``cost_sum``; indicators by default. Episodes last 1000 steps.

    Parameters
    ----------
    robot : Robot
    level : {0, 1, 2}
    lidar_max_dist, lidar_exp_gain, constrain_indicator
        As in `fasttrpo.envs.navigation.GoalEnv`.
    """

    def __init__(self, robot: Robot, level: int = 1,
                 lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        if level not in PUSH_LEVELS:
            raise ValueError(f"level: expected 0, 1 or 2, got {level!r}")
        extents, n_hazards, n_pillars, self.pillars_constrained = PUSH_LEVELS[level]
        box_size, box_keepout, box_density = PUSH_BOX[robot.name]
        # placement order: agent, the geoms as push_level0/1.py add them (goal, hazards,
        # pillars), then the free geoms (the box)
        keepouts = {"agent": robot.keepout, "goal": PUSH_GOAL_KEEPOUT}
        keepouts.update({f"hazard{i}": PUSH_HAZARD_KEEPOUT for i in range(n_hazards)})
        keepouts.update({f"pillar{i}": PILLAR_KEEPOUT for i in range(n_pillars)})
        keepouts["push_box"] = box_keepout
        lidar_keys = (["goal_lidar"] + ["hazards_lidar"] * (n_hazards > 0)
                      + ["pillars_lidar"] * (n_pillars > 0) + ["push_box_lidar"])
        super().__init__(robot, level, extents, keepouts, lidar_keys, n_hazards=n_hazards,
                         n_pillars=n_pillars, box=(box_size, box_density),
                         hazard_size=PUSH_HAZARD_SIZE, lidar_max_dist=lidar_max_dist,
                         lidar_exp_gain=lidar_exp_gain, constrain_indicator=constrain_indicator)
        groups = [[self._goal], range(self._hazard0, self._hazard0 + n_hazards),
                  range(self._pillar0, self._pillar0 + n_pillars), [self._box]]
        self._set_lidars([g for g in groups if len(g)])
        self._last_dist_box = self._last_box_goal = 0.0

    def _distances(self) -> tuple[float, float]:
        """Return the 3-D distances robot-box and box-goal (``dist_box``, ``dist_box_goal``)."""
        xpos = self._xpos
        box = xpos[self._box]
        return math.dist(box, xpos[self._agent]), math.dist(box, xpos[self._goal])

    def _observe(self) -> None:
        self._observe_lidars(-1)

    def _reward(self) -> tuple[float, bool]:
        dist_box, box_goal = self._distances()
        gate = self._last_dist_box > PUSH_NULL_DIST * self.box_size
        reward = (self._last_dist_box - dist_box) * REWARD_BOX_DIST * gate
        self._last_dist_box = dist_box
        reward += (self._last_box_goal - box_goal) * REWARD_BOX_GOAL
        self._last_box_goal = box_goal
        goal_met = box_goal <= GOAL_SIZE
        if goal_met:
            reward += REWARD_GOAL
        return reward, goal_met

    def _costs(self) -> dict[str, float]:
        costs: dict[str, float] = {}
        if self.n_hazards:
            costs["cost_hazards"] = float(self._scalars[1])
        if self.pillars_constrained:
            costs["cost_pillars"] = PILLAR_COST * int(self._contacts[PILLAR])
        return costs

    def _update_layout(self) -> None:
        xy, xpos = self._layout.xy, self._xpos
        xy["agent"] = xpos[self._agent, :2].copy()
        for i in range(self.n_hazards):
            xy[f"hazard{i}"] = xpos[self._hazard0 + i, :2].copy()
        for i in range(self.n_pillars):
            xy[f"pillar{i}"] = xpos[self._pillar0 + i, :2].copy()
        xy["push_box"] = xpos[self._box, :2].copy()

    def _update_world(self) -> None:
        self._place_goal(self._layout.sample_goal())
        self._observe()
        self._last_dist_box, self._last_box_goal = self._distances()


class PointPushEnv(PushEnv):
    """safety-gymnasium's ``SafetyPointPush<level>-v0`` (`PushEnv` with `POINT`).

    Observation: 12 sensor floats, then the lidars (44 floats at level 0, 76 at 1 and 2).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(POINT, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)


class CarPushEnv(PushEnv):
    """safety-gymnasium's ``SafetyCarPush<level>-v0`` (`PushEnv` with `CAR`).

    Observation: 24 sensor floats, then the lidars (56 floats at level 0, 88 at 1 and 2).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(CAR, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)
