"""Several cost constraints at once (issue 25, item 5).

The steps against independent solutions of their programs (scipy on the explicit Fisher of a
tiny network), the samplers' per-cost signals against plain loops, and the algorithms on the
two-cost point task (`fasttrpo.envs.PointTwoCostsEnv`).
"""

import math

import gymnasium as gym
import numpy as np
import pytest
from probes import linearized_problem
from scipy.optimize import minimize

import fasttrpo
from fasttrpo import CPO, TRPO, TRPOLagrangian
from fasttrpo.algorithms import load_model
from fasttrpo.rollout.batch import cost_source
from fasttrpo.steps.cpo import (
    CPOCase,
    cpo_direction,
    cpo_step,
    solve_cpo_constraints,
    solve_cpo_dual,
)
from fasttrpo.steps.pcpo import pcpo_direction, pcpo_step
from fasttrpo.steps.small_qp import nonnegative_qp

from compiled_point import point_env

MAX_KL = 0.01
DAMPING = 0.1
TWO = "fasttrpo/SafetyPointTwoCosts-v0"
KEYS = ["cost_speed", "cost_effort"]


def _problem(seed, k):
    """The tiny network's ``g``, ``H`` and ``k`` cost gradients (rows of ``B``)."""
    policy, obs, actions, adv_r, _, g, _, hessian = linearized_problem(seed, DAMPING)
    rng = np.random.default_rng(100 + seed)
    lin = policy.linearize(obs)
    old = lin.log_prob(actions)
    cost_adv = rng.normal(size=(k, len(obs)))
    b = np.stack([lin.surrogate_grad(actions, row, old)[1] for row in cost_adv])
    return policy, obs, actions, adv_r, cost_adv, g, b, hessian


def _scipy_cpo(g, b, c, hessian):
    """argmax g.x s.t. B x + c <= 0, x^T H x / 2 <= delta, by SLSQP."""
    cons = [{"type": "ineq", "fun": lambda x: MAX_KL - 0.5 * x @ hessian @ x,
             "jac": lambda x: -hessian @ x},
            {"type": "ineq", "fun": lambda x: -(b @ x + c), "jac": lambda x: -b}]
    result = minimize(lambda x: -g @ x, np.zeros_like(g), jac=lambda x: -g, constraints=cons,
                      method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    assert result.success, result.message
    return result.x


def _scipy_least_norm(b, c, hessian):
    """argmin x^T H x / 2 s.t. B x + c <= 0: the least-KL feasible step."""
    cons = [{"type": "ineq", "fun": lambda x: -(b @ x + c), "jac": lambda x: -b}]
    result = minimize(lambda x: 0.5 * x @ hessian @ x, np.zeros(b.shape[1]),
                      jac=lambda x: hessian @ x, constraints=cons, method="SLSQP",
                      options={"ftol": 1e-16, "maxiter": 1000})
    assert result.success, result.message
    return result.x


def _scalars(g, b, hessian):
    v, w = np.linalg.solve(hessian, g), np.linalg.solve(hessian, b.T).T
    s = b @ w.T
    return v, w, g @ v, w @ g, 0.5 * (s + s.T)


@pytest.mark.parametrize("seed", range(6))
def test_nonnegative_qp_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    k = 1 + seed % 4
    root = rng.normal(size=(k, k + 2))
    s_matrix, d = root @ root.T, rng.normal(size=k) * 3
    mu = nonnegative_qp(s_matrix, d)
    ref = minimize(lambda m: -(m @ d - 0.5 * m @ s_matrix @ m), np.zeros(k),
                   jac=lambda m: -(d - s_matrix @ m), bounds=[(0, None)] * k,
                   method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12}).x
    np.testing.assert_allclose(mu, ref, atol=1e-6 * max(1.0, np.abs(ref).max()))
    assert (mu >= 0).all()


