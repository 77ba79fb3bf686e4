"""One TRPO policy step: natural gradient by CG, then a backtracking line search.

Schulman et al. (2015), "Trust Region Policy Optimization", Appendix C: maximise
``L(theta) = mean(pi_theta(a|s) / pi_old(a|s) * A)`` subject to
``mean KL(pi_old || pi_theta) <= max_kl``.
"""

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fasttrpo.foundation import step_defaults as defaults
from fasttrpo.foundation.validation import float_array
from fasttrpo.models.linearization import Linearization
from fasttrpo.models.policies import MLPPolicy
from fasttrpo.models.recurrent import GRUPolicy


class StepOutcome(enum.Enum):
    """How a policy step ended; the ``reason`` text of `TRPOStepInfo` is for people only."""

    ACCEPTED = "accepted"
    #: ``x^T F x`` of the CG solution was not positive and finite: no step can be scaled
    BAD_CURVATURE = "bad_curvature"
    #: no line-search candidate kept the KL bound and improved the surrogate
    LINE_SEARCH_FAILED = "line_search_failed"


@dataclass
class TRPOStepInfo:
    """What one policy step did.

    Attributes
    ----------
    accepted : bool, whether the line search found an acceptable step (else the parameters
        are unchanged).
    surrogate_before, surrogate_after : float, ``L`` at the old and the new parameters.
    kl : float, mean KL(old || new) of the accepted step (0 when rejected).
    x_fisher_x : float, ``x^T F x`` of the CG solution.
    cg_iterations : int
    line_search_steps : int, candidates evaluated.
    step_fraction : float, the accepted fraction of the full step (0 when rejected).
    outcome : StepOutcome, how the step ended (branch on this, not on ``reason``).
    reason : str, why a step was rejected, for people ("" when accepted).
    """

    accepted: bool
    surrogate_before: float
    surrogate_after: float
    kl: float
    x_fisher_x: float
    cg_iterations: int
    line_search_steps: int
    step_fraction: float
    outcome: StepOutcome = StepOutcome.ACCEPTED
    reason: str = ""


def check_line_search(max_kl: float, shrinking_factor: float, max_iter: int) -> None:
    """Raise a ValueError naming the first invalid trust-region or line-search setting."""
    if not (max_kl > 0 and math.isfinite(max_kl)):
        raise ValueError(f"max_kl: must be a positive finite number, got {max_kl}")
    if not 0.0 < shrinking_factor < 1.0:
        raise ValueError(
            f"line_search_shrinking_factor: must lie in (0, 1), got {shrinking_factor}")
    if int(max_iter) < 1:
        raise ValueError(f"line_search_max_iter: must be >= 1, got {max_iter}")


@dataclass
class LineSearchResult:
    """The candidate a backtracking line search accepted (``params`` None if none was).

    Attributes
    ----------
    params : (num_params,) accepted parameters, or None.
    surrogates : (K,) float64, the surrogates of the accepted candidate (else of the last).
    kl : float, its mean KL from the linearisation point.
    step_fraction : float, the accepted fraction of the full step (0 when none).
    attempts : int, candidates evaluated.
    """

    params: np.ndarray | None
    surrogates: np.ndarray
    kl: float
    step_fraction: float
    attempts: int


def backtracking_line_search(
    linearization: Linearization,
    full_step: np.ndarray,
    actions: np.ndarray,
    advantages: np.ndarray,
    old_log_prob: np.ndarray,
    accept: Callable[[np.ndarray, float], bool],
    shrinking_factor: float,
    max_iter: int,
) -> LineSearchResult:
    """Try ``theta_old + f * full_step`` for f = 1, shrinking_factor, ... until one is accepted.

    ``advantages`` (K, N) are the signals whose surrogates each candidate is evaluated on;
    ``accept(surrogates (K,), kl)`` decides, and is only asked about candidates whose
    parameters, surrogates and KL are all finite (anything else is rejected).
    """
    old_params = linearization.params
    candidate = np.empty_like(old_params)
    fraction = 1.0
    surrogates, kl = np.full(len(advantages), np.nan), math.nan
    evaluate = linearization.candidate_evaluator(actions, advantages, old_log_prob)  # checks once
    for attempt in range(1, int(max_iter) + 1):
        np.add(old_params, fraction * full_step, out=candidate, casting="same_kind")
        surrogates, kl = evaluate(candidate)
        if (np.isfinite(surrogates).all() and math.isfinite(kl)
                and np.isfinite(candidate).all() and accept(surrogates, kl)):
            return LineSearchResult(candidate, surrogates, kl, fraction, attempt)
        fraction *= shrinking_factor
    return LineSearchResult(None, surrogates, kl, 0.0, int(max_iter))


def linearize_batch(policy, obs, masks=None, sequences=None):
    """Linearise ``policy`` on a batch: rows ``obs`` (with action ``masks``), or sequences.

    ``sequences``: ``(seq_starts, h0)`` of a recurrent policy's packed batch
    (`fasttrpo.models.recurrent.GRUPolicy.linearize`), None for a feed-forward policy. Either
    linearisation serves the steps unchanged (``obs``, ``log_prob``, ``surrogate_grad``,
    ``conjugate_gradient``, ``fvp``, ``candidate_evaluator``).
    """
    if sequences is None:
        return policy.linearize(obs, masks)
    if masks is not None:
        raise ValueError("masks: action masking is not supported with a recurrent policy "
                         "(MlpGruPolicy); use MlpPolicy for masked actions")
    return policy.linearize(obs, *sequences)


