"""The robots of safety-gymnasium's navigation tasks: MJCF, sensors, actuators, keep-out.

A `Robot` is a spec, not a class to subclass: the MJCF pieces safety-gymnasium's agent XML
(``assets/xmls/<robot>.xml``) contributes to the world (its ``<default>``, timestep, agent
body, sensors and actuators), which of its sensors the observation holds and in what order
(``bases/base_agent.py``: ``SensorConf.sensors``, then ball-joint angular velocities, then
ball-joint quaternions as 3x3 rotation matrices), and its placement keep-out. The world
around it (floor, goal, hazards, vases) is `fasttrpo.envs.navigation.world`'s.
``docs/design.md`` ("Navigation tasks (safety-gymnasium)") names the file of every constant.
"""

from dataclasses import dataclass

__all__ = ["CAR", "POINT", "ROBOTS", "SENSOR_COPY", "SENSOR_QUAT2MAT", "Robot"]

#: how an observed sensor enters the observation: its values as they are, or a quaternion
#: as the 9 entries of its rotation matrix (row-major; safety-gymnasium's ``quat2mat``)
SENSOR_COPY, SENSOR_QUAT2MAT = 0, 1


@dataclass(frozen=True)
class Robot:
    """One robot of safety-gymnasium's navigation tasks.

    Attributes
    ----------
    name : str
        safety-gymnasium's robot name (``Point``, ``Car``): the env ids' ``Safety<name>Goal``.
    timestep : float
        The physics step of the robot's XML (``<option timestep>``; the world keeps it).
    z : float
        Height of the ``agent`` body (safety-gymnasium's ``z_height``, the body's world Z in
        the robot's own XML).
    keepout : float
        Placement keep-out of the agent (``BaseAgent.keepout``).
    defaults, body, sensors, actuators : str
        MJCF: the ``<default>`` children (they apply to the whole world, as in safety-gymnasium,
        where the objects are added to the robot's XML), the ``agent`` body at the origin
        with ``{z}`` left to format (a reset moves it), the ``<sensor>`` and the
        ``<actuator>`` children.
    observed : tuple of (str, int)
        The sensors in the observation, in order, each with `SENSOR_COPY` or
        `SENSOR_QUAT2MAT`.
    """

    name: str
    timestep: float
    z: float
    keepout: float
    defaults: str
    body: str
    sensors: str
    actuators: str
    observed: tuple[tuple[str, int], ...]

    @property
    def obs_keys(self) -> list[str]:
        """Names of the observed sensors, in observation order."""
        return [name for name, _ in self.observed]


# SensorConf.sensors, the four every robot observes first (bases/base_agent.py)
_SITE_SENSORS = (("accelerometer", SENSOR_COPY), ("velocimeter", SENSOR_COPY),
                 ("gyro", SENSOR_COPY), ("magnetometer", SENSOR_COPY))
# declared but not observed (used by safety-gymnasium for intrinsic constraints only)
_SUBTREE_SENSORS = """    <subtreecom name="subtreecom" body="agent"/>
    <subtreelinvel name="subtreelinvel" body="agent"/>
    <subtreeangmom name="subtreeangmom" body="agent"/>"""

#: safety-gymnasium's Point (``assets/xmls/point.xml``, ``agents/point.py``): a sphere on
#: the floor on two slide joints and a yaw hinge; a force along its heading and a velocity
#: servo on its yaw.
POINT = Robot(
    name="Point",
    timestep=0.002,
    z=0.1,
    keepout=0.4,
    defaults="""    <geom condim="6" density="1"/>
    <joint damping="0.001"/>
    <motor ctrlrange="-1 1" ctrllimited="true" forcerange="-0.05 0.05" forcelimited="true"/>
    <velocity ctrlrange="-1 1" ctrllimited="true" forcerange="-0.05 0.05"
              forcelimited="true"/>
    <site size="0.032" type="sphere"/>""",
    body="""    <body name="agent" pos="0 0 {z}">
      <joint name="x" type="slide" axis="1 0 0" damping="0.01"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0.01"/>
      <joint name="z" type="hinge" axis="0 0 1" damping="0.005"/>
      <geom name="agent" type="sphere" size="0.1" friction="1 0.01 0.01"
            rgba="0.7412 0.0431 0.1843 1"/>
      <geom name="pointarrow" type="box" pos="0.1 0 0" size="0.05 0.05 0.05"
            rgba="0.0039 0.1529 0.3961 1"/>
      <site name="agent" rgba="1 0 0 0.1"/>
    </body>""",
    sensors=f"""    <accelerometer name="accelerometer" site="agent"/>
    <velocimeter name="velocimeter" site="agent"/>
    <gyro name="gyro" site="agent"/>
    <magnetometer name="magnetometer" site="agent"/>
{_SUBTREE_SENSORS}""",
    actuators="""    <motor name="x" site="agent" gear="0.3 0 0 0 0 0"/>
    <velocity name="z" jointinparent="z" gear="0.3"/>""",
    observed=_SITE_SENSORS,
)

