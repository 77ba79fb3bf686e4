"""One CPO policy step: a trust-region step that also keeps a linearised cost constraint.

Achiam, Held, Tamar and Abbeel (2017), "Constrained Policy Optimization", section 6 and
appendix 10.2. Around the current parameters, with ``x`` the parameter step, solve

    max_x  g.x    subject to    b.x + c <= 0,    0.5 x^T H x <= delta

where ``g`` is the gradient of the reward surrogate ``mean(ratio * A_r)``, ``b`` the gradient
of the cost surrogate ``mean(ratio * A_c)``, ``c`` how far the current policy's episode cost
is above the limit (in the units of the cost surrogate, see `fasttrpo.config.CPOConfig`),
``H = F + damping I`` (the matrix CG inverts) and ``delta = max_kl``. With ``v = H^-1 g`` and
``w = H^-1 b`` (two CG solves on one linearisation), ``q = g.v``, ``r = g.w``, ``s = b.w``,
``A = q - r^2 / s`` and ``B = 2 delta - c^2 / s``, `solve_cpo_dual` picks one of five cases
(`CPOCase`, numbered as in Achiam's code) and returns the dual solution ``(lambda*, nu*)``:

- ``ZERO_COST_GRADIENT`` (b ~ 0): the constraint does not move to first order; TRPO step.
- ``FEASIBLE_TRUST_REGION`` (c < 0, B < 0): the whole trust region is feasible; TRPO step
  ``lambda = sqrt(q / (2 delta))``, ``nu = 0``.
- ``FEASIBLE_CUT`` (c < 0, B >= 0) and ``INFEASIBLE_CUT`` (c >= 0, B >= 0): the constraint
  boundary crosses the trust region; the dual
  ``max_{lambda, nu >= 0} -(q - 2 nu r + nu^2 s) / (2 lambda) + nu c - lambda delta``
  is solved in closed form: ``nu = max(0, (lambda c + r) / s)`` and ``lambda`` maximises
  ``f_a = -(A / lambda + B lambda) / 2 + r c / s`` on ``{lambda c + r > 0}`` (optimum
  ``sqrt(A / B)``) or ``f_b = -(q / lambda + 2 delta lambda) / 2`` on ``{lambda c + r <= 0}``
  (optimum ``sqrt(q / (2 delta))``), each projected on its interval.
- ``INFEASIBLE_RECOVERY`` (c > 0, B < 0): no point of the trust region is feasible; the pure
  cost-descent step ``x = -sqrt(2 delta / s) w``.

Otherwise ``x = (v - nu w) / lambda``. (The paper writes ``nu = (lambda c - r) / s``: its
``g`` is the gradient of the loss, ``-g`` here.) A backtracking line search then accepts the
first candidate with mean KL <= max_kl, a cost surrogate that rises by at most
``max(-c, 0)``, and, unless the current policy is infeasible (cases 0 and 1), a reward
surrogate that improves. Any non-finite quantity rejects the step.

**Several constraints** ``B x + c <= 0`` (``B`` (k, P), one CG solve per cost, ``W = H^-1
B^T``, ``r = B v``, ``S = B W``): `solve_cpo_constraints` drops the constraints whose
gradient vanishes, then tests feasibility exactly (`fasttrpo.steps.small_qp.nonnegative_qp`:
the smallest trust region holding a feasible point). Infeasible: the recovery step
``-sqrt(2 delta / mu^T S mu) W^T mu`` to the trust region's boundary along the least-norm
feasible step ``-W^T mu`` (for one constraint Achiam's ``-sqrt(2 delta / s) w``). Feasible:
the dual solved exactly over its active sets (`fasttrpo.steps.small_qp.cpo_dual`), the step
``(v - W^T nu) / lambda``. The case is INFEASIBLE_CUT when any kept ``c_i >= 0``,
FEASIBLE_TRUST_REGION when every constraint holds on the whole trust region
(``c_i^2 / S_ii > 2 delta``, ``c_i < 0``), FEASIBLE_CUT otherwise. One constraint keeps the
closed form above; the line search checks each cost surrogate against its own allowance.
"""

