"""Output-distribution kernels: log-likelihood, its gradient, KL, entropy and Fisher.

A policy network maps each observation to a row ``out[n]`` of distribution parameters:

- ``GAUSSIAN``: ``out[n]`` is the mean of a diagonal Gaussian; ``log_std`` (act_dim,) is a
  state-independent parameter vector.
- ``CATEGORICAL``: ``out[n]`` concatenates the logits of ``k`` independent categoricals with
  ``nvec[i]`` classes each (``k = 1`` for a ``Discrete`` space, ``k > 1`` for
  ``MultiDiscrete``); actions hold the class indices as floats.
- ``BERNOULLI``: ``out[n]`` holds one logit per binary action (``MultiBinary``).

Every kernel takes ``layout``, a ``fasttrpo.nets.KernelLayout``, and reads ``layout.head``
(the codes of ``fasttrpo.heads``) and ``layout.nvec`` (k,) int64. Shapes: ``out`` (N, D) float,
``actions`` (N, A) float, ``log_std`` (A,) float (empty for the discrete heads), all
C-contiguous. Reductions accumulate in float64.
"""

import math

import numpy as np
from numba import njit
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from fasttrpo.heads import CATEGORICAL, GAUSSIAN
from fasttrpo.kernels import INTERNAL

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@njit(cache=True, error_model="numpy", **INTERNAL)
def _log_sigmoid(x):
    # log(sigmoid(x)) = -softplus(-x), stable for both signs
    if x >= 0.0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@njit(cache=True, error_model="numpy", **INTERNAL)
def _logsumexp(block):
    # log sum_j exp(block[j]) = peak + log sum_j exp(block[j] - peak); block: (n,), n >= 1
    peak = block[0]
    for j in range(1, block.shape[0]):
        peak = max(peak, block[j])
    total = 0.0
    for j in range(block.shape[0]):
        total += math.exp(block[j] - peak)
    return peak + math.log(total)


@njit(cache=True, error_model="numpy")
def log_prob(layout, out, log_std, actions, logp_out):
    """``logp_out[n] = log pi(actions[n] | out[n])``; ``logp_out``: (N,) float."""
    nvec = layout.nvec
    n_rows = out.shape[0]
    for n in range(n_rows):
        total = 0.0
        if layout.head == GAUSSIAN:
            # sum_j -(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j - log(2 pi) / 2
            for j in range(out.shape[1]):
                z = (actions[n, j] - out[n, j]) * math.exp(-log_std[j])
                total += -0.5 * z * z - log_std[j] - _HALF_LOG_2PI
        elif layout.head == CATEGORICAL:
            start = 0
            for i in range(nvec.shape[0]):
                # log softmax(logits)[a] = logit_a - logsumexp(logits)
                stop = start + nvec[i]
                total += out[n, start + int(actions[n, i])] - _logsumexp(out[n, start:stop])
                start = stop
        else:
            # a log sigmoid(x) + (1 - a) log sigmoid(-x)
            for j in range(out.shape[1]):
                if actions[n, j] > 0.5:
                    total += _log_sigmoid(out[n, j])
                else:
                    total += _log_sigmoid(-out[n, j])
        logp_out[n] = total


@njit(cache=True, error_model="numpy")
def log_prob_grad(layout, out, log_std, actions, weights, dout, dlog_std):
    """Gradient of ``sum_n weights[n] * log pi(actions[n] | out[n])``.

    Writes ``dout`` (N, D) w.r.t. the network outputs and ``dlog_std`` (A,) w.r.t. the
    Gaussian ``log_std`` (untouched for the discrete heads).
    """
    nvec = layout.nvec
    n_rows, width = out.shape
    if layout.head == GAUSSIAN:
        for j in range(width):
            inv_var = math.exp(-2.0 * np.float64(log_std[j]))  # 1 / sigma_j^2, in float64
            acc = 0.0
            for n in range(n_rows):
                diff = actions[n, j] - out[n, j]
                # d logp / d mu = (a - mu) / sigma^2 ;
                # d logp / d log_sigma = (a - mu)^2 / sigma^2 - 1
                dout[n, j] = weights[n] * diff * inv_var
                acc += weights[n] * (diff * diff * inv_var - 1.0)
            dlog_std[j] = acc
    elif layout.head == CATEGORICAL:
        for n in range(n_rows):
            start = 0
            for i in range(nvec.shape[0]):
                stop = start + nvec[i]
                lse = _logsumexp(out[n, start:stop])
                # d logp / d logit_k = 1[k = a] - p_k
                for j in range(start, stop):
                    dout[n, j] = -weights[n] * math.exp(out[n, j] - lse)
                dout[n, start + int(actions[n, i])] += weights[n]
                start = stop
    else:
        for n in range(n_rows):
            for j in range(width):
                # d logp / d x = a - sigmoid(x)
                dout[n, j] = weights[n] * (actions[n, j] - math.exp(_log_sigmoid(out[n, j])))


