"""fasttrpo/Safety{Point,Car}Button{0,1,2}-v0 (fasttrpo.envs.navigation.ButtonEnv) against
safety-gymnasium's Button task (``tasks/safe_navigation/button/``, ``assets/geoms/buttons.py``,
``assets/mocaps/gremlins.py``), without safety-gymnasium: observation layout and the buttons'
timer, lidar, scripted policies (the goal button, a wrong one, a gremlin), the gremlins'
circles, keep-outs, determinism, and the moved-bodies model against one compiled in place.
Skipped without mujoco."""

import gymnasium as gym
import numpy as np
import pytest

from conftest import require

pytestmark = pytest.mark.optional_deps
mujoco = require("mujoco")

from test_navigation import heading_controller, lidar_reference  # noqa: E402
from test_navigation_car import car_controller  # noqa: E402

import fasttrpo.envs  # noqa: E402,F401  (registers the ids)
from fasttrpo.envs.navigation import (  # noqa: E402
    BUTTON_LEVELS,
    CarButtonEnv,
    PointButtonEnv,
    world_xml,
)

ENVS = {"Point": (PointButtonEnv, heading_controller, 12),
        "Car": (CarButtonEnv, car_controller, 24)}


def drive_to(env, target, steps, stop=lambda info: False):
    """Drive toward ``target`` (a callable giving XY) until ``stop(info)``; the infos."""
    _, controller, _ = ENVS[env.robot.name]
    infos = []
    for _ in range(steps):
        *_, info = env.step(controller(env, target()))
        infos.append(info)
        if stop(info):
            break
    return infos


@pytest.mark.parametrize("robot", ["Point", "Car"])
@pytest.mark.parametrize("level, n_lidars", [(0, 2), (1, 4), (2, 4)])
def test_observation_size_layout_and_timer(robot, level, n_lidars):
    env = gym.make(f"fasttrpo/Safety{robot}Button{level}-v0")
    assert env.spec.max_episode_steps == 1000
    base = env.unwrapped
    n_sensors = ENVS[robot][2]
    keys = ["buttons_lidar", "goal_lidar", "hazards_lidar", "gremlins_lidar"][:n_lidars]
    assert base.obs_keys[-n_lidars:] == keys and base.n_sensor_obs == n_sensors
    obs, _ = env.reset(seed=4)
    assert obs.shape == env.observation_space.shape == (n_sensors + 16 * n_lidars,)
    _, n_hazards, n_gremlins, constrained = BUTTON_LEVELS[level]
    m = base.model
    names = [m.body(i).name for i in range(m.nbody)]
    assert sum(n.startswith("button") for n in names) == 4
    assert sum(n.startswith("hazard") for n in names) == n_hazards
    assert sum(n.endswith("obj") for n in names) == sum(n.endswith("mocap") for n in names) \
        == n_gremlins
    assert m.geom("button0").size[0] == 0.1 and m.geom("goal").size[0] == pytest.approx(0.2)
    # the buttons' lidar is blank while the timer runs (10 steps from the reset), then reads
    # the buttons; the costs of wrong buttons only count once it is out
    for step in range(1, 13):
        obs, *_, info = env.step(np.zeros(2))
        lidars = obs[n_sensors:].reshape(n_lidars, 16)
        assert base.timer == max(0, 10 - step)
        if step < 10:
            assert not lidars[0].any()
        else:
            np.testing.assert_allclose(lidars[0], lidar_reference(base, base.buttons_pos),
                                       atol=1e-12)
        np.testing.assert_allclose(lidars[1], lidar_reference(base, base.goal_pos), atol=1e-12)
        assert ("cost_buttons" in info) == (constrained and step >= 11)
        assert ("cost_hazards" in info) == (n_hazards > 0)
        assert ("cost_gremlins" in info) == (n_gremlins > 0)
    if n_lidars == 4:
        np.testing.assert_allclose(lidars[2], lidar_reference(base, base.hazards_pos), atol=1e-12)
        np.testing.assert_allclose(lidars[3], lidar_reference(base, base.gremlins_pos),
                                   atol=1e-12)
    # the goal stands on the goal button
    np.testing.assert_array_equal(base.goal_pos, base.buttons_pos[base.goal_button])


