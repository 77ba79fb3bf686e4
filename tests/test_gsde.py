"""gSDE (generalized state-dependent exploration): the kernels against float64 numpy references,
finite differences and explicit Fisher matrices; acting (Cython, compiled rollout, samplers);
config, save/load, runtime and learning.

The policy: ``a = mu(s) + z(s) @ E``, ``z`` the last hidden layer, ``E_ij ~ N(0, std_ij^2)``;
per state ``N(mu, var)`` with ``var_j = sum_i z_i^2 std_ij^2 + 1e-6``. The update treats ``z``
as data (detached, sb3's ``learn_features=False``): the references below freeze it where the
kernels do.
"""

import numpy as np
import pytest
from test_compiled_sampler import _rollouts

import fasttrpo
from fasttrpo import TRPO, runtime
from fasttrpo.envs.compiled import make_port
from fasttrpo.models.spaces import ActionCodec, ObsEncoder

import reference
from conftest import RTOL, check_surrogate_grad, require
from toy_envs import MatchEnv

CASES = [(dtype, activation, full_std, hidden)
         for dtype in (np.float32, np.float64) for activation in ("tanh", "relu")
         for full_std in (True, False) for hidden in ((5, 4), ())
         if hidden or activation == "tanh"]
IDS = [f"{np.dtype(d).name}-{a}-{'full' if f else 'shared'}-{len(h)}hidden"
       for d, a, f, h in CASES]
TINY = dict(n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[8]), n_critic_updates=2)


def make_sde_policy(dtype, activation="tanh", full_std=True, hidden=(5, 4), obs_dim=3,
                    act_dim=2, seed=0, **kwargs):
    policy = fasttrpo.GaussianSDEMLPPolicy(obs_dim, act_dim, hidden_sizes=hidden,
                                           activation=activation, dtype=dtype, seed=seed,
                                           full_std=full_std, **kwargs)
    # larger output weights than the 0.01 initialisation, and log_std entries that differ (a
    # wrong (latent, action) index would show)
    rng = np.random.default_rng(seed + 100)
    params = policy.get_params().astype(np.float64)
    params[: policy.n_mlp] += 0.5 * rng.standard_normal(policy.n_mlp)
    params[policy.n_mlp :] = -0.3 + 0.3 * rng.standard_normal(params.size - policy.n_mlp)
    policy.set_params(params)
    return policy


def ref_mean_latent(policy, params, obs):
    sizes, activation = policy.layout.layer_sizes, policy.activation
    mlp = params[: policy.n_mlp]
    return (reference.mlp_forward(mlp, sizes, activation, obs),
            reference.mlp_latent(mlp, sizes, activation, obs))


def ref_var(policy, latent, params):
    return reference.sde_variance(latent, params[policy.n_mlp :], policy.act_dim)


