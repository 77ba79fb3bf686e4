"""Output-distribution kernels: log-likelihood, its gradient, KL, entropy and Fisher.

A policy network maps each observation to a row ``out[n]`` of distribution parameters:

- ``GAUSSIAN``: ``out[n]`` is the mean of a diagonal Gaussian; ``log_std`` (act_dim,) is a
  state-independent parameter vector.
- ``CATEGORICAL``: ``out[n]`` concatenates the logits of ``k`` independent categoricals with
  ``nvec[i]`` classes each (``k = 1`` for a ``Discrete`` space, ``k > 1`` for
  ``MultiDiscrete``); actions hold the class indices as floats.
- ``BERNOULLI``: ``out[n]`` holds one logit per binary action (``MultiBinary``).
- ``GAUSSIAN_SDE`` (gSDE, generalized state-dependent exploration): ``out[n]`` is the mean
  ``mu(s_n)`` (A,) and ``latent[n]`` the latent features ``z(s_n)`` (Z,), the policy's last
  hidden layer. An action is ``a = mu(s) + z(s) @ E`` with an exploration matrix
  ``E_ij ~ N(0, std_ij^2)`` held for several steps, so per state it is Gaussian with
  variance ``var_j(s) = sum_i z_i(s)^2 std_ij^2 + SDE_EPSILON``. ``log_std`` is (Z*A,),
  ``std_ij = exp(log_std[i*A + j])`` (``full_std``), or (Z,), ``std_ij = exp(log_std[i])``
  (one per latent unit); for A = 1 the two coincide. The features are *detached*, as in
  sb3 (``learn_features=False``): ``log_prob_grad`` differentiates through the mean and
  ``log_std`` only, treating ``z`` as data.

Every kernel takes ``layout``, a ``fasttrpo.models.nets.KernelLayout``, and reads
``layout.head`` (the codes of ``fasttrpo.foundation.heads``) and ``layout.nvec`` (k,) int64.
The gSDE head has kernels of its own (``sde_*``, the same arguments) beside the shared ones
(`log_prob`, `log_prob_grad`, `mean_kl`, `mean_entropy`, `fisher_weights`), which serve the
other heads with one compilation per dtype: Numba compiles every branch of a kernel, and a
gSDE branch in the shared kernels cost every run about a quarter of its cold start
(BENCHMARKS.md "Start-up"). `head_kernels` picks the set for a head.
Shapes: ``out`` (N, D) float, ``latent`` (N, Z) float (read by the gSDE head only;
``fasttrpo.kernels.mlp.latent_features``), ``actions`` (N, A) float, ``log_std`` (A,) float
(gSDE: (Z*A,) or (Z,); empty for the discrete heads), all C-contiguous. Reductions
accumulate in float64.
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from fasttrpo.foundation.heads import CATEGORICAL, GAUSSIAN, GAUSSIAN_SDE
from fasttrpo.kernels import INTERNAL, kernel

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
#: added to every gSDE variance, as sb3's ``StateDependentNoiseDistribution(epsilon=1e-6)``:
#: part of the distribution's definition (the density stays finite where every latent
#: feature is 0, e.g. a dead relu layer), not a clamp
SDE_EPSILON = 1e-6


@kernel(**INTERNAL)
def _log_sigmoid(x):
    # log(sigmoid(x)) = -softplus(-x), stable for both signs
    if x >= 0.0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@kernel(**INTERNAL)
def _logsumexp(block):
    # log sum_j exp(block[j]) = peak + log sum_j exp(block[j] - peak); block: (n,), n >= 1
    peak = block[0]
    for j in range(1, block.shape[0]):
        peak = max(peak, block[j])
    total = 0.0
    for j in range(block.shape[0]):
        total += math.exp(block[j] - peak)
    return peak + math.log(total)


@kernel(**INTERNAL)
def _sde_std_squared(latent_dim, act_dim, log_std):
    # std_ij^2 = exp(2 log_std), (Z, A) float64; log_std (Z*A,) row-major or (Z,) shared
    full = log_std.shape[0] == latent_dim * act_dim
    std2 = np.empty((latent_dim, act_dim))
    for i in range(latent_dim):
        for j in range(act_dim):
            k = i * act_dim + j if full else i
            std2[i, j] = math.exp(2.0 * np.float64(log_std[k]))
    return std2


@kernel(**INTERNAL)
def _sde_variance(latent, log_std, act_dim):
    # var[n, j] = sum_i z_ni^2 std_ij^2 + SDE_EPSILON, (N, A) float64
    n_rows, latent_dim = latent.shape
    std2 = _sde_std_squared(latent_dim, act_dim, log_std)
    var = np.full((n_rows, act_dim), SDE_EPSILON)
    for n in range(n_rows):
        for i in range(latent_dim):
            z2 = np.float64(latent[n, i]) * np.float64(latent[n, i])
            for j in range(act_dim):
                var[n, j] += z2 * std2[i, j]
    return var


@kernel
def sde_log_prob(layout, out, latent, log_std, actions, logp_out):
    """`log_prob` of the gSDE head."""
    # sum_j -(a_j - mu_j)^2 / (2 var_j) - log(var_j) / 2 - log(2 pi) / 2
    var = _sde_variance(latent, log_std, out.shape[1])
    for n in range(out.shape[0]):
        total = 0.0
        for j in range(out.shape[1]):
            diff = np.float64(actions[n, j]) - np.float64(out[n, j])
            total += -0.5 * diff * diff / var[n, j] - 0.5 * math.log(var[n, j]) - _HALF_LOG_2PI
        logp_out[n] = total


@kernel
def sde_log_prob_grad(layout, out, latent, log_std, actions, weights, dout, dlog_std):
    """`log_prob_grad` of the gSDE head (the features ``latent`` detached)."""
    # d logp / d mu_j = (a_j - mu_j) / var_j ;
    # d logp / d var_j = ((a_j - mu_j)^2 / var_j - 1) / (2 var_j), d var_j / d log_std_ij =
    # 2 z_i^2 std_ij^2, so d logp / d log_std_ij = c_j z_i^2 std_ij^2 with
    # c_j = ((a_j - mu_j)^2 / var_j - 1) / var_j (shared log_std: summed over j).
    # z is data (detached features): no term through the MLP parameters.
    n_rows, act_dim = out.shape
    latent_dim = latent.shape[1]
    std2 = _sde_std_squared(latent_dim, act_dim, log_std)
    var = _sde_variance(latent, log_std, act_dim)
    coef = np.zeros((latent_dim, act_dim))  # sum_n weights_n c_nj z_ni^2
    c = np.empty(act_dim)
    for n in range(n_rows):
        for j in range(act_dim):
            inv_var = 1.0 / var[n, j]
            diff = np.float64(actions[n, j]) - np.float64(out[n, j])
            dout[n, j] = weights[n] * diff * inv_var
            c[j] = weights[n] * (diff * diff * inv_var - 1.0) * inv_var
        for i in range(latent_dim):
            z2 = np.float64(latent[n, i]) * np.float64(latent[n, i])
            for j in range(act_dim):
                coef[i, j] += c[j] * z2
    _sde_reduce(coef, std2, dlog_std)


@kernel(**INTERNAL)
def _sde_reduce(coef, std2, result):
    # result[i*A + j] = coef_ij std_ij^2 (full_std), or result[i] = sum_j coef_ij std_ij^2
    latent_dim, act_dim = coef.shape
    full = result.shape[0] == latent_dim * act_dim
    for i in range(latent_dim):
        row = 0.0
        for j in range(act_dim):
            if full:
                result[i * act_dim + j] = coef[i, j] * std2[i, j]
            else:
                row += coef[i, j] * std2[i, j]
        if not full:
            result[i] = row


@kernel
def sde_mean_kl(layout, out_old, latent_old, log_std_old, out_new, latent_new, log_std_new):
    """`mean_kl` of the gSDE head, each side's variance from its own features."""
    # per dimension (log(v1 / v0) + (v0 + (mu0 - mu1)^2) / v1 - 1) / 2
    n_rows, act_dim = out_old.shape
    var_old = _sde_variance(latent_old, log_std_old, act_dim)
    var_new = _sde_variance(latent_new, log_std_new, act_dim)
    total = 0.0
    for n in range(n_rows):
        for j in range(act_dim):
            diff = np.float64(out_old[n, j]) - np.float64(out_new[n, j])
            total += 0.5 * (math.log(var_new[n, j]) - math.log(var_old[n, j])
                            + (var_old[n, j] + diff * diff) / var_new[n, j] - 1.0)
    return total / n_rows


