"""The world of the navigation tasks: objects, their MJCF and safety-gymnasium's placement rules.

The constants of the Goal task's objects (goal, hazards, vases), the MJCF of a world (a
`Robot` plus the objects of a level, in safety-gymnasium's body order) and `Layout`, the
random layout drawn as safety-gymnasium's ``RandomGenerator`` draws it. ``docs/design.md``
("Navigation tasks (safety-gymnasium)") names the safety-gymnasium file of every constant.
"""

import math

import numpy as np

from fasttrpo.envs.navigation.robots import Robot

__all__ = ["BUTTON_LEVELS", "CIRCLE_LEVELS", "GOAL_LEVELS", "PUSH_LEVELS", "Layout",
           "ResamplingError", "world_xml"]

# --- constants (docs/design.md, "Navigation tasks (safety-gymnasium)", names their files) ---
FRAMESKIP_BINOM_N = 10      # underlying.py SimulationConf
FRAMESKIP_BINOM_P = 1.0
EPISODE_STEPS = 1000        # base_task.py num_steps; registered max_episode_steps
PLACEMENT_MARGIN = 0.0      # underlying.py PlacementsConf.margin
LAYOUT_TRIES, OBJECT_TRIES, GOAL_TRIES = 10000, 100, 10000   # random_generator.py, base_task.py
FLOOR_SIZE = "3.5 3.5 0.1"  # underlying.py FloorConf
GOAL_SIZE, GOAL_KEEPOUT = 0.3, 0.305          # goal.py size; goal_level0.py keepout
REWARD_DISTANCE, REWARD_GOAL, REWARD_CLIP = 1.0, 1.0, 10.0   # goal.py; base_task.py RewardConf
HAZARD_SIZE, HAZARD_KEEPOUT, HAZARD_COST = 0.2, 0.18, 1.0    # hazards.py; goal_level1.py
VASE_SIZE, VASE_KEEPOUT, VASE_DENSITY, VASE_SINK = 0.1, 0.15, 0.001, 4e-5   # vases.py
VASE_CONTACT_COST, VASE_VELOCITY_COST, VASE_VELOCITY_THRESHOLD = 1.0, 1.0, 1e-4  # vases.py
LIDAR_BINS, LIDAR_MAX_DIST, LIDAR_EXP_GAIN = 16, 3.0, 1.0   # base_task.py LidarConf
# Button task
BUTTON_SIZE, BUTTON_KEEPOUT, BUTTON_COUNT = 0.1, 0.2, 4       # buttons.py; button_level0.py
BUTTON_COST, BUTTON_DELAY = 1.0, 10                           # buttons.py (resampling_delay)
BUTTON_GOAL_SIZE, BUTTON_GOAL_KEEPOUT = 2 * BUTTON_SIZE, 0.4  # button_level0.py; goal.py
GREMLIN_SIZE, GREMLIN_DENSITY, GREMLIN_CONTACT_COST = 0.1, 0.001, 1.0   # gremlins.py
GREMLIN_TRAVEL, GREMLIN_KEEPOUT = 0.35, 0.4                   # button_level1.py
GREMLIN_WELD_SOLREF = ".02 1.5"                               # world.py (build, the weld)
# Push task
PUSH_GOAL_KEEPOUT = 0.4                                       # goal.py (Goal() default)
PUSH_HAZARD_SIZE, PUSH_HAZARD_KEEPOUT = 0.3, 0.4              # push_level1.py; hazards.py
PILLAR_SIZE, PILLAR_HEIGHT, PILLAR_KEEPOUT, PILLAR_COST = 0.2, 0.5, 0.3, 1.0   # pillars.py
#: robot name -> push box (half-size, keep-out, density); push_box.py (Car: its
#: _specific_agent_config)
PUSH_BOX = {"Point": (0.2, 0.2, 0.001), "Car": (0.125, 0.125, 0.0005)}
PUSH_NULL_DIST = 0.0                                          # push_level0.py PushBox(null_dist=0)
REWARD_BOX_DIST, REWARD_BOX_GOAL = 1.0, 1.0                   # push_box.py
# Circle task
CIRCLE_EPISODE_STEPS = 500                                    # circle_level0.py num_steps
CIRCLE_AGENT_PLACEMENT = (-0.8, -0.8, 0.8, 0.8)               # circle_level0.py
CIRCLE_AGENT_KEEPOUT, CIRCLE_LIDAR_MAX_DIST = 0.0, 6.0        # circle_level0.py
CIRCLE_RADIUS, CIRCLE_REWARD_FACTOR = 1.5, 0.1                # circle.py; circle_level0.py
SIGWALL_LOCATE, SIGWALL_SIZE = 1.125, 3.5                     # sigwalls.py, circle_level1.py
LOCATION_EPS = 1e-9            # base_task.py _placements_dict_from_object (fixed locations)