def test_nonnegative_qp_reports_an_unbounded_problem():
    # opposite gradients, both violated: mu_1 = mu_2 -> infinity raises the objective forever
    assert nonnegative_qp(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([1.0, 1.0])) is None


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [-2.0, -0.5, -0.05, 0.0, 0.5, 0.95, 2.0])
def test_one_constraint_is_the_closed_form(seed, scale):
    _, _, _, _, _, g, b, hessian = _problem(seed, 1)
    v, w, q, r, s = _scalars(g, b, hessian)
    c = np.array([scale * math.sqrt(2 * MAX_KL * s[0, 0])])
    case, lam, nu = solve_cpo_constraints(q, r, s, c, MAX_KL, (b * b).sum(1))
    ref_case, ref_lam, ref_nu = solve_cpo_dual(q, r[0], s[0, 0], c[0], MAX_KL, b[0] @ b[0])
    assert (case, lam, nu[0]) == (ref_case, ref_lam, ref_nu)


# per constraint, c as a multiple of sqrt(2 delta s_ii) (beyond 1 the boundary misses the
# trust region); the last column: whether some step of the trust region meets them all
CASES = [
    ((-2.0, -3.0), CPOCase.FEASIBLE_TRUST_REGION),
    ((-0.3, -0.4), CPOCase.FEASIBLE_CUT),
    ((-0.05, -2.0), CPOCase.FEASIBLE_CUT),
    ((0.2, -0.3), CPOCase.INFEASIBLE_CUT),
    ((0.0, 0.1), CPOCase.INFEASIBLE_CUT),
    ((0.3, 0.3, -0.2), CPOCase.INFEASIBLE_CUT),
    ((-0.2, -0.1, -0.3, -0.1), CPOCase.FEASIBLE_CUT),
    ((2.0, -1.0), CPOCase.INFEASIBLE_RECOVERY),
    ((0.9, 0.9, 0.9), CPOCase.INFEASIBLE_RECOVERY),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("scales", "case"), CASES)
