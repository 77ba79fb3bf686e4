"""Conjugate gradient against np.linalg.solve; the TRPO step against its KL bound."""

import numpy as np
import pytest

import fasttrpo
from fasttrpo.steps.trpo import StepOutcome, trpo_step

from conftest import make_policy, sample_actions


def explicit_fisher(linearization, n_params):
    return np.stack([linearization.fvp(e) for e in np.eye(n_params)], axis=1)


@pytest.mark.parametrize("head", ["gaussian", "categorical", "bernoulli"])
@pytest.mark.parametrize("damping", [1e-2, 0.1])
def test_cg_matches_linear_solve(head, damping, rng):
    policy = make_policy(head, np.float64, "tanh", hidden=(4, 3))
    obs = rng.standard_normal((20, policy.obs_dim))
    lin = policy.linearize(obs)
    fisher = explicit_fisher(lin, policy.num_params)
    np.testing.assert_allclose(fisher, fisher.T, atol=1e-10)  # symmetric
    assert np.linalg.eigvalsh(fisher).min() > -1e-10  # positive semi-definite
    rhs = rng.standard_normal(policy.num_params)
    system = fisher + damping * np.eye(policy.num_params)
    expected = np.linalg.solve(system, rhs)
    # CG converges in at most P steps in exact arithmetic; allow 3P for rounding
    x, x_fisher_x, n_iter = lin.conjugate_gradient(rhs, damping, 3 * policy.num_params, 1e-24)
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
    assert x_fisher_x == pytest.approx(x @ fisher @ x, rel=1e-6)
    assert 0 < n_iter <= 3 * policy.num_params