# ---- the distribution: log-likelihood, entropy, KL ------------------------------------------
@pytest.mark.parametrize(("dtype", "activation", "full_std", "hidden"), CASES, ids=IDS)
def test_log_prob_entropy_kl_match_reference(dtype, activation, full_std, hidden, rng):
    policy = make_sde_policy(dtype, activation, full_std, hidden)
    assert policy.log_std.shape == ((policy.latent_dim * 2,) if full_std else
                                    (policy.latent_dim,))
    n = 11
    obs = rng.standard_normal((n, policy.obs_dim))
    actions = rng.standard_normal((n, 2))
    params = policy.get_params().astype(np.float64)
    mean, latent = ref_mean_latent(policy, params, obs)
    var = ref_var(policy, latent, params)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(policy.log_prob(obs, actions),
                               reference.gauss_log_prob(mean, var, actions), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(policy.entropy(obs), reference.gauss_entropy(var), rtol=rtol)
    old = params + 0.1 * rng.standard_normal(params.size)
    old_mean, old_latent = ref_mean_latent(policy, old, obs)
    expected_kl = reference.gauss_mean_kl(old_mean, ref_var(policy, old_latent, old), mean, var)
    assert expected_kl > 1e-3
    np.testing.assert_allclose(policy.mean_kl(obs, old), expected_kl, rtol=rtol * 5)
    assert policy.mean_kl(obs, policy.get_params()) == pytest.approx(0.0, abs=1e-6)
    # the line search evaluates a candidate with its own features z(s; candidate)
    advantages = rng.standard_normal(n)
    old_log_prob = reference.gauss_log_prob(mean, var, actions)
    value, kl = policy.linearize(obs).surrogate_and_kl(old, actions, advantages, old_log_prob)
    candidate_var = ref_var(policy, old_latent, old)
    expected_value = np.mean(np.exp(reference.gauss_log_prob(old_mean, candidate_var, actions)
                                    - old_log_prob) * advantages)
    assert value == pytest.approx(expected_value, rel=rtol * 5, abs=rtol)
    np.testing.assert_allclose(kl, reference.gauss_mean_kl(mean, var, old_mean, candidate_var),
                               rtol=rtol * 5)


# ---- the surrogate gradient: finite differences with the features held fixed ------------------
@pytest.mark.parametrize(("dtype", "activation", "full_std", "hidden"), CASES, ids=IDS)
def test_surrogate_grad_matches_finite_differences(dtype, activation, full_std, hidden, rng):
    policy = make_sde_policy(dtype, activation, full_std, hidden)
    n = 13
    obs = rng.standard_normal((n, policy.obs_dim))
    actions = rng.standard_normal((n, 2))
    advantages = rng.standard_normal(n)
    params = policy.get_params().astype(np.float64)
    mean0, latent0 = ref_mean_latent(policy, params, obs)
    old_log_prob = (reference.gauss_log_prob(mean0, ref_var(policy, latent0, params), actions)
                    + 0.2 * rng.standard_normal(n))

    def surrogate(theta, detached=True):
        mean, latent = ref_mean_latent(policy, theta, obs)
        var = ref_var(policy, latent0 if detached else latent, theta)
        return np.mean(np.exp(reference.gauss_log_prob(mean, var, actions) - old_log_prob)
                       * advantages)

    expected, scale = check_surrogate_grad(policy, dtype, obs, actions, advantages,
                                           old_log_prob, surrogate, params)
    if hidden:  # detached features: the variance's path through the MLP is left out
        full = reference.central_gradient(lambda t: surrogate(t, detached=False), params, 1e-6)
        assert np.abs(full - expected)[: policy.n_mlp].max() > 100 * RTOL[dtype] * scale
        np.testing.assert_allclose(full[policy.n_mlp :], expected[policy.n_mlp :], rtol=1e-6,
                                   atol=1e-9 * scale)


# ---- the Fisher matrix ------------------------------------------------------------------------
def _fisher_matrix(policy, obs):
    linearization = policy.linearize(obs)
    return np.stack([linearization.fvp(e) for e in np.eye(policy.num_params)], axis=1)


@pytest.mark.parametrize(("dtype", "activation", "full_std", "hidden"), CASES, ids=IDS)
def test_fisher_matches_kl_hessian(dtype, activation, full_std, hidden, rng):
    """F = the Hessian of mean KL(pi_old || pi_theta) at theta_old, z held at z(s; theta_old)."""
    policy = make_sde_policy(dtype, activation, full_std, hidden and (4, 3), obs_dim=2)
    obs = rng.standard_normal((9, policy.obs_dim))
    params = policy.get_params().astype(np.float64)
    mean_old, latent_old = ref_mean_latent(policy, params, obs)
    var_old = ref_var(policy, latent_old, params)

    def kl(theta):
        mean, _ = ref_mean_latent(policy, theta, obs)
        return reference.gauss_mean_kl(mean_old, var_old, mean, ref_var(policy, latent_old, theta))

    hessian = reference.central_hessian(kl, params, 1e-3)
    fisher = _fisher_matrix(policy, obs)
    scale = np.abs(hessian).max()
    np.testing.assert_allclose(fisher, hessian, rtol=RTOL[dtype] * 10,
                               atol=RTOL[dtype] * 10 * scale)
    # symmetric positive semi-definite, as CG needs
    np.testing.assert_allclose(fisher, fisher.T, atol=RTOL[dtype] * scale)
    assert np.linalg.eigvalsh((fisher + fisher.T) / 2).min() > -RTOL[dtype] * 10 * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("full_std", [True, False])
def test_fisher_is_the_explicit_gauss_newton_matrix(dtype, full_std, rng):
    """F = (J_mu^T diag(1/var) J_mu + J_var^T diag(1/(2 var^2)) J_var) / N from
    finite-difference Jacobians of the per-state mean and variance (z held fixed)."""
    policy = make_sde_policy(dtype, "relu", full_std, (6, 5, 4), obs_dim=4, act_dim=3)
    obs = rng.standard_normal((10, policy.obs_dim))
    params = policy.get_params().astype(np.float64)
    _, latent = ref_mean_latent(policy, params, obs)

    def mean_and_var(theta):
        mean, _ = ref_mean_latent(policy, theta, obs)
        return np.concatenate([mean.ravel(), ref_var(policy, latent, theta).ravel()])

    step = 1e-6 * np.eye(params.size)
    jac = np.stack([(mean_and_var(params + e) - mean_and_var(params - e)) / 2e-6 for e in step],
                   axis=1)
    var = ref_var(policy, latent, params).ravel()
    weights = np.concatenate([1 / var, 1 / (2 * var ** 2)])
    expected = jac.T @ (weights[:, None] * jac) / obs.shape[0]
    got = _fisher_matrix(policy, obs)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype] * 5, atol=RTOL[dtype] * scale)
    v = rng.standard_normal(policy.num_params)
    np.testing.assert_allclose(policy.fisher_vector_product(obs, v), expected @ v,
                               rtol=RTOL[dtype] * 5,
                               atol=RTOL[dtype] * scale * np.abs(v).sum())


