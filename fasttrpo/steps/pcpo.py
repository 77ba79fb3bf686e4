"""One PCPO policy step: a natural-gradient reward step, then a projection onto the constraint.

Yang, Rosca, Narasimhan and Ramadge (2020), "Projection-Based Constrained Policy
Optimization", section 4. With ``g`` and ``b`` the gradients of the reward and cost
surrogates, ``c`` how far the policy's episode cost is above the limit (the units of CPO's,
`fasttrpo.config.CPOConfig`), ``H = F + damping I`` and ``delta = max_kl``:

1. Reward improvement, the TRPO step to the trust region's boundary:
   ``x_r = sqrt(2 delta / (g^T H^-1 g)) H^-1 g``.
2. Projection of ``theta + x_r`` onto the linearised constraint set
   ``{x : b.x + c <= 0}`` in the norm of ``L``:
   ``x = x_r - max(0, (b.x_r + c) / (b^T L^-1 b)) L^-1 b``,
   the closed form of ``min_x (x - x_r)^T L (x - x_r) / 2`` subject to ``b.x + c <= 0``.
   ``L = H`` (``projection="kl"``: the KL divergence's second-order form; ``L^-1 b = w``, the
   CG solve ``H^-1 b``) or ``L = I`` (``projection="l2"``: ``L^-1 b = b``).
   With ``k`` constraints ``B x + c <= 0`` the projection is onto their intersection:
   ``x = x_r - L^-1 B^T mu`` with ``mu >= 0`` maximising
   ``mu.(B x_r + c) - mu^T (B L^-1 B^T) mu / 2``, solved exactly over its active sets
   (`fasttrpo.steps.small_qp.nonnegative_qp`; one constraint gives the closed form above).

With ``v = H^-1 g`` and ``w = H^-1 b`` from one linearisation (`fasttrpo.steps.cpo.
linearize_constrained`), step 1 is ``sqrt(2 delta / q) v`` with ``q = g.v``, and step 2 uses
``s = b.w`` (KL) or ``b.b`` (L2). The paper applies ``theta + x`` as it is. Here a
step outside the trust region (``x^T H x / 2 > delta``, which the KL projection of a
feasible policy never is: it is non-expansive and keeps ``0``) is scaled back to its
boundary, so an infeasible policy moves towards the constraint set as far as the trust region
allows instead of by a step the line search cannot shrink enough; then a backtracking line
search shrinks the step until it is finite and its measured mean KL is within ``max_kl``
(the full step when it already is), the guard every trust-region step of fasttrpo has. A
cost gradient of (almost) zero projects nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fasttrpo.foundation import step_defaults as defaults
from fasttrpo.models.policies import MLPPolicy
from fasttrpo.models.recurrent import GRUPolicy
from fasttrpo.steps.cpo import (
    COST_GRADIENT_TOL,
    ConstrainedStepInfo,
    constraint_values,
    linearize_constrained,
)
from fasttrpo.steps.small_qp import nonnegative_qp
from fasttrpo.steps.trpo import StepOutcome, backtracking_line_search, check_line_search

__all__ = ["PROJECTIONS", "PCPOStepInfo", "pcpo_direction", "pcpo_step"]

#: the norms PCPO can project in
PROJECTIONS = ("kl", "l2")


def pcpo_direction(v: np.ndarray, w: np.ndarray, reward_grad: np.ndarray,
                   cost_grad: np.ndarray, constraint, max_kl: float,
                   projection: str) -> tuple[np.ndarray, np.ndarray]:
    """Return PCPO's full step ``x`` and its projection coefficients (module docstring).

    ``v = H^-1 g`` (P,) and ``reward_grad`` ``g`` (P,); ``w = H^-1 B^T`` and ``cost_grad``
    ``B``: (P,) for one constraint or (k, P); ``constraint`` ``c``: a float or (k,). The
    scalars are computed in float64. Returns ``(x (P,) float64, mu (k,) float64)``.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    v64 = v.astype(np.float64)
    b64 = np.atleast_2d(cost_grad).astype(np.float64)
    c = np.atleast_1d(np.asarray(constraint, dtype=np.float64))
    q = float(reward_grad.astype(np.float64) @ v64)
    reward_step = math.sqrt(2.0 * max_kl / q) * v64
    directions = np.atleast_2d(w).astype(np.float64) if projection == "kl" else b64
    mu = np.zeros(c.shape[0])
    # constraints whose gradient vanishes project nothing (b^T L^-1 b = 0)
    kept = [i for i in range(c.shape[0])
            if float(b64[i] @ b64[i]) > COST_GRADIENT_TOL and float(b64[i] @ directions[i]) > 0]
    if not kept:
        return reward_step, mu
    # min (x - x_r)^T L (x - x_r) / 2 s.t. B x + c <= 0: x = x_r - L^-1 B^T mu, mu >= 0
    # maximising mu.(B x_r + c) - mu^T (B L^-1 B^T) mu / 2 (one constraint: the closed form)
    s_matrix = np.array([[float(b64[i] @ directions[j]) for j in kept] for i in kept])
    s_matrix = 0.5 * (s_matrix + s_matrix.T)
    violation = np.array([float(b64[i] @ reward_step) + c[i] for i in kept])
    solved = nonnegative_qp(s_matrix, violation)
    if solved is None:
        raise ValueError("the linearised cost constraints contradict each other: no step "
                         f"satisfies them all (c={c})")
    mu[kept] = solved
    step = reward_step.copy()
    for i in kept:
        step -= mu[i] * directions[i]
    return step, mu