def trpo_step(
    policy: MLPPolicy | GRUPolicy,
    obs,
    actions,
    advantages,
    old_log_prob=None,
    max_kl: float = defaults.MAX_KL,
    cg_max_steps: int = defaults.CG_MAX_STEPS,
    cg_damping: float = defaults.CG_DAMPING,
    line_search_shrinking_factor: float = defaults.LINE_SEARCH_SHRINKING_FACTOR,
    line_search_max_iter: int = defaults.LINE_SEARCH_MAX_ITER,
    damped_step_length: bool = defaults.DAMPED_STEP_LENGTH,
    masks=None,
    sequences=None,
) -> TRPOStepInfo:
    """Update ``policy`` in place by one TRPO step on a batch.

    Parameters
    ----------
    policy : MLPPolicy, the current policy ``pi_old``; its parameters are replaced by the
        accepted step's, or left as they are.
    obs : (N, obs_dim); actions : the policy's action format; advantages : (N,).
    old_log_prob : (N,) or None, ``log pi_old(a|s)`` from the rollout; None computes it from
        the current parameters.
    max_kl : float, the trust-region radius (sb3-contrib's ``target_kl``).
    cg_max_steps, cg_damping : conjugate-gradient iterations and Tikhonov damping.
    line_search_shrinking_factor, line_search_max_iter : backtracking schedule.
    damped_step_length : bool, default False
        Scale the direction ``x`` by ``sqrt(2 max_kl / x^T (F + damping I) x)`` (sb3-contrib,
        modular_rl, baselines, Spinning Up) instead of ``sqrt(2 max_kl / x^T F x)``.
    masks : (N, sum(nvec)) bool or None
        Action masks of the states ``obs`` (categorical head): the surrogate, the Fisher and
        the line search's KL are the masked policy's (`MLPPolicy.linearize`).
    sequences : (seq_starts (S+1,), h0 (S, H)) or None
        A recurrent policy's batch: ``obs`` packed as sequences
        (`fasttrpo.models.recurrent.GRUPolicy.linearize`); every row-wise input follows
        the packed order. The step is the same on either linearisation.

    Returns
    -------
    TRPOStepInfo
    """
    check_line_search(max_kl, line_search_shrinking_factor, line_search_max_iter)
    linearization = linearize_batch(policy, obs, masks, sequences)
    n_rows = linearization.obs.shape[0]
    actions = policy.as_actions(actions, n_rows)
    advantages = float_array("advantages", advantages, policy.dtype, (n_rows,))
    if old_log_prob is None:
        old_log_prob = linearization.log_prob(actions)
    else:
        old_log_prob = float_array("old_log_prob", old_log_prob, policy.dtype, (n_rows,))

    # g = dL/dtheta at theta_old
    surrogate_before, grad = linearization.surrogate_grad(actions, advantages, old_log_prob)
    # x = (F + damping I)^-1 g
    direction, x_fisher_x, cg_iterations = linearization.conjugate_gradient(
        grad, cg_damping, cg_max_steps
    )
    info = TRPOStepInfo(
        accepted=False, outcome=StepOutcome.LINE_SEARCH_FAILED,
        surrogate_before=surrogate_before, surrogate_after=surrogate_before,
        kl=0.0, x_fisher_x=x_fisher_x, cg_iterations=cg_iterations, line_search_steps=0,
        step_fraction=0.0,
    )
    if not (x_fisher_x > 0.0 and math.isfinite(x_fisher_x)):
        info.outcome = StepOutcome.BAD_CURVATURE
        info.reason = f"x^T F x = {x_fisher_x} is not positive and finite"
        return info
    # s = sqrt(2 max_kl / x^T F x) x puts 0.5 s^T F s = max_kl, the quadratic model of the KL;
    # damped: x^T (F + damping I) x as sb3-contrib / modular_rl / baselines (shorter steps
    # when x has low-curvature components)
    curvature = x_fisher_x
    if damped_step_length:
        direction64 = direction.astype(np.float64)
        curvature += cg_damping * float(direction64 @ direction64)
    full_step = math.sqrt(2.0 * max_kl / curvature) * direction

    def accept(surrogates: np.ndarray, kl: float) -> bool:
        return kl <= max_kl and surrogates[0] > surrogate_before

    result = backtracking_line_search(
        linearization, full_step, actions, advantages[None], old_log_prob, accept,
        line_search_shrinking_factor, line_search_max_iter)
    info.line_search_steps = result.attempts
    if result.params is None:
        info.outcome = StepOutcome.LINE_SEARCH_FAILED
        info.reason = "line search found no step within the KL bound that improves the surrogate"
        return info
    policy.set_params(result.params)
    info.accepted = True
    info.outcome = StepOutcome.ACCEPTED
    info.surrogate_after = float(result.surrogates[0])
    info.kl = result.kl
    info.step_fraction = result.step_fraction
    return info