def test_several_constraints_match_scipy_on_the_explicit_fisher(scales, case, seed):
    k = len(scales)
    _, _, _, _, _, g, b, hessian = _problem(seed, k)
    v, w, q, r, s = _scalars(g, b, hessian)
    c = np.array(scales) * np.sqrt(2 * MAX_KL * np.diag(s))
    least = _scipy_least_norm(b, c, hessian)
    feasible = 0.5 * least @ hessian @ least <= MAX_KL
    # the case, from scipy's feasibility and the constraint values (the table's case is met
    # on some seed: test_every_case_of_the_table_is_reached)
    if not feasible:
        case = CPOCase.INFEASIBLE_RECOVERY
    elif (c >= 0).any():
        case = CPOCase.INFEASIBLE_CUT
    elif (c * c / np.diag(s) > 2 * MAX_KL).all():
        case = CPOCase.FEASIBLE_TRUST_REGION
    else:
        case = CPOCase.FEASIBLE_CUT
    got_case, lam, nu = solve_cpo_constraints(q, r, s, c, MAX_KL, (b * b).sum(1))
    assert got_case is case
    x = cpo_direction(got_case, lam, nu, v, w)
    assert 0.5 * x @ hessian @ x == pytest.approx(MAX_KL, rel=1e-6)  # on the boundary
    if case is CPOCase.INFEASIBLE_RECOVERY:
        # the least-KL feasible step, scaled back to the trust region's boundary
        expected = least * math.sqrt(MAX_KL / (0.5 * least @ hessian @ least))
    else:
        expected = _scipy_cpo(g, b, c, hessian)
        assert (b @ x + c <= 1e-9 * np.abs(c).max()).all()
        assert g @ x >= g @ expected - 1e-7 * abs(g @ expected)
    np.testing.assert_allclose(x, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_every_case_of_the_table_is_reached():
    """Each row's case is met on at least one of the seeds above."""
    for scales, case in CASES:
        k, met = len(scales), False
        for seed in range(3):
            _, _, _, _, _, g, b, hessian = _problem(seed, k)
            _, _, q, r, s = _scalars(g, b, hessian)
            c = np.array(scales) * np.sqrt(2 * MAX_KL * np.diag(s))
            met |= solve_cpo_constraints(q, r, s, c, MAX_KL, (b * b).sum(1))[0] is case
        assert met, (scales, case)


def test_a_vanishing_cost_gradient_drops_its_constraint():
    _, _, _, _, _, g, b, hessian = _problem(4, 2)
    b[1] = 0.0
    v, w, q, r, s = _scalars(g, b, hessian)
    c = np.array([-0.3 * math.sqrt(2 * MAX_KL * s[0, 0]), 5.0])
    case, lam, nu = solve_cpo_constraints(q, r, s, c, MAX_KL, (b * b).sum(1))
    one = solve_cpo_dual(q, r[0], s[0, 0], c[0], MAX_KL, b[0] @ b[0])
    assert nu[1] == 0.0 and case is one[0]
    np.testing.assert_allclose([lam, nu[0]], one[1:], rtol=1e-9)


@pytest.mark.parametrize("projection", ["kl", "l2"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pcpo_projects_onto_the_intersection(projection, seed):
    _, _, _, _, _, g, b, hessian = _problem(seed, 3)
    v, w, q, r, s = _scalars(g, b, hessian)
    x_r = math.sqrt(2 * MAX_KL / q) * v
    c = -(b @ x_r) + np.array([0.3, -0.2, 0.1]) * np.sqrt(2 * MAX_KL * np.diag(s))
    metric = hessian if projection == "kl" else np.eye(len(g))
    x, mu = pcpo_direction(v, w, g, b, c, MAX_KL, projection)
    cons = [{"type": "ineq", "fun": lambda y: -(b @ y + c), "jac": lambda y: -b}]
    ref = minimize(lambda y: 0.5 * (y - x_r) @ metric @ (y - x_r), x_r,
                   jac=lambda y: metric @ (y - x_r), constraints=cons, method="SLSQP",
                   options={"ftol": 1e-16, "maxiter": 1000}).x
    np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert (b @ x + c <= 1e-9).all() and (mu >= 0).all() and mu.sum() > 0


def test_steps_update_the_policy_and_check_every_cost():
    policy, obs, actions, adv_r, cost_adv, g, b, hessian = _problem(0, 2)
    v, w, q, r, s = _scalars(g, b, hessian)
    c = np.array([-0.3, 0.2]) * np.sqrt(2 * MAX_KL * np.diag(s))
    before = policy.get_params().copy()
    info = cpo_step(policy, obs, actions, adv_r, cost_adv, c, max_kl=MAX_KL,
                    cg_damping=DAMPING, cg_max_steps=50)
    assert info.accepted and info.case is CPOCase.INFEASIBLE_CUT
    assert info.cost_surrogate_change.shape == (2,) and len(info.cg_iterations) == 3
    # the accepted step keeps each cost surrogate within its own allowance
    assert (info.cost_surrogate_change <= np.maximum(-c, 0) + 1e-12).all()
    assert not np.array_equal(policy.get_params(), before)
    policy.set_params(before)
    info = pcpo_step(policy, obs, actions, adv_r, cost_adv, c, max_kl=MAX_KL,
                     cg_damping=DAMPING, cg_max_steps=50)
    assert info.accepted and info.projection_coefficient.shape == (2,)


def test_contradictory_constraints_reject_the_step_and_keep_the_policy():
    policy, obs, actions, adv_r, cost_adv, *_ = _problem(1, 1)
    both = np.stack([cost_adv[0], -cost_adv[0]])  # b_2 = -b_1: both violated is impossible
    before = policy.get_params().copy()
    for step in (cpo_step, pcpo_step):
        info = step(policy, obs, actions, adv_r, both, [0.5, 0.5], max_kl=MAX_KL)
        assert not info.accepted and "contradict" in info.reason
        np.testing.assert_array_equal(policy.get_params(), before)
    with pytest.raises(ValueError, match="one value per cost"):
        cpo_step(policy, obs, actions, adv_r, both, [0.5], max_kl=MAX_KL)
    with pytest.raises(ValueError, match="cost_advantages"):
        cpo_step(policy, obs, actions, adv_r, np.zeros((9, len(obs))), np.zeros(9))


def test_cost_signal_names_say_where_the_cost_is_read():
    assert cost_source("cost") == ("cost", None)
    assert cost_source("cost_hazards") == ("cost_hazards", None)
    assert cost_source("cost[2]") == ("cost", 2)
    config = fasttrpo.config.CPOConfig(cost_limit=[1.0, 2.0])
    assert config.cost_signals == ("cost[0]", "cost[1]")
    assert fasttrpo.config.CPOConfig(cost_limit=[1.0], cost_keys=["c_x"]).cost_signals == ("c_x",)
    assert fasttrpo.config.CPOConfig().cost_signals == ("cost",)
    for bad, match in (({"cost_limit": []}, "cost_limit"),
                       ({"cost_limit": [1.0] * 9}, "cost_limit"),
                       ({"cost_limit": [1.0, -1.0]}, r"cost_limit\[1\]"),
                       ({"cost_limit": [1.0, 2.0], "cost_keys": ["a"]}, "one per cost"),
                       ({"cost_keys": ["reward"]}, "cost_keys"),
                       ({"cost_keys": "cost"}, "cost_keys"),
                       ({"cost_limit": [1.0, 2.0], "cost_keys": ["a", "a"]}, "distinct")):
        with pytest.raises(ValueError, match=match):
            CPO("MlpPolicy", TWO, **bad)


class VectorCost(gym.Wrapper):
    """The two-cost task reporting its costs as one vector ``info["cost"]``."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {"cost": np.array([info["cost_speed"], info["cost_effort"]])}
        return obs, reward, terminated, truncated, info


SMALL = dict(n_envs=2, n_steps=64, batch_size=64, seed=0, policy_kwargs=dict(net_arch=[8]))


@pytest.mark.parametrize("autoreset", ["same", "next"])
def test_the_sampler_writes_each_named_cost_and_the_episode_sums(autoreset):
    mode = (gym.vector.AutoresetMode.SAME_STEP if autoreset == "same"
            else gym.vector.AutoresetMode.NEXT_STEP)
    venv = gym.vector.SyncVectorEnv([lambda: gym.make(TWO) for _ in range(2)],
                                    autoreset_mode=mode)
    model = CPO("MlpPolicy", venv, cost_limit=[10.0, 20.0], cost_keys=KEYS, n_envs=2,
                n_steps=150, batch_size=100, seed=0, policy_kwargs=dict(net_arch=[8]))
    batch = fasttrpo.rollout.RolloutBatch(150, 2, 2, 1, model.dtype, model.signals)
    seen = []

    def record(*_):
        seen.append(model.sampler.last_step)  # (obs, rewards, terminated, truncated, info)
        return True

    model.sampler.collect(model.policy, batch, model.noise_streams, lambda: record())
    assert batch.cost_signals == tuple(KEYS)
    for t, (_, _, terminated, truncated, info) in enumerate(seen):
        for key in KEYS:
            valid = batch.valid[t]
            values, mask = np.zeros(2), np.ones(2, bool)
            if key in info:
                values = np.where(info.get(f"_{key}", mask), info[key], 0.0)
            final = info.get("final_info", {}) if autoreset == "same" else {}
            if key in final:
                ended = (terminated | truncated) & final.get(f"_{key}", mask)
                values = np.where(ended, final[key], values)
            np.testing.assert_array_equal(batch.signals[key][t], np.where(valid, values, 0.0))
    # each finished episode: its two sums, and "c" (info["cost"]) their total
    episodes = batch.finished_episodes
    assert len(episodes) == 2  # 100-step episodes
    for episode in episodes:
        assert episode["c"] == pytest.approx(sum(episode["costs"]))
    for e, episode in enumerate(episodes):
        rows = batch.valid[:, e] & (np.cumsum(batch.dones[:, e]) - batch.dones[:, e] == 0)
        np.testing.assert_allclose(episode["costs"],
                                   [batch.signals[key][rows, e].sum() for key in KEYS])


def test_a_vector_cost_is_read_by_column():
    env = VectorCost(gym.make(TWO))
    model = CPO("MlpPolicy", env, cost_limit=[10.0, 20.0], n_envs=1, n_steps=200,
                batch_size=100, seed=0, policy_kwargs=dict(net_arch=[8]))
    assert model.signals == ("reward", "cost[0]", "cost[1]")
    model.learn(200)
    episode = model.ep_info_buffer[-1]
    assert len(episode["costs"]) == 2 and episode["c"] == pytest.approx(sum(episode["costs"]))
    assert "train/episode_cost/cost[1]" in model.logger.last_values


def test_missing_or_malformed_costs_are_named():
    model = CPO("MlpPolicy", TWO, cost_limit=[1.0, 1.0], cost_keys=["cost_speed", "cost_x"],
                **SMALL)
    with pytest.raises(ValueError, match=r"cost_x.*info\['cost_x'\].*cost_keys"):
        model.learn(64)
    model = CPO("MlpPolicy", VectorCost(gym.make(TWO)), cost_limit=[1.0, 1.0, 1.0], **SMALL)
    with pytest.raises(ValueError, match=r"at least 3 costs per env for cost\[2\]"):
        model.learn(64)
    with pytest.raises(ValueError, match="reports one cost"):
        CPO("MlpPolicy", point_env(), cost_limit=[1.0, 1.0], **SMALL).learn(64)


@pytest.mark.parametrize("name", ["CPO", "PCPO", "TRPOLagrangian", "TRPOPIDLagrangian"])
def test_save_load_keeps_every_cost_critic_and_multiplier(tmp_path, name):
    model = getattr(fasttrpo, name)("MlpPolicy", TWO, cost_limit=[10.0, 20.0],
                                    cost_keys=KEYS, **SMALL)
    model.learn(256)
    assert set(model.value_functions) == {"reward", *KEYS}
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m.zip", env=TWO)
    for signal, critic in model.value_functions.items():
        np.testing.assert_array_equal(loaded.value_functions[signal].get_params(),
                                      critic.get_params())
    if "Lagrangian" in name:
        assert isinstance(model.lagrange_multiplier, tuple)
        assert loaded.lagrange_multiplier == model.lagrange_multiplier
        assert loaded.algorithm_state() == model.algorithm_state()
    # the number of costs shapes the critics: another count cannot load into them
    with pytest.raises(ValueError, match="cost_keys"):
        load_model(tmp_path / "m.zip", cost_keys=["cost_speed"])
    with pytest.raises(ValueError, match="cost"):
        load_model(tmp_path / "m.zip", cost_limit=[1.0, 2.0, 3.0])
    loaded.learn(128)  # training continues


def test_each_multiplier_follows_its_own_cost():
    model = TRPOLagrangian("MlpPolicy", TWO, cost_limit=[10.0, 20.0], cost_keys=KEYS, **SMALL)
    reference = [fasttrpo.steps.multiplier.LagrangeMultiplier(0.001, 0.035, limit)
                 for limit in (10.0, 20.0)]
    for costs in ([50.0, 0.0], [50.0, 5.0], [0.0, 40.0]):
        lams = model.update_multiplier(costs)
        np.testing.assert_array_equal(lams, [m.update(c) for m, c in zip(reference, costs)])
    assert model.lagrange_multiplier[0] > 0.001 > model.lagrange_multiplier[1]


@pytest.fixture(scope="module")
def trpo_two_costs():
    """Plain TRPO on the two-cost task: full force, ~96 speed and ~100 effort cost."""
    model = TRPO("MlpPolicy", TWO, **LEARN).learn(30_000)
    return np.mean([e["c"] for e in list(model.ep_info_buffer)[-20:]])


LEARN = dict(n_envs=2, n_steps=500, batch_size=100, seed=1, policy_kwargs=dict(net_arch=[16]))


@pytest.mark.parametrize("name", ["CPO", "PCPO", "TRPOPIDLagrangian"])
def test_both_limits_hold_where_trpo_breaks_them(name, trpo_two_costs):
    """Limits 10 (speed) and 70 (effort). Seeds 0-4 measured by benchmarks/two_costs.py
    (last 20 stochastic training episodes, speed / effort): CPO 5.8-13.1 / 65.5-68.2, PCPO
    9.1-11.9 / 65.6-66.3, PID 7.5-13.6 / 64.8-70.5; TRPO ~97 / ~100. Seed 1 here, within
    25 % of each limit, as the single-cost tests."""
    model = getattr(fasttrpo, name)("MlpPolicy", TWO, cost_limit=[10.0, 70.0], cost_keys=KEYS,
                                    **LEARN).learn(30_000)
    episodes = list(model.ep_info_buffer)[-20:]
    speed, effort = np.mean([e["costs"] for e in episodes], axis=0)
    assert trpo_two_costs > 150
    assert speed <= 12.5 and effort <= 87.5
    assert effort >= 50  # the effort constraint binds: the learner spends its budget
    assert np.mean([e["r"] for e in episodes]) > 50  # it still moves


@pytest.mark.parametrize("name", ["CPO", "PCPO", "TRPOLagrangian", "TRPOPIDLagrangian"])
def test_single_cost_files_of_the_previous_release_still_load(name):
    """tests/data/single-cost-*.zip were saved by commit 8067a1b, before several costs; the
    JSON beside them holds what that code predicted and its multiplier state."""
    import json
    from pathlib import Path

    data = Path(__file__).parent / "data"
    expected = json.loads((data / "single-cost-models.json").read_text())[name]
    model = load_model(data / f"single-cost-{name}.zip", env="fasttrpo/SafetyPointVelocity-v0")
    assert model.signals == ("reward", "cost")
    obs = np.array([[0.5, 0.1], [1.2, 0.7]])
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0],
                                  np.array(expected["actions"], dtype=np.float32))
    np.testing.assert_array_equal(model.value_functions["cost"].get_params()[:5],
                                  np.array(expected["value_cost"], dtype=np.float32))
    if expected["state"] is not None:
        assert model.algorithm_state() == expected["state"]
        assert isinstance(model.lagrange_multiplier, float)
    model.learn(256)


@pytest.mark.parametrize("vectorised", [False, True])
def test_evaluation_sums_a_vector_cost(vectorised):
    from fasttrpo.evaluation import evaluate_policy

    model = CPO("MlpPolicy", VectorCost(gym.make(TWO)), cost_limit=[10.0, 20.0], **SMALL)
    if vectorised:
        env = gym.vector.SyncVectorEnv([lambda: VectorCost(gym.make(TWO))])
    else:
        env = VectorCost(gym.make(TWO))
    _, _, costs = evaluate_policy(model, env, 2, deterministic=True, seed=5,
                                  return_episode_rewards=True, return_episode_costs=True)
    # the same episodes by a plain loop over the named costs
    plain, expected = gym.make(TWO), []
    for episode in range(2):
        obs, _ = plain.reset(seed=5) if episode == 0 else plain.reset()
        total, done = 0.0, False
        while not done:
            obs, _, terminated, truncated, info = plain.step(
                model.predict(obs, deterministic=True)[0])
            total += info["cost_speed"] + info["cost_effort"]
            done = terminated or truncated
        expected.append(total)
    assert costs == expected


# ---- evaluate_policy: one cost per name ----------------------------------------------------
class ForceModel:
    """A model pushing hard 30 steps in 50 (fast and effortful), gently the other 20."""

    def __init__(self):
        self.t = 0

    def predict(self, obs, deterministic=True):
        self.t += 1
        n = 1 if np.ndim(obs) == 1 else np.shape(obs)[0]
        force = np.full((n, 1), 1.0 if self.t % 50 < 30 else 0.1, np.float32)
        return (force[0] if np.ndim(obs) == 1 else force), None


def test_evaluate_policy_reports_one_cost_per_name():
    from fasttrpo.evaluation import evaluate_policy

    reference = []
    env = gym.make(TWO)
    model = ForceModel()
    for episode in range(3):
        obs, _ = env.reset(seed=7) if episode == 0 else env.reset()
        sums, total, done = np.zeros(2), 0.0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(model.predict(obs)[0])
            sums += [info["cost_speed"], info["cost_effort"]]
            total += info["cost"]
            done = terminated or truncated
        assert total == pytest.approx(sums.sum())
        reference.append(sums)
    # both costs occur, and differ, so a swapped or summed column would fail
    assert (np.array(reference) > 0).all() and not np.allclose(*np.array(reference).T)
    _, _, costs = evaluate_policy(ForceModel(), gym.make(TWO), 3, seed=7,
                                  return_episode_rewards=True, return_episode_costs=True,
                                  cost_keys=KEYS)
    np.testing.assert_allclose(costs, reference)
    # a vector info["cost"] read by column gives the same numbers; None gives their sum
    _, _, by_column = evaluate_policy(ForceModel(), VectorCost(gym.make(TWO)), 3, seed=7,
                                      return_episode_rewards=True, return_episode_costs=True,
                                      cost_keys=["cost[0]", "cost[1]"])
    np.testing.assert_allclose(by_column, reference)
    _, _, summed = evaluate_policy(ForceModel(), gym.make(TWO), 3, seed=7,
                                   return_episode_rewards=True, return_episode_costs=True)
    np.testing.assert_allclose(summed, np.sum(reference, axis=1))
    _, _, mean = evaluate_policy(ForceModel(), gym.make(TWO), 3, seed=7,
                                 return_episode_costs=True, cost_keys=KEYS)
    np.testing.assert_allclose(mean, np.mean(reference, axis=0))


@pytest.mark.parametrize("autoreset", ["same", "next"])
def test_evaluate_policy_per_cost_on_a_vector_env(autoreset):
    from fasttrpo.evaluation import evaluate_policy

    mode = (gym.vector.AutoresetMode.SAME_STEP if autoreset == "same"
            else gym.vector.AutoresetMode.NEXT_STEP)
    venv = gym.vector.SyncVectorEnv([lambda: gym.make(TWO) for _ in range(2)],
                                    autoreset_mode=mode)
    _, lengths, costs = evaluate_policy(ForceModel(), venv, 4, seed=3,
                                        return_episode_rewards=True, return_episode_costs=True,
                                        cost_keys=KEYS)
    _, _, summed = evaluate_policy(ForceModel(), venv, 4, seed=3, return_episode_rewards=True,
                                   return_episode_costs=True)
    assert np.shape(costs) == (4, 2) and lengths == [100] * 4
    np.testing.assert_allclose(np.sum(costs, axis=1), summed)
    assert all(0 <= c[1] <= 100 and float(c[1]).is_integer() for c in costs)


def test_evaluate_policy_refuses_bad_cost_keys():
    from fasttrpo.evaluation import evaluate_policy

    for bad in ("cost_speed", [], [1]):
        with pytest.raises(ValueError, match="cost_keys"):
            evaluate_policy(ForceModel(), gym.make(TWO), 1, cost_keys=bad)
    with pytest.raises(ValueError, match="column 2"):
        evaluate_policy(ForceModel(), VectorCost(gym.make(TWO)), 1, cost_keys=["cost[2]"])


def test_cli_eval_prints_each_cost(tmp_path, capsys):
    from fasttrpo.cli import main
    from fasttrpo.evaluation import evaluate_policy

    model = CPO("MlpPolicy", TWO, cost_limit=[10.0, 70.0], cost_keys=KEYS, **SMALL)
    path = model.save(tmp_path / "two_costs")
    assert main(["eval", str(path), "--episodes", "2", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    _, _, costs = evaluate_policy(load_model(path), TWO, 2, seed=4, return_episode_rewards=True,
                                  return_episode_costs=True, cost_keys=KEYS)
    for name, column in zip(KEYS, np.array(costs).T, strict=True):
        assert f"mean episode cost ({name}): {column.mean():.2f} +/- {column.std():.2f}" in out
