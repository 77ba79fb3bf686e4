"""The GRU kernels (``fasttrpo/kernels/gru.py``) and policies (``fasttrpo/models/recurrent.py``)
against references written apart from them: a plain numpy loop, torch's ``nn.GRU`` and
double backprop (optional), central finite differences, an explicit ``J^T M J``."""

import numba
import numpy as np
import pytest

from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS, use_threads
from fasttrpo.kernels import gru
from fasttrpo.models.recurrent import CategoricalGRUPolicy, GaussianGRUPolicy

import reference
from conftest import require

HID, OBS, ACT, N_CLASSES = 5, 3, 2, 4
STARTS = np.array([0, 7, 9, 21, 22])  # sequences of 7, 2, 12 and 1 rows


def make_policy(head, dtype=np.float64, encoder=(4,), seed=0, hidden=HID):
    if head == "gaussian":
        policy = GaussianGRUPolicy(OBS, ACT, hidden_size=hidden, encoder_sizes=encoder,
                                   dtype=dtype, seed=seed, log_std_init=-0.3)
    else:
        policy = CategoricalGRUPolicy(OBS, N_CLASSES, hidden_size=hidden, encoder_sizes=encoder,
                                      dtype=dtype, seed=seed)
    # larger weights than the initialisation, so that gates and outputs are far from flat
    params = policy.get_params().astype(np.float64)
    params[: policy.n_net] += 0.4 * np.random.default_rng(seed + 7).standard_normal(policy.n_net)
    policy.set_params(params)
    return policy


def make_batch(rng, starts=STARTS, obs_dim=OBS, hidden=HID):
    n_rows, n_seq = int(starts[-1]), len(starts) - 1
    return rng.standard_normal((n_rows, obs_dim)), starts, 0.5 * rng.standard_normal((n_seq,
                                                                                      hidden))


def sample_actions(policy, n_rows, rng):
    if isinstance(policy, GaussianGRUPolicy):
        return rng.standard_normal((n_rows, ACT))
    return rng.integers(0, N_CLASSES, size=n_rows)


def split_params(policy, params):
    """Named float64 pieces of the flat vector (the layout of ``kernels/gru.py``)."""
    hid, out_dim = policy.hidden_size, policy.out_dim
    sizes = {"enc": policy.encoder.num_params, "w_hh": 3 * hid * hid, "b_hh": 3 * hid,
             "w_out": hid * out_dim, "b_out": out_dim}
    pieces, start = {}, 0
    for name, size in sizes.items():
        pieces[name] = np.asarray(params[start : start + size], dtype=np.float64)
        start += size
    pieces["w_hh"] = pieces["w_hh"].reshape(hid, 3 * hid)
    pieces["w_out"] = pieces["w_out"].reshape(hid, out_dim)
    pieces["log_std"] = np.asarray(params[start:], dtype=np.float64)
    return pieces


def ref_forward(policy, params, obs, starts, h0):
    """Plain numpy loop over time: (out (T, D), hidden (T, H))."""
    p = split_params(policy, params)
    hid = policy.hidden_size
    gi = reference.mlp_forward(p["enc"], policy.encoder.layer_sizes, "tanh", obs)
    hidden = np.empty((obs.shape[0], hid))
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    for s in range(len(starts) - 1):
        h = np.asarray(h0[s], dtype=np.float64)
        for t in range(starts[s], starts[s + 1]):
            gh = h @ p["w_hh"] + p["b_hh"]
            r = sigmoid(gi[t, :hid] + gh[:hid])
            z = sigmoid(gi[t, hid : 2 * hid] + gh[hid : 2 * hid])
            n = np.tanh(gi[t, 2 * hid :] + r * gh[2 * hid :])
            h = (1 - z) * n + z * h
            hidden[t] = h
    return hidden @ p["w_out"] + p["b_out"], hidden


def kind(policy):
    return "gaussian" if isinstance(policy, GaussianGRUPolicy) else "categorical"


def ref_mean_kl(policy, old_params, params, obs, starts, h0):
    nvec = [N_CLASSES]
    old_out, _ = ref_forward(policy, old_params, obs, starts, h0)
    out, _ = ref_forward(policy, params, obs, starts, h0)
    return reference.mean_kl(kind(policy), old_out, old_params[policy.n_net :], out,
                             params[policy.n_net :], nvec)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---- forward ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("encoder", [(4,), ()])