@pytest.mark.parametrize("max_dist", [3.0, None])
def test_lidar_matches_brute_force(max_dist):
    env = PointButtonEnv(2, lidar_max_dist=max_dist)
    env.reset(seed=11)
    rng = np.random.default_rng(1)
    for _ in range(30):
        obs, *_ = env.step(rng.uniform(-1, 1, 2))
    lidars = obs[12:].reshape(4, 16)
    for lidar, pos in zip(lidars, [env.buttons_pos, env.goal_pos, env.hazards_pos,
                                   env.gremlins_pos], strict=True):
        np.testing.assert_allclose(lidar, lidar_reference(env, pos, max_dist), atol=1e-12)


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_press_the_goal_button_earns_the_bonus_and_a_new_goal_button(robot):
    env = ENVS[robot][0](0)
    env.reset(seed=2)
    while True:
        goal_button = env.goal_button
        infos = drive_to(env, lambda: env.buttons_pos[goal_button], 400,
                         stop=lambda info: info.get("goal_met", False))
        assert infos[-1].get("goal_met"), "the controller did not reach the goal button"
        assert env.timer == 10     # the timer restarted, the buttons' lidar is blank
        assert not env._obs[env.n_sensor_obs:env.n_sensor_obs + 16].any()
        np.testing.assert_array_equal(env.goal_pos, env.buttons_pos[env.goal_button])
        if env.goal_button != goal_button:   # choice(4) may draw the same button again
            break
    # the bonus: the step that touched the goal button earned 1 + progress
    env.reset(seed=2)
    goal_button = env.goal_button
    _, controller, _ = ENVS[robot]
    for _ in range(400):
        before = env._last_dist
        _, reward, _, _, info = env.step(controller(env, env.buttons_pos[goal_button]))
        if info.get("goal_met"):
            agent_xy = env.agent_pos
            progress = before - np.linalg.norm(agent_xy - env.buttons_pos[goal_button])
            assert reward == pytest.approx(1.0 + progress, abs=1e-9)
            break
        assert reward == pytest.approx(before - env._last_dist, abs=1e-12)
    else:
        pytest.fail("no goal button pressed")


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_pressing_a_wrong_button_costs_when_constrained(robot):
    for level, expect in ((0, False), (1, True)):
        env = ENVS[robot][0](level, constrain_indicator=False)
        for seed in range(20):
            env.reset(seed=seed)
            wrong = (env.goal_button + 1) % 4
            infos = drive_to(env, lambda w=wrong: env.buttons_pos[w], 400,
                             stop=lambda info: info.get("cost_buttons", 0) > 0)
            contacts = [c for c in env.data.contact[:env.data.ncon]
                        if {env.model.geom(c.geom1).name, env.model.geom(c.geom2).name}
                        & {f"button{wrong}"}]
            if contacts and not any(i.get("goal_met") for i in infos):
                break
        else:
            pytest.fail("the controller never touched a wrong button")
        assert ("cost_buttons" in infos[-1]) == expect
        if expect:
            assert infos[-1]["cost_buttons"] >= 1.0
            assert infos[-1]["cost_sum"] >= 1.0


def test_gremlins_circle_about_their_places_and_cost_on_contact():
    env = PointButtonEnv(1, constrain_indicator=False)
    env.reset(seed=3)
    start = env.gremlins_pos
    for _ in range(100):   # 2 s: the welds pull each box onto its circle of radius 0.35
        env.step(np.zeros(2))
    t = env.data.time
    # the mocap target at the last MuJoCo step's start; the box lags its weld slightly
    phase = t - env.model.opt.timestep
    target = start + 0.35 * np.array([np.sin(phase), np.cos(phase)])
    np.testing.assert_allclose(env.gremlins_pos, target, atol=0.03)
    assert np.all(np.abs(env.data.xpos[env._gremlin0:env._gremlin0 + 4, 2] - 0.2) < 0.01)
    # chase the nearest gremlin: contacts cost 1.0 each
    for seed in range(10):
        env.reset(seed=seed)
        nearest = int(np.argmin(np.linalg.norm(env.gremlins_pos - env.agent_pos, axis=1)))
        infos = drive_to(env, lambda n=nearest: env.gremlins_pos[n], 300,
                         stop=lambda info: info["cost_gremlins"] > 0)
        if infos[-1]["cost_gremlins"] > 0:
            break
    else:
        pytest.fail("never touched a gremlin")
    n_contacts = sum(
        1 for c in env.data.contact[:env.data.ncon]
        if any(env.model.geom(g).name.startswith("gremlin") for g in (c.geom1, c.geom2))
        and any(g in env._agent_geoms for g in (c.geom1, c.geom2)))
    assert infos[-1]["cost_gremlins"] == n_contacts >= 1


