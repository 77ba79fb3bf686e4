"""The small quadratic programs of the multi-constraint steps, solved exactly.

With ``k`` cost constraints (``k <= MAX_CONSTRAINTS``) the CPO and PCPO steps reduce to
problems in ``k`` dual variables, with ``S = B H^-1 B^T`` (k, k) (``B`` the (k, P) cost
gradients, ``H = F + damping I``) or ``B B^T`` (PCPO's L2 projection). Both are convex, so a
point that meets the KKT conditions is optimal; with ``k`` this small the active set can be
enumerated (``2^k`` linear solves of at most ``k x k``), which gives the exact solution, not
an iterate, and needs no solver tolerance beyond the KKT test's rounding allowance.

- `nonnegative_qp`: ``max_{mu >= 0} mu.d - mu^T S mu / 2``. PCPO's projection onto
  ``{x : B x + c <= 0}`` (``d = B x_r + c``) and CPO's feasibility test (``d = c``: the
  smallest trust region that holds a feasible point has ``x^T H x / 2 = mu^T S mu / 2``).
- `cpo_dual`: the dual of ``max_x g.x`` s.t. ``B x + c <= 0``, ``x^T H x / 2 <= delta``:
  ``min_{lambda > 0, nu >= 0} (q - 2 nu.r + nu^T S nu) / (2 lambda) + lambda delta - nu.c``
  with ``q = g.H^-1 g`` and ``r = B H^-1 g``; the primal step is ``H^-1 (g - B^T nu) /
  lambda``. On an active set ``A`` (``nu_i > 0`` for ``i`` in ``A``) stationarity gives
  ``nu_A = S_AA^-1 (r_A + lambda c_A)`` and
  ``lambda = sqrt((q - r_A^T S_AA^-1 r_A) / (2 delta - c_A^T S_AA^-1 c_A))``: for ``k = 1``
  Achiam's ``sqrt(A / B)`` (`fasttrpo.steps.cpo.solve_cpo_dual`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from fasttrpo.foundation.step_defaults import MAX_CONSTRAINTS

__all__ = ["MAX_CONSTRAINTS", "cpo_dual", "nonnegative_qp"]

#: relative rounding allowance of the KKT sign tests
KKT_TOL = 1e-9
#: keeps 1 / lambda finite when the reward gradient lies in the span of the cost gradients
TINY_LAMBDA = 1e-12


def _active_sets(k: int):
    for size in range(k + 1):
        yield from itertools.combinations(range(k), size)


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """``matrix^-1 rhs`` for a symmetric positive definite ``matrix``; None when it is not.

    One constraint divides (no square root), so the ``k = 1`` results are those of the
    closed forms.
    """
    if matrix.shape[0] == 1:
        return rhs / matrix[0, 0] if matrix[0, 0] > 0.0 else None
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return None
    if np.diag(factor).min() <= 1e-12 * np.diag(factor).max():  # numerically singular
        return None
    return np.linalg.solve(factor.T, np.linalg.solve(factor, rhs))


def nonnegative_qp(s_matrix: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """``argmax_{mu >= 0} mu.d - mu^T S mu / 2`` for a symmetric PSD ``S``, exactly.

    Parameters
    ----------
    s_matrix : (k, k) float64
    d : (k,) float64

    Returns
    -------
    (k,) float64 or None
        ``mu``, or None when no active set meets the KKT conditions (the problem is unbounded:
        ``S`` singular with ``d`` pushing along its null space, e.g. two cost gradients that
        are opposite with both constraints violated, so no step satisfies both).
    """
    k = d.shape[0]
    best, best_value = None, -math.inf
    for active in _active_sets(k):
        mu = np.zeros(k)
        if active:
            idx = np.array(active)
            solved = _solve_spd(s_matrix[np.ix_(idx, idx)], d[idx])
            if solved is None:
                continue
            mu[idx] = solved
        # KKT: mu >= 0, and the gradient d - S mu is <= 0 where mu = 0 (= 0 where mu > 0)
        gradient = d - s_matrix @ mu
        scale = KKT_TOL * (np.abs(d).max() + np.abs(s_matrix).max() * np.abs(mu).max() + 1e-300)
        if mu.min() < -scale or np.delete(gradient, list(active)).max(initial=-np.inf) > scale:
            continue
        mu = np.maximum(mu, 0.0)
        value = float(mu @ d - 0.5 * mu @ s_matrix @ mu)
        if value > best_value:
            best, best_value = mu, value
    return best


def cpo_dual(q: float, r: np.ndarray, s_matrix: np.ndarray, c: np.ndarray,
             max_kl: float) -> tuple[float, np.ndarray] | None:
    """``(lambda*, nu*)`` of the CPO dual (module docstring) for a feasible problem.

    Parameters
    ----------
    q : float, ``g.H^-1 g`` (> 0).
    r : (k,), ``B H^-1 g``.
    s_matrix : (k, k), ``B H^-1 B^T`` (positive definite on the constraints kept).
    c : (k,), the constraint values (> 0: violated).
    max_kl : float, ``delta``.

    Returns
    -------
    (float, (k,) float64) or None
        The dual solution of least dual value among the active sets meeting the KKT
        conditions; None when none does (the trust region holds no feasible point: the
        caller tests that first with `nonnegative_qp`).
    """
    k, delta = c.shape[0], max_kl
    best, best_value = None, math.inf
    for active in _active_sets(k):
        nu = np.zeros(k)
        if active:
            idx = np.array(active)
            block = s_matrix[np.ix_(idx, idx)]
            s_inv_r, s_inv_c = _solve_spd(block, r[idx]), _solve_spd(block, c[idx])
            if s_inv_r is None or s_inv_c is None:
                continue
            margin = 2.0 * delta - float(c[idx] @ s_inv_c)
            a_coef = max(q - float(r[idx] @ s_inv_r), 0.0)  # >= 0 (a projection residual)
            if not margin > 0.0:
                continue
            lam = max(math.sqrt(a_coef / margin), TINY_LAMBDA)
            nu[idx] = s_inv_r + lam * s_inv_c
        else:
            lam = math.sqrt(q / (2.0 * delta))
        # KKT of the dual in nu: nu >= 0; dD/dnu_i = ((S nu - r)_i / lambda - c_i) >= 0 where
        # nu_i = 0 (times lambda > 0 below)
        slope = s_matrix @ nu - r - lam * c
        scale = KKT_TOL * (abs(q) ** 0.5 + np.abs(r).max() + lam * np.abs(c).max()
                           + np.abs(s_matrix).max() * np.abs(nu).max())
        if nu.min() < -scale or np.delete(slope, list(active)).min(initial=np.inf) < -scale:
            continue
        nu = np.maximum(nu, 0.0)
        value = ((q - 2.0 * nu @ r + nu @ s_matrix @ nu) / (2.0 * lam) + lam * delta
                 - float(nu @ c))
        if value < best_value:
            best, best_value = (lam, nu), value
    return best