# ---- acting -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", [(), (6,), (6, 5), (6, 5, 4)])  # latent in obs, ping, pong
def test_cython_act_is_mean_plus_latent_times_exploration(dtype, hidden, rng):
    policy = make_sde_policy(dtype, "tanh", True, hidden, obs_dim=3, act_dim=2)
    obs = rng.standard_normal((7, 3)).astype(dtype)
    noise = np.empty((7, policy.noise_width), dtype=dtype)
    assert policy.draw_noise(np.random.default_rng(5), noise) is noise
    # E = std * eps: the exploration matrices drawn from the generator
    eps = np.random.default_rng(5).standard_normal((7, policy.noise_width), dtype=dtype)
    np.testing.assert_array_equal(noise, eps * np.exp(policy.log_std))
    out = np.empty((7, 2), dtype=dtype)
    got = policy.act_into(obs, False, None, out, noise)
    params = policy.get_params().astype(np.float64)
    mean, latent = ref_mean_latent(policy, params, obs)
    explore = np.einsum("ni,nij->nj", latent, noise.reshape(7, policy.latent_dim, 2))
    np.testing.assert_allclose(got, mean + explore, rtol=RTOL[dtype], atol=RTOL[dtype])
    np.testing.assert_allclose(policy.act(obs, deterministic=True), mean, rtol=RTOL[dtype],
                               atol=RTOL[dtype])


def test_shared_std_exploration_matrix():
    """full_std=False: std_ij = exp(log_std[i]) for every action j."""
    policy = make_sde_policy(np.float64, full_std=False, act_dim=3)
    assert policy.log_std.shape == (4,) and policy.noise_width == 12
    noise = policy.draw_noise(np.random.default_rng(0), np.empty((2, 12)))
    eps = np.random.default_rng(0).standard_normal((2, 4, 3))
    np.testing.assert_array_equal(noise.reshape(2, 4, 3),
                                  eps * np.exp(policy.log_std)[None, :, None])


