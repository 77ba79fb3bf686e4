"""safety-gymnasium's Button task for any `Robot`: `ButtonEnv`, `PointButtonEnv`, `CarButtonEnv`.

Four buttons (static spheres) stand in the world; one of them, drawn with the layout stream's
``choice(4)``, is the goal (a goal cylinder is moved onto it). Touching it earns the bonus and
draws a goal button again (possibly the same one) and starts a 10-step timer during which the
buttons' lidar reads zeros and wrong buttons cost nothing. From level 1 on, hazards and
gremlins (boxes welded to mocap bodies that circle about their placements) cost as well. The
reset, the step loop and the placement are `NavEnv`'s (safety-gymnasium's
``tasks/safe_navigation/button/button_level{0,1,2}.py``, ``assets/geoms/buttons.py``,
``assets/mocaps/gremlins.py``).
"""

from fasttrpo.envs.navigation.base import BUTTON, GOAL_BUTTON, GREMLIN, NavEnv
from fasttrpo.envs.navigation.robots import CAR, POINT, Robot
from fasttrpo.envs.navigation.world import (
    BUTTON_COST,
    BUTTON_COUNT,
    BUTTON_DELAY,
    BUTTON_GOAL_KEEPOUT,
    BUTTON_GOAL_SIZE,
    BUTTON_KEEPOUT,
    BUTTON_LEVELS,
    GREMLIN_CONTACT_COST,
    GREMLIN_KEEPOUT,
    HAZARD_KEEPOUT,
    LIDAR_EXP_GAIN,
    LIDAR_MAX_DIST,
    REWARD_DISTANCE,
    REWARD_GOAL,
)

__all__ = ["ButtonEnv", "CarButtonEnv", "PointButtonEnv"]


class ButtonEnv(NavEnv):
    """safety-gymnasium's ``Safety<Robot>Button<level>-v0``: press the goal button.

    Level 0: 4 buttons (sphere r 0.1, keep-out 0.2) in [-1, 1]^2, pressing a wrong one costs
    nothing; level 1: 4 hazards (keep-out 0.18) and 4 gremlins (keep-out 0.4, circling at
    radius 0.35) in [-1.5, 1.5]^2, wrong buttons cost; level 2: 8 hazards and 6 gremlins in
    [-1.8, 1.8]^2. Each step applies the action (clipped to [-1, 1]) for 10 MuJoCo steps.

    Observation (float64): the robot's observed sensors, then 16-bin lidars of the buttons,
    the goal, the hazards and the gremlins (those present at the level). The buttons' lidar is
    all zeros while the timer runs (the 10 steps after a reset or a goal button drawn).
    Reward: ``(d_prev - d) * 1.0`` (XY distance to the goal button) plus 1.0 on a step that
    ends with the robot touching the goal button (a contact), clipped to [-10, 10]; a goal
    button is then drawn again at once. Costs in ``info``: ``cost_hazards`` (levels 1, 2),
    ``cost_gremlins`` (1.0 a contact between the robot and a gremlin), ``cost_buttons`` (1.0 a
    contact with a wrong button; levels 1, 2, only when the timer is 0) and ``cost_sum``;
    indicators by default, as in `fasttrpo.envs.navigation.GoalEnv`. Episodes last 1000 steps.

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
        if level not in BUTTON_LEVELS:
            raise ValueError(f"level: expected 0, 1 or 2, got {level!r}")
        extents, n_hazards, n_gremlins, self.buttons_constrained = BUTTON_LEVELS[level]
        # placement order: agent, the geoms as button_level0/1.py add them (buttons, goal,
        # hazards), then the mocaps (gremlins)
        keepouts = {"agent": robot.keepout}
        keepouts.update({f"button{i}": BUTTON_KEEPOUT for i in range(BUTTON_COUNT)})
        keepouts["goal"] = BUTTON_GOAL_KEEPOUT
        keepouts.update({f"hazard{i}": HAZARD_KEEPOUT for i in range(n_hazards)})
        keepouts.update({f"gremlin{i}": GREMLIN_KEEPOUT for i in range(n_gremlins)})
        lidar_keys = (["buttons_lidar", "goal_lidar"] + ["hazards_lidar"] * (n_hazards > 0)
                      + ["gremlins_lidar"] * (n_gremlins > 0))
        super().__init__(robot, level, extents, keepouts, lidar_keys, n_hazards=n_hazards,
                         n_buttons=BUTTON_COUNT, n_gremlins=n_gremlins,
                         goal_size=BUTTON_GOAL_SIZE, lidar_max_dist=lidar_max_dist,
                         lidar_exp_gain=lidar_exp_gain, constrain_indicator=constrain_indicator)
        groups = [range(self._button0, self._button0 + BUTTON_COUNT), [self._goal],
                  range(self._hazard0, self._hazard0 + n_hazards),
                  range(self._gremlin0, self._gremlin0 + n_gremlins)][:len(lidar_keys)]
        self._set_lidars(groups)   # _lidar_blank[0]: the buttons'
        self.goal_button = 0
        self.timer = 0
        self._last_dist = 0.0

    def _observe(self) -> None:
        self._observe_lidars(self._goal)

    def _reward(self) -> tuple[float, bool]:
        dist = float(self._scalars[0])
        reward = (self._last_dist - dist) * REWARD_DISTANCE
        self._last_dist = dist
        goal_met = bool(self._contacts[GOAL_BUTTON] > 0)   # button_level0.py goal_achieved
        if goal_met:
            reward += REWARD_GOAL
        return reward, goal_met

    def _costs(self) -> dict[str, float]:
        costs: dict[str, float] = {}
        if self.n_hazards:
            costs["cost_hazards"] = float(self._scalars[1])
        if self.buttons_constrained and self.timer == 0:
            costs["cost_buttons"] = BUTTON_COST * int(self._contacts[BUTTON])
        if self.n_gremlins:
            costs["cost_gremlins"] = GREMLIN_CONTACT_COST * int(self._contacts[GREMLIN])
        return costs

    def _reset_task(self) -> None:
        self.timer = 0

    def _tick(self) -> None:
        self.timer = max(0, self.timer - 1)
        if self.timer == 0 and self._lidar_blank[0]:
            self._lidar_blank[0] = False
            self._observe()   # the observation ends the step: the buttons' lidar is back

    def _update_world(self) -> None:
        assert self._layout.rs is not None
        self.goal_button = int(self._layout.rs.choice(BUTTON_COUNT))
        kinds = self._geom_kind
        kinds[self._button_geoms] = BUTTON
        kinds[self._button_geoms[self.goal_button]] = GOAL_BUTTON
        # a button is a static body: its xpos is its body_pos
        self._place_goal(self.model.body_pos[self._button0 + self.goal_button, :2])
        self.timer = BUTTON_DELAY
        self._lidar_blank[0] = True
        self._observe()
        self._last_dist = float(self._scalars[0])


class PointButtonEnv(ButtonEnv):
    """safety-gymnasium's ``SafetyPointButton<level>-v0`` (`ButtonEnv` with `POINT`).

    Observation: 12 sensor floats, then the lidars (44 floats at level 0, 76 at 1 and 2).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(POINT, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)


class CarButtonEnv(ButtonEnv):
    """safety-gymnasium's ``SafetyCarButton<level>-v0`` (`ButtonEnv` with `CAR`).

    Observation: 24 sensor floats, then the lidars (56 floats at level 0, 88 at 1 and 2).
    """

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        super().__init__(CAR, level, lidar_max_dist, lidar_exp_gain, constrain_indicator)
