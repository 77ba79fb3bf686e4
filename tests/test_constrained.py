"""Constrained algorithms on the shared core: the cost signal from envs, CPO and
TRPO-Lagrangian learning, persistence, export, CLI, and the safety tasks."""

import inspect
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

import fasttrpo
import fasttrpo.envs
from fasttrpo import CPO, TRPO, TRPOLagrangian, TRPOPIDLagrangian
from fasttrpo.algorithms import load_model
from fasttrpo.cli import main
from fasttrpo.config import CPOConfig, TRPOLagrangianConfig
from fasttrpo.envs import CostInInfo, PointVelocityEnv, VelocityCost
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.rollout import NoiseStreams, RolloutBatch, VectorEnvSampler

from toy_envs import CounterEnv

POINT = "fasttrpo/SafetyPointVelocity-v0"
TINY = dict(n_steps=32, batch_size=16, policy_kwargs=dict(net_arch=[4]), n_critic_updates=1)


class RandomCostEnv(gym.Env):
    """Random episode lengths (terminations and truncations) and random costs, for checking
    the sampler's cost bookkeeping against a plain loop over the same env."""

    observation_space = spaces.Box(-1, 1, (1,))
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        cost = float(self.np_random.integers(0, 3))
        terminated = bool(self.np_random.random() < 0.15)
        return np.zeros(1, np.float32), 1.0, terminated, False, {"cost": cost}


def _collect(mode, n_steps=40, signals=("reward", "cost")):
    env = SyncVectorEnv([lambda: TimeLimit(RandomCostEnv(), 5)] * 3, autoreset_mode=mode)
    sampler = VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                               ActionCodec.for_space(env.single_action_space), dtype=np.float64)
    batch = RolloutBatch(n_steps, 3, 1, 1, np.float64, signals=signals)
    sampler.reset(seed=7)
    sampler.collect(fasttrpo.CategoricalMLPPolicy(1, 2, (2,), dtype=np.float64), batch,
                    NoiseStreams(0))
    return batch


def _reference_episode_costs(n_steps, seed=7):
    """Costs per step and per finished episode from a plain loop over the same envs."""
    envs = [TimeLimit(RandomCostEnv(), 5) for _ in range(3)]
    costs, finished = np.zeros((n_steps, 3)), []
    running = np.zeros(3)
    for e, env in enumerate(envs):
        env.reset(seed=seed + e)
    for t in range(n_steps):
        ended = []
        for e, env in enumerate(envs):
            _, _, terminated, truncated, info = env.step(0)
            costs[t, e] = info["cost"]
            running[e] += info["cost"]
            if terminated or truncated:
                ended.append(e)
                env.reset()
        for e in ended:  # in env order, as the sampler lists them
            finished.append(running[e])
            running[e] = 0.0
    return costs, finished


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_sampler_reads_info_cost_and_sums_episode_costs(mode):
    batch = _collect(mode)
    assert set(batch.signals) == {"reward", "cost"}
    episode_costs = [e["c"] for e in batch.finished_episodes]
    if mode is AutoresetMode.SAME_STEP:
        # the envs never see the actions' effect: the plain loop reproduces every step,
        # including the last step of each episode (whose cost is in final_info)
        costs, finished = _reference_episode_costs(40)
        np.testing.assert_array_equal(batch.signals["cost"], costs)
        assert episode_costs == finished
    else:
        # NEXT_STEP reset rows are no transitions: cost 0 there, and each episode's cost is
        # the sum over its own valid rows
        cost = batch.signals["cost"]
        assert (cost[~batch.valid] == 0).all()
        ends = batch.dones & batch.valid
        rebuilt, running = [], np.zeros(3)
        for t in range(40):
            running += np.where(batch.valid[t], cost[t], 0.0)
            for e in np.flatnonzero(ends[t]):
                rebuilt.append(running[e])
                running[e] = 0.0
        assert episode_costs == rebuilt
    assert len(episode_costs) > 5


def test_constrained_algorithm_refuses_an_env_without_costs():
    model = CPO("MlpPolicy", "CartPole-v1", **TINY)
    with pytest.raises(ValueError, match=r"needs a per-step cost in info\['cost'\].*CostInInfo"):
        model.learn(64)


def test_non_finite_cost_is_refused():
    class NanCost(RandomCostEnv):
        def step(self, action):
            obs, reward, terminated, truncated, _ = super().step(action)
            return obs, reward, terminated, truncated, {"cost": math.nan}

    model = TRPOLagrangian("MlpPolicy", NanCost(), **TINY)
    with pytest.raises(ValueError, match="non-finite cost nan"):
        model.learn(64)


