"""Sauté and early termination: the wrappers against plain loops over a scripted cost
sequence, and TRPO trained on them with the usual samplers."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from fasttrpo import TRPO
from fasttrpo.envs import EarlyTerminated, PointVelocityEnv, SauteEnv


class ScriptedCost(gym.Env):
    """Box observations counting steps; reward 1 and the scripted cost per step."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, costs, with_cost=True):
        self.costs, self.with_cost, self.t = list(costs), with_cost, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0, 1.0], np.float32), {}

    def step(self, action):
        cost = self.costs[self.t]
        self.t += 1
        info = {"cost": cost} if self.with_cost else {}
        done = self.t == len(self.costs)
        return np.array([self.t, 1.0], np.float32), 1.0, False, done, info


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_saute_budget_and_reward_follow_the_paper(gamma):
    costs = [0.0, 2.0, 3.0, 0.0, 4.0, 1.0, 0.0]
    env = SauteEnv(ScriptedCost(costs), cost_limit=6.0, saute_gamma=gamma, unsafe_reward=-2.0,
                   max_episode_steps=len(costs))
    budget = 6.0 if gamma == 1.0 else 6.0 * (1 - gamma**7) / ((1 - gamma) * 7)
    obs, info = env.reset(seed=0)
    assert obs.tolist() == [0.0, 1.0, 1.0] and info["saute_budget"] == 1.0
    z = 1.0
    for cost in costs:  # the paper's z' = (z - c / d) / gamma_c; reward replaced at z' <= 0
        obs, reward, _, _, info = env.step(0)
        z = (z - cost / budget) / gamma
        assert obs[-1] == pytest.approx(z) and info["saute_budget"] == pytest.approx(z)
        assert reward == (1.0 if z > 0 else -2.0) and info["true_reward"] == 1.0
    assert z <= 0 and env.observation_space.contains(obs)
    env.reset()
    assert env.z == 1.0  # a new episode has the whole budget


def test_early_termination_ends_the_episode_where_the_cost_exceeds_the_limit():
    env = EarlyTerminated(ScriptedCost([1.0, 2.0, 0.0, 3.0, 1.0, 0.0]), cost_limit=5.0)
    env.reset()
    ends = [env.step(0)[2] for _ in range(4)]
    assert ends == [False, False, False, True]  # total 1, 3, 3, 6 > 5
    assert env.episode_cost == 6.0
    env.reset()
    assert env.episode_cost == 0.0 and env.step(0)[2] is False