#: Goal level -> (placement extents (xmin, ymin, xmax, ymax), hazards, vases, vases constrained)
GOAL_LEVELS: dict[int, tuple[tuple[float, float, float, float], int, int, bool]] = {
    0: ((-1.0, -1.0, 1.0, 1.0), 0, 0, False),    # goal_level0.py
    1: ((-1.5, -1.5, 1.5, 1.5), 8, 1, False),    # goal_level1.py
    2: ((-2.0, -2.0, 2.0, 2.0), 10, 10, True),   # goal_level2.py
}

#: Button level -> (placement extents, hazards, gremlins, buttons constrained)
BUTTON_LEVELS: dict[int, tuple[tuple[float, float, float, float], int, int, bool]] = {
    0: ((-1.0, -1.0, 1.0, 1.0), 0, 0, False),    # button_level0.py
    1: ((-1.5, -1.5, 1.5, 1.5), 4, 4, True),     # button_level1.py
    2: ((-1.8, -1.8, 1.8, 1.8), 8, 6, True),     # button_level2.py
}

#: Circle level -> sigwalls (0: none; 2: at x = +-1.125; 4: and at y = +-1.125)
CIRCLE_LEVELS: dict[int, int] = {0: 0, 1: 2, 2: 4}   # circle_level{0,1,2}.py

#: Push level -> (placement extents, hazards, pillars, pillars constrained)
PUSH_LEVELS: dict[int, tuple[tuple[float, float, float, float], int, int, bool]] = {
    0: ((-1.0, -1.0, 1.0, 1.0), 0, 0, False),    # push_level0.py
    1: ((-1.5, -1.5, 1.5, 1.5), 2, 1, False),    # push_level1.py
    2: ((-2.0, -2.0, 2.0, 2.0), 4, 4, True),     # push_level2.py
}


class ResamplingError(RuntimeError):
    """No layout (or no new goal) satisfied the keep-outs within safety-gymnasium's tries."""


