"""`NavEnv`: what every navigation task shares (the world, the reset, the step loop).

A task (`fasttrpo.envs.navigation.goal`, `button`, `push`, `circle`) is a subclass that names
its objects and writes four hooks: `NavEnv._observe` (fill ``self._obs`` and the scalars its
reward needs), `NavEnv._reward` (the reward and whether the goal was met), `NavEnv._costs` (the
raw named costs) and `NavEnv._update_world` (safety-gymnasium's ``update_world``: a new goal,
at reset and on success); `NavEnv._tick` is its ``specific_step``, `NavEnv._reset_task` its
``specific_reset``, `NavEnv._update_layout` its ``update_layout`` on success. The step loop is
safety-gymnasium's ``Builder.step``: physics (mocaps moved before every MuJoCo step), reward,
costs (the indicator convention applied), ``specific_step``, then the goal: ``update_world``
or, if no new goal fits, ``terminated``; episodes end (truncated) after ``episode_steps``
(1000; Circle 500).
"""

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fasttrpo.envs.navigation.kernels import agent_contacts, clip_into, observe_groups
from fasttrpo.envs.navigation.robots import SENSOR_QUAT2MAT, Robot
from fasttrpo.envs.navigation.world import (
    EPISODE_STEPS,
    FRAMESKIP_BINOM_N,
    FRAMESKIP_BINOM_P,
    GOAL_SIZE,
    GREMLIN_SIZE,
    GREMLIN_TRAVEL,
    HAZARD_SIZE,
    LIDAR_BINS,
    LIDAR_EXP_GAIN,
    LIDAR_MAX_DIST,
    REWARD_CLIP,
    VASE_SINK,
    VASE_SIZE,
    Layout,
    ResamplingError,
    world_xml,
)

__all__ = ["AGENT", "BUTTON", "GOAL_BUTTON", "GREMLIN", "PILLAR", "VASE", "NavEnv"]

#: geom kinds (``NavEnv._geom_kind``) for the contact costs
AGENT, VASE, BUTTON, GOAL_BUTTON, GREMLIN, PILLAR = 1, 2, 3, 4, 5, 6
N_KINDS = 7


def _quat_z(rot: float) -> tuple[float, float, float, float]:
    """Return the quaternion (w, x, y, z) of a rotation by ``rot`` about Z."""
    return (math.cos(rot / 2), 0.0, 0.0, math.sin(rot / 2))