@njit(cache=True, error_model="numpy")
def mean_kl(layout, out_old, log_std_old, out_new, log_std_new):
    """``mean_n KL(pi_old(.|s_n) || pi_new(.|s_n))`` as a float."""
    nvec = layout.nvec
    n_rows, width = out_old.shape
    total = 0.0
    if layout.head == GAUSSIAN:
        # log(s1/s0) + (s0^2 + (mu0 - mu1)^2) / (2 s1^2) - 1/2 per dimension
        for j in range(width):
            var_ratio = math.exp(2.0 * (log_std_old[j] - log_std_new[j]))
            total += n_rows * (log_std_new[j] - log_std_old[j] + 0.5 * var_ratio - 0.5)
        for n in range(n_rows):
            for j in range(width):
                diff = out_old[n, j] - out_new[n, j]
                total += 0.5 * diff * diff * math.exp(-2.0 * log_std_new[j])
    elif layout.head == CATEGORICAL:
        for n in range(n_rows):
            start = 0
            for i in range(nvec.shape[0]):
                stop = start + nvec[i]
                lse_old = _logsumexp(out_old[n, start:stop])
                lse_new = _logsumexp(out_new[n, start:stop])
                # sum_k p_k (log p_k - log q_k)
                for j in range(start, stop):
                    log_p = out_old[n, j] - lse_old
                    total += math.exp(log_p) * (log_p - out_new[n, j] + lse_new)
                start = stop
    else:
        for n in range(n_rows):
            for j in range(width):
                x_old = out_old[n, j]
                x_new = out_new[n, j]
                log_p1 = _log_sigmoid(x_old)
                log_p0 = _log_sigmoid(-x_old)
                total += math.exp(log_p1) * (log_p1 - _log_sigmoid(x_new))
                total += math.exp(log_p0) * (log_p0 - _log_sigmoid(-x_new))
    return total / n_rows


@njit(cache=True, error_model="numpy")
def mean_entropy(layout, out, log_std):
    """``mean_n H(pi(.|s_n))`` as a float."""
    nvec = layout.nvec
    n_rows, width = out.shape
    total = 0.0
    if layout.head == GAUSSIAN:
        for j in range(width):
            total += log_std[j] + 0.5 + _HALF_LOG_2PI
        return total
    elif layout.head == CATEGORICAL:
        for n in range(n_rows):
            start = 0
            for i in range(nvec.shape[0]):
                stop = start + nvec[i]
                lse = _logsumexp(out[n, start:stop])
                for j in range(start, stop):
                    log_p = out[n, j] - lse
                    total -= math.exp(log_p) * log_p
                start = stop
    else:
        for n in range(n_rows):
            for j in range(width):
                log_p1 = _log_sigmoid(out[n, j])
                log_p0 = _log_sigmoid(-out[n, j])
                total -= math.exp(log_p1) * log_p1 + math.exp(log_p0) * log_p0
    return total / n_rows


@njit(cache=True, error_model="numpy")
def fisher_weights(layout, out, log_std, dist):
    """Precompute what the output Fisher needs, once per linearisation.

    ``dist`` (N, D) is written with ``1/sigma^2`` (Gaussian, broadcast over rows), the
    softmax probabilities per categorical block, or ``sigmoid(x)`` (Bernoulli).
    """
    nvec = layout.nvec
    n_rows, width = out.shape
    for n in range(n_rows):
        if layout.head == GAUSSIAN:
            for j in range(width):
                dist[n, j] = math.exp(-2.0 * log_std[j])
        elif layout.head == CATEGORICAL:
            start = 0
            for i in range(nvec.shape[0]):
                stop = start + nvec[i]
                lse = _logsumexp(out[n, start:stop])
                for j in range(start, stop):
                    dist[n, j] = math.exp(out[n, j] - lse)
                start = stop
        else:
            for j in range(width):
                dist[n, j] = math.exp(_log_sigmoid(out[n, j]))