def test_cost_statistics_are_logged_for_trpo_too():
    model = TRPO("MlpPolicy", POINT, n_envs=2, **{**TINY, "n_steps": 100})
    model.learn(400)
    assert model.logger.last_values["rollout/ep_cost_mean"] == pytest.approx(
        np.mean([e["c"] for e in model.ep_info_buffer]))
    plain = TRPO("MlpPolicy", "CartPole-v1", **TINY)
    plain.learn(256)
    assert "rollout/ep_cost_mean" not in plain.logger.last_values
    assert all("c" not in e for e in plain.ep_info_buffer)


class SixTupleEnv(RandomCostEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, info.pop("cost") + 0.5, terminated, truncated, info


def test_cost_in_info_wrapper():
    env = CostInInfo(SixTupleEnv())
    env.reset(seed=0)
    reference = RandomCostEnv()
    reference.reset(seed=0)
    for _ in range(20):
        _, _, terminated, _, info = env.step(0)
        _, _, ref_terminated, _, ref_info = reference.step(0)
        assert info["cost"] == ref_info["cost"] + 0.5 and terminated == ref_terminated
    five = CostInInfo(RandomCostEnv())
    five.reset(seed=0)
    with pytest.raises(ValueError, match="returns .obs, reward, cost, terminated.*got 5 values"):
        five.step(0)


class StubLocomotion(gym.Env):
    observation_space = spaces.Box(-1, 1, (1,))
    action_space = spaces.Box(-1, 1, (1,))

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, np.float32), {}

    def step(self, action):
        velocity = float(action[0])
        info = {"x_velocity": velocity, "y_velocity": 2 * velocity}
        return np.zeros(1, np.float32), velocity, False, False, info


def test_velocity_cost_thresholds_x_or_planar_speed():
    x_env, xy_env = VelocityCost(StubLocomotion(), 0.5), VelocityCost(StubLocomotion(), 0.5, "xy")
    for velocity, x_cost, xy_cost in ((0.4, 0.0, 1.0), (0.6, 1.0, 1.0), (0.2, 0.0, 0.0),
                                      (-0.4, 0.0, 1.0)):
        assert x_env.step(np.array([velocity]))[4]["cost"] == x_cost
        assert xy_env.step(np.array([velocity]))[4]["cost"] == xy_cost
    with pytest.raises(ValueError, match="speed"):
        VelocityCost(StubLocomotion(), 0.5, "z")


def test_velocity_tasks_match_gymnasiums_own_env():
    pytest.importorskip("mujoco", reason="the MuJoCo tasks need the mujoco extra")
    for robot, (base, threshold, speed) in fasttrpo.envs.VELOCITY_TASKS.items():
        if robot == "Humanoid":
            continue  # the slowest to build; the same wrapper as Ant
        safe, plain = gym.make(f"fasttrpo/Safety{robot}Velocity-v1"), gym.make(base)
        obs, _ = safe.reset(seed=3)
        ref_obs, _ = plain.reset(seed=3)
        np.testing.assert_array_equal(obs, ref_obs)
        rng = np.random.default_rng(0)
        n_costly = 0
        for _ in range(60):
            action = rng.uniform(-1, 1, plain.action_space.shape).astype(np.float32)
            obs, reward, terminated, truncated, info = safe.step(action)
            ref = plain.step(action)
            np.testing.assert_array_equal(obs, ref[0])
            assert (reward, terminated, truncated) == ref[1:4]
            velocity = (ref[4]["x_velocity"] if speed == "x"
                        else math.hypot(ref[4]["x_velocity"], ref[4]["y_velocity"]))
            assert info["cost"] == float(velocity > threshold)
            n_costly += info["cost"]
            if terminated or truncated:
                break


def test_constructors_take_their_configs_fields():
    for cls, config_class in ((CPO, CPOConfig), (TRPOLagrangian, TRPOLagrangianConfig)):
        params = inspect.signature(cls).parameters
        keywords = [p for p in params.values() if p.kind is p.KEYWORD_ONLY]
        assert [p.name for p in keywords] == list(config_class.field_names())
        assert [p.default for p in keywords] == [d for _, _, d, _ in config_class.field_docs()]
        for name in ("cost_limit", "cost_gamma", "cost_gae_lambda"):
            assert name in cls.__doc__
    with pytest.raises(ValueError, match="unknown keyword"):
        CPO("MlpPolicy", POINT, cost_limt=3.0)
    with pytest.raises(ValueError, match="constraint_units"):
        CPO("MlpPolicy", POINT, constraint_units="per_episode")
    with pytest.raises(ValueError, match="cost_limit"):
        TRPOLagrangian("MlpPolicy", POINT, cost_limit=-1.0)


def _last_costs(model, k=20):
    episodes = list(model.ep_info_buffer)[-k:]
    return np.mean([e["r"] for e in episodes]), np.mean([e["c"] for e in episodes])


