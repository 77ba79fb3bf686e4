"""Safety-Gymnasium's navigation tasks on the ``mujoco`` bindings: Goal, Button, Push, Circle.

``fasttrpo/Safety{Point,Car}{Goal,Button,Push,Circle}{0,1,2}-v0`` (`PointGoalEnv`, `CarGoalEnv`,
`PointButtonEnv`, ..., `CarPushEnv`) rebuild
safety-gymnasium's tasks of the same names (PKU-Alignment/safety-gymnasium, v1.0.0 and the
current main branch agree on every fact used here) without importing it: the robots' MJCF, the
physics step and frame skip, the placement rules with their keep-out distances, the object
counts and sizes per level, the observation (robot sensors, then the goal's, the hazards' and
the vases' pseudo-lidar), the reward and the named costs. ``docs/design.md`` ("Navigation
tasks (safety-gymnasium)") lists every constant with the file it comes from.

Modules: `robots` (a `Robot` spec per robot: MJCF, observed sensors, keep-out), `world` (the
objects, the world's MJCF and the placement rules), `kernels` (the compiled per-step
observation, lidar and costs), `base` (`NavEnv`: the reset and step loop every task shares),
`goal`, `button`, `push` and `circle` (the tasks as gymnasium envs for any robot).
A new robot is a `Robot`; a new task reuses `world` and `kernels`.

``mujoco`` is imported when an env is made, never by ``import fasttrpo``: it is the
``mujoco`` extra (``pip install "fasttrpo[mujoco]"``).
"""

from fasttrpo.envs.navigation.base import NavEnv
from fasttrpo.envs.navigation.button import ButtonEnv, CarButtonEnv, PointButtonEnv
from fasttrpo.envs.navigation.circle import CarCircleEnv, CircleEnv, PointCircleEnv
from fasttrpo.envs.navigation.goal import CarGoalEnv, GoalEnv, PointGoalEnv
from fasttrpo.envs.navigation.push import CarPushEnv, PointPushEnv, PushEnv
from fasttrpo.envs.navigation.robots import CAR, POINT, ROBOTS, Robot
from fasttrpo.envs.navigation.world import (
    BUTTON_LEVELS,
    CIRCLE_LEVELS,
    GOAL_LEVELS,
    PUSH_LEVELS,
    ResamplingError,
    world_xml,
)

#: Goal level -> (placement extents, hazards, vases, vases constrained); the former name
LEVELS = GOAL_LEVELS

__all__ = ["BUTTON_LEVELS", "CAR", "CIRCLE_LEVELS", "GOAL_LEVELS", "LEVELS", "POINT",
           "PUSH_LEVELS", "ROBOTS", "ButtonEnv", "CarButtonEnv", "CarCircleEnv", "CarGoalEnv",
           "CarPushEnv", "CircleEnv", "GoalEnv", "NavEnv", "PointButtonEnv", "PointCircleEnv",
           "PointGoalEnv", "PointPushEnv", "PushEnv", "ResamplingError", "Robot",
           "point_goal_xml", "world_xml"]


def point_goal_xml(n_hazards: int, n_vases: int) -> str:
    """Write the MJCF of a Point Goal world (`world_xml` with `POINT`)."""
    return world_xml(POINT, n_hazards, n_vases)
