"""The CPO step (fasttrpo/steps/cpo.py) against an independent solution of its quadratic
program: scipy's SLSQP on the explicit Fisher matrix of a tiny network."""

import math

import numpy as np
import pytest
from probes import linearized_problem
from scipy.optimize import minimize

import fasttrpo
from fasttrpo.steps.cpo import CPOCase, cpo_direction, cpo_step, solve_cpo_dual
from fasttrpo.steps.trpo import StepOutcome, trpo_step

MAX_KL = 0.01
DAMPING = 0.1


def _reference(g, b, c, hessian, feasible_exists=True):
    """argmax g.x s.t. b.x + c <= 0, 0.5 x^T H x <= delta (or, with no feasible point, argmin
    b.x in the trust region), by SLSQP from x = 0."""
    trust = {"type": "ineq", "fun": lambda x: MAX_KL - 0.5 * x @ hessian @ x,
             "jac": lambda x: -hessian @ x}
    if feasible_exists:
        cons = [trust, {"type": "ineq", "fun": lambda x: -(b @ x + c), "jac": lambda x: -b}]
        objective, grad = (lambda x: -g @ x), (lambda x: -g)
    else:
        cons, objective, grad = [trust], (lambda x: b @ x), (lambda x: b)
    result = minimize(objective, np.zeros_like(g), jac=grad, constraints=cons, method="SLSQP",
                      options={"ftol": 1e-14, "maxiter": 500})
    assert result.success, result.message
    return result.x


# c as a multiple of sqrt(2 delta s), the distance at which the constraint boundary leaves
# the trust region: beyond 1 (in either direction) the boundary misses it
CASES = [
    (CPOCase.FEASIBLE_TRUST_REGION, -2.0),
    (CPOCase.FEASIBLE_CUT, -0.5),
    (CPOCase.FEASIBLE_CUT, -0.05),
    (CPOCase.INFEASIBLE_CUT, 0.0),
    (CPOCase.INFEASIBLE_CUT, 0.5),
    (CPOCase.INFEASIBLE_CUT, 0.95),
    (CPOCase.INFEASIBLE_RECOVERY, 2.0),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("case", "scale"), CASES)
def test_dual_solution_matches_scipy_on_the_explicit_fisher(case, scale, seed):
    _, _, _, _, _, g, b, hessian = linearized_problem(seed, DAMPING)
    v, w = np.linalg.solve(hessian, g), np.linalg.solve(hessian, b)
    q, r, s = g @ v, g @ w, b @ w
    c = scale * math.sqrt(2 * MAX_KL * s)
    got_case, lam, nu = solve_cpo_dual(q, r, s, c, MAX_KL, b @ b)
    assert got_case is case
    x = cpo_direction(got_case, lam, nu, v, w)
    expected = _reference(g, b, c, hessian, feasible_exists=case is not CPOCase.INFEASIBLE_RECOVERY)
    np.testing.assert_allclose(x, expected, rtol=2e-4, atol=2e-6 * np.abs(expected).max())
    # the solution sits on the trust-region boundary, and on the constraint when it binds
    assert 0.5 * x @ hessian @ x == pytest.approx(MAX_KL, rel=1e-6)
    if case in (CPOCase.FEASIBLE_TRUST_REGION,):
        assert nu == 0.0
    if case is CPOCase.INFEASIBLE_CUT:
        assert b @ x + c == pytest.approx(0.0, abs=1e-9 * max(1.0, abs(c)))


def test_zero_cost_gradient_is_the_trpo_direction():
    _, _, _, _, _, g, b, hessian = linearized_problem(3, DAMPING, zero_cost=True)
    assert not b.any()
    v = np.linalg.solve(hessian, g)
    for c in (-1.0, 0.0, 1.0):
        case, lam, nu = solve_cpo_dual(g @ v, 0.0, 0.0, c, MAX_KL, 0.0)
        assert case is CPOCase.ZERO_COST_GRADIENT and nu == 0.0
        x = cpo_direction(case, lam, nu, v, np.zeros_like(v))
        np.testing.assert_allclose(x, _reference(g, b, -1.0, hessian), rtol=2e-4, atol=1e-8)


