"""Safety-Gymnasium's navigation tasks on the ``mujoco`` bindings: Point Goal, levels 0-2.

``fasttrpo/SafetyPointGoal{0,1,2}-v0`` (`PointGoalEnv`) rebuild safety-gymnasium's
``SafetyPointGoal{0,1,2}-v0`` (PKU-Alignment/safety-gymnasium, v1.0.0 and the current main
branch agree on every fact used here) without importing it: the Point robot's MJCF, the
physics step and frame skip, the placement rules with their keep-out distances, the object
counts and sizes per level, the observation (robot sensors, then the goal's, the hazards' and
the vases' pseudo-lidar), the reward and the named costs. ``docs/design.md`` ("Navigation
tasks (safety-gymnasium)") lists every constant with the file it comes from.

The random layout is drawn in safety-gymnasium's order from a ``numpy.random.RandomState``
seeded with the reset seed (its ``RandomGenerator``): agent, goal, hazards, vases, then the
rotations, then the goal drawn again; each step draws its frame count from
``binomial(10, 1.0)`` (always 10) as safety-gymnasium does, so a later goal draws from the
same stream. The MuJoCo model is compiled once per env; a reset moves the bodies (the agent's,
goal's and hazards' body positions, the vases' free joints) where safety-gymnasium compiles a
new model: the same model constants, since every object's are invariant to where it stands.

``mujoco`` is imported when an env is made, never by ``import fasttrpo``: it is the
``mujoco`` extra (``pip install "fasttrpo[mujoco]"``).
"""

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fasttrpo.kernels import kernel

__all__ = ["LEVELS", "PointGoalEnv", "ResamplingError", "point_goal_xml"]

# --- constants (docs/design.md, "Navigation tasks (safety-gymnasium)", names their files) ---
TIMESTEP = 0.002            # point.xml <option timestep>
FRAMESKIP_BINOM_N = 10      # underlying.py SimulationConf
FRAMESKIP_BINOM_P = 1.0
EPISODE_STEPS = 1000        # base_task.py num_steps; registered max_episode_steps
PLACEMENT_MARGIN = 0.0      # underlying.py PlacementsConf.margin
LAYOUT_TRIES, OBJECT_TRIES, GOAL_TRIES = 10000, 100, 10000   # random_generator.py, base_task.py
AGENT_KEEPOUT = 0.4         # base_agent.py BaseAgent keepout
AGENT_Z = 0.1               # point.xml body "agent" pos
GOAL_SIZE, GOAL_KEEPOUT = 0.3, 0.305          # goal.py size; goal_level0.py keepout
REWARD_DISTANCE, REWARD_GOAL, REWARD_CLIP = 1.0, 1.0, 10.0   # goal.py; base_task.py RewardConf
HAZARD_SIZE, HAZARD_KEEPOUT, HAZARD_COST = 0.2, 0.18, 1.0    # hazards.py; goal_level1.py
VASE_SIZE, VASE_KEEPOUT, VASE_DENSITY, VASE_SINK = 0.1, 0.15, 0.001, 4e-5   # vases.py
VASE_CONTACT_COST, VASE_VELOCITY_COST, VASE_VELOCITY_THRESHOLD = 1.0, 1.0, 1e-4  # vases.py
LIDAR_BINS, LIDAR_MAX_DIST, LIDAR_EXP_GAIN = 16, 3.0, 1.0   # base_task.py LidarConf
N_SENSORS = 12              # accelerometer, velocimeter, gyro, magnetometer: 3 each

#: level -> (placement extents (xmin, ymin, xmax, ymax), hazards, vases, vases constrained)
LEVELS: dict[int, tuple[tuple[float, float, float, float], int, int, bool]] = {
    0: ((-1.0, -1.0, 1.0, 1.0), 0, 0, False),    # goal_level0.py
    1: ((-1.5, -1.5, 1.5, 1.5), 8, 1, False),    # goal_level1.py
    2: ((-2.0, -2.0, 2.0, 2.0), 10, 10, True),   # goal_level2.py
}


