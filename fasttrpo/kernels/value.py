"""Value-function kernels: mean-squared-error loss, its analytic gradient, an Adam fit."""

import math

from fasttrpo.kernels import kernel, mlp


@kernel(inline="always")
def mse_loss_grad(params, layout, obs, targets, hidden, dact, tangent, out, grad):
    """``loss = mean_n (V(s_n) - target_n)^2`` and ``grad = d loss / d params`` (P,).

    ``layout``: the value network's ``KernelLayout``; ``obs``: (N, obs_dim); ``targets``:
    (N,); ``out``: (N, 1) scratch (``V(s)``, then ``d loss / d V``); buffers as in ``mlp.py``.
    Inlined into ``adam_minibatch_epochs`` at compile time (one compilation fewer).
    """
    n_rows = obs.shape[0]
    # rows first:n_rows with first = 0 as an int64 variable: a literal 0 would make Numba
    # compile forward and vjp once more, for Literal[int](0), beside the (int64, int64)
    # compilations the policy's row blocks use (~1 s of a cold start)
    first = n_rows - n_rows
    mlp.forward(params, layout, obs, hidden, dact, out, first, n_rows)
    total = 0.0
    for n in range(n_rows):
        diff = out[n, 0] - targets[n]
        total += diff * diff
        out[n, 0] = 2.0 * diff / n_rows  # d loss / d V(s_n), reuses the output buffer
    mlp.vjp(params, layout, obs, hidden, dact, out, tangent, grad, first, n_rows)
    return total / n_rows


@kernel
def adam_minibatch_epochs(params, layout, obs, targets, batch_indices,
                          batch_size, learning_rate, beta1, beta2, eps, m, v, step,
                          obs_batch, target_batch, hidden, dact, tangent, out, grad):
    r"""Adam on the MSE loss over minibatch epochs, all in one call (sb3-contrib critic fit).

    For each epoch ``e`` the rows ``batch_indices[e]`` are taken in chunks of ``batch_size``
    (the last chunk may be smaller, as sb3's ``RolloutBuffer.get`` yields it); each chunk is
    one Adam step on ``mean_chunk (V(s) - target)^2``, exactly as ``torch.optim.Adam``:

    .. math::

        t \leftarrow t + 1, \quad m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \\
        \theta \leftarrow \theta - \frac{\alpha}{1 - \beta_1^t}
        \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}.

    Parameters
    ----------
    params : (P,) float, updated in place.
    layout : the value network's ``KernelLayout`` (see ``mlp.py``).
    obs : (N, obs_dim) float, C-contiguous; ``targets`` : (N,) float.
    batch_indices : (n_epochs, N) int64, one permutation of ``range(N)`` per epoch.
    batch_size : int >= 1.
    learning_rate, beta1, beta2, eps : float.
    m, v : (P,) float, Adam moments, updated in place.
    step : int, Adam steps taken before this call.
    obs_batch : (R, obs_dim), target_batch : (R,), out : (R, 1) with ``R >= min(batch_size, N)``;
    hidden, dact, tangent : (R * sum(hidden sizes),); grad : (P,). All scratch.

    Returns
    -------
    (mean_loss, step) : mean of the minibatch losses (before each step), new step count.
    """
    n_epochs, n_rows = batch_indices.shape
    n_params = params.shape[0]
    total_loss = 0.0
    n_batches = 0
    for epoch in range(n_epochs):
        for start in range(0, n_rows, batch_size):
            rows = min(batch_size, n_rows - start)
            ob_b = obs_batch[:rows]
            tgt_b = target_batch[:rows]
            for r in range(rows):  # gather the minibatch
                idx = batch_indices[epoch, start + r]
                # element loop: an array slice assignment would compile numba's shape-mismatch
                # message formatting (seconds of cold compile)
                for c in range(obs.shape[1]):
                    ob_b[r, c] = obs[idx, c]
                tgt_b[r] = targets[idx]
            loss = mse_loss_grad(params, layout, ob_b, tgt_b, hidden, dact, tangent, out[:rows],
                                 grad)
            total_loss += loss
            n_batches += 1
            step += 1
            bias_correction1 = 1.0 - beta1**step
            bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
            step_size = learning_rate / bias_correction1
            for p in range(n_params):
                g = grad[p]
                m[p] += (1.0 - beta1) * (g - m[p])  # m = beta1 m + (1 - beta1) g (torch lerp)
                v[p] = beta2 * v[p] + (1.0 - beta2) * g * g
                # theta -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
                params[p] -= step_size * m[p] / (math.sqrt(v[p]) / bias_correction2_sqrt + eps)
    return total_loss / max(n_batches, 1), step