def test_wrappers_refuse_envs_without_costs_and_bad_settings():
    for wrapper in (SauteEnv(ScriptedCost([1.0], with_cost=False), 5.0),
                    EarlyTerminated(ScriptedCost([1.0], with_cost=False), 5.0)):
        wrapper.reset()
        with pytest.raises(ValueError, match="info has no 'cost'"):
            wrapper.step(0)
    with pytest.raises(ValueError, match="cost_limit"):
        SauteEnv(ScriptedCost([1.0]), 0.0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        SauteEnv(ScriptedCost([1.0]), 5.0, saute_gamma=0.99)
    with pytest.raises(ValueError, match="unsafe_reward"):
        SauteEnv(ScriptedCost([1.0]), 5.0, unsafe_reward=1.0)


def test_trpo_trains_on_both_wrappers_with_vector_envs():
    """Any sampler that steps gymnasium envs: here gymnasium's make_vec with the wrappers."""
    for wrapper in (lambda e: SauteEnv(e, cost_limit=10.0), lambda e: EarlyTerminated(e, 10.0)):
        venv = gym.make_vec("fasttrpo/SafetyPointVelocity-v0", num_envs=2,
                            vectorization_mode="sync", wrappers=[wrapper],
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
        model = TRPO("MlpPolicy", venv, n_steps=64, batch_size=64, seed=0,
                     policy_kwargs=dict(net_arch=[8]))
        model.learn(256)
        assert model.num_timesteps == 256
    assert isinstance(PointVelocityEnv().observation_space, spaces.Box)


def test_presets_wrap_every_env_they_make_and_save_and_load(tmp_path):
    from fasttrpo import TRPOEarlyTerminated, TRPOSaute
    from fasttrpo.algorithms import load_model

    point = "fasttrpo/SafetyPointVelocity-v0"
    saute = TRPOSaute("MlpPolicy", point, cost_limit=8.0, unsafe_reward=-1.0, n_envs=2,
                      n_steps=64, batch_size=64, seed=0, policy_kwargs=dict(net_arch=[8]))
    base_obs = gym.make(point).observation_space
    assert saute.observation_space.shape == (base_obs.shape[0] + 1,)  # the budget z
    assert all(isinstance(e, SauteEnv) for e in saute.env.envs)
    saute.learn(256)
    loaded = load_model(saute.save(tmp_path / "saute"), env=point)  # set_env wraps too
    assert type(loaded) is TRPOSaute and isinstance(loaded.env.envs[0], SauteEnv)
    assert loaded.config.unsafe_reward == -1.0
    early = TRPOEarlyTerminated("MlpPolicy", gym.make(point), cost_limit=0.0, n_steps=64,
                                batch_size=64, seed=0, policy_kwargs=dict(net_arch=[8]))
    early.learn(128)
    # with a zero limit every episode ends at its first costly step: short episodes
    assert all(episode["l"] < 200 for episode in early.ep_info_buffer)
    venv = gym.make_vec(point, num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match="cannot wrap"):
        TRPOSaute("MlpPolicy", venv)


@pytest.fixture(scope="module")
def unconstrained_cost():
    """Plain TRPO on the point task: it learns full speed, far over any limit of 10."""
    model = TRPO("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", **LEARN_SETTINGS)
    model.learn(30_000)
    return float(np.mean([e["c"] for e in list(model.ep_info_buffer)[-20:]]))


LEARN_SETTINGS = dict(n_envs=2, n_steps=500, batch_size=100, seed=1,
                      policy_kwargs=dict(net_arch=[16]))


@pytest.mark.parametrize(("name", "kwargs", "train_bound"), [
    ("PCPO", {}, 12.5), ("PCPO", {"projection": "l2"}, 12.5),
    ("TRPOPIDLagrangian", {"pid_kp": 0.1, "pid_ki": 0.05, "pid_kd": 0.05}, 13.0),
    ("TRPOSaute", {}, 12.5), ("TRPOEarlyTerminated", {}, 12.5)])
def test_each_safe_algorithm_keeps_the_limit_where_trpo_does_not(name, kwargs, train_bound,
                                                                  unconstrained_cost):
    """Limit 10 on the point task (TRPO: ~96). Seeds 0-4 measured (last 20 stochastic
    training episodes): PCPO 9.0-11.4 (kl) and 9.2-12.0 (l2), PID 9.7-13.8, Sauté 9.2-10.8,
    early termination 6.4-8.4; seed 1 here. The final deterministic policy evaluates under
    the limit."""
    import fasttrpo
    from fasttrpo.evaluation import evaluate_policy

    point = "fasttrpo/SafetyPointVelocity-v0"
    model = getattr(fasttrpo, name)("MlpPolicy", point, cost_limit=10.0, **LEARN_SETTINGS,
                                    **kwargs).learn(30_000)
    episodes = list(model.ep_info_buffer)[-20:]
    assert unconstrained_cost > 80
    assert np.mean([e["c"] for e in episodes]) <= train_bound
    assert np.mean([e["r"] for e in episodes]) > 50  # it still moves
    env = SauteEnv(gym.make(point), 10.0) if name == "TRPOSaute" else point
    _, _, costs = evaluate_policy(model, env, 5, deterministic=True, seed=100,
                                  return_episode_rewards=True, return_episode_costs=True)
    assert np.mean(costs) < 10.0


def test_budget_and_episode_cost_restart_at_every_autoreset():
    """In a SAME_STEP vector env a truncated episode's final observation keeps its spent
    budget and the next episode starts with the whole budget (and a zero episode cost)."""
    costs = [3.0, 3.0, 3.0]  # truncated after 3 steps
    saute = gym.vector.SyncVectorEnv(
        [lambda: SauteEnv(ScriptedCost(costs), cost_limit=4.0)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    early = gym.vector.SyncVectorEnv(
        [lambda: EarlyTerminated(ScriptedCost(costs), cost_limit=4.0)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    saute.reset(seed=0)
    early.reset(seed=0)
    budgets = []
    for _ in range(3):
        obs, reward, terminated, truncated, info = saute.step(np.array([0]))
        budgets.append(float(obs[0, -1]))
    assert truncated[0] and budgets[:2] == [0.25, pytest.approx(-0.5)]
    assert info["final_obs"][0][-1] == pytest.approx(-1.25) and budgets[2] == 1.0
    assert reward[0] == 0.0  # the budget was spent at that (final) step
    ends = [bool(early.step(np.array([0]))[2][0]) for _ in range(5)]
    assert ends == [False, True, False, True, False]  # 3, 6 > 4; restarted: 3, 6 > 4; 3


@pytest.mark.parametrize("name", ["TRPOSaute", "TRPOEarlyTerminated"])
def test_presets_refuse_a_compiled_env_they_cannot_wrap(name):
    """A compiled env takes no gymnasium wrapper: the preset would train without its budget
    or its early termination (it did, silently, with compiled=True)."""
    import fasttrpo
    from fasttrpo.envs.compiled import make_port

    algorithm = getattr(fasttrpo, name)
    for env, extra in (("CartPole-v1", {"compiled": True}), (make_port("CartPole-v1"), {})):
        with pytest.raises(ValueError, match="wraps its envs"):
            algorithm("MlpPolicy", env, n_steps=64, batch_size=64, **extra)
    model = algorithm("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", n_steps=64, batch_size=64)
    with pytest.raises(ValueError, match="wraps its envs"):
        model.set_env(make_port("CartPole-v1"))
