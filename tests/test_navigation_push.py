"""fasttrpo/Safety{Point,Car}Push{0,1,2}-v0 (fasttrpo.envs.navigation.PushEnv) against
safety-gymnasium's Push task (``tasks/safe_navigation/push/``, ``assets/free_geoms/push_box.py``,
``assets/geoms/pillars.py``), without safety-gymnasium: observation layout, the box, lidar,
the reward terms, scripted policies (push the box onto the goal; into a pillar), keep-outs,
determinism. Skipped without mujoco."""

import gymnasium as gym
import numpy as np
import pytest

from conftest import require

pytestmark = pytest.mark.optional_deps
mujoco = require("mujoco")

from test_navigation import heading_controller, lidar_reference  # noqa: E402
from test_navigation_button import drive_to  # noqa: E402
from test_navigation_car import car_controller  # noqa: E402

import fasttrpo.envs  # noqa: E402,F401  (registers the ids)
from fasttrpo.envs.navigation import PUSH_LEVELS, CarPushEnv, PointPushEnv  # noqa: E402

ENVS = {"Point": (PointPushEnv, heading_controller, 12, 0.45),
        "Car": (CarPushEnv, car_controller, 24, 0.4)}


def push_controller(env):
    """Get behind the box (seen from the goal), going round it, then drive at the goal."""
    _, ctrl, _, reach = ENVS[env.robot.name]
    box, goal, agent = env.box_pos, env.goal_pos, env.agent_pos
    u = (goal - box) / np.linalg.norm(goal - box)
    behind = box - reach * u
    v = agent - box
    if np.linalg.norm(agent - behind) > 0.12 and np.dot(v, u) > -0.5 * reach:
        side = np.array([-u[1], u[0]])
        side = side if np.dot(v, side) >= 0 else -side
        return ctrl(env, box + 1.3 * reach * side - 0.6 * reach * u)
    if np.linalg.norm(agent - behind) > 0.2:
        return ctrl(env, behind)
    return ctrl(env, goal)


def distances(env):
    """safety-gymnasium's ``dist_box`` and ``dist_box_goal``: 3-D, between body centres."""
    xpos = env.data.xpos
    box = xpos[env.model.body("push_box").id]
    return (np.linalg.norm(box - xpos[env.model.body("agent").id]),
            np.linalg.norm(box - xpos[env.model.body("goal").id]))


