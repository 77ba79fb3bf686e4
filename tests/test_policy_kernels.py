"""Policy kernels against float64 numpy references and finite differences."""

import numpy as np
import pytest

import reference
from conftest import (
    REF_KIND,
    RTOL,
    as_2d_actions,
    check_surrogate_grad,
    make_policy,
    sample_actions,
)

CASES = [
    (head, dtype, activation)
    for head in ("gaussian", "categorical", "multidiscrete", "bernoulli")
    for dtype in (np.float32, np.float64)
    for activation in ("tanh", "relu")
]
IDS = [f"{h}-{np.dtype(d).name}-{a}" for h, d, a in CASES]


def ref_out(policy, params, obs):
    return reference.mlp_forward(params[: policy.n_mlp], policy.layout.layer_sizes,
                                 policy.activation, obs)


def ref_log_prob(policy, kind, params, obs, actions):
    return reference.log_prob(kind, ref_out(policy, params, obs), params[policy.n_mlp :], actions,
                              policy.nvec)


@pytest.mark.parametrize(("head", "dtype", "activation"), CASES, ids=IDS)
def test_log_prob_entropy_kl_match_reference(head, dtype, activation, rng):
    policy = make_policy(head, dtype, activation)
    kind = REF_KIND[head]
    obs = rng.standard_normal((11, policy.obs_dim))
    actions = sample_actions(policy, head, 11, rng)
    params = policy.get_params().astype(np.float64)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(
        policy.log_prob(obs, actions),
        ref_log_prob(policy, kind, params, obs, as_2d_actions(head, actions)),
        rtol=rtol, atol=rtol,
    )
    np.testing.assert_allclose(
        policy.entropy(obs),
        reference.entropy(kind, ref_out(policy, params, obs), params[policy.n_mlp :], policy.nvec),
        rtol=rtol,
    )
    old = params + 0.1 * rng.standard_normal(params.size)
    expected_kl = reference.mean_kl(
        kind, ref_out(policy, old, obs), old[policy.n_mlp :], ref_out(policy, params, obs),
        params[policy.n_mlp :], policy.nvec,
    )
    assert expected_kl > 1e-4  # the check below is not vacuous
    np.testing.assert_allclose(policy.mean_kl(obs, old), expected_kl, rtol=rtol * 5)
    assert policy.mean_kl(obs, policy.get_params()) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("head", "dtype", "activation"), CASES, ids=IDS)
def test_surrogate_grad_matches_finite_differences(head, dtype, activation, rng):
    policy = make_policy(head, dtype, activation)
    kind = REF_KIND[head]
    n = 13
    obs = rng.standard_normal((n, policy.obs_dim))
    actions = sample_actions(policy, head, n, rng)
    actions_2d = as_2d_actions(head, actions)
    advantages = rng.standard_normal(n)
    params = policy.get_params().astype(np.float64)
    # old_log_prob away from the current one, so the ratio is not 1 everywhere
    old_log_prob = (ref_log_prob(policy, kind, params, obs, actions_2d)
                    + 0.2 * rng.standard_normal(n))

    def surrogate(theta):
        ratio = np.exp(ref_log_prob(policy, kind, theta, obs, actions_2d) - old_log_prob)
        return np.mean(ratio * advantages)

    check_surrogate_grad(policy, dtype, obs, actions, advantages, old_log_prob, surrogate, params)


@pytest.mark.parametrize(("head", "dtype", "activation"), CASES, ids=IDS)
def test_fisher_vector_product_matches_kl_hessian(head, dtype, activation, rng):
    policy = make_policy(head, dtype, activation, hidden=(4, 3), obs_dim=2)
    kind = REF_KIND[head]
    obs = rng.standard_normal((9, policy.obs_dim))
    params = policy.get_params().astype(np.float64)
    out_old = ref_out(policy, params, obs)

    def kl(theta):
        return reference.mean_kl(
            kind, out_old, params[policy.n_mlp :], ref_out(policy, theta, obs),
            theta[policy.n_mlp :], policy.nvec,
        )

    hessian = reference.central_hessian(kl, params, 1e-3)
    linearization = policy.linearize(obs)
    # All columns: F e_i for every basis vector gives the whole matrix.
    fisher = np.stack([linearization.fvp(e) for e in np.eye(policy.num_params)], axis=1)
    scale = np.abs(hessian).max()
    np.testing.assert_allclose(fisher, hessian, rtol=RTOL[dtype] * 10,
                               atol=RTOL[dtype] * 10 * scale)
    v = rng.standard_normal(policy.num_params)
    np.testing.assert_allclose(  # the public product equals the matrix's column sum
        policy.fisher_vector_product(obs, v), fisher @ v, rtol=RTOL[dtype],
        atol=RTOL[dtype] * scale * np.abs(v).sum(),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fvp_deep_relu_network_matches_explicit_jacobian(dtype, rng):
    # Three hidden layers and a wide input: J^T M J built from a finite-difference Jacobian.
    policy = make_policy("gaussian", dtype, "relu", hidden=(6, 5, 4), obs_dim=7)
    obs = rng.standard_normal((10, policy.obs_dim))
    params = policy.get_params().astype(np.float64)
    n_mlp = policy.n_mlp
    jac = np.stack(
        [
            reference.central_gradient(
                lambda th, i=i, j=j: ref_out(policy, np.concatenate([th, params[n_mlp:]]),
                                             obs)[i, j],
                params[:n_mlp], 1e-6,
            )
            for i in range(obs.shape[0]) for j in range(policy.act_dim)
        ]
    )
    inv_var = np.tile(np.exp(-2 * params[n_mlp:]), obs.shape[0])
    fisher_mlp = jac.T @ (inv_var[:, None] * jac) / obs.shape[0]
    v = rng.standard_normal(policy.num_params)
    got = policy.fisher_vector_product(obs, v)
    scale = np.abs(fisher_mlp @ v[:n_mlp]).max()
    np.testing.assert_allclose(got[:n_mlp], fisher_mlp @ v[:n_mlp], rtol=RTOL[dtype] * 5,
                               atol=RTOL[dtype] * scale)
    np.testing.assert_allclose(got[n_mlp:], 2 * v[n_mlp:], rtol=RTOL[dtype])


def test_linear_policy_without_hidden_layers(rng):
    policy = make_policy("categorical", np.float64, "tanh", hidden=())
    obs = rng.standard_normal((5, policy.obs_dim))
    params = policy.get_params()
    weight = params[: 3 * 3].reshape(3, 3)
    np.testing.assert_allclose(policy.forward(obs), obs @ weight + params[9:12], rtol=1e-12)
    v = rng.standard_normal(policy.num_params)
    assert np.isfinite(policy.fisher_vector_product(obs, v)).all()
