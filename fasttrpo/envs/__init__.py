"""Safety tasks (constrained MDPs) that run today, as registered gymnasium ids.

Every task reports a per-step cost in ``info["cost"]``; a constrained algorithm keeps the
expected episode cost (its sum over an episode) under ``cost_limit``. Importing this module
registers the ids; ``fasttrpo.CPO("fasttrpo/...")`` and the CLI import it for you, and
``gym.make("fasttrpo.envs:fasttrpo/SafetyHopperVelocity-v1")`` imports it too.

- ``fasttrpo/SafetyPointVelocity-v0``: a one-dimensional point mass rewarded for speed, with
  cost 1 per step above a speed limit; fast, for tests and examples (`PointVelocityEnv`).
- ``fasttrpo/SafetyPointTwoCosts-v0``: the same point mass with two named costs,
  ``info["cost_speed"]`` and ``info["cost_effort"]`` (a force above 0.3), both binding at
  limits 10 and 70 (`PointTwoCostsEnv`): the task for several constraints at once
  (``cost_keys``).
- ``fasttrpo/Safety<Robot>Velocity-v1`` for Hopper, HalfCheetah, Walker2d, Ant, Swimmer and
  Humanoid: gymnasium's MuJoCo v5 envs with cost ``1[velocity > threshold]`` and
  safety-gymnasium's v1 thresholds (`VelocityCost`; needs ``pip install "fasttrpo[mujoco]"``).
- ``fasttrpo/SafetyPointGoal0-v0``, ``-Goal1-v0``, ``-Goal2-v0`` and
  ``fasttrpo/SafetyCarGoal0-v0``, ...: safety-gymnasium's Point and Car Goal navigation tasks
  rebuilt on the ``mujoco`` bindings (`fasttrpo.envs.navigation.PointGoalEnv`, `CarGoalEnv`;
  the mujoco extra): reach goals, avoid hazards (and at level 2 vases), costs
  ``info["cost_hazards"]``, ``info["cost_vases_contact"]``, ... and ``info["cost"]``.
- ``fasttrpo/SafetyPointButton0-v0`` .. ``fasttrpo/SafetyCarButton2-v0``: the Button tasks
  (`fasttrpo.envs.navigation.PointButtonEnv`, `CarButtonEnv`): press the goal button among
  four, avoid wrong buttons, hazards and moving gremlins (``cost_buttons``,
  ``cost_gremlins``).
- ``fasttrpo/SafetyPointPush0-v0`` .. ``fasttrpo/SafetyCarPush2-v0``: the Push tasks
  (`PointPushEnv`, `CarPushEnv`): push a box onto the goal past hazards and pillars
  (``cost_pillars``).
- ``fasttrpo/SafetyPointCircle0-v0`` .. ``fasttrpo/SafetyCarCircle2-v0``: the Circle tasks
  (`PointCircleEnv`, `CarCircleEnv`; 500 steps): run along a circle of radius 1.5, stay
  between the sigwalls (``cost_out_of_boundary``).

Beside them, rl-baselines3-zoo's velocity-masked tasks for recurrent policies
(`fasttrpo.envs.no_velocity`): ``fasttrpo/CartPoleNoVel-v1``, ``fasttrpo/PendulumNoVel-v1``,
``fasttrpo/MountainCarContinuousNoVel-v0``, ``fasttrpo/LunarLanderNoVel-v3``, ..., gymnasium's
envs with their velocity entries zeroed.

`CostInInfo` adapts envs whose ``step`` returns ``(obs, reward, cost, terminated,
truncated, info)``, the other convention of safe-RL suites. `SauteEnv` and `EarlyTerminated`
(`fasttrpo.envs.safe_wrappers`) turn a constrained task into one an unconstrained algorithm
trains on: the budget in the state, or the episode ended once the cost exceeds the limit.
"""

import gymnasium as gym

from fasttrpo.envs.no_velocity import NO_VELOCITY_TASKS, MaskVelocity
from fasttrpo.envs.safe_wrappers import EarlyTerminated, SauteEnv
from fasttrpo.envs.safety import (
    VELOCITY_TASKS,
    CostInInfo,
    PointTwoCostsEnv,
    PointVelocityEnv,
    VelocityCost,
    make_velocity_env,
)

__all__ = ["NO_VELOCITY_TASKS", "VELOCITY_TASKS", "CostInInfo", "EarlyTerminated",
           "MaskVelocity", "PointTwoCostsEnv",
           "PointVelocityEnv", "SauteEnv", "VelocityCost", "make_velocity_env",
           "register_envs"]


def register_envs() -> None:
    """Register the ids above with gymnasium (done on import; calling again is harmless)."""
    registered = gym.envs.registry
    if "fasttrpo/SafetyPointVelocity-v0" not in registered:
        gym.register("fasttrpo/SafetyPointVelocity-v0",
                     entry_point="fasttrpo.envs.safety:PointVelocityEnv",
                     max_episode_steps=PointVelocityEnv.episode_steps)
    if "fasttrpo/SafetyPointTwoCosts-v0" not in registered:
        gym.register("fasttrpo/SafetyPointTwoCosts-v0",
                     entry_point="fasttrpo.envs.safety:PointTwoCostsEnv",
                     max_episode_steps=PointTwoCostsEnv.episode_steps)
    for robot, (base, _, _) in VELOCITY_TASKS.items():
        env_id = f"fasttrpo/Safety{robot}Velocity-v1"
        if env_id not in registered:
            gym.register(env_id, entry_point="fasttrpo.envs.safety:make_velocity_env",
                         kwargs={"robot": robot})
    for env_id, base_id in NO_VELOCITY_TASKS.items():
        if env_id not in registered:
            gym.register(env_id, entry_point="fasttrpo.envs.no_velocity:make_no_velocity_env",
                         kwargs={"base_id": base_id})
    for task in ("Goal", "Button", "Push", "Circle"):
        for robot in ("Point", "Car"):
            for level in (0, 1, 2):
                env_id = f"fasttrpo/Safety{robot}{task}{level}-v0"
                if env_id not in registered:
                    gym.register(env_id,
                                 entry_point=f"fasttrpo.envs.navigation:{robot}{task}Env",
                                 kwargs={"level": level},
                                 max_episode_steps=500 if task == "Circle" else 1000)


register_envs()
