"""Policy-level kernels: surrogate gradient, Fisher-vector product, line-search evaluation.

They compose the MLP kernels (``mlp.py``) with the output-distribution kernels
(``distributions.py``). Common arguments:

- ``params``: (P,) float; ``params[:layout.n_mlp]`` is the MLP, ``params[layout.n_mlp:]`` is
  the Gaussian ``log_std`` (empty for discrete heads).
- ``layout``: a ``fasttrpo.nets.KernelLayout``: the MLP (``layer_sizes``, ``activation``, see
  ``mlp.py``), ``n_mlp`` and the output distribution (``head``, ``nvec``, see
  ``distributions.py``).
- ``obs``: (N, obs_dim); ``actions``: (N, A); ``hidden``, ``dact``, ``tangent``,
  ``scratch``: MLP buffers (see ``mlp.py``); ``out``, ``dist``, ``dout``: (N, D). All arrays
  share the policy's float dtype and are C-contiguous.

The Fisher-vector product reads the activations and the output Fisher weights cached once per
update (``hidden``, ``dact``, ``dist``: ``mlp.forward`` then ``distributions.fisher_weights``
at the linearisation point), so conjugate gradient never recomputes the forward pass.
"""

import numpy as np
from numba import njit

from fasttrpo.kernels import distributions, mlp


@njit(cache=True, error_model="numpy")
def surrogate_grad(
    params, layout, obs, actions, advantages, old_log_prob, hidden, dact, out, tangent,
    log_prob, dout, grad,
):
    """Surrogate ``L = mean(exp(logp - old_logp) * A)`` and ``grad = dL/dtheta`` (P,).

    Needs ``hidden``, ``dact`` and ``out`` from ``mlp.forward`` at ``params``; ``advantages``,
    ``old_log_prob``: (N,). ``log_prob`` (N,) is scratch (written with
    ``log pi_theta(a|s)``, then with ``dL/dlogp``); ``dout`` (N, D) is scratch.
    """
    n_rows = obs.shape[0]
    log_std = params[layout.n_mlp :]
    distributions.log_prob(layout, out, log_std, actions, log_prob)
    total = 0.0
    for n in range(n_rows):
        ratio = np.exp(log_prob[n] - old_log_prob[n])  # pi(a|s) / pi_old(a|s)
        total += ratio * advantages[n]
        # dL/dlogp_n = ratio_n * A_n / N
        log_prob[n] = ratio * advantages[n] / n_rows
    distributions.log_prob_grad(
        layout, out, log_std, actions, log_prob, dout, grad[layout.n_mlp :]
    )
    mlp.vjp(params, layout, obs, hidden, dact, dout, tangent, grad)
    return total / n_rows


@njit(cache=True, inline="always")
def fisher_vector_product(
    params, layout, obs, hidden, dact, dist, vector, tangent, scratch, dout, result,
):
    """``result = F vector`` (P,), ``F`` the Hessian of mean KL(pi_params || pi_theta) at
    ``theta = params``, computed as ``J^T M J v / N`` (Gauss-Newton form, exact at this point).

    No damping is added. Reads the linearisation cache (``hidden``, ``dact``, ``dist``). Inlined into
    ``conjugate_gradient`` at compile time (one compilation fewer on a cold start).
    """
    n_rows = obs.shape[0]
    # J v: forward-mode through the MLP
    mlp.jvp(params, layout, obs, hidden, dact, vector, tangent, scratch, dout)
    # M J v / N: Fisher of the output distribution, per sample
    distributions.apply_fisher(layout, dist, dout, 1.0 / n_rows)
    # J^T (M J v) / N: backward pass
    mlp.vjp(params, layout, obs, hidden, dact, dout, tangent, result)
    # state-independent log_std: Fisher block 2 I, no cross terms with the mean
    for j in range(layout.n_mlp, params.shape[0]):
        result[j] = 2.0 * vector[j]


@njit(cache=True, error_model="numpy")
def surrogate_and_kl(
    params, layout, obs, actions, advantages, old_log_prob, old_out, old_log_std,
    hidden, dact, out, log_prob,
):
    """Line-search evaluation of a candidate ``params``: ``(L(params), mean KL(old || params))``.

    ``old_out`` (N, D) and ``old_log_std`` are the old policy's outputs on ``obs``;
    ``hidden``, ``dact``, ``out`` and ``log_prob`` (N,) are scratch.
    """
    mlp.forward(params, layout, obs, hidden, dact, out)
    log_std = params[layout.n_mlp :]
    distributions.log_prob(layout, out, log_std, actions, log_prob)
    total = 0.0
    for n in range(obs.shape[0]):
        total += np.exp(log_prob[n] - old_log_prob[n]) * advantages[n]
    kl = distributions.mean_kl(layout, old_out, old_log_std, out, log_std)
    return total / obs.shape[0], kl