class ResamplingError(RuntimeError):
    """No layout (or no new goal) satisfied the keep-outs within safety-gymnasium's tries."""


def point_goal_xml(n_hazards: int, n_vases: int) -> str:
    """Write the MJCF of a Point Goal world: safety-gymnasium's ``point.xml`` and its objects.

    Parameters
    ----------
    n_hazards, n_vases : int
        Number of hazard and vase bodies.

    Returns
    -------
    str
        MJCF text. Bodies in safety-gymnasium's order: ``agent``, ``vase0..``, ``goal``,
        ``hazard0..``; every object at the origin (a reset moves them).
    """
    vases = "".join(
        f'<body name="vase{i}" pos="0 0 {VASE_SIZE - VASE_SINK!r}"><freejoint name="vase{i}"/>'
        f'<geom name="vase{i}" type="box" size="{VASE_SIZE} {VASE_SIZE} {VASE_SIZE}" '
        f'density="{VASE_DENSITY}" group="4" rgba="0 1 1 1"/></body>' for i in range(n_vases))
    hazards = "".join(
        f'<body name="hazard{i}" pos="0 0 0.02"><geom name="hazard{i}" type="cylinder" '
        f'size="{HAZARD_SIZE} 0.01" contype="0" conaffinity="0" group="3" '
        f'rgba="0 0 1 0.25"/></body>' for i in range(n_hazards))
    return f"""<mujoco model="fasttrpo_point_goal">
  <compiler angle="radian"/>
  <size njmax="3000" nconmax="1000"/>
  <option timestep="{TIMESTEP}"/>
  <default>
    <geom condim="6" density="1"/>
    <joint damping="0.001"/>
    <motor ctrlrange="-1 1" ctrllimited="true" forcerange="-0.05 0.05" forcelimited="true"/>
    <velocity ctrlrange="-1 1" ctrllimited="true" forcerange="-0.05 0.05"
              forcelimited="true"/>
    <site size="0.032" type="sphere"/>
  </default>
  <worldbody>
    <light directional="true" dir="0 0 -1" pos="0 0 0.5" diffuse="1 1 1" castshadow="false"/>
    <geom name="floor" type="plane" size="3.5 3.5 0.1" condim="6" rgba="1 1 1 1"/>
    <body name="agent" pos="0 0 {AGENT_Z}">
      <joint name="x" type="slide" axis="1 0 0" damping="0.01"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0.01"/>
      <joint name="z" type="hinge" axis="0 0 1" damping="0.005"/>
      <geom name="agent" type="sphere" size="0.1" friction="1 0.01 0.01"
            rgba="0.7412 0.0431 0.1843 1"/>
      <geom name="pointarrow" type="box" pos="0.1 0 0" size="0.05 0.05 0.05"
            rgba="0.0039 0.1529 0.3961 1"/>
      <site name="agent" rgba="1 0 0 0.1"/>
    </body>
    {vases}
    <body name="goal" pos="0 0 {GOAL_SIZE / 2 + 1e-2!r}">
      <geom name="goal" type="cylinder" size="{GOAL_SIZE} {GOAL_SIZE / 2}" contype="0"
            conaffinity="0" group="9" rgba="0 1 0 0.25"/>
    </body>
    {hazards}
  </worldbody>
  <sensor>
    <accelerometer name="accelerometer" site="agent"/>
    <velocimeter name="velocimeter" site="agent"/>
    <gyro name="gyro" site="agent"/>
    <magnetometer name="magnetometer" site="agent"/>
    <subtreecom name="subtreecom" body="agent"/>
    <subtreelinvel name="subtreelinvel" body="agent"/>
    <subtreeangmom name="subtreeangmom" body="agent"/>
  </sensor>
  <actuator>
    <motor name="x" site="agent" gear="0.3 0 0 0 0 0"/>
    <velocity name="z" jointinparent="z" gear="0.3"/>
  </actuator>
</mujoco>
"""