@kernel
def sde_mean_entropy(layout, out, latent, log_std):
    """`mean_entropy` of the gSDE head."""
    # per dimension (log(2 pi var) + 1) / 2
    n_rows, act_dim = out.shape
    var = _sde_variance(latent, log_std, act_dim)
    total = 0.0
    for n in range(n_rows):
        for j in range(act_dim):
            total += 0.5 * math.log(var[n, j]) + 0.5 + _HALF_LOG_2PI
    return total / n_rows


@kernel
def sde_fisher_weights(layout, out, latent, log_std, dist):
    """`fisher_weights` of the gSDE head: ``dist`` (N, A) holds the per-state ``1 / var``."""
    var = _sde_variance(latent, log_std, out.shape[1])
    for n in range(out.shape[0]):
        for j in range(out.shape[1]):
            dist[n, j] = 1.0 / var[n, j]


@kernel
def sde_log_std_fisher(latent, dist, log_std, vector, scale, result):
    """Write the ``log_std`` block of gSDE's Fisher times ``vector`` into ``result``.

    ``(F u)_ij = scale * sum_n z_ni^2 std_ij^2 w_nj / var_nj^2`` with
    ``w_nj = sum_k 2 z_nk^2 std_kj^2 u_kj``: the Hessian in ``log_std`` of
    ``KL(N(mu, var_old) || N(mu, var(log_std)))`` at ``var = var_old``, ``1 / (2 var^2)``
    times the outer product of ``d var / d log_std``, with ``z`` detached (data). The
    Gaussian Fisher has no mean-variance cross term. Shared ``log_std`` (Z,): ``u_kj = u_k``
    and the result is summed over ``j``. ``dist`` (N, A) holds ``1 / var``
    (``fisher_weights``); ``vector``, ``result``: ``log_std``'s shape.
    """
    n_rows, latent_dim = latent.shape
    act_dim = dist.shape[1]
    full = log_std.shape[0] == latent_dim * act_dim
    std2 = _sde_std_squared(latent_dim, act_dim, log_std)
    coef = np.zeros((latent_dim, act_dim))
    w = np.empty(act_dim)
    for n in range(n_rows):
        for j in range(act_dim):
            w[j] = 0.0
        for k in range(latent_dim):
            z2 = np.float64(latent[n, k]) * np.float64(latent[n, k])
            for j in range(act_dim):
                u = vector[k * act_dim + j] if full else vector[k]
                w[j] += 2.0 * z2 * std2[k, j] * u
        for j in range(act_dim):
            inv_var = np.float64(dist[n, j])
            w[j] *= inv_var * inv_var
        for i in range(latent_dim):
            z2 = np.float64(latent[n, i]) * np.float64(latent[n, i])
            for j in range(act_dim):
                coef[i, j] += z2 * w[j]
    for i in range(latent_dim):
        for j in range(act_dim):
            coef[i, j] *= scale
    _sde_reduce(coef, std2, result)


