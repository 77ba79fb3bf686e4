"""Conjugate gradient on the damped Fisher, compiled end to end."""

import numpy as np

from fasttrpo.kernels import kernel, parallel_variant
from fasttrpo.kernels.policy import fisher_vector_product, fisher_vector_product_parallel


@kernel
def conjugate_gradient(
    params, layout, obs, hidden, dact, dist, tangent, scratch, dout, partials, rhs, damping,
    max_iter, residual_tol, x, work,
):
    """Solve ``(F + damping I) x = rhs`` by conjugate gradient from ``x = 0``.

    The FVP kernel is called directly (a jitted function passed as an argument would miss
    Numba's cache). Arguments after ``params`` up to ``partials`` are those of
    ``fisher_vector_product`` (the linearisation cache and the row blocks' partial sums).
    `conjugate_gradient_parallel` runs the products' row blocks on Numba's threads, with
    bit-identical results (the solver's own loops and dot products stay serial there too:
    ``PRANGE_ONLY`` converts nothing but ``prange``).

    Parameters
    ----------
    rhs : (P,) float, the right-hand side ``g``.
    damping, residual_tol : float; max_iter : int.
    x : (P,) float, written with the approximate solution.
    work : (3, P) float, scratch (residual, search direction, ``A`` times the direction).

    Returns
    -------
    x_fisher_x : float, ``x^T F x`` (undamped) from CG's own quantities: with ``r = rhs - A x``,
        ``x^T A x = x.rhs - x.r`` and ``x^T F x = x^T A x - damping x.x``. No extra FVP.
    n_iter : int, iterations run.
    """
    # elementwise updates are loops: an array expression compiles a broadcasting kernel each
    # (same arithmetic: scalar * element in the wider of the two types, stored in the array's)
    n_params = rhs.shape[0]
    residual = work[0]
    direction = work[1]
    a_direction = work[2]
    for i in range(n_params):
        x[i] = 0.0
        residual[i] = rhs[i]  # r = b - A x with x = 0
        direction[i] = rhs[i]
    r_dot_r = np.dot(residual, residual)
    n_iter = 0
    for _ in range(max_iter):
        if r_dot_r < residual_tol:
            break
        fisher_vector_product(
            params, layout, obs, hidden, dact, dist, direction, tangent, scratch, dout,
            partials, a_direction,
        )
        for i in range(n_params):  # A p = (F + damping I) p
            a_direction[i] += damping * direction[i]
        p_a_p = np.dot(direction, a_direction)
        if not p_a_p > 0.0:  # F + damping I is not positive definite along p (or NaN)
            break
        alpha = r_dot_r / p_a_p
        for i in range(n_params):  # x += alpha p, r -= alpha A p
            x[i] += alpha * direction[i]
            residual[i] -= alpha * a_direction[i]
        new_r_dot_r = np.dot(residual, residual)
        beta = new_r_dot_r / r_dot_r
        for i in range(n_params):  # p = r + beta p
            direction[i] = direction[i] * beta + residual[i]
        r_dot_r = new_r_dot_r
        n_iter += 1
    x_a_x = np.dot(x, rhs) - np.dot(x, residual)
    return x_a_x - damping * np.dot(x, x), n_iter



conjugate_gradient_parallel = parallel_variant(
    conjugate_gradient, calls={"fisher_vector_product": fisher_vector_product_parallel})