import enum
import math
from dataclasses import dataclass

import numpy as np

from fasttrpo.foundation import step_defaults as defaults
from fasttrpo.foundation.validation import float_array
from fasttrpo.models.linearization import Linearization
from fasttrpo.models.policies import MLPPolicy
from fasttrpo.models.recurrent import GRUPolicy
from fasttrpo.steps.small_qp import MAX_CONSTRAINTS, cpo_dual, nonnegative_qp
from fasttrpo.steps.trpo import (
    StepOutcome,
    backtracking_line_search,
    check_line_search,
    linearize_batch,
)

__all__ = ["CPOCase", "CPOStepInfo", "ConstrainedLinearization", "ConstrainedStepInfo",
           "cpo_direction", "cpo_step", "linearize_constrained", "solve_cpo_constraints",
           "solve_cpo_dual"]

#: ``b.b`` at or below which the cost gradient counts as zero (Achiam's code: 1e-8)
COST_GRADIENT_TOL = 1e-8


class CPOCase(enum.IntEnum):
    """The case of the CPO step; the values are Achiam's ``optim_case`` numbers."""

    INFEASIBLE_RECOVERY = 0
    INFEASIBLE_CUT = 1
    FEASIBLE_CUT = 2
    FEASIBLE_TRUST_REGION = 3
    ZERO_COST_GRADIENT = 4


#: cases in which the current policy violates the constraint: the line search then asks
#: for a feasible cost, not for a better reward
RECOVERY_CASES = frozenset({CPOCase.INFEASIBLE_RECOVERY, CPOCase.INFEASIBLE_CUT})


def solve_cpo_dual(q: float, r: float, s: float, c: float, max_kl: float,
                   cost_grad_sq: float) -> tuple[CPOCase, float, float]:
    """Case and dual solution ``(case, lambda*, nu*)`` of the CPO step's quadratic program.

    Parameters
    ----------
    q, r, s : float
        ``g.H^-1 g``, ``g.H^-1 b``, ``b.H^-1 b``.
    c : float
        Constraint value at the current parameters (> 0: violated).
    max_kl : float
        Trust-region radius ``delta`` of ``0.5 x^T H x <= delta``.
    cost_grad_sq : float
        ``b.b``, to detect a vanishing cost gradient.

    Returns
    -------
    (CPOCase, float, float)
        ``lambda*`` is 0 in the recovery case, where ``nu*`` is the step length
        ``sqrt(2 delta / s)`` along ``-H^-1 b`` instead.
    """
    delta = max_kl
    if cost_grad_sq <= COST_GRADIENT_TOL or not s > 0.0:
        return CPOCase.ZERO_COST_GRADIENT, math.sqrt(q / (2.0 * delta)), 0.0
    margin = 2.0 * delta - c * c / s  # B: > 0 iff the constraint boundary cuts the region
    if margin < 0.0:
        if c < 0.0:
            return CPOCase.FEASIBLE_TRUST_REGION, math.sqrt(q / (2.0 * delta)), 0.0
        return CPOCase.INFEASIBLE_RECOVERY, 0.0, math.sqrt(2.0 * delta / s)
    case = CPOCase.FEASIBLE_CUT if c < 0.0 else CPOCase.INFEASIBLE_CUT
    a_coef = max(q - r * r / s, 0.0)  # A >= 0 by Cauchy-Schwarz; rounding may dip below
    # the intervals {lambda >= 0: lambda c + r > 0} (a) and {lambda c + r <= 0} (b)
    if c == 0.0:
        interval_a = (0.0, math.inf) if r > 0.0 else None
        interval_b = None if r > 0.0 else (0.0, math.inf)
    elif c < 0.0:
        edge = -r / c
        interval_a = (0.0, edge) if edge > 0.0 else None
        interval_b = (max(edge, 0.0), math.inf)
    else:
        edge = -r / c
        interval_a = (max(edge, 0.0), math.inf)
        interval_b = (0.0, edge) if edge >= 0.0 else None

    def project(value: float, interval: tuple[float, float]) -> float:
        return min(max(value, interval[0]), interval[1])

    tiny = 1e-12  # keeps 1 / lambda finite at a projected end point 0
    candidates = []
    if interval_a is not None:
        lam = max(project(math.sqrt(a_coef / max(margin, tiny)), interval_a), tiny)
        candidates.append((-0.5 * (a_coef / lam + margin * lam) + r * c / s, lam))
    if interval_b is not None:
        lam = max(project(math.sqrt(q / (2.0 * delta)), interval_b), tiny)
        candidates.append((-0.5 * (q / lam + 2.0 * delta * lam), lam))
    _, lam = max(candidates)
    nu = max(0.0, (lam * c + r) / s)
    return case, lam, nu


