"""Conjugate gradient on the damped Fisher: compiled end to end, or driven from Python.

`conjugate_gradient` is one compiled call (the serial Fisher-vector product inlined);
`conjugate_gradient_driven` runs the same iteration from Python around any product: one on
Numba's threads (`fisher_vector_product_parallel`), or gSDE's. Both are built from the same
three pieces (`cg_start`, `cg_step`, `cg_finish`), so they give the same bits. Why the
parallel one is not compiled end to end: a function compiled with ``parallel`` that calls
parallel code rounded differently in float64 (measured: last-bit differences from the first
iteration, with the products themselves bit-identical), and no serial kernel may call parallel
code (``docs/design.md``, "Numba's cache"); the Python loop costs ~4 us per iteration (measured:
15 iterations on 64 rows, one thread, 828 us against 767 us compiled end to end).

Shapes: ``rhs``, ``x`` (P,); ``work`` (3, P): the residual, the search direction, ``A`` times
the direction (``A = F + damping I``); ``state`` (1,) of the same dtype: ``r.r``.
"""

import numpy as np

from fasttrpo.kernels import kernel
from fasttrpo.kernels.policy import fisher_vector_product


@kernel(inline="always")
def cg_start(rhs, x, work, state):
    """``x = 0``, ``r = p = rhs``, ``state[0] = r.r``."""
    # elementwise updates are loops: an array expression compiles a broadcasting kernel each
    # (same arithmetic: scalar * element in the wider of the two types, stored in the array's)
    residual = work[0]
    direction = work[1]
    for i in range(rhs.shape[0]):
        x[i] = 0.0
        residual[i] = rhs[i]  # r = b - A x with x = 0
        direction[i] = rhs[i]
    state[0] = np.dot(residual, residual)


@kernel(inline="always")
def cg_step(damping, x, work, state):
    """Take one CG update once ``work[2]`` holds ``F p``; returns whether it did.

    False (nothing changed) if ``p^T A p`` is not positive (``F + damping I`` not positive
    definite along ``p``, or NaN).
    """
    residual = work[0]
    direction = work[1]
    a_direction = work[2]
    n_params = x.shape[0]
    for i in range(n_params):  # A p = (F + damping I) p
        a_direction[i] += damping * direction[i]
    p_a_p = np.dot(direction, a_direction)
    if not p_a_p > 0.0:
        return False
    r_dot_r = state[0]
    alpha = r_dot_r / p_a_p
    for i in range(n_params):  # x += alpha p, r -= alpha A p
        x[i] += alpha * direction[i]
        residual[i] -= alpha * a_direction[i]
    new_r_dot_r = np.dot(residual, residual)
    beta = new_r_dot_r / r_dot_r
    for i in range(n_params):  # p = r + beta p
        direction[i] = direction[i] * beta + residual[i]
    state[0] = new_r_dot_r
    return True


@kernel(inline="always")
def cg_finish(rhs, damping, x, work):
    """Return ``x^T F x`` (undamped) from CG's own quantities, with no extra product.

    With ``r = rhs - A x``: ``x^T A x = x.rhs - x.r`` and ``x^T F x = x^T A x - damping x.x``.
    """
    residual = work[0]
    x_a_x = np.dot(x, rhs) - np.dot(x, residual)
    return x_a_x - damping * np.dot(x, x)


@kernel
def conjugate_gradient(
    params, layout, obs, hidden, dact, dist, tangent, scratch, dout, partials, rhs, damping,
    max_iter, residual_tol, x, work,
):
    """Solve ``(F + damping I) x = rhs`` by conjugate gradient from ``x = 0``.

    The FVP kernel is called directly (a jitted function passed as an argument would miss
    Numba's cache). Arguments after ``params`` up to ``partials`` are those of
    ``fisher_vector_product`` (the linearisation cache and the row blocks' partial sums).

    Parameters
    ----------
    rhs : (P,) float, the right-hand side ``g``.
    damping, residual_tol : float; max_iter : int.
    x : (P,) float, written with the approximate solution.
    work : (3, P) float, scratch (residual, search direction, ``A`` times the direction).

    Returns
    -------
    x_fisher_x : float, ``x^T F x`` (undamped), `cg_finish`.
    n_iter : int, iterations run.
    """
    state = np.empty(1, dtype=rhs.dtype)
    cg_start(rhs, x, work, state)
    n_iter = 0
    for _ in range(max_iter):
        if state[0] < residual_tol:
            break
        fisher_vector_product(params, layout, obs, hidden, dact, dist, work[1], tangent,
                              scratch, dout, partials, work[2])
        if not cg_step(damping, x, work, state):
            break
        n_iter += 1
    return cg_finish(rhs, damping, x, work), n_iter


def conjugate_gradient_driven(product, rhs, damping, max_iter, residual_tol, x, work):
    """`conjugate_gradient` driven from Python, ``product(v, out)`` writing ``F v`` (same bits).

    A Python loop over the same pieces (see the module docstring), for the products that are
    not compiled into `conjugate_gradient`: `fisher_vector_product_parallel`, and gSDE's,
    whose ``log_std`` block is a kernel of its own (``models/linearization.py``).
    ``product`` must not touch ``work``; the other arguments are `conjugate_gradient`'s.
    """
    state = np.empty(1, dtype=rhs.dtype)
    cg_start(rhs, x, work, state)
    n_iter = 0
    for _ in range(max_iter):
        if state[0] < residual_tol:
            break
        product(work[1], work[2])
        if not cg_step(damping, x, work, state):
            break
        n_iter += 1
    return cg_finish(rhs, damping, x, work), n_iter