@pytest.mark.parametrize("full_std", [True, False])
def test_fresh_exploration_samples_the_per_state_gaussian(full_std):
    """Fresh E per draw: the action is N(mu, z^2 @ std^2), the density the update uses."""
    policy = make_sde_policy(np.float64, full_std=full_std, act_dim=2)
    obs = np.repeat(np.random.default_rng(3).standard_normal((1, 3)), 40000, axis=0)
    actions = policy.act(obs, rng=np.random.default_rng(4))
    params = policy.get_params()
    mean, latent = ref_mean_latent(policy, params, obs[:1])
    var = ref_var(policy, latent, params)[0] - reference.SDE_EPSILON
    assert (np.abs(actions.mean(axis=0) - mean[0]) < 4 * np.sqrt(var / 40000)).all()
    np.testing.assert_allclose(actions.var(axis=0), var, rtol=0.04)


def _sde_rollouts(env_id, kind, freq, dtype, n_envs=3, n_steps=50, iterations=2, normalize=True):
    """A gSDE policy's batches from one sampler (`test_compiled_sampler._rollouts`)."""
    port = make_port(env_id)
    obs_dim = ObsEncoder.for_space(port.observation_space).obs_dim
    policy = make_sde_policy(dtype, "tanh", True, (8,), obs_dim=obs_dim,
                             act_dim=ActionCodec.for_space(port.action_space).width,
                             sde_sample_freq=freq)
    batches, _ = _rollouts(port, kind, n_envs, dtype, normalize, n_steps, iterations, policy)
    return policy, batches


@pytest.mark.parametrize(("env_id", "freq", "dtype"), [
    ("Pendulum-v1", 4, np.float64), ("Pendulum-v1", -1, np.float32),
    ("MountainCarContinuous-v0", 3, np.float64)])
def test_compiled_sampler_matches_the_gymnasium_sampler(env_id, freq, dtype):
    """The same exploration matrices from the same generator in both samplers: the same
    batches up to the last bits of the means (summation orders differ)."""
    _, compiled = _sde_rollouts(env_id, "compiled", freq, dtype)
    _, gym = _sde_rollouts(env_id, "gym", freq, dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    for ours, theirs in zip(compiled, gym, strict=True):
        for name in ("obs", "actions", "rewards"):
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=tol,
                                       atol=tol, err_msg=name)
        np.testing.assert_array_equal(ours.flags, theirs.flags)


@pytest.mark.parametrize("kind", ["gym", "compiled"])
@pytest.mark.parametrize("freq", [4, -1])
def test_exploration_matrix_is_held_for_sde_sample_freq_steps(kind, freq):
    """Replaying each env's stream (SeedSequence(1).spawn(n_envs)): E drawn at step 0 of every
    rollout and every freq steps, one per env, then a_t = mu(s_t) + z(s_t) @ E."""
    n_envs, n_steps = 3, 10
    policy, batches = _sde_rollouts("Pendulum-v1", kind, freq, np.float64, n_envs, n_steps,
                                    normalize=False)
    replay = [np.random.default_rng(child) for child in np.random.SeedSequence(1).spawn(n_envs)]
    params = policy.get_params()
    for batch in batches:
        exploration = None
        for t in range(n_steps):
            if t == 0 or (freq > 0 and t % freq == 0):
                exploration = np.stack([r.standard_normal(policy.noise_width) for r in replay])
                exploration *= np.exp(policy.log_std)
            mean, latent = ref_mean_latent(policy, params, batch.obs[t])
            expected = mean + np.einsum("ni,nij->nj", latent,
                                        exploration.reshape(n_envs, policy.latent_dim, 1))
            np.testing.assert_allclose(batch.actions[t], expected, rtol=1e-9, atol=1e-9)