@pytest.mark.parametrize("units", ["episode", "per_step"])
def test_cpo_keeps_the_cost_limit_where_trpo_does_not(units):
    # The point mass earns most by going fast and pays a cost of 1 per step above the speed
    # limit. Unconstrained TRPO learns full speed (cost ~96 per episode). CPO's final policy
    # evaluates under the limit of 10, and its stochastic training episodes track the limit
    # from both sides (measured over seeds 0-4: last-20 means 7.6-12.2 with episode units,
    # 8.9-10.2 per step), so they stay within 25 % of it.
    settings = dict(n_envs=2, n_steps=500, seed=1, policy_kwargs=dict(net_arch=[16]))
    trpo = TRPO("MlpPolicy", POINT, **settings).learn(30_000)
    cpo = CPO("MlpPolicy", POINT, cost_limit=10.0, constraint_units=units,
              **settings).learn(30_000)
    trpo_return, trpo_cost = _last_costs(trpo)
    cpo_return, cpo_cost = _last_costs(cpo)
    assert trpo_cost > 80 and trpo_return > 150
    assert cpo_cost <= 12.5
    assert cpo_return > 55  # it still moves: near the best return the limit allows
    for model, below in ((cpo, True), (trpo, False)):
        _, _, costs = evaluate_policy(model, POINT, 5, deterministic=True, seed=100,
                                      return_episode_rewards=True, return_episode_costs=True)
        assert bool(np.mean(costs) < 10.0) is below
    log = cpo.logger.last_values
    assert log["train/cpo_case"] in {int(c) for c in fasttrpo.steps.cpo.CPOCase}
    for key in ("train/lagrange_lambda", "train/lagrange_nu", "train/constraint_c",
                "train/step_fraction", "rollout/ep_cost_mean", "train/value_loss_cost"):
        assert math.isfinite(log[key]), key


def test_trpo_lagrangian_multiplier_tracks_the_violation():
    model = TRPOLagrangian("MlpPolicy", POINT, cost_limit=10.0, **TINY)
    lam0 = model.lagrange_multiplier
    assert lam0 == pytest.approx(0.001)
    for _ in range(5):
        model.update_multiplier(50.0)  # violated: rises by about lr per update (Adam)
    assert model.lagrange_multiplier == pytest.approx(lam0 + 5 * 0.035, rel=1e-3)
    for _ in range(40):
        model.update_multiplier(0.0)  # satisfied: falls, and stops at 0
    assert model.lagrange_multiplier == 0.0


def test_trpo_lagrangian_lowers_the_cost():
    settings = dict(n_envs=2, n_steps=500, seed=0, policy_kwargs=dict(net_arch=[16]))
    model = TRPOLagrangian("MlpPolicy", POINT, cost_limit=10.0, lagrangian_multiplier_lr=0.2,
                           **settings).learn(20_000)
    _, cost = _last_costs(model)
    assert cost < 20 and model.lagrange_multiplier > 0.5
    assert model.logger.last_values["train/lagrange_multiplier"] == model.lagrange_multiplier


@pytest.mark.parametrize("cls", [CPO, TRPOLagrangian, TRPOPIDLagrangian])
def test_save_load_round_trip_keeps_cost_critic_and_state(cls, tmp_path):
    model = cls("MlpPolicy", POINT, n_envs=2, seed=0, normalize_obs=True, **{**TINY,
                                                                             "n_steps": 100})
    model.learn(400)
    path = model.save(tmp_path / "m")
    loaded = load_model(path, env=POINT)
    assert type(loaded) is cls and loaded.config == model.config
    for signal in ("reward", "cost"):
        np.testing.assert_array_equal(loaded.value_functions[signal].get_params(),
                                      model.value_functions[signal].get_params())
    obs = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])
    if issubclass(cls, TRPOLagrangian):
        assert loaded.lagrange_multiplier == model.lagrange_multiplier
        assert loaded.algorithm_state() == model.algorithm_state()
    loaded.learn(200)  # training continues
    with pytest.raises(ValueError, match=f"not a fasttrpo TRPO model.*{cls.algorithm_name}"):
        TRPO.load(path)
    # the exported policy computes the model's deterministic actions
    runtime = fasttrpo.runtime.load(model.export(tmp_path / "p.npz")[0])
    np.testing.assert_allclose(runtime.act(obs), model.predict(obs, deterministic=True)[0],
                               rtol=1e-5, atol=1e-6)


def test_corrupt_multiplier_state_is_refused(tmp_path):
    model = TRPOLagrangian("MlpPolicy", POINT, **TINY)
    model.multiplier.value = -1.0
    path = model.save(tmp_path / "bad")
    with pytest.raises(ValueError, match="bad.zip.*lagrange_multiplier"):
        TRPOLagrangian.load(path)