def solve_cpo_constraints(q: float, r: np.ndarray, s_matrix: np.ndarray, c: np.ndarray,
                          max_kl: float, cost_grad_sq: np.ndarray
                          ) -> tuple[CPOCase, float, np.ndarray] | None:
    """Case and dual solution ``(case, lambda*, nu* (k,))`` for ``k`` constraints.

    Parameters
    ----------
    q : float, ``g.H^-1 g``.
    r : (k,), ``B H^-1 g``.
    s_matrix : (k, k), ``B H^-1 B^T``.
    c : (k,), the constraint values (> 0: violated).
    max_kl : float, ``delta``.
    cost_grad_sq : (k,), ``b_i.b_i``: a constraint whose gradient vanishes is dropped
        (its ``nu_i`` is 0).

    Returns
    -------
    (CPOCase, float, (k,) float64) or None
        As `solve_cpo_dual` (``lambda* = 0`` and ``-W^T nu*`` the step in the recovery
        case); one constraint is `solve_cpo_dual`'s closed form. None when the linearised
        constraints contradict each other (no step satisfies them all, at any length).
    """
    k = c.shape[0]
    nu = np.zeros(k)
    kept = np.flatnonzero((cost_grad_sq > COST_GRADIENT_TOL) & (np.diag(s_matrix) > 0.0))
    if kept.size == 0:
        return CPOCase.ZERO_COST_GRADIENT, math.sqrt(q / (2.0 * max_kl)), nu
    if k == 1:
        case, lam, nu[0] = solve_cpo_dual(q, float(r[0]), float(s_matrix[0, 0]), float(c[0]),
                                          max_kl, float(cost_grad_sq[0]))
        return case, lam, nu
    s_kept, r_kept, c_kept = s_matrix[np.ix_(kept, kept)], r[kept], c[kept]
    # the least-norm feasible step -W^T mu: x^T H x / 2 = mu^T S mu / 2 at the optimum
    mu = nonnegative_qp(s_kept, c_kept)
    if mu is None:
        return None
    least_kl = 0.5 * float(mu @ s_kept @ mu)
    if least_kl > max_kl:
        nu[kept] = math.sqrt(max_kl / least_kl) * mu  # to the trust region's boundary
        return CPOCase.INFEASIBLE_RECOVERY, 0.0, nu
    solution = cpo_dual(q, r_kept, s_kept, c_kept, max_kl)
    if solution is None:  # feasible, so only rounding at the boundary: take the recovery
        nu[kept] = mu
        return CPOCase.INFEASIBLE_RECOVERY, 0.0, nu
    lam, nu[kept] = solution
    if (c_kept >= 0.0).any():
        case = CPOCase.INFEASIBLE_CUT
    elif (c_kept * c_kept / np.diag(s_kept) > 2.0 * max_kl).all():
        case = CPOCase.FEASIBLE_TRUST_REGION
    else:
        case = CPOCase.FEASIBLE_CUT
    return case, lam, nu


