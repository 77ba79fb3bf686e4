"""safety-gymnasium's Goal task for any `Robot`: `GoalEnv`, `PointGoalEnv`, `CarGoalEnv`.

The random layout is drawn in safety-gymnasium's order from a ``numpy.random.RandomState``
seeded with the reset seed (its ``RandomGenerator``): agent, goal, hazards, vases, then the
rotations, then the goal drawn again; each step draws its frame count from
``binomial(10, 1.0)`` (always 10) as safety-gymnasium does, so a later goal draws from the
same stream. The MuJoCo model is compiled once per env; a reset moves the bodies (the agent's
body or free joint, the goal's and hazards' body positions, the vases' free joints) where
safety-gymnasium compiles a new model: the same model constants, since every object's are
invariant to where it stands.
"""

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fasttrpo.envs.navigation.kernels import clip_into, count_contacts, observe
from fasttrpo.envs.navigation.robots import CAR, POINT, SENSOR_QUAT2MAT, Robot
from fasttrpo.envs.navigation.world import (
    EPISODE_STEPS,
    FRAMESKIP_BINOM_N,
    FRAMESKIP_BINOM_P,
    GOAL_KEEPOUT,
    GOAL_LEVELS,
    GOAL_SIZE,
    HAZARD_KEEPOUT,
    LIDAR_BINS,
    LIDAR_EXP_GAIN,
    LIDAR_MAX_DIST,
    REWARD_CLIP,
    REWARD_DISTANCE,
    REWARD_GOAL,
    VASE_CONTACT_COST,
    VASE_KEEPOUT,
    VASE_SINK,
    VASE_SIZE,
    Layout,
    ResamplingError,
    world_xml,
)

__all__ = ["CarGoalEnv", "GoalEnv", "PointGoalEnv"]

_AGENT, _VASE = 1, 2   # geom kinds for count_contacts