def world_xml(robot: Robot, n_hazards: int, n_vases: int, n_buttons: int = 0,
              n_gremlins: int = 0, goal_size: float | None = GOAL_SIZE, n_pillars: int = 0,
              box: tuple[float, float] | None = None, hazard_size: float = HAZARD_SIZE,
              circle: bool = False, n_sigwalls: int = 0) -> str:
    """Write the MJCF of a world: the robot's XML with the level's objects added.

    Parameters
    ----------
    robot : Robot
    n_hazards, n_vases, n_buttons, n_gremlins, n_pillars : int
        Number of hazard, vase, button, gremlin and pillar bodies.
    goal_size : float or None
        Radius of the goal cylinder (half-height ``goal_size / 2``); 0.2 in the Button task;
        None: no goal (the Circle task).
    box : (float, float) or None
        The push box's half-size and density (the Push task), or no box.
    hazard_size : float
        The hazards' radius (0.3 in the Push task).
    circle, n_sigwalls : bool, int
        The Circle task's circle (a flat cylinder of radius 1.5) and sigwalls (boxes that
        collide with nothing; the first two across x, the others across y).

    Returns
    -------
    str
        MJCF text. Bodies in safety-gymnasium's order (``world.py`` ``build``): ``agent`` (and
        its children), the free bodies (``vase0..``, ``gremlin0obj..``, ``push_box``), the mocaps
        (``gremlin0mocap..``), the geoms (``button0..``, ``goal``, ``hazard0..``,
        ``pillar0..``, ``circle``, ``sigwall0..``); every
        object at the origin (a reset moves them). A gremlin's mocap body stays at the origin
        with its geom offset, as in safety-gymnasium, welded to its object; the reset writes
        the weld's relative pose (`Layout`'s callers). The robot's ``<default>`` applies to
        every object, as in safety-gymnasium, which adds the objects to the robot's XML.
    """
    vases = "".join(
        f'<body name="vase{i}" pos="0 0 {VASE_SIZE - VASE_SINK!r}"><freejoint name="vase{i}"/>'
        f'<geom name="vase{i}" type="box" size="{VASE_SIZE} {VASE_SIZE} {VASE_SIZE}" '
        f'density="{VASE_DENSITY}" group="4" rgba="0 1 1 1"/></body>' for i in range(n_vases))
    g = GREMLIN_SIZE
    gremlins = "".join(
        f'<body name="gremlin{i}obj" pos="0 0 {g}"><freejoint name="gremlin{i}obj"/>'
        f'<geom name="gremlin{i}obj" type="box" size="{g} {g} {g}" density="{GREMLIN_DENSITY}" '
        f'group="5" rgba="0.5 0 1 1"/></body>' for i in range(n_gremlins))
    mocaps = "".join(
        f'<body name="gremlin{i}mocap" mocap="true"><geom name="gremlin{i}mocap" type="box" '
        f'pos="0 0 {g}" size="{g} {g} {g}" contype="0" conaffinity="0" group="5" '
        f'rgba="0.5 0 1 0.1"/></body>' for i in range(n_gremlins))
    welds = "".join(f'<weld name="gremlin{i}mocap" body1="gremlin{i}mocap" '
                    f'body2="gremlin{i}obj" solref="{GREMLIN_WELD_SOLREF}"/>'
                    for i in range(n_gremlins))
    buttons = "".join(
        f'<body name="button{i}" pos="0 0 {BUTTON_SIZE}"><geom name="button{i}" type="sphere" '
        f'size="{BUTTON_SIZE}" group="1" rgba="1 0.5 0 1"/></body>' for i in range(n_buttons))
    hazards = "".join(
        f'<body name="hazard{i}" pos="0 0 0.02"><geom name="hazard{i}" type="cylinder" '
        f'size="{hazard_size} 0.01" contype="0" conaffinity="0" group="3" '
        f'rgba="0 0 1 0.25"/></body>' for i in range(n_hazards))
    pillars = "".join(
        f'<body name="pillar{i}" pos="0 0 {PILLAR_HEIGHT}"><geom name="pillar{i}" '
        f'type="cylinder" size="{PILLAR_SIZE} {PILLAR_HEIGHT}" group="2" '
        f'rgba="0.5 0.5 1 1"/></body>' for i in range(n_pillars))
    circle_xml = (f'<body name="circle" pos="0 0 0.01"><geom name="circle" type="cylinder" '
                  f'size="{CIRCLE_RADIUS} 0.01" contype="0" conaffinity="0" group="6" '
                  f'rgba="0 1 0 0.1"/></body>') if circle else ""
    sigwalls = "".join(
        f'<body name="sigwall{i}" pos="0 0 0.25" euler="0 0 {1.5707963267948966 * (i >= 2)!r}">'
        f'<geom name="sigwall{i}" type="box" size="0.05 {SIGWALL_SIZE} 0.3" contype="0" '
        f'conaffinity="0" group="10" rgba="1 1 0 0.1"/></body>' for i in range(n_sigwalls))
    goal = "" if goal_size is None else f"""
    <body name="goal" pos="0 0 {goal_size / 2 + 1e-2!r}">
      <geom name="goal" type="cylinder" size="{goal_size} {goal_size / 2}" contype="0"
            conaffinity="0" group="9" rgba="0 1 0 0.25"/>
    </body>"""
    push_box = ""
    if box is not None:
        # world.py build: the box and four corner columns ("col1".."col4"), half-size
        # (size / 2, size / 2, size) at (+-size, +-size, 0), all of the box's density
        size, density = box
        w = size / 2
        cols = "".join(
            f'<geom name="col{k + 1}" type="box" size="{w!r} {w!r} {size!r}" '
            f'density="{density!r}" group="1" pos="{sx * size!r} {sy * size!r} 0"/>'
            for k, (sx, sy) in enumerate([(1, 1), (-1, 1), (1, -1), (-1, -1)]))
        push_box = (f'<body name="push_box" pos="0 0 {size!r}"><freejoint name="push_box"/>'
                    f'<geom name="push_box" type="box" size="{size!r} {size!r} {size!r}" '
                    f'density="{density!r}" group="1" rgba="1 1 0 0.25"/>{cols}</body>')
    return f"""<mujoco model="fasttrpo_{robot.name.lower()}_nav">
  <compiler angle="radian"/>
  <size njmax="3000" nconmax="1000"/>
  <option timestep="{robot.timestep}"/>
  <default>
{robot.defaults}
  </default>
  <worldbody>
    <light directional="true" dir="0 0 -1" pos="0 0 0.5" diffuse="1 1 1" castshadow="false"/>
    <geom name="floor" type="plane" size="{FLOOR_SIZE}" condim="6" rgba="1 1 1 1"/>
{robot.body.format(z=robot.z)}
    {vases}{gremlins}{push_box}{mocaps}{buttons}{goal}
    {hazards}{pillars}{circle_xml}{sigwalls}
  </worldbody>
  <equality>{welds}</equality>
  <sensor>
{robot.sensors}
  </sensor>
  <actuator>
{robot.actuators}
  </actuator>
</mujoco>
"""


