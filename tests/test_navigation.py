"""fasttrpo/SafetyPointGoal{0,1,2}-v0 (fasttrpo.envs.navigation) against safety-gymnasium's
definitions, without safety-gymnasium: layout, lidar, reward, costs, keep-outs, determinism.
Skipped without mujoco (the mujoco extra; README's test command installs it)."""

import math

import gymnasium as gym
import numpy as np
import pytest

from conftest import require

pytestmark = pytest.mark.optional_deps
mujoco = require("mujoco")

import fasttrpo.envs  # noqa: E402,F401  (registers the ids)
from fasttrpo.envs.navigation import LEVELS, PointGoalEnv  # noqa: E402

SENSORS = ("accelerometer", "velocimeter", "gyro", "magnetometer")


def heading_controller(env, target):
    """Turn toward ``target`` (XY), push forward when roughly facing it."""
    pos = env.data.xpos[env._agent]
    mat = env.data.xmat[env._agent].reshape(3, 3)
    ego = mat.T @ np.r_[np.asarray(target) - pos[:2], 0.0]
    angle = math.atan2(ego[1], ego[0])
    return np.array([1.0 if abs(angle) < 0.5 else 0.0, np.clip(3.0 * angle, -1.0, 1.0)])


def lidar_reference(env, positions, max_dist=3.0, exp_gain=1.0):
    """safety-gymnasium's ``_obs_lidar_pseudo`` written out: complex egocentric XY, bins,
    aliasing into both neighbours."""
    agent = env.data.xpos[env._agent].copy()
    mat = env.data.xmat[env._agent].reshape(3, 3)
    obs = np.zeros(16)
    bin_size = 2 * np.pi / 16
    for pos in np.atleast_2d(positions):
        ego = np.matmul(np.r_[pos[:2], 0.0] - agent, mat)[:2]
        z = complex(*ego)
        dist, angle = abs(z), np.angle(z) % (2 * np.pi)
        b = int(angle / bin_size)
        sensor = (np.exp(-exp_gain * dist) if max_dist is None
                  else max(0.0, max_dist - dist) / max_dist)
        obs[b] = max(obs[b], sensor)
        alias = (angle - b * bin_size) / bin_size
        obs[(b + 1) % 16] = max(obs[(b + 1) % 16], alias * sensor)
        obs[(b - 1) % 16] = max(obs[(b - 1) % 16], (1 - alias) * sensor)
    return obs


@pytest.mark.parametrize("level, size, keys", [
    (0, 28, ["goal_lidar"]),
    (1, 60, ["goal_lidar", "hazards_lidar", "vases_lidar"]),
    (2, 60, ["goal_lidar", "hazards_lidar", "vases_lidar"]),
])
def test_observation_size_and_layout(level, size, keys):
    env = gym.make(f"fasttrpo/SafetyPointGoal{level}-v0")
    assert env.spec.max_episode_steps == 1000
    base = env.unwrapped
    obs, _ = env.reset(seed=3)
    assert obs.shape == env.observation_space.shape == (size,) and obs.dtype == np.float64
    assert base.obs_keys == [*SENSORS, *keys]
    m, d = base.model, base.data
    for i, name in enumerate(SENSORS):   # the robot's sensors first, in safety-gymnasium's order
        sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, name)
        adr = m.sensor_adr[sid]
        np.testing.assert_array_equal(obs[3 * i:3 * i + 3], d.sensordata[adr:adr + 3])
    assert obs[2] == pytest.approx(9.81)    # the accelerometer feels gravity
    lidars = obs[12:].reshape(-1, 16)
    assert np.all((lidars >= 0) & (lidars <= 1)) and np.all(lidars.max(axis=1) > 0)
    assert np.all(np.isinf(env.observation_space.low[:12]))
    assert np.all(env.observation_space.low[12:] == 0)
    assert np.all(env.observation_space.high[12:] == 1)
    assert env.action_space.shape == (2,)
    # the objects of the level, with safety-gymnasium's sizes; the Point's physics
    _, n_hazards, n_vases, _ = LEVELS[level]
    names = [m.body(i).name for i in range(m.nbody)]
    assert sum(n.startswith("hazard") for n in names) == n_hazards
    assert sum(n.startswith("vase") for n in names) == n_vases
    geom_size = lambda name: m.geom(name).size  # noqa: E731
    assert geom_size("goal")[0] == 0.3 and geom_size("agent")[0] == 0.1
    if n_hazards:
        assert geom_size("hazard0")[0] == 0.2
    if n_vases:
        np.testing.assert_array_equal(geom_size("vase0"), [0.1, 0.1, 0.1])
    assert m.opt.timestep == 0.002 and m.nu == 2
    np.testing.assert_array_equal(m.actuator_forcerange, [[-0.05, 0.05]] * 2)
    np.testing.assert_array_equal(m.actuator_gear[:, 0], [0.3, 0.3])


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("max_dist", [3.0, None])
def test_lidar_matches_brute_force(level, max_dist):
    env = PointGoalEnv(level, lidar_max_dist=max_dist)
    rng = np.random.default_rng(level)
    obs, _ = env.reset(seed=11)
    for t in range(60):
        if t % 20 == 0:
            goal = lidar_reference(env, env.goal_pos, max_dist)
            np.testing.assert_allclose(obs[12:28], goal, rtol=0, atol=1e-12)
            hazards = lidar_reference(env, env.hazards_pos, max_dist)
            np.testing.assert_allclose(obs[28:44], hazards, rtol=0, atol=1e-12)
            vases = lidar_reference(env, env.vases_pos, max_dist)
            np.testing.assert_allclose(obs[44:60], vases, rtol=0, atol=1e-12)
            assert np.count_nonzero(hazards) >= 2   # something to compare
        obs, *_ = env.step(rng.uniform(-1, 1, 2))