#: safety-gymnasium's Car (``assets/xmls/car.xml``, ``agents/car.py``): a box chassis on a
#: free joint with bumpers, two independently driven wheels (hinges about the body's x axis,
#: torque motors gear 1, force limited to 0.02) and a free-rolling rear ball wheel; its front
#: is the body's -y side, so ``(1, 1)`` drives forward. It observes the rear ball joint's
#: angular velocity and orientation beside the four site sensors (24 floats).
CAR = Robot(
    name="Car",
    timestep=0.004,
    z=0.1,
    keepout=0.4,
    defaults="""    <geom condim="6" density="5" size="0.05" type="sphere"/>
    <joint damping="0.001"/>
    <motor ctrlrange="-1 1" ctrllimited="true" forcerange="-0.02 0.02" forcelimited="true"/>
    <site size="0.032" type="sphere"/>""",
    body="""    <body name="agent" pos="0 0 {z}">
      <site name="agent" pos="0 0 0"/>
      <freejoint name="agent"/>
      <geom name="agent" type="box" size="0.1 0.1 0.05" rgba="0.7412 0.0431 0.1843 1"/>
      <geom name="back_bumper" type="box" pos="0 0.15 0" size="0.1 0.01 0.05"
            rgba="0.0039 0.1529 0.3961 1"/>
      <geom name="back_connector" type="box" pos="0 0.125 0" size="0.01 0.025 0.03"
            rgba="0.0039 0.1529 0.3961 1"/>
      <geom name="front_bumper" type="box" pos="0 -0.165 0" size="0.05 0.01 0.05"
            rgba="0.0039 0.1529 0.3961 1"/>
      <geom name="front_connector" type="box" pos="0 -0.13 0.04" size="0.05 0.03 0.01"
            rgba="0.0039 0.1529 0.3961 1"/>
      <body name="left" pos="-0.1 0.1 -0.05">
        <joint name="left" type="hinge" axis="1 0 0"/>
        <geom name="left" type="cylinder" fromto="-0.055 0 0 -0.005 0 0"
              rgba="0.7412 0.0431 0.1843 1"/>
      </body>
      <body name="right" pos="0.1 0.1 -0.05">
        <joint name="right" type="hinge" axis="1 0 0"/>
        <geom name="right" type="cylinder" fromto="0.005 0 0 0.055 0 0"
              rgba="0.7412 0.0431 0.1843 1"/>
      </body>
      <body name="rear" pos="0 -0.1 -0.05">
        <joint name="rear" type="ball"/>
        <geom name="rear" rgba="0.7412 0.0431 0.1843 1"/>
      </body>
    </body>""",
    sensors=f"""    <ballquat name="ballquat_rear" joint="rear"/>
    <ballangvel name="ballangvel_rear" joint="rear"/>
    <accelerometer name="accelerometer" site="agent"/>
    <velocimeter name="velocimeter" site="agent"/>
    <gyro name="gyro" site="agent"/>
    <magnetometer name="magnetometer" site="agent"/>
{_SUBTREE_SENSORS}""",
    actuators="""    <motor name="left" jointinparent="left" gear="1"/>
    <motor name="right" jointinparent="right" gear="1"/>""",
    observed=(*_SITE_SENSORS, ("ballangvel_rear", SENSOR_COPY),
              ("ballquat_rear", SENSOR_QUAT2MAT)),
)

ROBOTS = {robot.name: robot for robot in (POINT, CAR)}