def test_forward_matches_a_numpy_loop(dtype, encoder, rng):
    policy = make_policy("gaussian", dtype, encoder)
    obs, starts, h0 = make_batch(rng)
    out, hidden = policy.forward(obs, starts, h0)
    want_out, want_hidden = ref_forward(policy, policy.get_params(), obs.astype(dtype), starts,
                                        h0.astype(dtype))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(hidden, want_hidden, rtol=tol, atol=tol)
    np.testing.assert_allclose(out, want_out, rtol=tol, atol=tol)
    assert out.dtype == dtype


def test_carried_state_across_a_split_gives_the_unsplit_outputs(rng):
    """One sequence of 40 rows, and the same split at rows 13 and 29 with the state carried
    (h0 of a piece = last hidden state of the piece before), as a rollout splits segments."""
    policy = make_policy("categorical")
    obs, _, h0 = make_batch(rng, np.array([0, 40]))
    whole, hidden = policy.forward(obs, [0, 40], h0)
    pieces = [0, 13, 29, 40]
    carried = np.stack([h0[0], hidden[12], hidden[28]])
    split, _ = policy.forward(obs, pieces, carried)
    np.testing.assert_allclose(split, whole, rtol=1e-13, atol=1e-13)
    # acting one step at a time with the carried state gives the same distributions
    state = h0[:1]
    for t in range(40):
        action, state = policy.act(obs[t : t + 1], state, deterministic=True)
        assert action[0] == whole[t].argmax()
    np.testing.assert_allclose(state[0], hidden[-1], rtol=1e-13, atol=1e-13)
    # an episode start resets the state to zero
    _, reset = policy.act(obs[:1], state, deterministic=True, episode_start=[True])
    np.testing.assert_allclose(reset, policy.forward(obs[:1], [0, 1], np.zeros((1, HID)))[1])


def test_pickled_policy_has_no_buffers_and_the_same_outputs(rng):
    import pickle

    policy = make_policy("gaussian", np.float32)
    obs, starts, h0 = make_batch(rng)
    policy.linearize(obs, starts, h0)
    blob = pickle.dumps(policy)
    copy = pickle.loads(blob)
    assert len(blob) < 4 * policy.num_params + 4000  # parameters, not the batch's buffers
    np.testing.assert_array_equal(copy.forward(obs, starts, h0)[0],
                                  policy.forward(obs, starts, h0)[0])


@pytest.mark.optional_deps
def test_forward_matches_torch_gru_with_copied_weights(rng):
    torch = require("torch")
    policy = make_policy("gaussian", np.float64, encoder=())  # the GRU reads obs directly
    p = split_params(policy, policy.get_params())
    layer = torch.nn.GRU(OBS, HID, batch_first=True).double()
    w_ih = p["enc"][: OBS * 3 * HID].reshape(OBS, 3 * HID)
    with torch.no_grad():  # torch keeps W.T: (3H, fan_in), gate rows r, z, n
        layer.weight_ih_l0.copy_(torch.tensor(w_ih.T))
        layer.bias_ih_l0.copy_(torch.tensor(p["enc"][OBS * 3 * HID :]))
        layer.weight_hh_l0.copy_(torch.tensor(p["w_hh"].T))
        layer.bias_hh_l0.copy_(torch.tensor(p["b_hh"]))
    obs, starts, h0 = make_batch(rng)
    _, hidden = policy.forward(obs, starts, h0)
    for s in range(len(starts) - 1):
        rows = slice(starts[s], starts[s + 1])
        with torch.no_grad():
            want, last = layer(torch.tensor(obs[rows])[None], torch.tensor(h0[s])[None, None])
        np.testing.assert_allclose(hidden[rows], want[0].numpy(), rtol=1e-12, atol=1e-12)