def cpo_direction(case: CPOCase, lam: float, nu, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return the full CPO step of the dual solution: ``(v - W^T nu) / lambda`` or ``-W^T nu``.

    ``nu`` is a float with ``w`` (P,) (one constraint) or (k,) with ``w`` (k, P).
    """
    nu = np.atleast_1d(np.asarray(nu, dtype=np.float64))
    w = w.reshape(nu.size, -1)
    if nu.size == 1:  # one constraint: in the network's dtype, as the closed form
        combined = float(nu[0]) * w[0]
    else:
        combined = (nu @ w.astype(np.float64)).astype(w.dtype)
    if case is CPOCase.INFEASIBLE_RECOVERY:
        return -combined
    return (v - combined) / lam


@dataclass(kw_only=True)
class ConstrainedStepInfo:
    """What a constrained trust-region step did (CPO's and PCPO's common report).

    Attributes
    ----------
    accepted : bool, whether the line search accepted a candidate.
    constraint : (k,) float64, ``c``, one value per cost.
    surrogate_before, surrogate_after : float, the reward surrogate at old and new parameters.
    cost_surrogate_change : (k,) float64, ``L_c(new) - L_c(old)`` of the accepted step (0
        when none).
    kl : float, mean KL(old || new) (0 when rejected).
    cg_iterations : tuple of int, of the reward's then each cost's solve.
    line_search_steps : int
    step_fraction : float
    outcome : StepOutcome
    reason : str, why the step was rejected ("" when accepted).
    """

    accepted: bool
    constraint: np.ndarray
    surrogate_before: float
    surrogate_after: float
    cost_surrogate_change: np.ndarray
    kl: float
    cg_iterations: tuple[int, ...]
    line_search_steps: int
    step_fraction: float
    outcome: StepOutcome = StepOutcome.ACCEPTED
    reason: str = ""


@dataclass(kw_only=True)
class CPOStepInfo(ConstrainedStepInfo):
    """What one CPO step did: `ConstrainedStepInfo` and the dual solution.

    Attributes
    ----------
    case : CPOCase
    lagrange_lambda : float
    lagrange_nu : (k,) float64, the dual solution (the recovery step's coefficients in the
        recovery case).
    q : float; r : (k,); s : (k, k), the CG scalars.
    """

    case: CPOCase
    lagrange_lambda: float
    lagrange_nu: np.ndarray
    q: float
    r: np.ndarray
    s: np.ndarray


@dataclass
class ConstrainedLinearization:
    """One linearisation's gradients and CG solves, shared by the CPO and PCPO steps.

    Attributes
    ----------
    linearization : the policy's `Linearization` on the batch.
    actions, advantages, old_log_prob : the checked inputs (advantages (1 + k, N): reward,
        then each cost).
    surrogate_before : float; cost_before : (k,), the surrogates at the old parameters.
    reward_grad : (P,), ``g``; cost_grad : (k, P), ``B``.
    v : (P,), ``H^-1 g``; w : (k, P), ``W``: each ``H^-1 b_i`` by CG (``H = F + damping I``).
    q : float; r : (k,); s : (k, k), symmetrised; cost_grad_sq : (k,): ``g.v``, ``B v``,
        ``B W^T``, ``b_i.b_i`` in float64.
    cg_iterations : tuple of int (1 + k).
    """

    linearization: Linearization
    actions: np.ndarray
    advantages: np.ndarray
    old_log_prob: np.ndarray
    surrogate_before: float
    cost_before: np.ndarray
    reward_grad: np.ndarray
    cost_grad: np.ndarray
    v: np.ndarray
    w: np.ndarray
    q: float
    r: np.ndarray
    s: np.ndarray
    cost_grad_sq: np.ndarray
    cg_iterations: tuple[int, ...]


def constraint_values(constraint, n_costs: int) -> np.ndarray:
    """``constraint`` (a float, or one per cost) as a (k,) float64 array; ValueError if not."""
    values = np.atleast_1d(np.asarray(constraint, dtype=np.float64))
    if values.shape != (n_costs,):
        raise ValueError(f"constraint: expected one value per cost ({n_costs}), got shape "
                         f"{values.shape}")
    return values


def linearize_constrained(policy: MLPPolicy | GRUPolicy, obs, actions, reward_advantages,
                          cost_advantages, old_log_prob, cg_damping: float,
                          cg_max_steps: int, masks=None,
                          sequences=None) -> ConstrainedLinearization:
    """Linearise ``policy`` on the batch once: ``g``, ``B``, ``v = H^-1 g``, ``W = H^-1 B^T``.

    ``cost_advantages`` is (N,) (one cost) or (k, N), ``k <= MAX_CONSTRAINTS``; ``masks``:
    the action masks of the states ``obs`` or None (`MLPPolicy.linearize`); ``sequences``:
    a recurrent policy's ``(seq_starts, h0)`` (`fasttrpo.steps.trpo.linearize_batch`).
    """
    linearization = linearize_batch(policy, obs, masks, sequences)
    n_rows = linearization.obs.shape[0]
    actions = policy.as_actions(actions, n_rows)
    cost_rows = np.asarray(cost_advantages)
    if cost_rows.ndim == 1:
        cost_rows = cost_rows[None]
    n_costs = cost_rows.shape[0]
    if not 1 <= n_costs <= MAX_CONSTRAINTS:
        raise ValueError(f"cost_advantages: expected (N,) or (k, N) with 1 <= k <= "
                         f"{MAX_CONSTRAINTS}, got shape {np.shape(cost_advantages)}")
    advantages = np.stack([
        float_array("reward_advantages", reward_advantages, policy.dtype, (n_rows,)),
        *(float_array("cost_advantages", row, policy.dtype, (n_rows,)) for row in cost_rows)])
    if old_log_prob is None:
        old_log_prob = linearization.log_prob(actions)
    else:
        old_log_prob = float_array("old_log_prob", old_log_prob, policy.dtype, (n_rows,))
    # g, b_i: gradients of the reward and cost surrogates at theta_old, one linearisation
    surrogate_before, reward_grad = linearization.surrogate_grad(
        actions, advantages[0], old_log_prob)
    cost_pairs = [linearization.surrogate_grad(actions, row, old_log_prob)
                  for row in advantages[1:]]
    cost_before = np.array([value for value, _ in cost_pairs])
    cost_grad = np.stack([grad for _, grad in cost_pairs])
    # v = H^-1 g, w_i = H^-1 b_i with H = F + damping I, all on the cached forward pass
    v, _, cg_reward = linearization.conjugate_gradient(reward_grad, cg_damping, cg_max_steps)
    solves = [linearization.conjugate_gradient(grad, cg_damping, cg_max_steps)
              for grad in cost_grad]
    w = np.stack([solve[0] for solve in solves])
    # the scalars in float64 even for float32 networks: s and q - r^2/s cancel
    g64, b64 = reward_grad.astype(np.float64), cost_grad.astype(np.float64)
    w64 = w.astype(np.float64)
    # vector by vector dot products (k <= 8), the same reductions whatever k is
    r = np.array([g64 @ w_i for w_i in w64])
    s_matrix = np.array([[b_i @ w_j for w_j in w64] for b_i in b64])
    s_matrix = 0.5 * (s_matrix + s_matrix.T)  # CG solves are inexact; S is symmetric
    return ConstrainedLinearization(
        linearization, actions, advantages, old_log_prob, surrogate_before, cost_before,
        reward_grad, cost_grad, v, w, float(g64 @ v.astype(np.float64)), r, s_matrix,
        np.array([b_i @ b_i for b_i in b64]), (cg_reward, *(solve[2] for solve in solves)))


def cpo_step(
    policy: MLPPolicy | GRUPolicy,
    obs,
    actions,
    reward_advantages,
    cost_advantages,
    constraint,
    old_log_prob=None,
    max_kl: float = defaults.MAX_KL,
    cg_max_steps: int = defaults.CG_MAX_STEPS,
    cg_damping: float = defaults.CG_DAMPING,
    line_search_shrinking_factor: float = defaults.LINE_SEARCH_SHRINKING_FACTOR,
    line_search_max_iter: int = defaults.LINE_SEARCH_MAX_ITER,
    masks=None,
    sequences=None,
) -> CPOStepInfo:
    """Update ``policy`` in place by one CPO step (see the module docstring).

    Parameters
    ----------
    policy : MLPPolicy, the current policy; its parameters change only if a step is accepted.
    obs : (N, obs_dim); actions : the policy's action format.
    reward_advantages : (N,), the reward's (standardised) advantages.
    cost_advantages : (N,) or (k, N), each cost's (centred) advantages.
    constraint : float or (k,), ``c`` per cost (> 0 when the current policy violates it).
    old_log_prob : (N,) or None (computed from the current parameters).
    max_kl, cg_max_steps, cg_damping, line_search_shrinking_factor, line_search_max_iter :
        as `fasttrpo.steps.trpo.trpo_step`.
    masks : (N, sum(nvec)) bool or None, the action masks of the states ``obs``.
    sequences : (seq_starts, h0) or None, a recurrent policy's packed batch
        (`fasttrpo.steps.trpo.trpo_step`).

    Returns
    -------
    CPOStepInfo
    """
    check_line_search(max_kl, line_search_shrinking_factor, line_search_max_iter)
    lin = linearize_constrained(policy, obs, actions, reward_advantages, cost_advantages,
                                old_log_prob, cg_damping, cg_max_steps, masks, sequences)
    constraint = constraint_values(constraint, lin.w.shape[0])
    q, r, s = lin.q, lin.r, lin.s
    info = CPOStepInfo(
        accepted=False, case=CPOCase.ZERO_COST_GRADIENT, lagrange_lambda=0.0,
        lagrange_nu=np.zeros_like(constraint), constraint=constraint, q=q, r=r, s=s,
        surrogate_before=lin.surrogate_before, surrogate_after=lin.surrogate_before,
        cost_surrogate_change=np.zeros_like(constraint), kl=0.0,
        cg_iterations=lin.cg_iterations, line_search_steps=0, step_fraction=0.0,
        outcome=StepOutcome.BAD_CURVATURE)
    finite = (math.isfinite(q) and np.isfinite(r).all() and np.isfinite(s).all()
              and np.isfinite(constraint).all() and np.isfinite(lin.cost_grad_sq).all())
    if not finite or not q > 0.0:
        info.reason = (f"CG scalars q={q}, r={r}, s={s}, c={constraint} are not finite "
                       "with q > 0")
        return info
    solution = solve_cpo_constraints(q, r, s, constraint, max_kl, lin.cost_grad_sq)
    if solution is None:
        info.reason = ("the linearised cost constraints contradict each other (no step "
                       f"satisfies them all: c={constraint}, S={s})")
        return info
    case, lam, nu = solution
    info.case, info.lagrange_lambda, info.lagrange_nu = case, lam, nu
    full_step = cpo_direction(case, lam, nu, lin.v, lin.w)
    if not np.isfinite(full_step).all():
        info.reason = f"the {case.name} step is not finite (lambda={lam}, nu={nu})"
        return info
    cost_allowance = np.maximum(-constraint, 0.0)
    need_reward_gain = case not in RECOVERY_CASES

    def accept(surrogates: np.ndarray, kl: float) -> bool:
        return (kl <= max_kl and (surrogates[1:] - lin.cost_before <= cost_allowance).all()
                and (not need_reward_gain or surrogates[0] > lin.surrogate_before))

    result = backtracking_line_search(
        lin.linearization, full_step.astype(policy.dtype, copy=False), lin.actions,
        lin.advantages, lin.old_log_prob, accept, line_search_shrinking_factor,
        line_search_max_iter)
    info.line_search_steps = result.attempts
    if result.params is None:
        info.outcome = StepOutcome.LINE_SEARCH_FAILED
        info.reason = ("line search found no step within the KL bound that keeps the cost "
                       "constraint" + (" and improves the reward" if need_reward_gain else ""))
        return info
    policy.set_params(result.params)
    info.accepted = True
    info.outcome = StepOutcome.ACCEPTED
    info.surrogate_after = float(result.surrogates[0])
    info.cost_surrogate_change = np.asarray(result.surrogates[1:] - lin.cost_before,
                                            dtype=np.float64)
    info.kl = result.kl
    info.step_fraction = result.step_fraction
    return info