@kernel(inline="always")
def _lidar_point(agent, mat, px, py, out, off, max_dist, exp_gain):
    """Add one object at world ``(px, py)`` to the 16-bin pseudo-lidar ``out[off:off + 16]``.

    safety-gymnasium's ``_obs_lidar_pseudo`` with aliasing: the egocentric XY of the object
    (its Z taken as 0), its bin by angle, ``max(0, max_dist - d) / max_dist`` (``max_dist <=
    0``: ``exp(-exp_gain d)``) kept as a maximum in the bin and, weighted by the position in
    the bin, in both neighbours.
    """
    two_pi = 2.0 * math.pi
    bin_size = two_pi / LIDAR_BINS
    wx, wy, wz = px - agent[0], py - agent[1], -agent[2]
    ex = wx * mat[0] + wy * mat[3] + wz * mat[6]
    ey = wx * mat[1] + wy * mat[4] + wz * mat[7]
    dist = math.sqrt(ex * ex + ey * ey)
    angle = math.atan2(ey, ex)
    if angle < 0.0:
        angle += two_pi
    if angle >= two_pi:  # a tiny negative angle rounds up to 2 pi: the same direction as 0
        angle -= two_pi
    b = int(angle / bin_size)
    if max_dist > 0.0:
        sensor = max(0.0, max_dist - dist) / max_dist
    else:
        sensor = math.exp(-exp_gain * dist)
    out[off + b] = max(out[off + b], sensor)
    alias = (angle - bin_size * b) / bin_size
    bp, bm = off + (b + 1) % LIDAR_BINS, off + (b - 1) % LIDAR_BINS
    out[bp] = max(out[bp], alias * sensor)
    out[bm] = max(out[bm], (1.0 - alias) * sensor)


@kernel
def _observe(sensordata, xpos, xmat, qvel, agent_body, goal_body, hazard_body, n_hazards,
             vase_body, n_vases, vase_dof, max_dist, exp_gain, obs, scalars):
    """Fill the observation and the distances and raw costs of one step.

    Parameters
    ----------
    sensordata, qvel : ndarray, shape (nsensordata,) and (nv,)
        ``MjData`` arrays after ``mj_forward``.
    xpos : ndarray, shape (nbody, 3)
    xmat : ndarray, shape (nbody, 9)
    agent_body, goal_body, hazard_body, vase_body : int
        Body ids (hazards and vases consecutive from their first id).
    n_hazards, n_vases : int
    vase_dof : int
        The first vase's first dof; vase ``i``'s linear velocity is ``qvel[vase_dof + 6 i:][:3]``.
    max_dist, exp_gain : float
        Lidar range (``<= 0``: exponential falloff with gain ``exp_gain``).
    obs : ndarray, shape (12 + 16 (1 + (n_hazards > 0) + (n_vases > 0)),)
        Written: the 12 sensor values, then the goal's, hazards' and vases' lidar.
    scalars : ndarray, shape (3,)
        Written: XY distance to the goal, ``sum (0.2 - d)`` over the hazards within 0.2 and
        the summed speed of the vases moving at ``>= 1e-4`` m/s.
    """
    for i in range(N_SENSORS):
        obs[i] = sensordata[i]
    for i in range(N_SENSORS, obs.shape[0]):
        obs[i] = 0.0
    agent = xpos[agent_body]
    mat = xmat[agent_body]
    gx, gy = xpos[goal_body, 0], xpos[goal_body, 1]
    _lidar_point(agent, mat, gx, gy, obs, N_SENSORS, max_dist, exp_gain)
    scalars[0] = math.sqrt((gx - agent[0]) ** 2 + (gy - agent[1]) ** 2)
    off = N_SENSORS + LIDAR_BINS
    hazard_cost = 0.0
    for h in range(hazard_body, hazard_body + n_hazards):
        hx, hy = xpos[h, 0], xpos[h, 1]
        _lidar_point(agent, mat, hx, hy, obs, off, max_dist, exp_gain)
        d = math.sqrt((hx - agent[0]) ** 2 + (hy - agent[1]) ** 2)
        if d <= HAZARD_SIZE:
            hazard_cost += HAZARD_COST * (HAZARD_SIZE - d)
    scalars[1] = hazard_cost
    if n_hazards > 0:
        off += LIDAR_BINS
    speed = 0.0
    for v in range(n_vases):
        _lidar_point(agent, mat, xpos[vase_body + v, 0], xpos[vase_body + v, 1], obs, off,
                     max_dist, exp_gain)
        a = vase_dof + 6 * v
        s = math.sqrt(qvel[a] ** 2 + qvel[a + 1] ** 2 + qvel[a + 2] ** 2)
        if s >= VASE_VELOCITY_THRESHOLD:
            speed += VASE_VELOCITY_COST * s
    scalars[2] = speed


