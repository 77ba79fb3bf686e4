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

With ``v = H^-1 g`` and ``w = H^-1 b`` from one linearisation (`fasttrpo.steps.cpo.
linearize_constrained`), step 1 is ``sqrt(2 delta / q) v`` with ``q = g.v``, and step 2 uses
``s = b.w`` (KL) or ``b.b`` (L2). The paper applies ``theta + x`` as it is; here a
backtracking line search then shrinks the step until it is finite and its measured mean KL
is within ``max_kl`` (the full step when it already is), the guard every trust-region step
of fasttrpo has. A cost gradient of (almost) zero projects nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fasttrpo.foundation import step_defaults as defaults
from fasttrpo.models.policies import MLPPolicy
from fasttrpo.steps.cpo import COST_GRADIENT_TOL, ConstrainedStepInfo, linearize_constrained
from fasttrpo.steps.trpo import StepOutcome, backtracking_line_search, check_line_search

__all__ = ["PROJECTIONS", "PCPOStepInfo", "pcpo_direction", "pcpo_step"]

#: the norms PCPO can project in
PROJECTIONS = ("kl", "l2")


def pcpo_direction(v: np.ndarray, w: np.ndarray, reward_grad: np.ndarray,
                   cost_grad: np.ndarray, constraint: float, max_kl: float,
                   projection: str) -> tuple[np.ndarray, float]:
    """Return PCPO's full step ``x`` and its projection coefficient (module docstring).

    ``v = H^-1 g`` and ``w = H^-1 b`` (P,); ``reward_grad`` ``g`` and ``cost_grad`` ``b``
    (P,); the scalars are computed in float64.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    v64, b64 = v.astype(np.float64), cost_grad.astype(np.float64)
    q = float(reward_grad.astype(np.float64) @ v64)
    reward_step = math.sqrt(2.0 * max_kl / q) * v64
    direction = w.astype(np.float64) if projection == "kl" else b64
    norm = float(b64 @ direction)  # b^T L^-1 b
    if float(b64 @ b64) <= COST_GRADIENT_TOL or not norm > 0.0:
        return reward_step, 0.0
    coefficient = max(0.0, (float(b64 @ reward_step) + constraint) / norm)
    return reward_step - coefficient * direction, coefficient


@dataclass(kw_only=True)
class PCPOStepInfo(ConstrainedStepInfo):
    """What one PCPO step did: `ConstrainedStepInfo` and the projection.

    Attributes
    ----------
    projection : str, "kl" or "l2".
    projection_coefficient : float, ``max(0, (b.x_r + c) / b^T L^-1 b)``; 0: no projection.
    """

    projection: str
    projection_coefficient: float


def pcpo_step(
    policy: MLPPolicy,
    obs,
    actions,
    reward_advantages,
    cost_advantages,
    constraint: float,
    projection: str = "kl",
    old_log_prob=None,
    max_kl: float = defaults.MAX_KL,
    cg_max_steps: int = defaults.CG_MAX_STEPS,
    cg_damping: float = defaults.CG_DAMPING,
    line_search_shrinking_factor: float = defaults.LINE_SEARCH_SHRINKING_FACTOR,
    line_search_max_iter: int = defaults.LINE_SEARCH_MAX_ITER,
) -> PCPOStepInfo:
    """Update ``policy`` in place by one PCPO step (see the module docstring).

    Parameters are those of `fasttrpo.steps.cpo.cpo_step`, plus ``projection`` ("kl" or
    "l2"). Returns a `PCPOStepInfo`.
    """
    check_line_search(max_kl, line_search_shrinking_factor, line_search_max_iter)
    if projection not in PROJECTIONS:
        raise ValueError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    constraint = float(constraint)
    lin = linearize_constrained(policy, obs, actions, reward_advantages, cost_advantages,
                                old_log_prob, cg_damping, cg_max_steps)
    info = PCPOStepInfo(
        accepted=False, projection=projection, projection_coefficient=0.0,
        constraint=constraint, surrogate_before=lin.surrogate_before,
        surrogate_after=lin.surrogate_before, cost_surrogate_change=0.0, kl=0.0,
        cg_iterations=lin.cg_iterations, line_search_steps=0, step_fraction=0.0,
        outcome=StepOutcome.BAD_CURVATURE)
    if not (math.isfinite(lin.q) and lin.q > 0.0 and math.isfinite(lin.s)
            and math.isfinite(constraint)):
        info.reason = f"CG scalars q={lin.q}, s={lin.s}, c={constraint} are not finite with q > 0"
        return info
    full_step, info.projection_coefficient = pcpo_direction(
        lin.v, lin.w, lin.reward_grad, lin.cost_grad, constraint, max_kl, projection)
    if not np.isfinite(full_step).all():
        info.reason = "the projected step is not finite"
        return info
    result = backtracking_line_search(
        lin.linearization, full_step.astype(policy.dtype), lin.actions, lin.advantages,
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
    info.cost_surrogate_change = float(result.surrogates[1] - lin.cost_before)
    info.kl, info.step_fraction = result.kl, result.step_fraction
    return info
