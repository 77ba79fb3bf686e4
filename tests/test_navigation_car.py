"""fasttrpo/SafetyCarGoal{0,1,2}-v0 (fasttrpo.envs.navigation.CarGoalEnv) against
safety-gymnasium's Car (``assets/xmls/car.xml``, ``bases/base_agent.py``), without
safety-gymnasium: observation layout, the robot's physics, scripted policies, lidar, keep-outs,
determinism, and a reset that moves bodies against a model compiled at the drawn places (what
safety-gymnasium does). Skipped without mujoco."""

import math

import gymnasium as gym
import numpy as np
import pytest

from conftest import require

pytestmark = pytest.mark.optional_deps
mujoco = require("mujoco")

from test_navigation import lidar_reference  # noqa: E402

import fasttrpo.envs  # noqa: E402,F401  (registers the ids)
from fasttrpo.envs.navigation import GOAL_LEVELS, CarGoalEnv, world_xml  # noqa: E402
from fasttrpo.envs.navigation.kernels import quat2mat  # noqa: E402

SENSORS = ("accelerometer", "velocimeter", "gyro", "magnetometer", "ballangvel_rear")


def forward(env):
    """The car's heading in the world XY plane: its body -y axis (where the front bumper is)."""
    return -env.data.xmat[env._agent].reshape(3, 3)[:2, 1]


def car_controller(env, target):
    """Differential drive toward ``target`` (XY): turn by the wheel difference, drive on when
    roughly facing it."""
    pos = env.data.xpos[env._agent]
    mat = env.data.xmat[env._agent].reshape(3, 3)
    ex, ey, _ = mat.T @ np.r_[np.asarray(target) - pos[:2], 0.0]
    angle = math.atan2(ex, -ey)       # from the front (body -y), counterclockwise positive
    turn = float(np.clip(2.0 * angle, -1.0, 1.0))
    drive = 1.0 if abs(angle) < 0.6 else 0.0
    return np.clip([drive + turn, drive - turn], -1.0, 1.0)


@pytest.mark.parametrize("level, size, keys", [
    (0, 40, ["goal_lidar"]),
    (1, 72, ["goal_lidar", "hazards_lidar", "vases_lidar"]),
    (2, 72, ["goal_lidar", "hazards_lidar", "vases_lidar"]),
])
def test_observation_size_and_layout(level, size, keys):
    env = gym.make(f"fasttrpo/SafetyCarGoal{level}-v0")
    assert env.spec.max_episode_steps == 1000
    base = env.unwrapped
    assert isinstance(base, CarGoalEnv)
    obs, _ = env.reset(seed=3)
    for _ in range(5):   # moving: the rear wheel turns, so its quaternion is not the identity
        obs, *_ = env.step(np.array([1.0, 0.5]))
    assert obs.shape == env.observation_space.shape == (size,) and obs.dtype == np.float64
    assert base.obs_keys == [*SENSORS, "ballquat_rear", *keys]
    m, d = base.model, base.data
    for i, name in enumerate(SENSORS):   # sensors first, in safety-gymnasium's order
        sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, name)
        adr = m.sensor_adr[sid]
        np.testing.assert_array_equal(obs[3 * i:3 * i + 3], d.sensordata[adr:adr + 3])
    sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, "ballquat_rear")
    quat = d.sensordata[m.sensor_adr[sid]:m.sensor_adr[sid] + 4]
    expected = np.zeros(9)
    mujoco.mju_quat2Mat(expected, quat)   # safety-gymnasium's quat2mat
    assert not np.allclose(expected, np.eye(3).ravel())
    np.testing.assert_allclose(obs[15:24], expected, rtol=0, atol=1e-15)
    lidars = obs[24:].reshape(-1, 16)
    assert np.all((lidars >= 0) & (lidars <= 1)) and np.all(lidars.max(axis=1) > 0)
    assert np.all(np.isinf(env.observation_space.low[:24]))
    assert np.all(env.observation_space.low[24:] == 0)
    assert np.all(env.observation_space.high[24:] == 1)
    np.testing.assert_array_equal(env.action_space.low, [-1, -1])
    np.testing.assert_array_equal(env.action_space.high, [1, 1])
    # the objects of the level; the Car's physics as car.xml has it
    _, n_hazards, n_vases, _ = GOAL_LEVELS[level]
    names = [m.body(i).name for i in range(m.nbody)]
    assert names[1:5] == ["agent", "left", "right", "rear"]
    assert sum(n.startswith("hazard") for n in names) == n_hazards
    assert sum(n.startswith("vase") for n in names) == n_vases
    assert m.opt.timestep == 0.004 and m.nu == 2
    assert m.jnt_type[m.body_jntadr[base._agent]] == mujoco.mjtJoint.mjJNT_FREE
    assert [m.jnt(j).name for j in range(4)] == ["agent", "left", "right", "rear"]
    assert m.jnt_type[3] == mujoco.mjtJoint.mjJNT_BALL
    np.testing.assert_array_equal(m.actuator_trnid[:, 0], [1, 2])   # the two wheel hinges
    np.testing.assert_array_equal(m.actuator_forcerange, [[-0.02, 0.02]] * 2)
    np.testing.assert_array_equal(m.actuator_ctrlrange, [[-1, 1]] * 2)
    np.testing.assert_array_equal(m.actuator_gear[:, 0], [1, 1])
    np.testing.assert_array_equal(m.geom("agent").size, [0.1, 0.1, 0.05])
    assert m.geom("rear").size[0] == 0.05 and m.geom("left").size[0] == 0.05
    assert m.body("rear").mass[0] == pytest.approx(5.0 * 4 / 3 * math.pi * 0.05 ** 3)  # density 5
    np.testing.assert_array_equal(base._agent_geoms, [m.geom(n).id for n in (
        "agent", "back_bumper", "back_connector", "front_bumper", "front_connector", "left",
        "right", "rear")])