@kernel
def log_prob(layout, out, latent, log_std, actions, logp_out):
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


@kernel
def log_prob_grad(layout, out, latent, log_std, actions, weights, dout, dlog_std):
    """Gradient of ``sum_n weights[n] * log pi(actions[n] | out[n])``.

    Writes ``dout`` (N, D) w.r.t. the network outputs and ``dlog_std`` (``log_std``'s shape)
    w.r.t. the Gaussian ``log_std`` (untouched for the discrete heads). gSDE: the features
    ``latent`` are held fixed (detached), see the module docstring.
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


@kernel
def mean_kl(layout, out_old, latent_old, log_std_old, out_new, latent_new, log_std_new):
    """``mean_n KL(pi_old(.|s_n) || pi_new(.|s_n))`` as a float.

    gSDE: each side's variance from its own features (``latent_old``, ``latent_new``).
    """
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
                # sum_k p_k (log p_k - log q_k), log p_k - log q_k = (z_k - z'_k) - (lse - lse'):
                # exactly 0 where both sides are equal (the KL at the old parameters), also
                # on masked entries, where both logits are MASKED_LOGIT and p_k = 0
                for j in range(start, stop):
                    log_p = out_old[n, j] - lse_old
                    total += math.exp(log_p) * ((out_old[n, j] - out_new[n, j])
                                                - (lse_old - lse_new))
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


@kernel
def mean_entropy(layout, out, latent, log_std):
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


@kernel
def fisher_weights(layout, out, latent, log_std, dist):
    """Precompute what the output Fisher needs, once per linearisation.

    ``dist`` (N, D) is written with ``1/sigma^2`` (Gaussian, broadcast over rows; gSDE: the
    per-state ``1 / var``), the softmax probabilities per categorical block, or
    ``sigmoid(x)`` (Bernoulli).
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


