import numpy as np
import pytest

import fasttrpo

# Tiny networks: every head, both activations; one hidden layer and two.
HEADS = {
    "gaussian": lambda obs_dim, **kw: fasttrpo.GaussianMLPPolicy(obs_dim, 2, log_std_init=-0.3,
                                                                 **kw),
    "categorical": lambda obs_dim, **kw: fasttrpo.CategoricalMLPPolicy(obs_dim, 3, **kw),
    "multidiscrete": lambda obs_dim, **kw: fasttrpo.MultiCategoricalMLPPolicy(obs_dim, [2, 3],
                                                                              **kw),
    "bernoulli": lambda obs_dim, **kw: fasttrpo.BernoulliMLPPolicy(obs_dim, 3, **kw),
}
REF_KIND = {"gaussian": "gaussian", "categorical": "categorical",
            "multidiscrete": "categorical", "bernoulli": "bernoulli"}
# Tolerances for a kernel in `dtype` against a float64 reference.
RTOL = {np.float32: 2e-3, np.float64: 1e-6}


def make_policy(head, dtype, activation, hidden=(5, 4), obs_dim=3, seed=0):
    policy = HEADS[head](obs_dim, hidden_sizes=hidden, activation=activation, dtype=dtype,
                         seed=seed)
    # Larger-than-default output weights so the distributions are far from uniform.
    rng = np.random.default_rng(seed + 100)
    params = policy.get_params().astype(np.float64)
    params[: policy.n_mlp] += 0.5 * rng.standard_normal(policy.n_mlp)
    policy.set_params(params)
    return policy


def sample_actions(policy, head, n, rng):
    if head == "gaussian":
        return rng.standard_normal((n, policy.act_dim))
    if head == "categorical":
        return rng.integers(0, policy.n_actions, size=n)
    if head == "multidiscrete":
        return np.stack([rng.integers(0, k, size=n) for k in policy.nvec], axis=1)
    return rng.integers(0, 2, size=(n, policy.n_binary))


def check_surrogate_grad(policy, dtype, obs, actions, advantages, old_log_prob, surrogate,
                         params):
    """Assert ``policy.surrogate_grad`` matches ``surrogate`` (a float64 reference) and its
    central finite differences at ``params``; returns ``(expected gradient, its max |.|)``."""
    import reference

    value, grad = policy.surrogate_grad(obs, actions, advantages, old_log_prob)
    expected = reference.central_gradient(surrogate, params, 1e-6)
    assert value == pytest.approx(surrogate(params), rel=RTOL[dtype], abs=RTOL[dtype])
    assert grad.dtype == dtype and grad.shape == (policy.num_params,)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(grad, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    return expected, scale


def as_2d_actions(head, actions):
    return np.asarray(actions, dtype=np.float64).reshape(len(actions), -1)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def require(module: str):
    """Import an optional dependency: skip without it, unless ``FASTTRPO_REQUIRE_OPTIONAL=1``
    (CI's benchmark step, where the extras are installed) makes its absence a failure."""
    import importlib
    import os

    if os.environ.get("FASTTRPO_REQUIRE_OPTIONAL") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module)