# ---- configuration, model, save / load ----------------------------------------------------------
def test_configuration_errors():
    with pytest.raises(ValueError, match="use_sde: gSDE needs a Box action space"):
        TRPO("MlpPolicy", MatchEnv("discrete"), use_sde=True)
    with pytest.raises(ValueError, match="use_sde: gSDE needs a Box action space"):
        TRPO("MlpPolicy", MatchEnv("multibinary"), use_sde=True)
    with pytest.raises(ValueError, match="full_std: expected True or False"):
        TRPO("MlpPolicy", MatchEnv("box"), use_sde=True, policy_kwargs=dict(full_std="yes"))
    with pytest.raises(ValueError, match="sde_sample_freq: must be an integer >= -1"):
        TRPO("MlpPolicy", MatchEnv("box"), use_sde=True, sde_sample_freq=-2)
    with pytest.raises(ValueError, match="use_sde: expected True or False"):
        TRPO("MlpPolicy", MatchEnv("box"), use_sde="on")
    # full_std without use_sde is accepted and changes nothing, as in sb3
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, policy_kwargs=dict(full_std=False))
    assert type(model.policy) is fasttrpo.GaussianMLPPolicy


@pytest.mark.parametrize(("net_arch", "full_std", "n_log_std"), [
    ([8], True, 16), ([8], False, 8), ([], True, 8), ([], False, 4), ([6, 5], True, 10)])
def test_parameter_layout(net_arch, full_std, n_log_std):
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, use_sde=True, sde_sample_freq=2,
                 policy_kwargs=dict(net_arch=net_arch, full_std=full_std, log_std_init=-1.5))
    policy = model.policy
    assert isinstance(policy, fasttrpo.GaussianSDEMLPPolicy) and policy.head == 3
    assert policy.num_params == policy.n_mlp + n_log_std
    np.testing.assert_array_equal(policy.log_std, np.full(n_log_std, -1.5, dtype=np.float32))
    assert policy.sde_sample_freq == 2
    np.testing.assert_array_equal(policy.noise_schedule(7), [0, 0, 1, 1, 2, 2, 3])
    # get_parameters / set_parameters: sb3's log_std shape, (Z, act_dim) or (Z, 1)
    named = model.get_parameters()
    assert named["policy"]["log_std"].shape == (n_log_std // (2 if full_std else 1),
                                                2 if full_std else 1)
    named["policy"]["log_std"] = named["policy"]["log_std"] + np.arange(n_log_std).reshape(
        named["policy"]["log_std"].shape)
    model.set_parameters(named)
    np.testing.assert_array_equal(policy.log_std, -1.5 + np.arange(n_log_std))


def test_predict_deterministic_is_the_mean_and_stochastic_explores():
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, use_sde=True, **TINY)
    model.learn(128)
    obs = np.random.default_rng(0).uniform(-1, 1, (50, 4)).astype(np.float32)
    mean = np.clip(model.policy.forward(obs), -1, 1)
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0], mean, atol=1e-6)
    sampled = model.predict(obs)[0]
    assert sampled.shape == (50, 2) and not np.allclose(sampled, mean)


@pytest.mark.parametrize("compiled", [False, True])
def test_same_seed_gives_bit_identical_parameters(compiled):
    kwargs = dict(seed=5, use_sde=True, sde_sample_freq=4, compiled=compiled, **TINY)
    first = TRPO("MlpPolicy", "Pendulum-v1", **kwargs).learn(192)
    second = TRPO("MlpPolicy", "Pendulum-v1", **kwargs).learn(192)
    np.testing.assert_array_equal(first.policy.get_params(), second.policy.get_params())
    # the steps changed log_std, of the new shape (8 latent units x 1 action)
    assert first.policy.log_std.shape == (8,)
    assert not np.array_equal(first.policy.log_std, np.zeros(8, dtype=np.float32))