def _step_constraint(scale, seed):
    policy, obs, actions, adv_r, adv_c, g, b, hessian = linearized_problem(seed, DAMPING)
    s = b @ np.linalg.solve(hessian, b)
    return policy, obs, actions, adv_r, adv_c, b, hessian, scale * math.sqrt(2 * MAX_KL * s)


@pytest.mark.parametrize(("case", "scale"), [c for c in CASES if c[1] != 0.0])
def test_cpo_step_reaches_each_case_and_keeps_its_bounds(case, scale):
    policy, obs, actions, adv_r, adv_c, b, hessian, c = _step_constraint(scale, seed=4)
    old = policy.get_params()
    info = cpo_step(policy, obs, actions, adv_r, adv_c, c, max_kl=MAX_KL, cg_damping=DAMPING,
                    cg_max_steps=60, line_search_max_iter=30)
    assert info.case is case
    assert info.accepted, info.reason
    step = policy.get_params() - old
    # the accepted step keeps the true KL bound ...
    assert info.kl <= MAX_KL
    assert policy.mean_kl(obs, old) == pytest.approx(info.kl, rel=1e-9)
    # ... and the linearised cost constraint up to the line search's allowance; the
    # measured cost surrogate change agrees with b.x to second order in the step
    assert info.cost_surrogate_change <= max(-c, 0.0) + 1e-12
    second_order = 0.5 * step @ hessian @ step
    assert abs(info.cost_surrogate_change - b @ step) <= 10 * second_order * np.abs(adv_c).max()
    if case is CPOCase.INFEASIBLE_RECOVERY:
        assert b @ step < 0  # cost descent
    else:
        assert info.surrogate_after > info.surrogate_before or case is CPOCase.INFEASIBLE_CUT


def test_feasible_trust_region_equals_a_damped_trpo_step():
    # With the whole trust region feasible CPO takes TRPO's direction with the damped step
    # length sqrt(2 delta / g.H^-1 g); TRPO's own step scales by the undamped x^T F x, so
    # the two directions agree and the lengths differ by that factor.
    policy, obs, actions, adv_r, adv_c, b, hessian, c = _step_constraint(-5.0, seed=5)
    twin = fasttrpo.GaussianMLPPolicy(3, 2, (4,), dtype=np.float64, seed=5)
    old = policy.get_params()
    info = cpo_step(policy, obs, actions, adv_r, adv_c, c, max_kl=MAX_KL, cg_damping=DAMPING,
                    cg_max_steps=60)
    trpo = trpo_step(twin, obs, actions, adv_r, max_kl=MAX_KL, cg_damping=DAMPING,
                     cg_max_steps=60)
    assert info.case is CPOCase.FEASIBLE_TRUST_REGION and info.accepted and trpo.accepted
    cpo_dir, trpo_dir = policy.get_params() - old, twin.get_params() - old
    cosine = cpo_dir @ trpo_dir / np.linalg.norm(cpo_dir) / np.linalg.norm(trpo_dir)
    assert cosine == pytest.approx(1.0, abs=1e-9)


def test_non_finite_inputs_reject_the_step_without_touching_the_policy():
    policy, obs, actions, adv_r, adv_c, *_ = linearized_problem(6, DAMPING)
    old = policy.get_params()
    info = cpo_step(policy, obs, actions, adv_r, adv_c, math.nan, max_kl=MAX_KL)
    assert not info.accepted and info.outcome is StepOutcome.BAD_CURVATURE
    assert "not finite" in info.reason
    np.testing.assert_array_equal(policy.get_params(), old)
    with pytest.raises(ValueError, match="cost_advantages"):
        cpo_step(policy, obs, actions, adv_r, np.full(64, np.inf), 0.0)