class PointGoalEnv(gym.Env):
    """safety-gymnasium's ``SafetyPointGoal<level>-v0``: drive the Point robot to the goal.

    The Point is a sphere on the floor (radius 0.1, a box "arrow" in front), with a force
    along its heading (gear 0.3) and a velocity servo on its yaw (gear 0.3), both limited to
    0.05; the action ``(force, turn)`` is clipped to [-1, 1]. Each step is 10 MuJoCo steps of
    2 ms. Level 0: the goal only, placed in [-1, 1]^2; level 1: 8 hazards and 1 vase that costs
    nothing, in [-1.5, 1.5]^2; level 2: 10 hazards and 10 vases that cost, in [-2, 2]^2.

    Observation (float64): ``accelerometer`` (3), ``velocimeter`` (3), ``gyro`` (3),
    ``magnetometer`` (3) of the robot's site, then 16-bin lidars of the goal, the hazards and
    the vases, those present at the level (28 floats at level 0, 60 at levels 1 and 2).
    Reward: ``(d_prev - d) * 1.0`` (XY distance to the goal), plus 1.0 on the step that ends
    within 0.3 of it, clipped to [-10, 10]; a goal reached is drawn again at once (the episode
    ends, ``terminated``, only if no new goal fits the keep-outs). Costs in ``info`` as
    safety-gymnasium names them: ``cost_hazards`` (levels 1, 2), ``cost_vases_contact`` and
    ``cost_vases_velocity`` (level 2), and ``cost_sum``; with ``constrain_indicator`` (the
    default) each is ``1[raw > 0]``, so ``cost_sum`` is 1 when any cost is. ``info["cost"]``
    is ``cost_sum``; ``info["goal_met"]`` is set on a step that reached the goal. Episodes
    last 1000 steps (truncated).

    Parameters
    ----------
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

    def __init__(self, level: int = 1, lidar_max_dist: float | None = LIDAR_MAX_DIST,
                 lidar_exp_gain: float = LIDAR_EXP_GAIN, constrain_indicator: bool = True) -> None:
        if level not in LEVELS:
            raise ValueError(f"level: expected 0, 1 or 2, got {level!r}")
        if lidar_max_dist is not None and not lidar_max_dist > 0:
            raise ValueError(f"lidar_max_dist: must be positive or None, got {lidar_max_dist!r}")
        try:
            import mujoco
        except ImportError:
            raise ImportError('the navigation tasks need mujoco: pip install "fasttrpo[mujoco]"'
                              ) from None
        self._mj = mujoco
        self.level = level
        self.extents, self.n_hazards, self.n_vases, self.vases_constrained = LEVELS[level]
        self.lidar_max_dist = -1.0 if lidar_max_dist is None else float(lidar_max_dist)
        self.lidar_exp_gain = float(lidar_exp_gain)
        self.constrain_indicator = bool(constrain_indicator)
        m = self.model = mujoco.MjModel.from_xml_string(point_goal_xml(self.n_hazards,
                                                                       self.n_vases))
        d = self.data = mujoco.MjData(m)
        body = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)  # noqa: E731
        self._agent, self._goal = body("agent"), body("goal")
        self._hazard0 = body("hazard0") if self.n_hazards else 0
        self._vase0 = body("vase0") if self.n_vases else 0
        self._vase_qpos = int(m.jnt_qposadr[m.body_jntadr[self._vase0]]) if self.n_vases else 0
        self._vase_dof = int(m.jnt_dofadr[m.body_jntadr[self._vase0]]) if self.n_vases else 0
        geom = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name)  # noqa: E731
        self._agent_geoms = np.array([geom("agent"), geom("pointarrow")])
        self._vase_geoms = np.array([geom(f"vase{i}") for i in range(self.n_vases)], dtype=int)
        # views into MjData, valid for its life
        self._sensordata, self._xpos, self._xmat = d.sensordata, d.xpos, d.xmat
        self._qvel, self._ctrl = d.qvel, d.ctrl
        n_obs = N_SENSORS + LIDAR_BINS * (1 + (self.n_hazards > 0) + (self.n_vases > 0))
        low = np.zeros(n_obs)
        low[:N_SENSORS] = -np.inf
        high = np.ones(n_obs)
        high[:N_SENSORS] = np.inf
        self.observation_space = spaces.Box(low, high, dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float64)
        self.obs_keys = (["accelerometer", "velocimeter", "gyro", "magnetometer", "goal_lidar"]
                         + ["hazards_lidar"] * (self.n_hazards > 0)
                         + ["vases_lidar"] * (self.n_vases > 0))
        self._obs = np.zeros(n_obs)
        self._scalars = np.zeros(3)
        self._rs: np.random.RandomState | None = None
        self._keepouts: dict[str, float] = {}
        self._layout: dict[str, np.ndarray] = {}
        self._last_dist = 0.0
        self._steps = 0

    # --- layout: safety-gymnasium's RandomGenerator, drawn in its order ---
    def _draw(self, keepout: float) -> np.ndarray:
        xmin, ymin, xmax, ymax = self.extents
        assert self._rs is not None  # drawn in reset, after the generator is made
        x = self._rs.uniform(xmin + keepout, xmax - keepout)
        return np.array([x, self._rs.uniform(ymin + keepout, ymax - keepout)])

    def _fits(self, xy: np.ndarray, keepout: float, layout: dict) -> bool:
        return all(math.hypot(*(xy - other)) >= self._keepouts[name] + PLACEMENT_MARGIN + keepout
                   for name, other in layout.items())

    def _sample_layout(self) -> dict:
        names = (["agent", "goal"] + [f"hazard{i}" for i in range(self.n_hazards)]
                 + [f"vase{i}" for i in range(self.n_vases)])
        self._keepouts = {n: (AGENT_KEEPOUT if n == "agent" else GOAL_KEEPOUT if n == "goal"
                              else HAZARD_KEEPOUT if n.startswith("hazard") else VASE_KEEPOUT)
                          for n in names}
        for _ in range(LAYOUT_TRIES):
            layout: dict = {}
            for name in names:
                for _ in range(OBJECT_TRIES):
                    xy = self._draw(self._keepouts[name])
                    if self._fits(xy, self._keepouts[name], layout):
                        layout[name] = xy
                        break
                else:
                    break
            else:
                return layout
        raise ResamplingError("Failed to sample layout of objects")

    def _sample_goal(self) -> np.ndarray:
        others = {k: v for k, v in self._layout.items() if k != "goal"}
        for _ in range(GOAL_TRIES):
            xy = self._draw(GOAL_KEEPOUT)
            if self._fits(xy, GOAL_KEEPOUT, others):
                return xy
        raise ResamplingError("Failed to generate goal")

    def _place_goal(self, xy: np.ndarray) -> None:
        self._layout["goal"] = xy
        self.model.body_pos[self._goal, :2] = xy
        self._mj.mj_forward(self.model, self.data)

    def _observe(self) -> None:
        _observe(self._sensordata, self._xpos, self._xmat, self._qvel, self._agent, self._goal,
                 self._hazard0, self.n_hazards, self._vase0, self.n_vases, self._vase_dof,
                 self.lidar_max_dist, self.lidar_exp_gain, self._obs, self._scalars)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw a new layout (agent, goal, hazards, vases; rotations) and return ``(obs, {})``.

        ``seed`` seeds the layout stream as safety-gymnasium's ``RandomState(seed)`` (seeds of
        2**32 and more through a ``SeedSequence``); without one the stream continues, and the
        first is seeded from gymnasium's ``np_random``.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._rs = (np.random.RandomState(seed) if 0 <= seed < 2 ** 32 else
                        np.random.RandomState(np.random.MT19937(np.random.SeedSequence(seed))))
        elif self._rs is None:
            self._rs = np.random.RandomState(int(self.np_random.integers(2 ** 32)))
        m, d, mj = self.model, self.data, self._mj
        self._layout = self._sample_layout()
        # rotations: the agent's, then one per object in safety-gymnasium's order
        agent_rot = self._rs.uniform(0, 2 * np.pi)
        self._rs.uniform(0, 2 * np.pi)                     # the goal's (a cylinder)
        for _ in range(self.n_hazards):                   # the hazards' (cylinders)
            self._rs.uniform(0, 2 * np.pi)
        vase_rots = [self._rs.uniform(0, 2 * np.pi) for _ in range(self.n_vases)]
        mj.mj_resetData(m, d)
        m.body_pos[self._agent] = (*self._layout["agent"], AGENT_Z)
        m.body_quat[self._agent] = (math.cos(agent_rot / 2), 0.0, 0.0, math.sin(agent_rot / 2))
        for i in range(self.n_hazards):
            m.body_pos[self._hazard0 + i, :2] = self._layout[f"hazard{i}"]
        for i, rot in enumerate(vase_rots):
            a = self._vase_qpos + 7 * i
            d.qpos[a:a + 7] = (*self._layout[f"vase{i}"], VASE_SIZE - VASE_SINK,
                               math.cos(rot / 2), 0.0, 0.0, math.sin(rot / 2))
        self._place_goal(self._sample_goal())  # safety-gymnasium's update_world
        self._observe()
        self._last_dist = self._scalars[0]
        self._steps = 0
        return self._obs.copy(), {}

    def step(self, action):
        """Apply ``action`` (shape (2,)) for 10 physics steps; reward, costs, maybe a new goal."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,):
            raise ValueError(f"action: expected shape (2,), got {action.shape}")
        if self._rs is None:
            raise RuntimeError("env: call reset() before step()")
        np.clip(action, -1.0, 1.0, out=self._ctrl)
        mj, m, d = self._mj, self.model, self.data
        mj.mj_step(m, d, nstep=int(self._rs.binomial(FRAMESKIP_BINOM_N, FRAMESKIP_BINOM_P)))
        mj.mj_forward(m, d)
        self._observe()
        dist = self._scalars[0]
        reward = (self._last_dist - dist) * REWARD_DISTANCE
        self._last_dist = dist
        goal_met = dist <= GOAL_SIZE
        if goal_met:
            reward += REWARD_GOAL
        reward = float(min(max(reward, -REWARD_CLIP), REWARD_CLIP))
        info: dict[str, Any] = {}
        if self.n_hazards:
            info["cost_hazards"] = self._scalars[1]
        if self.vases_constrained:
            contacts = 0
            if d.ncon:
                pairs = d.contact.geom[:d.ncon]
                vase = np.isin(pairs, self._vase_geoms)
                agent = np.isin(pairs, self._agent_geoms)
                contacts = int(np.count_nonzero((vase[:, 0] & agent[:, 1])
                                                | (vase[:, 1] & agent[:, 0])))
            info["cost_vases_contact"] = VASE_CONTACT_COST * contacts
            info["cost_vases_velocity"] = self._scalars[2]
        total = float(sum(info.values()))
        if self.constrain_indicator:
            for key in info:
                info[key] = float(info[key] > 0.0)
            total = float(total > 0.0)
        else:
            info = {k: float(v) for k, v in info.items()}
        info["cost_sum"] = info["cost"] = total
        terminated = False
        if goal_met:
            info["goal_met"] = True
            for name, body in ([("agent", self._agent)]
                               + [(f"hazard{i}", self._hazard0 + i) for i in range(self.n_hazards)]
                               + [(f"vase{i}", self._vase0 + i) for i in range(self.n_vases)]):
                self._layout[name] = self._xpos[body, :2].copy()  # update_layout
            try:
                self._place_goal(self._sample_goal())
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
