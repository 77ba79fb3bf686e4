"""Value-function kernel: mean-squared-error loss and its analytic gradient."""

from numba import njit

from fasttrpo.kernels import mlp


@njit(cache=True, error_model="numpy")
def mse_loss_grad(params, layer_sizes, activation, obs, targets, hidden, dact, tangent, out, grad):
    """``loss = mean_n (V(s_n) - target_n)^2`` and ``grad = d loss / d params`` (P,).

    ``obs``: (N, obs_dim); ``targets``: (N,); ``out``: (N, 1) written with ``V(s)``;
    buffers as in ``mlp.py``.
    """
    mlp.forward(params, layer_sizes, activation, obs, hidden, dact, out)
    n_rows = obs.shape[0]
    total = 0.0
    for n in range(n_rows):
        diff = out[n, 0] - targets[n]
        total += diff * diff
        out[n, 0] = 2.0 * diff / n_rows  # d loss / d V(s_n), reuses the output buffer
    mlp.vjp(params, layer_sizes, obs, hidden, dact, out, tangent, grad)
    return total / n_rows