@dataclass(kw_only=True)
class PCPOStepInfo(ConstrainedStepInfo):
    """What one PCPO step did: `ConstrainedStepInfo` and the projection.

    Attributes
    ----------
    projection : str, "kl" or "l2".
    projection_coefficient : (k,) float64
        ``mu``; for one constraint ``max(0, (b.x_r + c) / b^T L^-1 b)``; 0: no projection.
    trust_region_scale : float
        The factor that brought a step outside the trust region (``x^T H x / 2 > delta``)
        back to its boundary; 1 when it was inside.
    """

    projection: str
    projection_coefficient: np.ndarray
    trust_region_scale: float = 1.0


def pcpo_step(
    policy: MLPPolicy | GRUPolicy,
    obs,
    actions,
    reward_advantages,
    cost_advantages,
    constraint: float | np.ndarray,
    projection: str = "kl",
    old_log_prob=None,
    max_kl: float = defaults.MAX_KL,
    cg_max_steps: int = defaults.CG_MAX_STEPS,
    cg_damping: float = defaults.CG_DAMPING,
    line_search_shrinking_factor: float = defaults.LINE_SEARCH_SHRINKING_FACTOR,
    line_search_max_iter: int = defaults.LINE_SEARCH_MAX_ITER,
    masks=None,
    sequences=None,
) -> PCPOStepInfo:
    """Update ``policy`` in place by one PCPO step (see the module docstring).

    Parameters are those of `fasttrpo.steps.cpo.cpo_step` (``masks`` and ``sequences``
    included), plus ``projection`` ("kl" or "l2"). Returns a `PCPOStepInfo`.
    """
    check_line_search(max_kl, line_search_shrinking_factor, line_search_max_iter)
    if projection not in PROJECTIONS:
        raise ValueError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    lin = linearize_constrained(policy, obs, actions, reward_advantages, cost_advantages,
                                old_log_prob, cg_damping, cg_max_steps, masks, sequences)
    constraints = constraint_values(constraint, lin.w.shape[0])
    info = PCPOStepInfo(
        accepted=False, projection=projection,
        projection_coefficient=np.zeros_like(constraints), constraint=constraints,
        surrogate_before=lin.surrogate_before, surrogate_after=lin.surrogate_before,
        cost_surrogate_change=np.zeros_like(constraints), kl=0.0,
        cg_iterations=lin.cg_iterations, line_search_steps=0, step_fraction=0.0,
        outcome=StepOutcome.BAD_CURVATURE)
    if not (math.isfinite(lin.q) and lin.q > 0.0 and np.isfinite(lin.s).all()
            and np.isfinite(constraints).all()):
        info.reason = f"CG scalars q={lin.q}, s={lin.s}, c={constraints} are not finite with q > 0"
        return info
    try:
        full_step, info.projection_coefficient = pcpo_direction(
            lin.v, lin.w, lin.reward_grad, lin.cost_grad, constraints, max_kl, projection)
    except ValueError as err:  # contradictory constraints: no projection exists
        info.reason = str(err)
        return info
    if not np.isfinite(full_step).all():
        info.reason = "the projected step is not finite"
        return info
    # an infeasible policy's projection may leave the trust region: back to its boundary
    full_step = full_step.astype(policy.dtype)
    model_kl = 0.5 * float(full_step.astype(np.float64) @ (
        lin.linearization.fvp(full_step) + cg_damping * full_step).astype(np.float64))
    if model_kl > max_kl:
        info.trust_region_scale = math.sqrt(max_kl / model_kl)
        full_step = (full_step * info.trust_region_scale).astype(policy.dtype)
    result = backtracking_line_search(
        lin.linearization, full_step, lin.actions, lin.advantages,
        lin.old_log_prob, lambda surrogates, kl: kl <= max_kl,
        line_search_shrinking_factor, line_search_max_iter)
    info.line_search_steps = result.attempts
    if result.params is None:
        info.outcome = StepOutcome.LINE_SEARCH_FAILED
        info.reason = "line search found no finite step within the KL bound"
        return info
    policy.set_params(result.params)
    info.accepted, info.outcome = True, StepOutcome.ACCEPTED
    info.surrogate_after = float(result.surrogates[0])
    info.cost_surrogate_change = np.asarray(result.surrogates[1:] - lin.cost_before,
                                            dtype=np.float64)
    info.kl, info.step_fraction = result.kl, result.step_fraction
    return info