def test_quat2mat_kernel_is_mujocos():
    rng = np.random.default_rng(0)
    out = np.zeros(9)
    expected = np.zeros(9)
    for q in [np.array([1.0, 0, 0, 0]), *rng.normal(size=(50, 4))]:
        q = q / np.linalg.norm(q)
        quat2mat(q, out, 0)
        mujoco.mju_quat2Mat(expected, q)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("max_dist", [3.0, None])
def test_lidar_matches_brute_force(level, max_dist):
    env = CarGoalEnv(level, lidar_max_dist=max_dist)
    rng = np.random.default_rng(level)
    obs, _ = env.reset(seed=11)
    for t in range(60):
        if t % 20 == 0:
            np.testing.assert_allclose(obs[24:40], lidar_reference(env, env.goal_pos, max_dist),
                                       rtol=0, atol=1e-12)
            hazards = lidar_reference(env, env.hazards_pos, max_dist)
            np.testing.assert_allclose(obs[40:56], hazards, rtol=0, atol=1e-12)
            np.testing.assert_allclose(obs[56:72], lidar_reference(env, env.vases_pos, max_dist),
                                       rtol=0, atol=1e-12)
            assert np.count_nonzero(hazards) >= 2
        obs, *_ = env.step(rng.uniform(-1, 1, 2))


def test_drive_straight_moves_forward_and_back():
    env = CarGoalEnv(0)
    for seed in range(3):
        env.reset(seed=seed)
        start, heading = env.agent_pos, forward(env)
        for _ in range(25):
            env.step(np.array([1.0, 1.0]))
        moved = env.agent_pos - start
        assert moved @ heading > 0.3                       # forward, about 0.7 m/s
        assert abs(moved @ [-heading[1], heading[0]]) < 0.1 * (moved @ heading)   # straight
        assert abs(env.data.xpos[env._agent, 2] - 0.1) < 0.01   # on its wheels
        start = env.agent_pos
        for _ in range(50):
            env.step(np.array([-1.0, -1.0]))
        assert (env.agent_pos - start) @ heading < -0.1    # and backward


def test_opposite_wheels_turn_in_place():
    env = CarGoalEnv(0)
    env.reset(seed=0)
    start, h0 = env.agent_pos, forward(env)
    for _ in range(10):
        env.step(np.array([1.0, -1.0]))
    h1 = forward(env)
    assert math.atan2(h0[0] * h1[1] - h0[1] * h1[0], h0 @ h1) > 0.2   # counterclockwise
    assert np.linalg.norm(env.agent_pos - start) < 0.15


@pytest.mark.parametrize("level", [0, 1, 2])
def test_standing_still_costs_nothing_and_earns_nothing(level):
    env = CarGoalEnv(level)
    for seed in range(2):
        env.reset(seed=seed)
        start = env.agent_pos
        for _ in range(150):
            _, reward, terminated, truncated, info = env.step(np.zeros(2))
            assert info["cost"] == 0 and all(v == 0 for k, v in info.items()
                                             if k.startswith("cost"))
            # the car settles on its soft contacts: micrometres, no progress
            assert abs(reward) < 1e-4 and not (terminated or truncated)
        assert np.linalg.norm(env.agent_pos - start) < 1e-3


def test_steer_into_nearest_hazard_costs():
    env = CarGoalEnv(1)
    for seed in range(3):
        env.reset(seed=seed)
        hazards = env.hazards_pos
        target = hazards[np.argmin(np.linalg.norm(hazards - env.agent_pos, axis=1))]
        total = 0.0
        for _ in range(200):
            _, _, _, _, info = env.step(car_controller(env, target))
            inside = np.linalg.norm(hazards - env.agent_pos, axis=1).min() <= 0.2
            assert info["cost_hazards"] == float(inside) == info["cost"] == info["cost_sum"]
            total += info["cost"]
        assert total > 0


def test_drive_into_a_vase_costs_at_level_2():
    env = CarGoalEnv(2)
    env.reset(seed=4)
    vase = env.vases_pos[np.argmin(np.linalg.norm(env.vases_pos - env.agent_pos, axis=1))]
    contact = velocity = 0.0
    for _ in range(300):
        _, _, _, _, info = env.step(car_controller(env, vase))
        contact += info["cost_vases_contact"]
        velocity += info["cost_vases_velocity"]
        if contact and velocity:
            break
    assert contact > 0 and velocity > 0