class GoalEnv(gym.Env):
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

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium.Env declares it so)
    episode_steps: ClassVar[int] = EPISODE_STEPS

    def __init__(self, robot: Robot, level: int = 1,
                 lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        if level not in GOAL_LEVELS:
            raise ValueError(f"level: expected 0, 1 or 2, got {level!r}")
        if lidar_max_dist is not None and not lidar_max_dist > 0:
            raise ValueError(f"lidar_max_dist: must be positive or None, got {lidar_max_dist!r}")
        try:
            import mujoco
        except ImportError:
            raise ImportError('the navigation tasks need mujoco: pip install "fasttrpo[mujoco]"'
                              ) from None
        self._mj = mujoco
        self.robot = robot
        self.level = level
        extents, self.n_hazards, self.n_vases, self.vases_constrained = GOAL_LEVELS[level]
        self.extents = extents
        self.lidar_max_dist = -1.0 if lidar_max_dist is None else float(lidar_max_dist)
        self.lidar_exp_gain = float(lidar_exp_gain)
        self.constrain_indicator = bool(constrain_indicator)
        m = self.model = mujoco.MjModel.from_xml_string(world_xml(robot, self.n_hazards,
                                                                  self.n_vases))
        d = self.data = mujoco.MjData(m)
        body = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)  # noqa: E731
        self._agent, self._goal = body("agent"), body("goal")
        self._hazard0 = body("hazard0") if self.n_hazards else 0
        self._vase0 = body("vase0") if self.n_vases else 0
        self._vase_qpos = int(m.jnt_qposadr[m.body_jntadr[self._vase0]]) if self.n_vases else 0
        self._vase_dof = int(m.jnt_dofadr[m.body_jntadr[self._vase0]]) if self.n_vases else 0
        agent_joint = int(m.body_jntadr[self._agent])
        # a free-joint robot (Car) is placed through its qpos, the others through body_pos
        self._agent_qpos = (int(m.jnt_qposadr[agent_joint])
                            if m.jnt_type[agent_joint] == mujoco.mjtJoint.mjJNT_FREE else -1)
        # geom kinds for the vase contact cost: the robot's geoms (its body tree's), the vases'
        self._agent_geoms = np.flatnonzero(m.body_rootid[m.geom_bodyid] == self._agent)
        self._vase_geoms = np.array([mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"vase{i}")
                                     for i in range(self.n_vases)], dtype=int)
        self._geom_kind = np.zeros(m.ngeom, dtype=np.int8)
        self._geom_kind[self._agent_geoms] = _AGENT
        self._geom_kind[self._vase_geoms] = _VASE
        plan = []
        for name, kind in robot.observed:
            sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, name)
            plan.append((m.sensor_adr[sid], m.sensor_dim[sid], kind))
        self._sensor_plan = np.array(plan, dtype=np.int64)
        self.n_sensor_obs = int(sum(9 if kind == SENSOR_QUAT2MAT else dim
                                    for _, dim, kind in plan))
        # views into MjData, valid for its life
        self._sensordata, self._xpos, self._xmat = d.sensordata, d.xpos, d.xmat
        self._qvel, self._ctrl = d.qvel, d.ctrl
        n_obs = self.n_sensor_obs + LIDAR_BINS * (1 + (self.n_hazards > 0) + (self.n_vases > 0))
        low = np.zeros(n_obs)
        low[:self.n_sensor_obs] = -np.inf
        high = np.ones(n_obs)
        high[:self.n_sensor_obs] = np.inf
        self.observation_space = spaces.Box(low, high, dtype=np.float64)
        ctrl_low, ctrl_high = m.actuator_ctrlrange.T.copy()
        self._ctrl_low, self._ctrl_high = ctrl_low, ctrl_high
        self.action_space = spaces.Box(ctrl_low, ctrl_high, dtype=np.float64)
        self.obs_keys = (robot.obs_keys + ["goal_lidar"]
                         + ["hazards_lidar"] * (self.n_hazards > 0)
                         + ["vases_lidar"] * (self.n_vases > 0))
        self._obs = np.zeros(n_obs)
        self._scalars = np.zeros(3)
        keepouts = {"agent": robot.keepout, "goal": GOAL_KEEPOUT}
        keepouts.update({f"hazard{i}": HAZARD_KEEPOUT for i in range(self.n_hazards)})
        keepouts.update({f"vase{i}": VASE_KEEPOUT for i in range(self.n_vases)})
        self._layout = Layout(extents, keepouts)
        self._last_dist = 0.0
        self._steps = 0

    def _place_goal(self, xy: np.ndarray) -> None:
        self.model.body_pos[self._goal, :2] = xy
        self._mj.mj_forward(self.model, self.data)

    def _observe(self) -> None:
        observe(self._sensordata, self._xpos, self._xmat, self._qvel, self._sensor_plan,
                self._agent, self._goal, self._hazard0, self.n_hazards, self._vase0,
                self.n_vases, self._vase_dof, self.lidar_max_dist, self.lidar_exp_gain,
                self._obs, self._scalars)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw a new layout (agent, goal, hazards, vases; rotations) and return ``(obs, {})``.

        ``seed`` seeds the layout stream as safety-gymnasium's ``RandomState(seed)`` (seeds of
        2**32 and more through a ``SeedSequence``); without one the stream continues, and the
        first is seeded from gymnasium's ``np_random``.
        """
        super().reset(seed=seed)
        layout = self._layout
        if seed is not None:
            layout.rs = (np.random.RandomState(seed) if 0 <= seed < 2 ** 32 else
                         np.random.RandomState(np.random.MT19937(np.random.SeedSequence(seed))))
        elif layout.rs is None:
            layout.rs = np.random.RandomState(int(self.np_random.integers(2 ** 32)))
        m, d, mj = self.model, self.data, self._mj
        xy = layout.sample()
        # rotations: the agent's, then one per object in safety-gymnasium's order
        agent_rot = layout.rotation()
        layout.rotation()                                 # the goal's (a cylinder)
        for _ in range(self.n_hazards):                   # the hazards' (cylinders)
            layout.rotation()
        vase_rots = [layout.rotation() for _ in range(self.n_vases)]
        mj.mj_resetData(m, d)
        agent_quat = (math.cos(agent_rot / 2), 0.0, 0.0, math.sin(agent_rot / 2))
        if self._agent_qpos >= 0:
            a = self._agent_qpos
            d.qpos[a:a + 7] = (*xy["agent"], self.robot.z, *agent_quat)
        else:
            m.body_pos[self._agent] = (*xy["agent"], self.robot.z)
            m.body_quat[self._agent] = agent_quat
        for i in range(self.n_hazards):
            m.body_pos[self._hazard0 + i, :2] = xy[f"hazard{i}"]
        for i, rot in enumerate(vase_rots):
            a = self._vase_qpos + 7 * i
            d.qpos[a:a + 7] = (*xy[f"vase{i}"], VASE_SIZE - VASE_SINK,
                               math.cos(rot / 2), 0.0, 0.0, math.sin(rot / 2))
        self._place_goal(layout.sample_goal())  # safety-gymnasium's update_world
        self._observe()
        self._last_dist = self._scalars[0]
        self._steps = 0
        return self._obs.copy(), {}

    def step(self, action):
        """Apply ``action`` (shape (2,)) for 10 physics steps; reward, costs, maybe a new goal."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self._ctrl.shape:
            raise ValueError(f"action: expected shape {self._ctrl.shape}, got {action.shape}")
        layout = self._layout
        if layout.rs is None:
            raise RuntimeError("env: call reset() before step()")
        clip_into(action, self._ctrl_low, self._ctrl_high, self._ctrl)
        mj, m, d = self._mj, self.model, self.data
        n_frames = int(layout.rs.binomial(FRAMESKIP_BINOM_N, FRAMESKIP_BINOM_P))
        # mj_step = mj_step1 (position and velocity stages) + mj_step2 (actuation onwards);
        # the mj_forward that ended the last step (or reset) did this state's mj_step1 work
        mj.mj_step2(m, d)
        if n_frames > 1:
            mj.mj_step(m, d, nstep=n_frames - 1)
        mj.mj_forward(m, d)  # the sensors and contacts of the new state, as safety-gymnasium
        self._observe()
        dist, hazards, vase_speed = self._scalars.tolist()   # Python floats from here on
        reward = (self._last_dist - dist) * REWARD_DISTANCE
        self._last_dist = dist
        goal_met = dist <= GOAL_SIZE
        if goal_met:
            reward += REWARD_GOAL
        reward = float(min(max(reward, -REWARD_CLIP), REWARD_CLIP))
        info: dict[str, Any] = {}
        if self.n_hazards:
            info["cost_hazards"] = hazards
        if self.vases_constrained:
            contacts = (count_contacts(d.contact.geom, self._geom_kind, _AGENT, _VASE)
                        if d.ncon else 0)
            info["cost_vases_contact"] = VASE_CONTACT_COST * contacts
            info["cost_vases_velocity"] = vase_speed
        total = float(sum(info.values()))
        if self.constrain_indicator:
            for key in info:
                info[key] = float(info[key] > 0.0)
            total = float(total > 0.0)
        info["cost_sum"] = info["cost"] = total
        terminated = False
        if goal_met:
            info["goal_met"] = True
            for name, body in ([("agent", self._agent)]
                               + [(f"hazard{i}", self._hazard0 + i) for i in range(self.n_hazards)]
                               + [(f"vase{i}", self._vase0 + i) for i in range(self.n_vases)]):
                layout.xy[name] = self._xpos[body, :2].copy()  # update_layout
            try:
                self._place_goal(layout.sample_goal())
                self._observe()
                self._last_dist = self._scalars[0]
            except ResamplingError:
                terminated = True
        self._steps += 1
        truncated = self._steps >= EPISODE_STEPS
        return self._obs.copy(), reward, terminated, truncated, info

    @property
    def goal_pos(self) -> np.ndarray:
        """The goal's XY, shape (2,)."""
        return self.model.body_pos[self._goal, :2].copy()

    @property
    def agent_pos(self) -> np.ndarray:
        """The robot's XY, shape (2,)."""
        return self._xpos[self._agent, :2].copy()

    @property
    def hazards_pos(self) -> np.ndarray:
        """The hazards' XY, shape (n_hazards, 2)."""
        return self._xpos[self._hazard0:self._hazard0 + self.n_hazards, :2].copy()

    @property
    def vases_pos(self) -> np.ndarray:
        """The vases' XY, shape (n_vases, 2)."""
        return self._xpos[self._vase0:self._vase0 + self.n_vases, :2].copy()


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