@njit(cache=True, error_model="numpy", **INTERNAL)
def apply_fisher(layout, dist, u, scale):
    """Set ``u[n] <- scale * M_n u[n]`` in place for every row ``n``.

    ``M_n`` is the Fisher of the output distribution w.r.t. ``out[n]``: ``diag(1/sigma^2)``
    (Gaussian mean), ``diag(p) - p p^T`` per categorical block, ``diag(p (1 - p))``
    (Bernoulli).
    """
    nvec = layout.nvec
    n_rows, width = u.shape
    for n in range(n_rows):
        if layout.head == GAUSSIAN:
            for j in range(width):
                u[n, j] = scale * dist[n, j] * u[n, j]
        elif layout.head == CATEGORICAL:
            start = 0
            for i in range(nvec.shape[0]):
                stop = start + nvec[i]
                p_dot_u = 0.0
                for j in range(start, stop):
                    p_dot_u += dist[n, j] * u[n, j]
                # (diag(p) - p p^T) u = p * (u - p.u)
                for j in range(start, stop):
                    u[n, j] = scale * dist[n, j] * (u[n, j] - p_dot_u)
                start = stop
        else:
            for j in range(width):
                p = dist[n, j]
                u[n, j] = scale * p * (1.0 - p) * u[n, j]


def _zero_and_one(array):
    """``(0, 1)`` of ``array``'s dtype, as compile-time constants (no allocation)."""
    return 0.0, 1.0


@overload(_zero_and_one, jit_options={"error_model": "numpy", **INTERNAL})
def _zero_and_one_typed(array):
    zero, one = as_dtype(array.dtype).type(0), as_dtype(array.dtype).type(1)
    return lambda array: (zero, one)


@njit(cache=True, error_model="numpy", **INTERNAL)
def sample(layout, out, log_std, noise, actions):
    """Draw ``actions`` (N, A) from the distributions ``out`` (N, D) with caller-drawn ``noise``.

    The same rules, operation for operation, as the Cython acting forward
    (``fasttrpo._cython.forward.act``), so both samplers draw the same actions from the same
    noise: Gaussian ``a = mu + exp(log_std) * eps`` (``noise`` ~ N(0, 1), (N, A));
    categorical: the inverse CDF of ``softmax(z)``, ``a = min{i : sum_{l<=i} p_l > u}`` on the
    unnormalised scale, falling back to the last class of positive probability (``noise``
    ~ U[0, 1), (N, k)); Bernoulli ``a = [u < sigmoid(z)]``. Overwrites categorical ``out``
    entries with ``exp(z - max z)``.
    """
    n_rows = out.shape[0]
    # 0 and 1 of out's dtype: float32 sums and ratios stay float32, as in the Cython sampler
    zero, one = _zero_and_one(out)
    if layout.head == GAUSSIAN:
        for r in range(n_rows):
            for j in range(out.shape[1]):
                actions[r, j] = out[r, j] + math.exp(log_std[j]) * noise[r, j]
    elif layout.head == CATEGORICAL:
        nvec = layout.nvec
        for r in range(n_rows):
            start = 0
            for j in range(nvec.shape[0]):
                z = out[r, start:start + nvec[j]]
                start += nvec[j]
                peak = z[0]
                for i in range(1, z.shape[0]):
                    peak = max(peak, z[i])
                total = zero
                last_positive = 0
                for i in range(z.shape[0]):
                    z[i] = math.exp(z[i] - peak)
                    total += z[i]
                    if z[i] > 0:
                        last_positive = i
                target = noise[r, j] * total
                choice = last_positive
                cumulative = zero
                for i in range(z.shape[0]):
                    cumulative += z[i]
                    if cumulative > target:
                        choice = i
                        break
                actions[r, j] = choice
    else:  # Bernoulli: sigmoid(z) without overflow, exp of a non-positive number only
        for r in range(n_rows):
            for j in range(out.shape[1]):
                z = out[r, j]
                if z >= 0:
                    p = one / (one + math.exp(-z))
                else:
                    ez = math.exp(z)
                    p = ez / (one + ez)
                actions[r, j] = 1.0 if noise[r, j] < p else 0.0