@pytest.mark.parametrize("full_std", [True, False])
def test_save_load_round_trip_and_resume(tmp_path, full_std):
    kwargs = dict(seed=0, use_sde=True, sde_sample_freq=4, **{
        **TINY, "policy_kwargs": dict(net_arch=[8], full_std=full_std)})
    model = TRPO("MlpPolicy", "Pendulum-v1", **kwargs)
    model.learn(128)
    path = model.save(tmp_path / "model")
    loaded = TRPO.load(path)
    assert isinstance(loaded.policy, fasttrpo.GaussianSDEMLPPolicy)
    assert loaded.config.use_sde and loaded.config.sde_sample_freq == 4
    assert loaded.policy.full_std is full_std and loaded.policy.sde_sample_freq == 4
    np.testing.assert_array_equal(loaded.policy.get_params(), model.policy.get_params())
    obs = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])
    # the same generator state: the same stochastic actions
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    # sde_sample_freq may change on load; use_sde shapes the network and may not
    assert TRPO.load(path, sde_sample_freq=8).policy.sde_sample_freq == 8
    with pytest.raises(ValueError, match="use_sde: cannot be changed when loading"):
        TRPO.load(path, use_sde=False)
    resumed = TRPO.load(path, env="Pendulum-v1")
    resumed.learn(64, reset_num_timesteps=False)
    assert resumed.num_timesteps == 192
    assert not np.array_equal(resumed.policy.log_std, model.policy.log_std)


def test_load_refuses_a_log_std_of_the_wrong_size(tmp_path):
    from fasttrpo.logs.serialization import load_archive, save_archive

    model = TRPO("MlpPolicy", "Pendulum-v1", seed=0, use_sde=True, **TINY)
    meta, arrays = load_archive(model.save(tmp_path / "m"))
    meta["config"]["policy_kwargs"]["full_std"] = False  # expects 8 log_std, the file has 8*1
    save_archive(tmp_path / "bad", meta, arrays)
    TRPO.load(tmp_path / "bad")  # act_dim 1: both layouts have 8 entries
    meta["config"]["policy_kwargs"]["net_arch"] = [9]
    arrays["policy/params"] = np.zeros(3 * 9 + 9 + 9 + 1 + 8, dtype=np.float32)
    save_archive(tmp_path / "bad", meta, arrays)
    with pytest.raises(ValueError, match="policy/params.*has shape"):
        TRPO.load(tmp_path / "bad")


# ---- runtime and export -------------------------------------------------------------------------
def test_runtime_acts_with_held_exploration_matrices(tmp_path):
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, use_sde=True, **{
        **TINY, "policy_kwargs": dict(net_arch=[8], log_std_init=-1.0)})
    model.learn(64)
    policy = runtime.load(model.export(tmp_path / "policy.npz")[0])
    assert policy.head == "gsde" and policy.log_std.shape == (16,)
    obs = np.random.default_rng(0).uniform(-1, 1, (6, 4)).astype(np.float32)
    exploration = policy.sample_exploration(np.random.default_rng(2))
    eps = np.random.default_rng(2).standard_normal((1, 16), dtype=np.float32)
    np.testing.assert_array_equal(exploration.reshape(1, 16), eps * np.exp(policy.log_std))
    mean, latent = ref_mean_latent(model.policy, model.policy.get_params().astype(np.float64),
                                   obs)
    expected = np.clip(mean + latent @ exploration[0], -1, 1)
    np.testing.assert_allclose(policy.act(obs, deterministic=False, exploration=exploration),
                               expected, atol=1e-5)
    per_row = policy.sample_exploration(np.random.default_rng(3), 6)
    np.testing.assert_allclose(
        policy.act(obs, deterministic=False, exploration=per_row),
        np.clip(mean + np.einsum("ni,nij->nj", latent, per_row), -1, 1), atol=1e-5)
    np.testing.assert_allclose(policy.act(obs), np.clip(mean, -1, 1), atol=1e-5)
    with pytest.raises(ValueError, match="exploration: expected shape"):
        policy.act(obs, deterministic=False, exploration=np.zeros((2, 8, 2)))


def test_runtime_validates_gsde_files():
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, use_sde=True, **TINY)
    from fasttrpo.export.model import policy_from_model

    good = policy_from_model(model)
    args = dict(observation_space=good.observation_space, action_space=good.action_space,
                layer_sizes=good.layer_sizes, activation="tanh", head="gsde", nvec=[])
    params = good.params
    runtime.Policy(**args, params=params[:-8])  # one std per latent unit: 8 of them
    with pytest.raises(ValueError, match="params: expected 74 or 66 values"):
        runtime.Policy(**args, params=params[:-3])
    with pytest.raises(ValueError, match="needs the categorical head"):
        runtime.Policy(**{**args, "action_space": {"type": "Discrete", "n": 2, "start": 0}},
                       params=params)
    with pytest.raises(ValueError, match="no exploration matrix"):
        runtime.Policy(**{**args, "head": "gaussian"}, params=params[:-14]).sample_exploration(
            np.random.default_rng(0))