def test_episode_cost_estimate_falls_back_before_any_episode_ends():
    model = CPO("MlpPolicy", POINT, **TINY)  # 32 steps: no 100-step episode ends
    prepared = []
    prepare = model.prepare_batch
    model.prepare_batch = lambda batch: prepared.append(prepare(batch)) or prepared[-1]
    model.learn(32)
    assert not model.ep_info_buffer
    per_step_cost = prepared[-1].signal_means["cost"]
    assert model.logger.last_values["train/episode_cost"] == pytest.approx(
        per_step_cost * TINY["n_steps"])
    assert model.episode_cost(prepared[-1]) == (per_step_cost * TINY["n_steps"],
                                                TINY["n_steps"])


def test_cli_trains_evaluates_and_exports_constrained_models(tmp_path, capsys):
    save = tmp_path / "point"
    code = main(["train", POINT, "--algo", "cpo", "--cost_limit", "10", "--timesteps", "400",
                 "--n-envs", "2", "--n_steps", "100", "--policy_kwargs", "dict(net_arch=[4])",
                 "--seed", "0", "--verbose", "0", "--save", str(save), "--eval-episodes", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "mean episode cost:" in out
    assert type(load_model(f"{save}.zip")) is CPO
    assert main(["eval", f"{save}.zip", "--env", POINT, "--episodes", "2"]) == 0
    assert "mean episode cost" in capsys.readouterr().out
    assert main(["export", f"{save}.zip", "-o", str(tmp_path / "p.npz")]) == 0
    assert main(["train", POINT, "--algo", "trpo_lagrangian", "--cost_limt", "1",
                 "--timesteps", "10"]) == 2
    assert "not a TRPOLagrangian hyperparameter" in capsys.readouterr().err


def test_point_task_dynamics():
    env = gym.make(POINT)
    obs, _ = env.reset(seed=0)
    speed, costs, total = obs[0], 0.0, 0.0
    for t in range(PointVelocityEnv.episode_steps):
        obs, reward, terminated, truncated, info = env.step(np.array([1.0], np.float32))
        assert reward == pytest.approx(obs[0]) and obs[1] == pytest.approx((t + 1) / 100)
        assert abs(obs[0] - (0.8 * speed + 0.4)) < 0.3  # the noise is 0.05 N(0, 1)
        assert info["cost"] == float(obs[0] > 1.0)
        speed, costs, total = obs[0], costs + info["cost"], total + reward
    assert truncated and not terminated
    assert costs > 90 and total > 180
    counter = CounterEnv(cost_scale=1.0)
    assert counter.step(0)[4] == {"cost": 1.0}


def test_rise_margin_is_the_average_rise_of_the_estimate():
    from fasttrpo.steps.margin import RiseMargin

    margin = RiseMargin(2, decay=0.9)
    estimates = [[10.0, 5.0], [24.0, 4.0], [8.0, 9.0], [20.0, 9.0]]
    expected, previous = np.zeros(2), None
    for estimate in estimates:  # the plain loop: m <- 0.9 m + 0.1 max(rise, 0)
        if previous is not None:
            for i in range(2):
                expected[i] = 0.9 * expected[i] + 0.1 * max(estimate[i] - previous[i], 0.0)
        previous = estimate
        np.testing.assert_allclose(margin.update(estimate), expected, rtol=1e-15)
    again = RiseMargin(2)
    again.load_state_dict(margin.state_dict())
    np.testing.assert_array_equal(again.value, margin.value)
    with pytest.raises(ValueError, match="limit margin"):
        again.load_state_dict({"value": [1.0], "previous": None})
    with pytest.raises(ValueError, match="limit margin"):
        again.load_state_dict({"value": [-1.0, 0.0], "previous": None})


def test_cpo_checks_the_step_against_the_lowered_limit(tmp_path):
    model = CPO("MlpPolicy", POINT, cost_limit=10.0, limit_margin="rise", **TINY)
    plain = CPO("MlpPolicy", POINT, cost_limit=10.0, **TINY)
    assert plain.margin is None and plain.algorithm_state() == {}
    model.margin.update([4.0])
    model.margin.update([9.0])  # a rise of 5: margin 0.5
    assert model.constraint_value(np.array([9.0]), 100.0) == pytest.approx(
        plain.constraint_value(np.array([9.0]), 100.0) + 0.5)
    model.learn(400)
    assert "train/limit_margin" in model.logger.last_values
    model.save(tmp_path / "m")
    loaded = CPO.load(tmp_path / "m.zip")
    assert loaded.algorithm_state() == model.algorithm_state()