def test_vase_contacts_counted_as_safety_gymnasium_does():
    """Raw ``cost_vases_contact`` against vases.py's loop: contacts whose geom names include
    one starting with ``vase`` and one of the agent's geom names."""
    env = CarGoalEnv(2, constrain_indicator=False)
    env.reset(seed=4)
    m, d = env.model, env.data
    agent_names = {m.geom(int(g)).name for g in env._agent_geoms}
    vase = env.vases_pos[np.argmin(np.linalg.norm(env.vases_pos - env.agent_pos, axis=1))]
    seen = 0
    for _ in range(300):
        _, _, _, _, info = env.step(car_controller(env, vase))
        expected = 0
        for c in d.contact[:d.ncon]:
            names = [m.geom(int(g)).name for g in (c.geom1, c.geom2)]
            if any(n.startswith("vase") for n in names) and any(n in agent_names for n in names):
                expected += 1
        assert info["cost_vases_contact"] == float(expected)
        seen += expected
    assert seen > 0


def test_drive_to_the_goal_earns_the_bonus_and_a_new_goal():
    env = CarGoalEnv(0)
    for seed in range(3):
        env.reset(seed=seed)
        goal, total, met = env.goal_pos, 0.0, False
        for _ in range(300):
            _, reward, _, _, info = env.step(car_controller(env, env.goal_pos))
            total += reward
            if info.get("goal_met"):
                met = True
                assert reward > 0.9
                assert np.linalg.norm(env.agent_pos - goal) <= 0.3
                new = env.goal_pos
                assert not np.allclose(new, goal)
                assert np.linalg.norm(new - env.agent_pos) >= 0.4 + 0.305
                assert np.all(np.abs(new) <= 1.0 - 0.305)
                break
        assert met and total > 1.0


@pytest.mark.parametrize("level", [0, 1, 2])
def test_placements_respect_keepouts(level):
    extent = GOAL_LEVELS[level][0][2]
    env = CarGoalEnv(level)
    for seed in range(60):
        env.reset(seed=seed)
        objects = [(env.agent_pos, 0.4), (env.goal_pos, 0.305)]
        objects += [(p, 0.18) for p in env.hazards_pos]
        objects += [(p, 0.15) for p in env.vases_pos]
        for i, (p, k) in enumerate(objects):
            assert np.all(np.abs(p) <= extent - k + 1e-9)
            for q, k2 in objects[i + 1:]:
                assert np.linalg.norm(p - q) >= k + k2 - 1e-9
        assert env.data.xpos[env._agent, 2] == 0.1   # safety-gymnasium's z_height
    assert len(objects) == 2 + GOAL_LEVELS[level][1] + GOAL_LEVELS[level][2]


def test_same_seed_same_trajectory():
    actions = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    runs = []
    for _ in range(2):
        env = CarGoalEnv(2)
        obs, _ = env.reset(seed=123)
        trajectory = [obs]
        for a in actions:
            obs, reward, _, _, info = env.step(a)
            trajectory += [obs, [reward], [info["cost"]]]
        runs.append(np.concatenate(trajectory))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(CarGoalEnv(2).reset(seed=124)[0], runs[0][:72])


def test_moved_bodies_match_a_model_compiled_in_place():
    """safety-gymnasium compiles a new model with the objects where they were drawn; the env
    compiles once and moves them: the same trajectory."""
    env = CarGoalEnv(2)
    env.reset(seed=5)
    m, d = env.model, env.data
    spec = mujoco.MjSpec.from_string(world_xml(env.robot, env.n_hazards, env.n_vases))
    a = env._agent_qpos
    spec.body("agent").pos, spec.body("agent").quat = d.qpos[a:a + 3], d.qpos[a + 3:a + 7]
    for i in range(env.n_vases):
        q = env._vase_qpos + 7 * i
        spec.body(f"vase{i}").pos, spec.body(f"vase{i}").quat = d.qpos[q:q + 3], d.qpos[q + 3:q + 7]
    for i in range(env.n_hazards):
        spec.body(f"hazard{i}").pos = m.body_pos[env._hazard0 + i]
    spec.body("goal").pos = m.body_pos[env._goal]
    m2 = spec.compile()
    d2 = mujoco.MjData(m2)
    mujoco.mj_forward(m2, d2)
    np.testing.assert_array_equal(d2.qpos, d.qpos)
    np.testing.assert_array_equal(d2.sensordata, d.sensordata)
    rng = np.random.default_rng(0)
    for _ in range(100):
        action = rng.uniform(-1, 1, 2)
        env.step(action)
        d2.ctrl[:] = action
        mujoco.mj_step(m2, d2, nstep=10)
        mujoco.mj_forward(m2, d2)
    np.testing.assert_allclose(d2.qpos, d.qpos, rtol=0, atol=1e-7)
    np.testing.assert_allclose(d2.sensordata, d.sensordata, rtol=0, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        CarGoalEnv(3)
    env = CarGoalEnv(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
