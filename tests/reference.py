"""Plain-numpy float64 references, written independently of the kernels."""

import numpy as np
from scipy.special import log_expit, logsumexp


def mlp_forward(params, layer_sizes, activation, obs):
    h = np.asarray(obs, dtype=np.float64)
    offset = 0
    n_layers = len(layer_sizes) - 1
    for layer in range(n_layers):
        fan_in, fan_out = layer_sizes[layer], layer_sizes[layer + 1]
        weight = params[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        bias = params[offset : offset + fan_out]
        offset += fan_out
        h = h @ weight + bias
        if layer < n_layers - 1:
            h = np.tanh(h) if activation == "tanh" else np.maximum(h, 0.0)
    return h


def _blocks(nvec):
    starts = np.concatenate([[0], np.cumsum(nvec)[:-1]])
    return [(int(s), int(s + k)) for s, k in zip(starts, nvec)]


def log_prob(kind, out, log_std, actions, nvec=None):
    if kind == "gaussian":
        var = np.exp(2 * log_std)
        return np.sum(-((actions - out) ** 2) / (2 * var) - log_std - 0.5 * np.log(2 * np.pi),
                      axis=1)
    if kind == "categorical":
        total = np.zeros(out.shape[0])
        for i, (a, b) in enumerate(_blocks(nvec)):
            logp = out[:, a:b] - logsumexp(out[:, a:b], axis=1, keepdims=True)
            total += logp[np.arange(out.shape[0]), actions[:, i].astype(int)]
        return total
    return np.sum(actions * log_expit(out) + (1 - actions) * log_expit(-out), axis=1)


def mean_kl(kind, out_old, log_std_old, out_new, log_std_new, nvec=None):
    if kind == "gaussian":
        var_old, var_new = np.exp(2 * log_std_old), np.exp(2 * log_std_new)
        kl = log_std_new - log_std_old + (var_old + (out_old - out_new) ** 2) / (2 * var_new) - 0.5
        return kl.sum(axis=1).mean()
    if kind == "categorical":
        total = np.zeros(out_old.shape[0])
        for a, b in _blocks(nvec):
            lp = out_old[:, a:b] - logsumexp(out_old[:, a:b], axis=1, keepdims=True)
            lq = out_new[:, a:b] - logsumexp(out_new[:, a:b], axis=1, keepdims=True)
            total += np.sum(np.exp(lp) * (lp - lq), axis=1)
        return total.mean()
    p1, p0 = log_expit(out_old), log_expit(-out_old)
    q1, q0 = log_expit(out_new), log_expit(-out_new)
    return np.sum(np.exp(p1) * (p1 - q1) + np.exp(p0) * (p0 - q0), axis=1).mean()


def entropy(kind, out, log_std, nvec=None):
    if kind == "gaussian":
        return float(np.sum(log_std + 0.5 + 0.5 * np.log(2 * np.pi)))
    if kind == "categorical":
        total = np.zeros(out.shape[0])
        for a, b in _blocks(nvec):
            lp = out[:, a:b] - logsumexp(out[:, a:b], axis=1, keepdims=True)
            total -= np.sum(np.exp(lp) * lp, axis=1)
        return total.mean()
    p1, p0 = log_expit(out), log_expit(-out)
    return -np.sum(np.exp(p1) * p1 + np.exp(p0) * p0, axis=1).mean()


def central_gradient(func, x, step):
    grad = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step
        grad[i] = (func(x + e) - func(x - e)) / (2 * step)
    return grad


def central_hessian(func, x, step):
    """Hessian by central differences, ``4 P^2`` evaluations."""
    n = x.size
    hess = np.empty((n, n))
    eye = np.eye(n) * step
    for i in range(n):
        for j in range(i, n):
            value = (
                func(x + eye[i] + eye[j]) - func(x + eye[i] - eye[j])
                - func(x - eye[i] + eye[j]) + func(x - eye[i] - eye[j])
            ) / (4 * step * step)
            hess[i, j] = hess[j, i] = value
    return hess


# ---- gSDE: a Gaussian whose variance depends on the state through the latent features --------
SDE_EPSILON = 1e-6  # sb3's StateDependentNoiseDistribution(epsilon=1e-6)


def mlp_latent(params, layer_sizes, activation, obs):
    """The last hidden layer's activations (the observations without hidden layers)."""
    h = np.asarray(obs, dtype=np.float64)
    offset = 0
    for layer in range(len(layer_sizes) - 2):
        fan_in, fan_out = layer_sizes[layer], layer_sizes[layer + 1]
        weight = params[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        h = h @ weight + params[offset : offset + fan_out]
        offset += fan_out
        h = np.tanh(h) if activation == "tanh" else np.maximum(h, 0.0)
    return h


def sde_std(log_std, latent_dim, act_dim):
    """std (Z, A): log_std (Z*A,) row-major, or (Z,) shared by every action dimension."""
    log_std = np.asarray(log_std, dtype=np.float64)
    per_action = log_std.reshape(latent_dim, -1)
    return np.broadcast_to(np.exp(per_action), (latent_dim, act_dim))


def sde_variance(latent, log_std, act_dim):
    """var (N, A) = z^2 @ std^2 + epsilon."""
    std = sde_std(log_std, latent.shape[1], act_dim)
    return latent ** 2 @ std ** 2 + SDE_EPSILON


def gauss_log_prob(mean, var, actions):
    return np.sum(-((actions - mean) ** 2) / (2 * var) - 0.5 * np.log(2 * np.pi * var), axis=1)


def gauss_mean_kl(mean_old, var_old, mean_new, var_new):
    kl = 0.5 * (np.log(var_new / var_old) + (var_old + (mean_old - mean_new) ** 2) / var_new - 1)
    return kl.sum(axis=1).mean()


def gauss_entropy(var):
    return (0.5 * np.log(2 * np.pi * np.e * var)).sum(axis=1).mean()