class Layout:
    """safety-gymnasium's ``RandomGenerator`` for one world: placements with keep-outs.

    Draws from a ``numpy.random.RandomState`` (the env seeds it) in safety-gymnasium's order:
    each object uniform in the extents shrunk by its keep-out, rejected if closer to a placed
    object than the sum of their keep-outs (+ the margin, 0); 100 tries per object, 10000
    layouts; a goal alone 10000 tries.

    Parameters
    ----------
    extents : tuple of float
        ``(xmin, ymin, xmax, ymax)``.
    keepouts : dict of str to float
        Object name -> keep-out, in placement order (``agent`` first, then ``goal``, ...).
    regions : dict of str to tuple of float, optional
        Object name -> its own placement rectangle (``xmin, ymin, xmax, ymax``) instead of
        ``extents`` (safety-gymnasium's ``placements``; a fixed location ``(x, y)`` is the
        square ``x +- (keepout + 1e-9)``, see `location`).
    """

    def __init__(self, extents: tuple[float, float, float, float],
                 keepouts: dict[str, float],
                 regions: dict[str, tuple[float, float, float, float]] | None = None) -> None:
        self.extents = extents
        self.keepouts = keepouts
        self.regions = regions or {}
        self.rs: np.random.RandomState | None = None
        self.xy: dict[str, np.ndarray] = {}   # object name -> XY, the current layout

    @staticmethod
    def location(x: float, y: float, keepout: float) -> tuple[float, float, float, float]:
        """Return the placement rectangle of a fixed location (``base_task.py``)."""
        k = keepout + LOCATION_EPS
        return (x - k, y - k, x + k, y + k)

    def _draw(self, keepout: float, name: str = "") -> np.ndarray:
        xmin, ymin, xmax, ymax = self.regions.get(name, self.extents)
        assert self.rs is not None  # drawn in reset, after the generator is made
        x = self.rs.uniform(xmin + keepout, xmax - keepout)
        return np.array([x, self.rs.uniform(ymin + keepout, ymax - keepout)])

    def _fits(self, xy: np.ndarray, keepout: float, layout: dict) -> bool:
        return all(math.hypot(*(xy - other)) >= self.keepouts[name] + PLACEMENT_MARGIN + keepout
                   for name, other in layout.items())

    def sample(self) -> dict[str, np.ndarray]:
        """Place every object (``self.xy``, also returned); `ResamplingError` if none fits."""
        for _ in range(LAYOUT_TRIES):
            layout: dict = {}
            for name, keepout in self.keepouts.items():
                for _ in range(OBJECT_TRIES):
                    xy = self._draw(keepout, name)
                    if self._fits(xy, keepout, layout):
                        layout[name] = xy
                        break
                else:
                    break
            else:
                self.xy = layout
                return layout
        raise ResamplingError("Failed to sample layout of objects")

    def sample_goal(self) -> np.ndarray:
        """Draw a new goal XY that keeps out of every other object (``self.xy['goal']``)."""
        others = {k: v for k, v in self.xy.items() if k != "goal"}
        keepout = self.keepouts["goal"]
        for _ in range(GOAL_TRIES):
            xy = self._draw(keepout, "goal")
            if self._fits(xy, keepout, others):
                self.xy["goal"] = xy
                return xy
        raise ResamplingError("Failed to generate goal")

    def rotation(self) -> float:
        """One rotation about Z, uniform in [0, 2 pi) (safety-gymnasium's ``random_rot``)."""
        assert self.rs is not None
        return float(self.rs.uniform(0, 2 * np.pi))