@pytest.mark.parametrize("level", [0, 1, 2])
def test_placements_respect_keepouts(level):
    extent = BUTTON_LEVELS[level][0][2]
    env = PointButtonEnv(level)
    for seed in range(100):
        env.reset(seed=seed)
        xy = env._layout.xy
        assert np.allclose(env.agent_pos, xy["agent"]) and np.allclose(env.buttons_pos,
                                                                       [xy[f"button{i}"]
                                                                        for i in range(4)])
        if env.n_gremlins:
            np.testing.assert_allclose(env.gremlins_pos,
                                       [xy[f"gremlin{i}"] for i in range(env.n_gremlins)])
        objects = [(p, env._layout.keepouts[name]) for name, p in xy.items()]
        for i, (p, k) in enumerate(objects):
            assert np.all(np.abs(p) <= extent - k + 1e-9)
            for q, k2 in objects[i + 1:]:
                assert np.linalg.norm(p - q) >= k + k2 - 1e-9
    assert len(objects) == 1 + 4 + 1 + env.n_hazards + env.n_gremlins
    assert env._layout.keepouts["goal"] == 0.4 and env._layout.keepouts["button0"] == 0.2
    if level:
        assert env._layout.keepouts["gremlin0"] == 0.4
        assert env._layout.keepouts["hazard0"] == 0.18


@pytest.mark.parametrize("robot", ["Point", "Car"])
def test_same_seed_same_trajectory(robot):
    runs = []
    for _ in range(2):
        env = ENVS[robot][0](2)
        obs = [env.reset(seed=7)[0]]
        rng = np.random.default_rng(0)
        costs = []
        for _ in range(150):
            o, r, *_, info = env.step(rng.uniform(-1, 1, 2))
            obs.append(np.r_[o, r])
            costs.append(info["cost"])
        runs.append((np.concatenate(obs), costs, env.goal_button))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1:] == runs[1][1:]
    assert not np.array_equal(ENVS[robot][0](2).reset(seed=8)[0], runs[0][0][:len(obs[0])])


def test_moved_bodies_match_a_model_compiled_in_place():
    """safety-gymnasium compiles a new model with the objects where they were drawn (each
    gremlin's mocap body at the origin, turned, its geom at the object's place, the weld's
    relative pose from there); the env compiles once, moves them and writes the welds."""
    env = CarButtonEnv(2)
    env.reset(seed=5)
    m, d = env.model, env.data
    spec = mujoco.MjSpec.from_string(world_xml(env.robot, env.n_hazards, 0, 4, env.n_gremlins,
                                               0.2))
    a = env._agent_qpos
    spec.body("agent").pos, spec.body("agent").quat = d.qpos[a:a + 3], d.qpos[a + 3:a + 7]
    for i in range(env.n_gremlins):
        q = env._gremlin_qpos + 7 * i
        spec.body(f"gremlin{i}obj").pos = d.qpos[q:q + 3]
        spec.body(f"gremlin{i}obj").quat = d.qpos[q + 3:q + 7]
        spec.body(f"gremlin{i}mocap").quat = d.qpos[q + 3:q + 7]
        spec.geom(f"gremlin{i}mocap").pos = m.geom(f"gremlin{i}mocap").pos
    for name in [f"hazard{i}" for i in range(env.n_hazards)] + [f"button{i}" for i in
                                                                 range(4)] + ["goal"]:
        spec.body(name).pos = m.body(name).pos
        spec.body(name).quat = m.body(name).quat
    m2 = spec.compile()
    np.testing.assert_allclose(m2.eq_data, m.eq_data, atol=1e-12)
    d2 = mujoco.MjData(m2)
    mujoco.mj_forward(m2, d2)
    np.testing.assert_array_equal(d2.qpos, d.qpos)
    rng = np.random.default_rng(0)
    for _ in range(100):
        action = rng.uniform(-1, 1, 2)
        env.step(action)
        d2.ctrl[:] = action
        for _ in range(10):
            d2.mocap_pos[:, :2] = 0.35 * np.array([np.sin(d2.time), np.cos(d2.time)])
            d2.mocap_pos[:, 2] = 0.1
            mujoco.mj_step(m2, d2)
        mujoco.mj_forward(m2, d2)
    np.testing.assert_allclose(d2.qpos, d.qpos, rtol=0, atol=1e-7)
    np.testing.assert_allclose(d2.sensordata, d.sensordata, rtol=0, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        PointButtonEnv(3)
    env = PointButtonEnv(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