class NavEnv(gym.Env):
    """Base of the navigation tasks: one robot in a world of objects, safety-gymnasium's rules.

    Subclasses call ``__init__`` with the level's objects and implement the hooks (module
    docstring). Object placement order (and the order of the random rotations) is ``keepouts``'
    order, safety-gymnasium's ``_obstacles`` order: agent, the geoms in the order the task adds
    them, then the free geoms, then the mocaps.

    Parameters
    ----------
    robot : Robot
    level : int
    extents : tuple of float
        Placement extents ``(xmin, ymin, xmax, ymax)``.
    keepouts : dict of str to float
        Object name (``agent``, ``goal``, ``hazard0``, ``button0``, ``vase0``, ``gremlin0``,
        ...) -> keep-out, in placement order.
    lidar_keys : list of str
        The lidars after the sensors, in observation order (``buttons_lidar``, ...).
    n_hazards, n_vases, n_buttons, n_gremlins, n_pillars : int
    goal_size, hazard_size : float
    box : (float, float) or None
        The push box's half-size and density, or no box.
    circle, n_sigwalls : bool, int
        The Circle task's objects.
    regions : dict, optional
        Per-object placement rectangles (`Layout`).
    lidar_max_dist, lidar_exp_gain, constrain_indicator
        As in `fasttrpo.envs.navigation.GoalEnv`.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium.Env declares it so)
    episode_steps: ClassVar[int] = EPISODE_STEPS

    def __init__(self, robot: Robot, level: int, extents: tuple[float, float, float, float],
                 keepouts: dict[str, float], lidar_keys: list[str], *, n_hazards: int = 0,
                 n_vases: int = 0, n_buttons: int = 0, n_gremlins: int = 0,
                 n_pillars: int = 0, box: tuple[float, float] | None = None,
                 goal_size: float | None = GOAL_SIZE, hazard_size: float = HAZARD_SIZE,
                 circle: bool = False, n_sigwalls: int = 0,
                 regions: dict[str, tuple[float, float, float, float]] | None = None,
                 lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN,
                 constrain_indicator: bool = True) -> None:
        if lidar_max_dist is not None and not lidar_max_dist > 0:
            raise ValueError(f"lidar_max_dist: must be positive or None, got {lidar_max_dist!r}")
        try:
            import mujoco
        except ImportError:
            raise ImportError('the navigation tasks need mujoco: pip install "fasttrpo[mujoco]"'
                              ) from None
        self._mj = mujoco
        self.robot, self.level, self.extents = robot, level, extents
        self.n_hazards, self.n_vases = n_hazards, n_vases
        self.n_buttons, self.n_gremlins = n_buttons, n_gremlins
        self.n_pillars, self.hazard_size = n_pillars, hazard_size
        self.n_sigwalls = n_sigwalls
        self.box_size = box[0] if box is not None else 0.0
        self.lidar_max_dist = -1.0 if lidar_max_dist is None else float(lidar_max_dist)
        self.lidar_exp_gain = float(lidar_exp_gain)
        self.constrain_indicator = bool(constrain_indicator)
        m = self.model = mujoco.MjModel.from_xml_string(
            world_xml(robot, n_hazards, n_vases, n_buttons, n_gremlins, goal_size, n_pillars, box,
                      hazard_size, circle, n_sigwalls))
        d = self.data = mujoco.MjData(m)
        body = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)  # noqa: E731
        geom = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name)  # noqa: E731
        first = lambda name, n: body(name) if n else 0  # noqa: E731
        self._agent, self._goal = body("agent"), body("goal")
        self._hazard0 = first("hazard0", n_hazards)
        self._vase0 = first("vase0", n_vases)
        self._button0 = first("button0", n_buttons)
        self._gremlin0 = first("gremlin0obj", n_gremlins)
        self._pillar0 = first("pillar0", n_pillars)
        self._circle = body("circle") if circle else -1
        self._sigwall0 = first("sigwall0", n_sigwalls)
        self._box = body("push_box") if box is not None else -1
        self._mocap0 = int(m.body_mocapid[body("gremlin0mocap")]) if n_gremlins else 0
        jnt = lambda b: int(m.body_jntadr[b])  # noqa: E731
        self._vase_qpos = int(m.jnt_qposadr[jnt(self._vase0)]) if n_vases else 0
        self._vase_dof = int(m.jnt_dofadr[jnt(self._vase0)]) if n_vases else 0
        self._gremlin_qpos = int(m.jnt_qposadr[jnt(self._gremlin0)]) if n_gremlins else 0
        self._box_qpos = int(m.jnt_qposadr[jnt(self._box)]) if box is not None else 0
        agent_joint = jnt(self._agent)
        # a free-joint robot (Car) is placed through its qpos, the others through body_pos
        self._agent_qpos = (int(m.jnt_qposadr[agent_joint])
                            if m.jnt_type[agent_joint] == mujoco.mjtJoint.mjJNT_FREE else -1)
        # geom kinds for the contact costs: the robot's geoms (its body tree's), the objects'
        self._agent_geoms = np.flatnonzero(m.body_rootid[m.geom_bodyid] == self._agent)
        self._vase_geoms = np.array([geom(f"vase{i}") for i in range(n_vases)], dtype=int)
        self._button_geoms = np.array([geom(f"button{i}") for i in range(n_buttons)], dtype=int)
        self._geom_kind = np.zeros(m.ngeom, dtype=np.int8)
        self._geom_kind[self._agent_geoms] = AGENT
        self._geom_kind[self._vase_geoms] = VASE
        self._geom_kind[self._button_geoms] = BUTTON
        self._geom_kind[[geom(f"gremlin{i}obj") for i in range(n_gremlins)]] = GREMLIN
        self._geom_kind[[geom(f"pillar{i}") for i in range(n_pillars)]] = PILLAR
        self._contacts = np.zeros(N_KINDS, dtype=np.int64)
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
        n_obs = self.n_sensor_obs + LIDAR_BINS * len(lidar_keys)
        low = np.zeros(n_obs)
        low[:self.n_sensor_obs] = -np.inf
        high = np.ones(n_obs)
        high[:self.n_sensor_obs] = np.inf
        self.observation_space = spaces.Box(low, high, dtype=np.float64)
        ctrl_low, ctrl_high = m.actuator_ctrlrange.T.copy()
        self._ctrl_low, self._ctrl_high = ctrl_low, ctrl_high
        self.action_space = spaces.Box(ctrl_low, ctrl_high, dtype=np.float64)
        self.obs_keys = robot.obs_keys + list(lidar_keys)
        self._obs = np.zeros(n_obs)
        self._scalars = np.zeros(3)
        self._layout = Layout(extents, keepouts, regions)
        self._steps = 0

    # --- hooks -------------------------------------------------------------------------
    def _observe(self) -> None:
        """Fill ``self._obs`` (and ``self._scalars``) from the state after ``mj_forward``."""
        raise NotImplementedError

    def _reward(self) -> tuple[float, bool]:
        """Return the step's reward (before clipping) and whether the goal was met."""
        raise NotImplementedError

    def _costs(self) -> dict[str, float]:
        """Return the raw named costs (``cost_hazards``, ...) of the state just simulated."""
        raise NotImplementedError

    def _update_world(self) -> None:
        """Set a new goal (safety-gymnasium's ``update_world``), then `_observe`.

        `ResamplingError` if none fits.
        """
        raise NotImplementedError

    def _update_layout(self) -> None:
        """safety-gymnasium's ``update_layout`` on success (before `_update_world`)."""

    def _reset_task(self) -> None:
        """safety-gymnasium's ``specific_reset`` (before `_update_world`)."""

    def _tick(self) -> None:
        """safety-gymnasium's ``specific_step`` (after the costs, before the goal)."""

    # --- shared machinery --------------------------------------------------------------
    def _set_lidars(self, groups: list) -> None:
        """Set the bodies each lidar sees (one sequence of body ids per lidar, in order)."""
        self._lidar_bodies = np.array([b for g in groups for b in g], dtype=np.int64)
        self._lidar_ptr = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
        self._lidar_blank = np.zeros(len(groups), dtype=np.bool_)

    def _observe_lidars(self, goal_body: int, contacts: bool = True) -> None:
        """Run `kernels.observe_groups`, then count the robot's contacts per geom kind.

        ``goal_body``'s XY distance and the hazards' cost go to ``self._scalars[:2]``, the
        contacts (unless ``contacts`` is False) to ``self._contacts``.
        """
        observe_groups(self._sensordata, self._xpos, self._xmat, self._sensor_plan, self._agent,
                       self._lidar_bodies, self._lidar_ptr, self._lidar_blank, goal_body,
                       self._hazard0, self.n_hazards, self.hazard_size, self.lidar_max_dist,
                       self.lidar_exp_gain, self._obs, self._scalars)
        if not contacts:
            return
        d = self.data
        if d.ncon:
            agent_contacts(d.contact.geom, self._geom_kind, AGENT, self._contacts)
        else:
            self._contacts[:] = 0

    def _place_goal(self, xy: np.ndarray) -> None:
        self.model.body_pos[self._goal, :2] = xy
        self._mj.mj_forward(self.model, self.data)

    def _place(self, xy: dict[str, np.ndarray], rots: dict[str, float]) -> None:
        """Move every object to the layout (``mj_resetData`` first; no ``mj_forward``)."""
        m, d = self.model, self.data
        self._mj.mj_resetData(m, d)
        agent_quat = _quat_z(rots["agent"])
        if self._agent_qpos >= 0:
            a = self._agent_qpos
            d.qpos[a:a + 7] = (*xy["agent"], self.robot.z, *agent_quat)
        else:
            m.body_pos[self._agent] = (*xy["agent"], self.robot.z)
            m.body_quat[self._agent] = agent_quat
        if self._goal >= 0:
            m.body_pos[self._goal, :2] = xy["goal"]
        if self._circle >= 0:
            m.body_pos[self._circle, :2] = xy["circle"]
        for i in range(self.n_sigwalls):
            m.body_pos[self._sigwall0 + i, :2] = xy[f"sigwall{i}"]
        for i in range(self.n_hazards):
            m.body_pos[self._hazard0 + i, :2] = xy[f"hazard{i}"]
        for i in range(self.n_buttons):
            m.body_pos[self._button0 + i, :2] = xy[f"button{i}"]
            m.body_quat[self._button0 + i] = _quat_z(rots[f"button{i}"])
        for i in range(self.n_pillars):
            m.body_pos[self._pillar0 + i, :2] = xy[f"pillar{i}"]
            m.body_quat[self._pillar0 + i] = _quat_z(rots[f"pillar{i}"])
        if self._box >= 0:
            a = self._box_qpos
            d.qpos[a:a + 7] = (*xy["push_box"], self.box_size, *_quat_z(rots["push_box"]))
        for i in range(self.n_vases):
            a = self._vase_qpos + 7 * i
            d.qpos[a:a + 7] = (*xy[f"vase{i}"], VASE_SIZE - VASE_SINK, *_quat_z(rots[f"vase{i}"]))
        for i in range(self.n_gremlins):
            # safety-gymnasium: the object at (xy, size) turned by rot, its mocap body at the
            # origin turned by rot with the geom at (xy, size) in the body's frame; the weld's
            # relative pose (the object in the mocap's frame) is where the model compiled them
            rot, gxy = rots[f"gremlin{i}"], xy[f"gremlin{i}"]
            quat = _quat_z(rot)
            a = self._gremlin_qpos + 7 * i
            d.qpos[a:a + 7] = (*gxy, GREMLIN_SIZE, *quat)
            c, s = math.cos(rot), math.sin(rot)
            rel = (c * gxy[0] + s * gxy[1], -s * gxy[0] + c * gxy[1], GREMLIN_SIZE)
            mocap_body = self._gremlin0 + self.n_gremlins + i
            m.body_quat[mocap_body] = quat
            m.geom_pos[m.body_geomadr[mocap_body]] = rel
            m.eq_data[i, 3:6] = rel   # welds: the gremlins' only equalities, in order
            m.eq_data[i, 6:10] = (1.0, 0.0, 0.0, 0.0)
            d.mocap_quat[self._mocap0 + i] = quat
            d.mocap_pos[self._mocap0 + i] = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw a new layout (agent, then the objects; rotations) and return ``(obs, {})``.

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
        xy = layout.sample()
        rots = {name: layout.rotation() for name in layout.keepouts}
        self._place(xy, rots)
        self._reset_task()
        self._update_world()
        self._steps = 0
        return self._obs.copy(), {}

    def _simulate(self, n_frames: int) -> None:
        mj, m, d = self._mj, self.model, self.data
        if self.n_gremlins:
            # gremlins.py move(), before every MuJoCo step: every mocap on the circle of
            # radius `travel` at phase data.time (the weld adds each gremlin's offset)
            mocap_pos = d.mocap_pos[self._mocap0:self._mocap0 + self.n_gremlins]
            mocap_pos[:, 2] = GREMLIN_SIZE
            for _ in range(n_frames):
                t = d.time
                mocap_pos[:, 0] = math.sin(t) * GREMLIN_TRAVEL
                mocap_pos[:, 1] = math.cos(t) * GREMLIN_TRAVEL
                mj.mj_step(m, d)
        elif n_frames > 0:
            # mj_step = mj_step1 (position and velocity stages) + mj_step2 (actuation
            # onwards); the mj_forward that ended the last step (or reset) did this state's
            # mj_step1 work
            mj.mj_step2(m, d)
            if n_frames > 1:
                mj.mj_step(m, d, nstep=n_frames - 1)
        mj.mj_forward(m, d)  # the sensors and contacts of the new state, as safety-gymnasium

    def step(self, action):
        """Apply ``action`` for 10 physics steps; reward, costs, maybe a new goal."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self._ctrl.shape:
            raise ValueError(f"action: expected shape {self._ctrl.shape}, got {action.shape}")
        layout = self._layout
        if layout.rs is None:
            raise RuntimeError("env: call reset() before step()")
        clip_into(action, self._ctrl_low, self._ctrl_high, self._ctrl)
        self._simulate(int(layout.rs.binomial(FRAMESKIP_BINOM_N, FRAMESKIP_BINOM_P)))
        self._observe()
        reward, goal_met = self._reward()
        reward = float(min(max(reward, -REWARD_CLIP), REWARD_CLIP))
        info: dict[str, Any] = self._costs()
        total = float(sum(info.values()))
        if self.constrain_indicator:
            for key in info:
                info[key] = float(info[key] > 0.0)
            total = float(total > 0.0)
        info["cost_sum"] = info["cost"] = total
        self._tick()
        terminated = False
        if goal_met:
            info["goal_met"] = True
            self._update_layout()
            try:
                self._update_world()
            except ResamplingError:
                terminated = True
        self._steps += 1
        truncated = self._steps >= self.episode_steps
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

    @property
    def buttons_pos(self) -> np.ndarray:
        """The buttons' XY, shape (n_buttons, 2)."""
        return self._xpos[self._button0:self._button0 + self.n_buttons, :2].copy()

    @property
    def pillars_pos(self) -> np.ndarray:
        """The pillars' XY, shape (n_pillars, 2)."""
        return self._xpos[self._pillar0:self._pillar0 + self.n_pillars, :2].copy()

    @property
    def box_pos(self) -> np.ndarray:
        """The push box's XY, shape (2,)."""
        return self._xpos[self._box, :2].copy()

    @property
    def gremlins_pos(self) -> np.ndarray:
        """The gremlins' XY (their objects'), shape (n_gremlins, 2)."""
        return self._xpos[self._gremlin0:self._gremlin0 + self.n_gremlins, :2].copy()