# ---- gradient -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head", ["gaussian", "categorical"])
def test_surrogate_gradient_matches_central_differences(head, dtype, rng):
    """float64 against central differences of the float64 numpy loop; float32 against the
    same, within float32's rounding."""
    policy = make_policy(head, dtype)
    obs, starts, h0 = make_batch(rng)
    n_rows = obs.shape[0]
    actions = sample_actions(policy, n_rows, rng)
    advantages = rng.standard_normal(n_rows)
    params = policy.get_params().astype(np.float64)
    obs, h0 = obs.astype(dtype).astype(np.float64), h0.astype(dtype).astype(np.float64)
    out, _ = ref_forward(policy, params, obs, starts, h0)
    acts2d = np.asarray(actions, dtype=np.float64).reshape(n_rows, -1)
    old_log_prob = reference.log_prob(kind(policy), out, params[policy.n_net :], acts2d,
                                      [N_CLASSES]) + 0.1 * rng.standard_normal(n_rows)

    def surrogate(theta):
        out, _ = ref_forward(policy, theta, obs, starts, h0)
        logp = reference.log_prob(kind(policy), out, theta[policy.n_net :], acts2d, [N_CLASSES])
        return np.mean(np.exp(logp - old_log_prob) * advantages)

    value, grad = policy.surrogate_grad(obs, starts, h0, actions, advantages, old_log_prob)
    expected = reference.central_gradient(surrogate, params, 1e-6)
    rtol, value_rtol = (1e-6, 1e-12) if dtype == np.float64 else (2e-3, 2e-5)
    assert value == pytest.approx(surrogate(params), rel=value_rtol)
    np.testing.assert_allclose(grad, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    np.testing.assert_allclose(policy.log_prob(obs, starts, h0, actions),
                               reference.log_prob(kind(policy), out, params[policy.n_net :],
                                                  acts2d, [N_CLASSES]), rtol=value_rtol,
                               atol=value_rtol)


# ---- Fisher-vector product ----------------------------------------------------------------
def explicit_fisher(policy, obs, starts, h0):
    """``J^T M J / T`` with ``J`` by central differences of the numpy forward (float64)."""
    params = policy.get_params()
    n_rows, n_net = obs.shape[0], policy.n_net
    jac = np.empty((n_rows, policy.out_dim, policy.num_params))
    for i in range(n_net):
        step = np.zeros_like(params)
        step[i] = 1e-6
        plus, _ = ref_forward(policy, params + step, obs, starts, h0)
        minus, _ = ref_forward(policy, params - step, obs, starts, h0)
        jac[:, :, i] = (plus - minus) / 2e-6
    jac[:, :, n_net:] = 0.0
    out, _ = ref_forward(policy, params, obs, starts, h0)
    fisher = np.zeros((policy.num_params, policy.num_params))
    for t in range(n_rows):
        if kind(policy) == "gaussian":
            weights = np.diag(np.exp(-2 * params[n_net:]))  # diag(1 / sigma^2)
        else:
            p = np.exp(out[t] - out[t].max())
            p /= p.sum()
            weights = np.diag(p) - np.outer(p, p)
        fisher += jac[t].T @ weights @ jac[t]
    fisher /= n_rows
    fisher[n_net:, n_net:] = 2.0 * np.eye(policy.num_params - n_net)  # log_std: 2 I
    return fisher


def fisher_by_columns(linearization, size):
    return np.stack([linearization.fvp(np.eye(size)[i]) for i in range(size)], axis=1)


@pytest.mark.parametrize("head", ["gaussian", "categorical"])
def test_fisher_vector_product_equals_explicit_jt_m_j(head, rng):
    policy = make_policy(head)
    obs, starts, h0 = make_batch(rng)
    want = explicit_fisher(policy, obs, starts, h0)
    got = fisher_by_columns(policy.linearize(obs, starts, h0), policy.num_params)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8 * np.abs(want).max())
    # and it is the Hessian of the mean KL: KL(theta, theta + e v) = e^2 v^T F v / 2 + O(e^3)
    vector = rng.standard_normal(policy.num_params)
    params, eps = policy.get_params(), 1e-4
    kl = ref_mean_kl(policy, params, params + eps * vector, obs, starts, h0)
    assert kl == pytest.approx(0.5 * eps**2 * vector @ got @ vector, rel=1e-3)