@kernel(**INTERNAL)
def apply_fisher(layout, dist, u, scale):
    """Set ``u[n] <- scale * M_n u[n]`` in place for every row ``n``.

    ``M_n`` is the Fisher of the output distribution w.r.t. ``out[n]``: ``diag(1/sigma^2)``
    (Gaussian and gSDE mean), ``diag(p) - p p^T`` per categorical block, ``diag(p (1 - p))``
    (Bernoulli).
    """
    nvec = layout.nvec
    n_rows, width = u.shape
    for n in range(n_rows):
        if layout.head == GAUSSIAN or layout.head == GAUSSIAN_SDE:
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


class HeadKernels(NamedTuple):
    """The distribution kernels of one kind of head, all with the same arguments.

    `head_kernels` gives them; callers never branch on the head themselves.
    """

    log_prob: Callable
    log_prob_grad: Callable
    mean_kl: Callable
    mean_entropy: Callable
    fisher_weights: Callable


#: the Gaussian, categorical and Bernoulli heads: one compilation per float dtype serves all
SHARED_KERNELS = HeadKernels(log_prob, log_prob_grad, mean_kl, mean_entropy, fisher_weights)
#: gSDE: kernels of their own, compiled only by a run that uses gSDE
SDE_KERNELS = HeadKernels(sde_log_prob, sde_log_prob_grad, sde_mean_kl, sde_mean_entropy,
                          sde_fisher_weights)


def head_kernels(head: int) -> HeadKernels:
    """Return the kernels of the head ``head`` (a ``fasttrpo.foundation.heads`` code)."""
    return SDE_KERNELS if head == GAUSSIAN_SDE else SHARED_KERNELS


def _zero_and_one(array):
    """``(0, 1)`` of ``array``'s dtype, as compile-time constants (no allocation)."""
    return 0.0, 1.0


@overload(_zero_and_one, jit_options={"error_model": "numpy", **INTERNAL})
def _zero_and_one_typed(array):
    zero, one = as_dtype(array.dtype).type(0), as_dtype(array.dtype).type(1)
    return lambda array: (zero, one)


@kernel(**INTERNAL)
def sample(layout, out, latent, log_std, noise, actions):
    """Draw ``actions`` (N, A) from the distributions ``out`` (N, D) with caller-drawn ``noise``.

    The same rules, operation for operation, as the Cython acting forward
    (``fasttrpo._cython.forward.act``), so both samplers draw the same actions from the same
    noise: Gaussian ``a = mu + exp(log_std) * eps`` (``noise`` ~ N(0, 1), (N, A)); gSDE
    ``a_j = mu_j + sum_i z_i E_ij`` with row ``r``'s exploration matrix ``E`` (Z, A) in
    ``noise[r]`` (N, Z*A), row-major, already scaled by ``std`` (``log_std`` unread);
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
    elif layout.head == GAUSSIAN_SDE:
        act_dim = out.shape[1]
        for r in range(n_rows):
            for j in range(act_dim):
                explore = zero  # (z E)_j, summed in out's dtype as the Cython sampler does
                for i in range(latent.shape[1]):
                    explore += latent[r, i] * noise[r, i * act_dim + j]
                actions[r, j] = out[r, j] + explore
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
