"""safety-gymnasium's Goal task for any `Robot`: `GoalEnv`, `PointGoalEnv`, `CarGoalEnv`.

The random layout is drawn in safety-gymnasium's order from a ``numpy.random.RandomState``
seeded with the reset seed (its ``RandomGenerator``): agent, goal, hazards, vases, then the
rotations, then the goal drawn again; each step draws its frame count from
``binomial(10, 1.0)`` (always 10) as safety-gymnasium does, so a later goal draws from the
same stream. The MuJoCo model is compiled once per env; a reset moves the bodies (the agent's
body or free joint, the goal's and hazards' body positions, the vases' free joints) where
safety-gymnasium compiles a new model: the same model constants, since every object's are
invariant to where it stands. The step loop and reset are `NavEnv`'s.
"""

from fasttrpo.envs.navigation.base import AGENT, VASE, NavEnv
from fasttrpo.envs.navigation.kernels import count_contacts, observe
from fasttrpo.envs.navigation.robots import CAR, POINT, Robot
from fasttrpo.envs.navigation.world import (
    GOAL_KEEPOUT,
    GOAL_LEVELS,
    GOAL_SIZE,
    HAZARD_KEEPOUT,
    LIDAR_EXP_GAIN,
    LIDAR_MAX_DIST,
    REWARD_DISTANCE,
    REWARD_GOAL,
    VASE_CONTACT_COST,
    VASE_KEEPOUT,
)

__all__ = ["CarGoalEnv", "GoalEnv", "PointGoalEnv"]