def test_drive_into_nearest_hazard_costs():
    env = PointGoalEnv(1)
    for seed in range(3):
        env.reset(seed=seed)
        hazards = env.hazards_pos
        target = hazards[np.argmin(np.linalg.norm(hazards - env.agent_pos, axis=1))]
        total = 0.0
        for _ in range(300):
            _, _, _, _, info = env.step(heading_controller(env, target))
            inside = np.linalg.norm(hazards - env.agent_pos, axis=1).min() < 0.2
            assert info["cost_hazards"] == float(inside) == info["cost"] == info["cost_sum"]
            total += info["cost"]
        assert total > 0


def test_raw_hazard_cost_is_the_depth():
    env = PointGoalEnv(1, constrain_indicator=False)
    env.reset(seed=0)
    hazards = env.hazards_pos
    target = hazards[np.argmin(np.linalg.norm(hazards - env.agent_pos, axis=1))]
    seen = 0
    for _ in range(200):
        _, _, _, _, info = env.step(heading_controller(env, target))
        dists = np.linalg.norm(hazards - env.agent_pos, axis=1)
        expected = np.sum(np.clip(0.2 - dists, 0, None))
        assert info["cost_hazards"] == pytest.approx(expected, abs=1e-12)
        seen += expected > 0.05
    assert seen


def test_drive_into_a_vase_costs_at_level_2():
    env = PointGoalEnv(2)
    env.reset(seed=4)
    vase = env.vases_pos[np.argmin(np.linalg.norm(env.vases_pos - env.agent_pos, axis=1))]
    contact = velocity = 0.0
    for _ in range(300):
        _, _, _, _, info = env.step(heading_controller(env, vase))
        contact += info["cost_vases_contact"]
        velocity += info["cost_vases_velocity"]
        assert info["cost"] == max(info["cost_hazards"], info["cost_vases_contact"],
                                   info["cost_vases_velocity"])
        if contact and velocity:
            break
    assert contact > 0 and velocity > 0


@pytest.mark.parametrize("level", [0, 1, 2])
def test_standing_still_costs_nothing_and_earns_nothing(level):
    env = PointGoalEnv(level)
    for seed in range(2):
        env.reset(seed=seed)
        for _ in range(150):
            _, reward, terminated, truncated, info = env.step(np.zeros(2))
            assert info["cost"] == 0 and all(v == 0 for k, v in info.items()
                                             if k.startswith("cost"))
            assert abs(reward) < 1e-9 and not (terminated or truncated)


def test_drive_to_the_goal_earns_the_bonus_and_a_new_goal():
    env = PointGoalEnv(0)
    for seed in range(3):
        env.reset(seed=seed)
        goal, total, met = env.goal_pos, 0.0, False
        for _ in range(300):
            _, reward, _, _, info = env.step(heading_controller(env, env.goal_pos))
            total += reward
            if info.get("goal_met"):
                met = True
                assert reward > 0.9   # the 1.0 bonus plus the last bit of progress
                assert np.linalg.norm(env.agent_pos - goal) <= 0.3
                new = env.goal_pos
                assert not np.allclose(new, goal)
                assert np.linalg.norm(new - env.agent_pos) >= 0.4 + 0.305
                assert np.all(np.abs(new) <= 1.0 - 0.305)
                break
        assert met and total > 1.0


@pytest.mark.parametrize("level", [0, 1, 2])
def test_placements_respect_keepouts(level):
    extent = LEVELS[level][0][2]
    env = PointGoalEnv(level)
    for seed in range(150):
        env.reset(seed=seed)
        objects = [(env.agent_pos, 0.4), (env.goal_pos, 0.305)]
        objects += [(p, 0.18) for p in env.hazards_pos]
        objects += [(p, 0.15) for p in env.vases_pos]
        for i, (p, k) in enumerate(objects):
            assert np.all(np.abs(p) <= extent - k + 1e-9)
            for q, k2 in objects[i + 1:]:
                assert np.linalg.norm(p - q) >= k + k2 - 1e-9
    assert len(objects) == 2 + LEVELS[level][1] + LEVELS[level][2]


def test_same_seed_same_trajectory():
    actions = np.random.default_rng(0).uniform(-1, 1, (300, 2))
    runs = []
    for _ in range(2):
        env = PointGoalEnv(2)
        obs, _ = env.reset(seed=123)
        trajectory = [obs]
        for a in actions:
            obs, reward, _, _, info = env.step(a)
            trajectory += [obs, [reward], [info["cost"]]]
        runs.append(np.concatenate(trajectory))
    np.testing.assert_array_equal(runs[0], runs[1])
    other = PointGoalEnv(2)
    assert not np.array_equal(other.reset(seed=124)[0], runs[0][:60])


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        PointGoalEnv(3)
    env = PointGoalEnv(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