def test_cg_starts_from_zero_and_few_iterations_reduce_residual(rng):
    policy = make_policy("gaussian", np.float32, "tanh", hidden=(8, 8))
    obs = rng.standard_normal((64, policy.obs_dim))
    lin = policy.linearize(obs)
    rhs = rng.standard_normal(policy.num_params).astype(np.float32)
    fisher = explicit_fisher(lin, policy.num_params).astype(np.float64)
    system = fisher + 0.1 * np.eye(policy.num_params)
    residuals = []
    for steps in (1, 5, 10):
        x, x_fisher_x, _ = lin.conjugate_gradient(rhs, 0.1, steps)
        residuals.append(np.linalg.norm(rhs - system @ x))
        # deterministic: same inputs, same bits
        np.testing.assert_array_equal(x, lin.conjugate_gradient(rhs, 0.1, steps)[0])
        assert x_fisher_x == pytest.approx(x @ fisher @ x, rel=1e-3)
    assert residuals[0] > residuals[1] > residuals[2]
    # one step from zero is the steepest-descent step alpha * rhs
    x1 = lin.conjugate_gradient(rhs, 0.1, 1)[0]
    alpha = rhs @ rhs / (rhs @ system @ rhs)
    np.testing.assert_allclose(x1, alpha * rhs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("head", ["gaussian", "categorical", "multidiscrete", "bernoulli"])
def test_natural_step_hits_kl_bound_to_second_order(head, rng):
    policy = make_policy(head, np.float64, "tanh", hidden=(6, 5))
    obs = rng.standard_normal((50, policy.obs_dim))
    actions = sample_actions(policy, head, 50, rng)
    advantages = rng.standard_normal(50)
    lin = policy.linearize(obs)
    _, grad = lin.surrogate_grad(actions, advantages, lin.log_prob(actions))
    x, x_fisher_x, _ = lin.conjugate_gradient(grad, 1e-3, 50)
    errors = []
    for max_kl in (1e-6, 1e-8, 1e-10):
        step = np.sqrt(2 * max_kl / x_fisher_x) * x
        moved = make_policy(head, np.float64, "tanh", hidden=(6, 5))
        moved.set_params(policy.get_params() + step)
        errors.append(abs(moved.mean_kl(obs, policy.get_params()) / max_kl - 1))
    # KL = 0.5 s^T F s + O(|s|^3): the relative error shrinks like |s| ~ sqrt(max_kl)
    # (a wrong x^T F x or FVP would leave a constant relative error instead)
    assert errors[0] < 0.05
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head", ["gaussian", "categorical", "multidiscrete", "bernoulli"])
def test_trpo_step_improves_surrogate_within_kl(head, dtype, rng):
    policy = make_policy(head, dtype, "tanh", hidden=(8,))
    obs = rng.standard_normal((64, policy.obs_dim))
    actions = sample_actions(policy, head, 64, rng)
    advantages = rng.standard_normal(64)
    old = policy.get_params()
    old_log_prob = policy.log_prob(obs, actions)
    info = trpo_step(policy, obs, actions, advantages, old_log_prob, max_kl=0.01, cg_max_steps=10)
    assert info.accepted, info.reason
    assert info.surrogate_after > info.surrogate_before
    kl = policy.mean_kl(obs, old)
    assert 0 < kl <= 0.01 * (1 + 1e-4)
    assert kl == pytest.approx(info.kl, rel=1e-3)
    assert not np.array_equal(policy.get_params(), old)


def test_trpo_step_rejects_and_restores_when_nothing_improves(rng):
    policy = make_policy("gaussian", np.float64, "tanh", hidden=(4,))
    obs = rng.standard_normal((16, policy.obs_dim))
    actions = sample_actions(policy, "gaussian", 16, rng)
    old = policy.get_params()
    # zero advantages: the gradient is zero, x^T F x = 0, the step must be skipped
    info = trpo_step(policy, obs, actions, np.zeros(16))
    assert not info.accepted and info.outcome is StepOutcome.BAD_CURVATURE
    assert "x^T F x" in info.reason
    np.testing.assert_array_equal(policy.get_params(), old)
    # a trust region of 1e30 makes a step ~1e15 long: the candidate's surrogate and KL
    # overflow to inf/NaN, and with a single try the search must fail and restore theta_old
    info = trpo_step(policy, obs, actions, rng.standard_normal(16), max_kl=1e30,
                     line_search_max_iter=1)
    assert not info.accepted
    np.testing.assert_array_equal(policy.get_params(), old)


def test_trpo_step_is_deterministic(rng):
    obs = rng.standard_normal((32, 3))
    results = []
    for _ in range(2):
        policy = fasttrpo.GaussianMLPPolicy(3, 2, (8, 8), seed=7)
        actions = np.random.default_rng(3).standard_normal((32, 2))
        trpo_step(policy, obs, actions, np.linspace(-1, 1, 32))
        results.append(policy.get_params())
    np.testing.assert_array_equal(results[0], results[1])


def test_stale_linearization_refuses_to_compute(rng):
    policy = make_policy("gaussian", np.float64, "tanh", hidden=(4,))
    obs = rng.standard_normal((8, policy.obs_dim))
    first = policy.linearize(obs)
    v = rng.standard_normal(policy.num_params)
    expected = first.fvp(v)
    second = policy.linearize(obs + 1.0)  # reuses the same buffers
    with pytest.raises(ValueError, match="linearization: stale"):
        first.fvp(v)
    assert not np.allclose(second.fvp(v), expected)
    np.testing.assert_allclose(policy.linearize(obs).fvp(v), expected)


@pytest.mark.parametrize("damping", [0.01, 0.5])
def test_damped_step_length_is_sb3s_convention(damping, rng):
    """With ``damped_step_length`` the full step is ``sqrt(2 max_kl / x^T (F + damping I) x)
    x``: shorter than the undamped one by ``sqrt(x^T F x / (x^T F x + damping x.x))``."""
    policy = make_policy("gaussian", np.float64, "tanh", hidden=(8,))
    obs = rng.standard_normal((64, policy.obs_dim))
    actions = sample_actions(policy, "gaussian", 64, rng)
    advantages = rng.standard_normal(64)
    old = policy.get_params()
    old_log_prob = policy.log_prob(obs, actions)
    _, grad = policy.surrogate_grad(obs, actions, advantages, old_log_prob)
    x, x_fisher_x, _ = policy.linearize(obs).conjugate_gradient(grad, damping, 10)
    max_kl = 1e-6
    full_steps = {}
    for damped in (False, True):
        policy.set_params(old)
        info = trpo_step(policy, obs, actions, advantages, old_log_prob, max_kl=max_kl,
                         cg_max_steps=10, cg_damping=damping, damped_step_length=damped)
        assert info.accepted, info.reason
        # the line search took step_fraction of the full step
        full_steps[damped] = (policy.get_params() - old) / info.step_fraction
    curvature = {False: x_fisher_x, True: x_fisher_x + damping * float(x @ x)}
    for damped, step in full_steps.items():
        np.testing.assert_allclose(step, np.sqrt(2 * max_kl / curvature[damped]) * x,
                                   rtol=1e-9, atol=1e-15)
    ratio = np.linalg.norm(full_steps[True]) / np.linalg.norm(full_steps[False])
    assert ratio == pytest.approx(np.sqrt(x_fisher_x / curvature[True]), rel=1e-9)
    assert ratio < 1


def test_trust_region_defaults_in_the_configs():
    """TRPO defaults to sb3-contrib's trust region; the constrained algorithms to OmniSafe's."""
    from fasttrpo import CPO, TRPO, TRPOLagrangian

    trpo = TRPO("MlpPolicy", "CartPole-v1")
    assert trpo.damped_step_length is True and trpo.kl_per_action_dim is True
    assert TRPO("MlpPolicy", "CartPole-v1", damped_step_length=False).damped_step_length is False
    cpo = CPO("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0")
    assert cpo.damped_step_length is True and cpo.kl_per_action_dim is False
    lagrangian = TRPOLagrangian("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0")
    assert lagrangian.damped_step_length is True and lagrangian.kl_per_action_dim is False
    with pytest.raises(ValueError, match="damped_step_length: CPO's step is always damped"):
        CPO("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", damped_step_length=False)


@pytest.mark.parametrize(("kind", "dims"), [("box", 2), ("multibinary", 3), ("discrete", 1),
                                            ("multidiscrete", 1)])
@pytest.mark.parametrize("per_dim", [True, False])
def test_kl_per_action_dim_is_sb3s_mean_kl(kind, dims, per_dim, rng):
    """``kl_per_action_dim``: the step sb3-contrib takes with ``kl_divergence(...).mean()``.

    sb3 averages a diagonal Gaussian's (or Bernoulli's) per-dimension KL terms, so its KL is
    ``KL / d`` and its Fisher ``F / d`` (categorical heads: d = 1). Reference, from the
    explicit joint Fisher: x = (F / d + damping I)^-1 g, full step
    ``sqrt(2 target_kl / x^T (F / d + damping I) x) x``, accepted at once (tiny target_kl).
    """
    from fasttrpo import TRPO
    from fasttrpo.algorithms.trpo import kl_scale, trust_region_kwargs

    from toy_envs import MatchEnv

    target_kl, damping = 1e-7, 0.1
    model = TRPO("MlpPolicy", MatchEnv(kind), dtype="float64", seed=0, target_kl=target_kl,
                 cg_damping=damping, kl_per_action_dim=per_dim,
                 policy_kwargs=dict(net_arch=[6]))
    policy = model.policy
    d = dims if per_dim else 1
    assert kl_scale(model.config, policy) == d
    obs = rng.standard_normal((48, policy.obs_dim))
    actions = policy.act(obs, rng=rng)
    advantages = rng.standard_normal(48)
    old = policy.get_params()
    old_log_prob = policy.log_prob(obs, actions)
    _, grad = policy.surrogate_grad(obs, actions, advantages, old_log_prob)
    fisher = explicit_fisher(policy.linearize(obs), policy.num_params) / d
    system = fisher + damping * np.eye(policy.num_params)
    x = np.linalg.solve(system, grad)
    expected = old + np.sqrt(2 * target_kl / (x @ system @ x)) * x

    kwargs = {**trust_region_kwargs(model.config, policy), "cg_max_steps": 4 * policy.num_params}
    info = trpo_step(policy, obs, actions, advantages, old_log_prob, damped_step_length=True,
                     **kwargs)
    assert info.accepted and info.step_fraction == 1.0, info.reason
    step, expected_step = policy.get_params() - old, expected - old
    # CG stops at its residual tolerance: agreement to 1e-4 of the step; a wrong d is off by
    # far more (the log_std / Bernoulli directions alone change by a factor up to d)
    assert np.linalg.norm(step - expected_step) <= 1e-4 * np.linalg.norm(expected_step)
    # the KL sb3 bounds: the joint one over d
    assert info.kl / d <= target_kl
