"""fasttrpo/Safety{Point,Car}Circle{0,1,2}-v0 (fasttrpo.envs.navigation.CircleEnv) against
safety-gymnasium's Circle task (``tasks/safe_navigation/circle/``, ``assets/geoms/circle.py``,
``assets/geoms/sigwalls.py``), without safety-gymnasium: observation layout, lidar, the reward
formula, scripted policies (along the circle: reward; beyond the walls: cost), placement,
determinism. Skipped without mujoco."""

import math

import gymnasium as gym
import numpy as np
import pytest

from conftest import require

pytestmark = pytest.mark.optional_deps
mujoco = require("mujoco")

from test_navigation import heading_controller, lidar_reference  # noqa: E402
from test_navigation_car import car_controller  # noqa: E402

import fasttrpo.envs  # noqa: E402,F401  (registers the ids)
from fasttrpo.envs.navigation import CIRCLE_LEVELS, CarCircleEnv, PointCircleEnv  # noqa: E402

ENVS = {"Point": (PointCircleEnv, heading_controller, 12),
        "Car": (CarCircleEnv, car_controller, 24)}


def along_the_circle(env, direction=1.0, lead=0.6):
    """Steer toward a point on the circle of radius 1.5, ``lead`` radians ahead."""
    x, y = env.agent_pos
    angle = math.atan2(y, x) + direction * lead
    return ENVS[env.robot.name][1](env, 1.5 * np.array([math.cos(angle), math.sin(angle)]))


def reference_reward(env):
    """circle_level0.py calculate_reward, with agent.vel = jacp(agent) @ qvel."""
    jacp = np.zeros((3, env.model.nv))
    mujoco.mj_jacBody(env.model, env.data, jacp, None, env.model.body("agent").id)
    u, v, _ = jacp @ env.data.qvel
    x, y, _ = env.data.body("agent").xpos
    radius = np.sqrt(x ** 2 + y ** 2)
    return ((-u * y + v * x) / radius) / (1 + np.abs(radius - 1.5)) * 1e-1


@pytest.mark.parametrize("robot", ["Point", "Car"])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_observation_layout_episode_and_walls(robot, level):
    env = gym.make(f"fasttrpo/Safety{robot}Circle{level}-v0")
    assert env.spec.max_episode_steps == 500
    base = env.unwrapped
    n_sensors = ENVS[robot][2]
    assert base.obs_keys[-1] == "circle_lidar" and base.n_sensor_obs == n_sensors
    obs, _ = env.reset(seed=2)
    assert obs.shape == env.observation_space.shape == (n_sensors + 16,)
    rng = np.random.default_rng(0)
    for step in range(1, 501):
        obs, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, 2))
        assert not terminated and truncated == (step == 500)
        assert ("cost_out_of_boundary" in info) == (level > 0)
    # the lidar sees the origin with a range of 6
    np.testing.assert_allclose(obs[n_sensors:], lidar_reference(base, np.zeros(2), 6.0),
                               atol=1e-12)
    m = base.model
    np.testing.assert_allclose(m.geom("circle").size[:2], [1.5, 0.01])
    assert m.geom("circle").contype == 0
    n_walls = CIRCLE_LEVELS[level]
    walls = [m.body(i).name for i in range(m.nbody) if m.body(i).name.startswith("sigwall")]
    assert len(walls) == n_walls
    locations = [(1.125, 0), (-1.125, 0), (0, 1.125), (0, -1.125)]
    for i in range(n_walls):
        np.testing.assert_allclose(m.body(f"sigwall{i}").pos[:2], locations[i], atol=1e-9)
        np.testing.assert_allclose(m.geom(f"sigwall{i}").size, [0.05, 3.5, 0.3])
        assert m.geom(f"sigwall{i}").contype == 0 and m.geom(f"sigwall{i}").conaffinity == 0
    assert not [n for n in (m.body(i).name for i in range(m.nbody)) if n == "goal"]


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_reward_is_the_circle_formula(robot):
    env = ENVS[robot][0](0)
    env.reset(seed=4)
    rng = np.random.default_rng(1)
    for _ in range(100):
        _, reward, *_ = env.step(rng.uniform(-1, 1, 2))
        assert reward == pytest.approx(reference_reward(env), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_running_along_the_circle_earns_and_leaving_the_walls_costs(robot):
    totals = {}
    for direction in (1.0, -1.0):
        env = ENVS[robot][0](2, constrain_indicator=False)
        env.reset(seed=0)
        rewards, out = [], []
        for _ in range(500):
            _, reward, *_, info = env.step(along_the_circle(env, direction))
            rewards.append(reward)
            x, y = env.agent_pos
            outside = abs(x) > 1.125 or abs(y) > 1.125
            assert info["cost_out_of_boundary"] == float(outside)
            out.append(outside)
        totals[direction] = sum(rewards)
        # the circle (r 1.5) runs beyond the walls at 1.125: the run spends time outside
        assert any(out) and not all(out)
    # counterclockwise earns, clockwise loses as much
    assert totals[1.0] > 5.0 and totals[-1.0] < -5.0
    # level 1: only |x| counts
    env = ENVS[robot][0](1)
    env.reset(seed=0)
    for _ in range(300):
        *_, info = env.step(along_the_circle(env))
        assert info["cost_out_of_boundary"] == float(abs(env.agent_pos[0]) > 1.125)
        assert info["cost"] == info["cost_out_of_boundary"]


def test_standing_still_earns_nothing_and_costs_nothing():
    env = PointCircleEnv(2)
    env.reset(seed=5)
    for _ in range(50):
        _, reward, *_, info = env.step(np.zeros(2))
        assert reward == 0.0 and info["cost"] == 0.0


@pytest.mark.parametrize("level", [0, 1, 2])
def test_placement(level):
    env = PointCircleEnv(level)
    for seed in range(100):
        env.reset(seed=seed)
        assert np.all(np.abs(env.agent_pos) <= 0.8)
        np.testing.assert_allclose(env.model.body("circle").pos[:2], 0.0, atol=1e-9)
    xy = env._layout.xy
    assert list(xy) == ["agent", "circle"] + [f"sigwall{i}" for i in range(CIRCLE_LEVELS[level])]


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_same_seed_same_trajectory(robot):
    runs = []
    for _ in range(2):
        env = ENVS[robot][0](2)
        obs = [env.reset(seed=3)[0]]
        rng = np.random.default_rng(0)
        for _ in range(150):
            o, r, *_, info = env.step(rng.uniform(-1, 1, 2))
            obs.append(np.r_[o, r, info["cost"]])
        runs.append(np.concatenate(obs))
    np.testing.assert_array_equal(runs[0], runs[1])
    env = ENVS[robot][0](2)
    assert not np.array_equal(env.reset(seed=4)[0], runs[0][:env.observation_space.shape[0]])