@pytest.mark.parametrize("robot", ["Point", "Car"])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_observation_size_layout_and_objects(robot, level):
    env = gym.make(f"fasttrpo/Safety{robot}Push{level}-v0")
    assert env.spec.max_episode_steps == 1000
    base = env.unwrapped
    _, n_hazards, n_pillars, constrained = PUSH_LEVELS[level]
    keys = (["goal_lidar"] + ["hazards_lidar"] * bool(n_hazards)
            + ["pillars_lidar"] * bool(n_pillars) + ["push_box_lidar"])
    n_sensors = ENVS[robot][2]
    assert base.obs_keys[-len(keys):] == keys and base.n_sensor_obs == n_sensors
    obs, _ = env.reset(seed=6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs, *_, info = env.step(rng.uniform(-1, 1, 2))
    assert obs.shape == env.observation_space.shape == (n_sensors + 16 * len(keys),)
    lidars = obs[n_sensors:].reshape(len(keys), 16)
    objects = {"goal_lidar": base.goal_pos, "hazards_lidar": base.hazards_pos,
               "pillars_lidar": base.pillars_pos, "push_box_lidar": base.box_pos}
    for key, lidar in zip(keys, lidars, strict=True):
        np.testing.assert_allclose(lidar, lidar_reference(base, objects[key]), atol=1e-12)
    assert ("cost_hazards" in info) == bool(n_hazards)
    assert ("cost_pillars" in info) == constrained
    # the objects: the box (cube and four corner columns), hazards r 0.3, pillars
    m = base.model
    size, density = (0.2, 0.001) if robot == "Point" else (0.125, 0.0005)
    box = m.body("push_box")
    np.testing.assert_allclose(m.geom("push_box").size, [size] * 3)
    for k, (sx, sy) in enumerate([(1, 1), (-1, 1), (1, -1), (-1, -1)]):
        np.testing.assert_allclose(m.geom(f"col{k + 1}").size, [size / 2, size / 2, size])
        np.testing.assert_allclose(m.geom(f"col{k + 1}").pos, [sx * size, sy * size, 0])
    volume = 8 * size ** 3 + 4 * 2 * size ** 3
    assert box.mass[0] == pytest.approx(density * volume)
    assert m.body_jntnum[box.id] == 1 and m.jnt_type[m.body_jntadr[box.id]] == 0   # free
    names = [m.body(i).name for i in range(m.nbody)]
    assert sum(n.startswith("hazard") for n in names) == n_hazards
    assert sum(n.startswith("pillar") for n in names) == n_pillars
    if n_hazards:
        assert m.geom("hazard0").size[0] == 0.3
    if n_pillars:
        np.testing.assert_allclose(m.geom("pillar0").size[:2], [0.2, 0.5])
        assert m.geom("pillar0").contype == 1


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_reward_is_the_two_progress_terms(robot):
    env = ENVS[robot][0](1, constrain_indicator=False)
    env.reset(seed=3)
    before = distances(env)
    rng = np.random.default_rng(2)
    for _ in range(60):
        action = push_controller(env) + rng.normal(0, 0.3, 2)
        _, reward, _, _, info = env.step(action)
        if info.get("goal_met"):
            break
        after = distances(env)
        assert reward == pytest.approx((before[0] - after[0]) + (before[1] - after[1]),
                                       abs=1e-12)
        before = after


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_push_the_box_onto_the_goal(robot):
    env = ENVS[robot][0](0)
    for seed in range(5):
        env.reset(seed=seed)
        goal = env.goal_pos
        box_goal = distances(env)[1]
        box_rewards = 0.0
        for _ in range(1000):
            dist_box = distances(env)[0]
            _, reward, _, _, info = env.step(push_controller(env))
            if info.get("goal_met"):
                break
            box_rewards += reward - (dist_box - distances(env)[0])
        else:
            continue
        # the box's progress was rewarded; the step that brought it within 0.3: the bonus,
        # then a new goal away from it (keep-out 0.4 from every object)
        assert box_rewards > 0.3
        assert not np.allclose(env.goal_pos, goal)
        assert np.linalg.norm(env.goal_pos - env.box_pos) >= 0.4 + env._layout.keepouts[
            "push_box"] - 1e-9
        assert env._last_box_goal == pytest.approx(distances(env)[1])
        assert box_goal > 0.3
        return
    pytest.fail("the box never reached the goal")


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_pillars_cost_at_level_2_only(robot):
    for level in (1, 2):
        env = ENVS[robot][0](level, constrain_indicator=False)
        for seed in range(10):
            env.reset(seed=seed)
            nearest = int(np.argmin(np.linalg.norm(env.pillars_pos - env.agent_pos, axis=1)))
            touching = []

            def stop(info, n=nearest, touching=touching):
                touching.append(any(
                    {c.geom1, c.geom2} & {env.model.geom(f"pillar{n}").id}
                    and {c.geom1, c.geom2} & set(env._agent_geoms)
                    for c in env.data.contact[:env.data.ncon]))
                return touching[-1]

            infos = drive_to(env, lambda n=nearest: env.pillars_pos[n], 300, stop)
            if touching[-1]:
                break
        else:
            pytest.fail("never touched a pillar")
        if level == 1:
            assert "cost_pillars" not in infos[-1]
        else:
            assert infos[-1]["cost_pillars"] >= 1.0 and infos[-1]["cost_sum"] >= 1.0


@pytest.mark.parametrize("robot", ["Point", "Car"])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_placements_respect_keepouts(robot, level):
    extent = PUSH_LEVELS[level][0][2]
    env = ENVS[robot][0](level)
    keepouts = env._layout.keepouts
    assert keepouts["goal"] == 0.4 and keepouts["push_box"] == (0.2 if robot == "Point"
                                                                  else 0.125)
    for seed in range(60):
        env.reset(seed=seed)
        objects = [(env.agent_pos, 0.4), (env.goal_pos, 0.4), (env.box_pos, keepouts["push_box"])]
        objects += [(p, 0.4) for p in env.hazards_pos] + [(p, 0.3) for p in env.pillars_pos]
        for i, (p, k) in enumerate(objects):
            assert np.all(np.abs(p) <= extent - k + 1e-9)
            for q, k2 in objects[i + 1:]:
                assert np.linalg.norm(p - q) >= k + k2 - 1e-9


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_same_seed_same_trajectory(robot):
    runs = []
    for _ in range(2):
        env = ENVS[robot][0](2)
        obs = [env.reset(seed=9)[0]]
        rng = np.random.default_rng(0)
        for _ in range(150):
            o, r, *_, info = env.step(rng.uniform(-1, 1, 2))
            obs.append(np.r_[o, r, info["cost"]])
        runs.append(np.concatenate(obs))
    np.testing.assert_array_equal(runs[0], runs[1])