@pytest.mark.parametrize("head", ["gaussian", "categorical"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fisher_vector_product_is_symmetric_and_psd(head, dtype, rng):
    policy = make_policy(head, dtype)
    obs, starts, h0 = make_batch(rng)
    linearization = policy.linearize(obs, starts, h0)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for _ in range(5):
        u, v = rng.standard_normal((2, policy.num_params)).astype(dtype)
        fu, fv = linearization.fvp(u), linearization.fvp(v)
        scale = np.sqrt((u @ fu) * (v @ fv))
        assert abs(u @ fv - v @ fu) <= tol * scale
        assert v @ fv >= 0.0 and u @ fu >= 0.0
        assert fv.dtype == dtype


@pytest.mark.optional_deps
@pytest.mark.parametrize("head", ["gaussian", "categorical"])
def test_fisher_vector_product_matches_torch_double_backprop(head, rng):
    """The Hessian of torch's mean KL(pi_old || pi_theta) at theta_old, by double backprop
    through ``nn.GRU`` with the flat parameters mapped in, times v."""
    torch = require("torch")
    policy = make_policy(head)
    obs, starts, h0 = make_batch(rng)
    hid, n_net = HID, policy.n_net
    enc_sizes = [int(s) for s in policy.encoder.layer_sizes]
    layer = torch.nn.GRU(enc_sizes[-2], hid, batch_first=True).double()

    def outputs(theta):
        start, x = 0, torch.tensor(obs)
        for fan_in, fan_out in zip(enc_sizes[:-2], enc_sizes[1:-1]):
            weight = theta[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
            start += fan_in * fan_out
            x = torch.tanh(x @ weight + theta[start : start + fan_out])
            start += fan_out
        sizes = [enc_sizes[-2] * 3 * hid, 3 * hid, 3 * hid * hid, 3 * hid, hid * policy.out_dim,
                 policy.out_dim]
        w_ih, b_ih, w_hh, b_hh, w_out, b_out = torch.split(theta[start:n_net], sizes)
        weights = {"weight_ih_l0": w_ih.reshape(-1, 3 * hid).T, "bias_ih_l0": b_ih,
                   "weight_hh_l0": w_hh.reshape(hid, 3 * hid).T, "bias_hh_l0": b_hh}
        states = [torch.func.functional_call(
            layer, weights, (x[starts[s] : starts[s + 1]][None],
                             torch.tensor(h0[s])[None, None]))[0][0]
            for s in range(len(starts) - 1)]
        return torch.cat(states) @ w_out.reshape(hid, -1) + b_out

    theta_old = torch.tensor(policy.get_params())
    out_old = outputs(theta_old).detach()

    def mean_kl(theta):
        out = outputs(theta)
        if head == "gaussian":
            std_old, std = torch.exp(theta_old[n_net:]), torch.exp(theta[n_net:])
            old = torch.distributions.Normal(out_old, std_old)
            new = torch.distributions.Normal(out, std)
        else:
            old = torch.distributions.Categorical(logits=out_old)
            new = torch.distributions.Categorical(logits=out)
        kl = torch.distributions.kl_divergence(old, new)
        return (kl.sum(-1) if head == "gaussian" else kl).mean()

    theta = theta_old.clone().requires_grad_()
    (grad,) = torch.autograd.grad(mean_kl(theta), theta, create_graph=True)
    linearization = policy.linearize(obs, starts, h0)
    for _ in range(3):
        vector = rng.standard_normal(policy.num_params)
        (want,) = torch.autograd.grad(grad @ torch.tensor(vector), theta, retain_graph=True)
        np.testing.assert_allclose(linearization.fvp(vector), want.numpy(), rtol=1e-9,
                                   atol=1e-11 * np.abs(want.numpy()).max())


# ---- determinism, conjugate gradient ------------------------------------------------------
def test_block_kernels_give_the_same_bits_on_1_and_2_numba_threads(rng):
    """Sequence blocks summed in block order: serial, parallel on 1 and on 2 threads agree."""
    if numba.config.NUMBA_NUM_THREADS < 2:  # a one-CPU taskset: set NUMBA_NUM_THREADS=2
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    policy = make_policy("gaussian", np.float32, encoder=(8,), hidden=8)
    lengths = rng.integers(1, 60, size=40)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    obs, _, h0 = make_batch(rng, starts, hidden=8)
    batch = policy.sequence_batch(obs, starts, h0)
    assert batch.blocks.size > 4
    lin = policy.linearize(obs, starts, h0)
    vector = rng.standard_normal(policy.num_params).astype(np.float32)
    layout, cache, work = policy.kernel_layout, lin.buffers.cache, lin.buffers.work

    def run(fisher_blocks):
        partials = np.empty_like(lin.partials)
        fisher_blocks(lin.params, layout, batch.obs, starts, cache, work, batch.blocks,
                      lin.dist, vector, lin.dout, partials)
        return partials[:, : policy.n_net]  # the blocks write the network's entries

    serial = run(gru.fisher_blocks)
    previous = numba.get_num_threads()
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(n_threads)
            np.testing.assert_array_equal(run(gru.fisher_blocks_parallel), serial)
    finally:
        numba.set_num_threads(previous)
    # the policy's own products and gradients, on 1 and 2 threads (parallel above the size)
    assert batch.n_rows >= PARALLEL_MIN_ROWS
    actions, advantages = rng.standard_normal((2, batch.n_rows, ACT))
    results = []
    for n_threads in (1, 2):
        with use_threads(n_threads):
            lin = policy.linearize(obs, starts, h0)
            grad = lin.surrogate_grad(actions, advantages[:, 0], np.zeros(batch.n_rows))[1]
            results.append((lin.fvp(vector), grad, lin.out.copy()))
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("head", ["gaussian", "categorical"])
def test_conjugate_gradient_solves_with_the_gru_product(head, rng):
    policy = make_policy(head)
    obs, starts, h0 = make_batch(rng)
    linearization = policy.linearize(obs, starts, h0)
    fisher = fisher_by_columns(linearization, policy.num_params)
    rhs = rng.standard_normal(policy.num_params)
    damping = 0.1
    x, x_fisher_x, n_iter = linearization.conjugate_gradient(rhs, damping, 500, 1e-24)
    want = np.linalg.solve(fisher + damping * np.eye(policy.num_params), rhs)
    np.testing.assert_allclose(x, want, rtol=1e-6, atol=1e-8 * np.abs(want).max())
    assert x_fisher_x == pytest.approx(x @ fisher @ x, rel=1e-8)
    assert 0 < n_iter <= 500


def test_line_search_evaluation_and_mean_kl(rng):
    policy = make_policy("categorical")
    obs, starts, h0 = make_batch(rng)
    params = policy.get_params()
    candidate = params + 0.05 * rng.standard_normal(params.size)
    actions = sample_actions(policy, obs.shape[0], rng)
    advantages = rng.standard_normal((2, obs.shape[0]))
    old_log_prob = policy.log_prob(obs, starts, h0, actions)
    lin = policy.linearize(obs, starts, h0)
    surrogates, kl = lin.surrogates_and_kl(candidate, actions, advantages, old_log_prob)
    want_kl = ref_mean_kl(policy, params, candidate, obs, starts, h0)
    assert kl == pytest.approx(want_kl, rel=1e-10)
    out, _ = ref_forward(policy, candidate, obs, starts, h0)
    logp = reference.log_prob("categorical", out, candidate[policy.n_net :],
                              actions.reshape(-1, 1).astype(float), [N_CLASSES])
    np.testing.assert_allclose(surrogates, (np.exp(logp - old_log_prob) * advantages).mean(1),
                               rtol=1e-10)
    assert policy.mean_kl(obs, starts, h0, params) == pytest.approx(0.0, abs=1e-15)
    policy.set_params(candidate)
    assert policy.mean_kl(obs, starts, h0, params) == pytest.approx(want_kl, rel=1e-10)
    with pytest.raises(ValueError, match="stale"):
        policy.linearize(obs, starts, h0) and lin.fvp(params)


def test_the_trpo_line_search_takes_the_recurrent_linearization(rng):
    """``steps.trpo.backtracking_line_search`` unchanged: a natural-gradient step scaled to
    the KL bound is accepted within it, and improves the surrogate."""
    from fasttrpo.steps.trpo import backtracking_line_search

    policy = make_policy("gaussian")
    obs, starts, h0 = make_batch(rng)
    actions = sample_actions(policy, obs.shape[0], rng)
    advantages = rng.standard_normal(obs.shape[0])
    old_log_prob = policy.log_prob(obs, starts, h0, actions)
    lin = policy.linearize(obs, starts, h0)
    before, grad = lin.surrogate_grad(actions, advantages, old_log_prob)
    x, x_fisher_x, _ = lin.conjugate_gradient(grad, 0.1, 10)
    max_kl = 0.01
    step = np.sqrt(2 * max_kl / x_fisher_x) * x
    result = backtracking_line_search(
        lin, step, actions, advantages[None], old_log_prob,
        lambda surrogates, kl: kl <= max_kl and surrogates[0] > before, 0.8, 10)
    assert result.params is not None and 0 < result.kl <= max_kl
    assert result.surrogates[0] > before


@pytest.mark.parametrize("bad, match", [
    (dict(seq_starts=[0, 5, 5, 22]), "rise strictly"),
    (dict(seq_starts=[1, 22]), "rise strictly"),
    (dict(seq_starts=[0, 21]), "rise strictly"),
    (dict(h0=np.zeros((3, HID))), "h0"),
])
def test_bad_sequence_batches_are_refused(bad, match, rng):
    policy = make_policy("gaussian")
    obs, _, _ = make_batch(rng)
    args = dict(obs=obs, seq_starts=[0, 10, 22], h0=np.zeros((2, HID)))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        policy.sequence_batch(**args)