# ---- learning ---------------------------------------------------------------------------------
def test_learning_beats_initial_policy():
    """As tests/test_trpo.py's learning test, with gSDE exploration."""
    env = MatchEnv("box")
    model = TRPO("MlpPolicy", env, seed=0, n_steps=500, batch_size=100, use_sde=True,
                 sde_sample_freq=4, policy_kwargs=dict(net_arch=[32], log_std_init=-1.0),
                 target_kl=0.05, n_critic_updates=5)
    obs = np.random.default_rng(1).uniform(-1, 1, (300, 4)).astype(np.float32)

    def score():
        actions, _ = model.predict(obs, deterministic=True)
        return np.mean([env.reward(o, a) for o, a in zip(obs, actions)])

    before = score()
    model.learn(6000)
    after = score()
    best = np.mean([env.reward(o, env.optimal(o)) for o in obs])
    assert after - before > 0.6 * (best - before), (before, after, best)


# ---- against sb3's StateDependentNoiseDistribution (when torch is installed) -------------------
@pytest.mark.optional_deps
@pytest.mark.parametrize("full_std", [True, False])
def test_matches_sb3_state_dependent_noise_distribution(full_std, rng):
    torch = require("torch")
    distributions = require("stable_baselines3.common.distributions")
    policy = make_sde_policy(np.float64, "tanh", full_std, (5, 4), act_dim=2)
    n = 9
    obs = rng.standard_normal((n, 3))
    actions = rng.standard_normal((n, 2))
    weights = rng.standard_normal(n)
    params = policy.get_params()
    mean, latent = ref_mean_latent(policy, params, obs)
    dist = distributions.StateDependentNoiseDistribution(2, full_std=full_std)
    _, log_std = dist.proba_distribution_net(latent_dim=4, latent_sde_dim=4)  # float32: unused
    mean_t = torch.tensor(mean, requires_grad=True)
    log_std_t = torch.tensor(params[policy.n_mlp :]).reshape(log_std.shape).requires_grad_()
    dist.proba_distribution(mean_t, log_std_t, torch.tensor(latent))
    log_prob = dist.log_prob(torch.tensor(actions))
    (log_prob * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(policy.log_prob(obs, actions), log_prob.detach().numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(policy.entropy(obs), dist.entropy().mean().item(), rtol=1e-10)
    # d/d(mean, log_std) of sum_n weights_n log pi(a_n | s_n), the features detached
    linearization = policy.linearize(obs)
    dout = np.empty((n, 2))
    dlog_std = np.empty(policy.log_std.size)
    from fasttrpo.kernels import distributions as kernels

    kernels.sde_log_prob_grad(policy.kernel_layout, linearization.out, linearization.latent,
                              policy.log_std, actions, weights, dout, dlog_std)
    np.testing.assert_allclose(dout, mean_t.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(dlog_std, log_std_t.grad.numpy().ravel(), rtol=1e-9, atol=1e-12)
    # KL(pi_old || pi), each with its own features
    old = params + 0.1 * rng.standard_normal(params.size)
    old_mean, old_latent = ref_mean_latent(policy, old, obs)
    old_dist = distributions.StateDependentNoiseDistribution(2, full_std=full_std)
    old_dist.proba_distribution_net(latent_dim=4, latent_sde_dim=4)
    old_dist.proba_distribution(torch.tensor(old_mean), torch.tensor(
        old[policy.n_mlp :]).reshape(log_std.shape), torch.tensor(old_latent))
    expected = torch.distributions.kl_divergence(old_dist.distribution, dist.distribution)
    np.testing.assert_allclose(policy.mean_kl(obs, old), expected.sum(dim=1).mean().item(),
                               rtol=1e-9)