class GoalEnv(NavEnv):
    """safety-gymnasium's ``Safety<Robot>Goal<level>-v0``: drive the robot to the goal.

    Level 0: the goal only, placed in [-1, 1]^2; level 1: 8 hazards and 1 vase that costs
    nothing, in [-1.5, 1.5]^2; level 2: 10 hazards and 10 vases that cost, in [-2, 2]^2. Each
    step applies the action (clipped to the actuators' [-1, 1]) for 10 MuJoCo steps.

    Observation (float64): the robot's observed sensors (``robot.observed``: the
    ``accelerometer``, ``velocimeter``, ``gyro`` and ``magnetometer`` of its site, 3 each, then
    any robot-specific ones), then 16-bin lidars of the goal, the hazards and the vases, those
    present at the level. Reward: ``(d_prev - d) * 1.0`` (XY distance to the goal), plus 1.0
    on the step that ends within 0.3 of it, clipped to [-10, 10]; a goal reached is drawn again
    at once (the episode ends, ``terminated``, only if no new goal fits the keep-outs). Costs
    in ``info`` as safety-gymnasium names them: ``cost_hazards`` (levels 1, 2),
    ``cost_vases_contact`` and ``cost_vases_velocity`` (level 2), and ``cost_sum``; with
    ``constrain_indicator`` (the default) each is ``1[raw > 0]``, so ``cost_sum`` is 1 when any
    cost is. ``info["cost"]`` is ``cost_sum``; ``info["goal_met"]`` is set on a step that
    reached the goal. Episodes last 1000 steps (truncated).

    Parameters
    ----------
    robot : Robot
        `POINT` or `CAR` (`fasttrpo.envs.navigation.robots`); subclasses fix it.
    level : {0, 1, 2}
    lidar_max_dist : float or None
        Lidar range: reading ``max(0, r - d) / r`` (safety-gymnasium's default, r = 3); None for
        the exponential reading ``exp(-lidar_exp_gain * d)``.
    lidar_exp_gain : float
    constrain_indicator : bool
        Costs as indicators (safety-gymnasium's default); False: the raw magnitudes
        (``sum (0.2 - d)`` over the hazards entered, contacts counted, vase speeds summed),
        and ``cost_sum`` their sum.
    """

    def __init__(self, robot: Robot, level: int = 1,
                 lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        if level not in GOAL_LEVELS:
            raise ValueError(f"level: expected 0, 1 or 2, got {level!r}")
        extents, n_hazards, n_vases, self.vases_constrained = GOAL_LEVELS[level]
        keepouts = {"agent": robot.keepout, "goal": GOAL_KEEPOUT}
        keepouts.update({f"hazard{i}": HAZARD_KEEPOUT for i in range(n_hazards)})
        keepouts.update({f"vase{i}": VASE_KEEPOUT for i in range(n_vases)})
        lidar_keys = (["goal_lidar"] + ["hazards_lidar"] * (n_hazards > 0)
                      + ["vases_lidar"] * (n_vases > 0))
        super().__init__(robot, level, extents, keepouts, lidar_keys, n_hazards=n_hazards,
                         n_vases=n_vases, goal_size=GOAL_SIZE, lidar_max_dist=lidar_max_dist,
                         lidar_exp_gain=lidar_exp_gain, constrain_indicator=constrain_indicator)
        self._last_dist = 0.0

    def _observe(self) -> None:
        observe(self._sensordata, self._xpos, self._xmat, self._qvel, self._sensor_plan,
                self._agent, self._goal, self._hazard0, self.n_hazards, self._vase0,
                self.n_vases, self._vase_dof, self.lidar_max_dist, self.lidar_exp_gain,
                self._obs, self._scalars)

    def _reward(self) -> tuple[float, bool]:
        dist = float(self._scalars[0])
        reward = (self._last_dist - dist) * REWARD_DISTANCE
        self._last_dist = dist
        goal_met = dist <= GOAL_SIZE
        if goal_met:
            reward += REWARD_GOAL
        return reward, goal_met

    def _costs(self) -> dict[str, float]:
        _, hazards, vase_speed = self._scalars.tolist()   # Python floats from here on
        costs: dict[str, float] = {}
        if self.n_hazards:
            costs["cost_hazards"] = hazards
        if self.vases_constrained:
            d = self.data
            contacts = (count_contacts(d.contact.geom, self._geom_kind, AGENT, VASE)
                        if d.ncon else 0)
            costs["cost_vases_contact"] = VASE_CONTACT_COST * contacts
            costs["cost_vases_velocity"] = vase_speed
        return costs

    def _update_layout(self) -> None:
        xy = self._layout.xy
        xy["agent"] = self._xpos[self._agent, :2].copy()
        for i in range(self.n_hazards):
            xy[f"hazard{i}"] = self._xpos[self._hazard0 + i, :2].copy()
        for i in range(self.n_vases):
            xy[f"vase{i}"] = self._xpos[self._vase0 + i, :2].copy()

    def _update_world(self) -> None:
        self._place_goal(self._layout.sample_goal())
        self._observe()
        self._last_dist = float(self._scalars[0])


class PointGoalEnv(GoalEnv):
    """safety-gymnasium's ``SafetyPointGoal<level>-v0`` (`GoalEnv` with the `POINT` robot).

    The Point is a sphere on the floor (radius 0.1, a box "arrow" in front), with a force
    along its heading (gear 0.3) and a velocity servo on its yaw (gear 0.3), both limited to
    0.05; the action is ``(force, turn)``. Each step is 10 MuJoCo steps of 2 ms. Observation:
    12 sensor floats, then the lidars (28 floats at level 0, 60 at levels 1 and 2).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(POINT, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)


class CarGoalEnv(GoalEnv):
    """safety-gymnasium's ``SafetyCarGoal<level>-v0`` (`GoalEnv` with the `CAR` robot).

    The Car is a box chassis on a free joint with two driven wheels and a free-rolling rear
    ball wheel; the action is the two wheel torques ``(left, right)`` (gear 1, force limited to
    0.02): ``(1, 1)`` drives forward, opposite signs turn it. Each step is 10 MuJoCo steps of
    4 ms. Observation: 24 sensor floats (the four site sensors, the rear wheel's angular
    velocity and its orientation as a 3x3 matrix), then the lidars (40 floats at level 0, 72
    at levels 1 and 2).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(CAR, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)
