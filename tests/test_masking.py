"""Action masking (issue 26, item 4): the masked Categorical and MultiDiscrete heads.

The masked policy is the softmax over the valid actions only; every quantity (sampling,
log-likelihood, entropy, KL, surrogate gradient, Fisher) is checked against an explicit
numpy computation of that renormalised softmax (`masking_cases`), the Fisher also against
torch's double backprop when torch is installed; then the policy steps on masked batches and
refused masks. Envs, samplers, training, predict and the exports: `test_masking_envs.py`.
"""

import numpy as np
import pytest
from masking_cases import (
    blocks,
    masked_log_softmax,
    random_masks,
    ref_entropy,
    ref_kl,
    ref_log_prob,
    ref_out,
    setup,
    valid_actions,
)
from scipy.special import logsumexp

from fasttrpo.foundation.masking import MASKED_LOGIT, check_action_masks
from fasttrpo.steps.cpo import cpo_step
from fasttrpo.steps.pcpo import pcpo_step
from fasttrpo.steps.trpo import trpo_step

import reference
from conftest import make_policy, require

HEADS = ("categorical", "multidiscrete")  # conftest's heads: Discrete(3), MultiDiscrete([2, 3])
RTOL = {np.float32: 2e-3, np.float64: 1e-6}
CASES = [(head, dtype) for head in HEADS for dtype in (np.float32, np.float64)]
IDS = [f"{head}-{np.dtype(dtype).name}" for head, dtype in CASES]

# ---- the distribution ---------------------------------------------------------------------
@pytest.mark.parametrize(("head", "dtype"), CASES, ids=IDS)
def test_masked_actions_are_never_sampled(head, dtype, rng):
    policy, obs, masks = setup(head, dtype, rng, n_rows=64)
    # bias the invalid actions' logits up: unmasked, they would be picked often
    out = ref_out(policy, policy.get_params().astype(np.float64), obs)
    seen = np.zeros(masks.shape, dtype=np.int64)
    for draw in range(200):
        actions = policy.act(obs, rng=np.random.default_rng(draw), masks=masks).astype(int)
        for i, (a, _) in enumerate(blocks(policy.nvec)):
            chosen = masks[np.arange(len(obs)), a + actions[:, i]]
            assert chosen.all(), f"sub-action {i}: an invalid action was sampled"
            np.add.at(seen, (np.arange(len(obs)), a + actions[:, i]), 1)
    # and every valid action of a row does get drawn now and then (sampling, not argmax)
    assert (seen[masks] > 0).mean() > 0.9
    # the mode is the argmax over the valid actions
    mode = policy.act(obs, deterministic=True, masks=masks)
    for i, (a, b) in enumerate(blocks(policy.nvec)):
        expected = np.argmax(np.where(masks[:, a:b], out[:, a:b], -np.inf), axis=1)
        np.testing.assert_array_equal(mode[:, i], expected)


@pytest.mark.parametrize(("head", "dtype"), CASES, ids=IDS)
def test_sampling_frequencies_match_the_renormalised_softmax(head, dtype, rng):
    policy, _, _ = setup(head, dtype, rng)
    obs = np.repeat(rng.standard_normal((1, policy.obs_dim)), 20000, axis=0)
    mask = random_masks(policy.nvec, 1, np.random.default_rng(3))
    mask[0, 0] = False
    mask[0, 1] = True
    masks = np.repeat(mask, len(obs), axis=0)
    actions = policy.act(obs, rng=np.random.default_rng(1), masks=masks).astype(int)
    out = ref_out(policy, policy.get_params().astype(np.float64), obs[:1])
    for i, (a, b) in enumerate(blocks(policy.nvec)):
        p = np.exp(masked_log_softmax(out[:, a:b], mask[:, a:b]))[0]
        freq = np.bincount(actions[:, i], minlength=b - a) / len(obs)
        np.testing.assert_allclose(freq, p, atol=0.015)
        assert freq[~mask[0, a:b]].sum() == 0


@pytest.mark.parametrize(("head", "dtype"), CASES, ids=IDS)
def test_log_prob_entropy_kl_match_numpy(head, dtype, rng):
    policy, obs, masks = setup(head, dtype, rng)
    nvec = policy.nvec
    params = policy.get_params().astype(np.float64)
    out = ref_out(policy, params, obs)
    actions = valid_actions(nvec, masks, rng)
    got = policy.log_prob(obs, actions if head != "categorical" else actions[:, 0], masks)
    np.testing.assert_allclose(got, ref_log_prob(nvec, out, masks, actions), rtol=RTOL[dtype],
                               atol=RTOL[dtype])
    # masking changes the answer (the test would not see a mask that is ignored)
    unmasked = policy.log_prob(obs, actions if head != "categorical" else actions[:, 0])
    assert np.abs(unmasked - got).max() > 0.05
    assert policy.entropy(obs, masks) == pytest.approx(ref_entropy(nvec, out, masks),
                                                       rel=RTOL[dtype])
    assert policy.entropy(obs, masks) < policy.entropy(obs)
    # KL(old || new) with the same mask: exactly 0 at the old parameters (sb3-contrib #240)
    assert policy.mean_kl(obs, params, masks) == 0.0
    old = params + 0.3 * rng.standard_normal(params.size)
    kl = policy.mean_kl(obs, old, masks)
    expected = ref_kl(nvec, ref_out(policy, old, obs), out, masks)
    assert kl == pytest.approx(expected, rel=RTOL[dtype] * 5)
    assert kl != pytest.approx(policy.mean_kl(obs, old), rel=0.05)


@pytest.mark.parametrize(("head", "dtype"), CASES, ids=IDS)
def test_linearization_kl_is_zero_at_the_old_parameters(head, dtype, rng):
    policy, obs, masks = setup(head, dtype, rng)
    actions = valid_actions(policy.nvec, masks, rng)
    lin = policy.linearize(obs, masks)
    old_log_prob = lin.log_prob(actions)
    surrogate, kl = lin.surrogate_and_kl(policy.get_params(), actions, np.ones(len(obs)),
                                         old_log_prob)
    assert kl == 0.0 and surrogate == pytest.approx(1.0, rel=1e-6)
    # the logits at the point are the masked ones
    assert (lin.out[~masks] == np.asarray(MASKED_LOGIT, dtype=dtype)).all()


@pytest.mark.parametrize(("head", "dtype"), CASES, ids=IDS)
def test_surrogate_grad_matches_finite_differences(head, dtype, rng):
    policy, obs, masks = setup(head, dtype, rng, n_rows=12)
    nvec = policy.nvec
    actions = valid_actions(nvec, masks, rng)
    advantages = rng.standard_normal(len(obs))
    params = policy.get_params().astype(np.float64)
    old_log_prob = ref_log_prob(nvec, ref_out(policy, params, obs), masks, actions) - 0.1

    def surrogate(theta):
        logp = ref_log_prob(nvec, ref_out(policy, theta, obs), masks, actions)
        return np.mean(np.exp(logp - old_log_prob) * advantages)

    value, grad = policy.surrogate_grad(obs, actions, advantages, old_log_prob, masks)
    expected = reference.central_gradient(surrogate, params, 1e-6)
    assert value == pytest.approx(surrogate(params), rel=RTOL[dtype])
    scale = np.abs(expected).max()
    np.testing.assert_allclose(grad, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def explicit_masked_fisher(policy, obs, masks, params):
    """``J^T M J / N`` with ``J`` from central differences and ``M = diag(p) - p p^T`` of the
    renormalised softmax per block (zero rows and columns on the invalid actions)."""
    n_rows, width = len(obs), int(policy.nvec.sum())
    jac = np.stack([reference.central_gradient(lambda th, i=i, j=j: ref_out(policy, th, obs)[i, j],
                                               params, 1e-6)
                    for i in range(n_rows) for j in range(width)]).reshape(n_rows, width, -1)
    out = ref_out(policy, params, obs)
    fisher = np.zeros((params.size, params.size))
    for n in range(n_rows):
        m = np.zeros((width, width))
        for a, b in blocks(policy.nvec):
            p = np.exp(masked_log_softmax(out[n:n + 1, a:b], masks[n:n + 1, a:b]))[0]
            m[a:b, a:b] = np.diag(p) - np.outer(p, p)
        fisher += jac[n].T @ m @ jac[n]
    return fisher / n_rows


@pytest.mark.parametrize(("head", "dtype"), CASES, ids=IDS)
def test_masked_fvp_matches_explicit_fisher_and_kl_hessian(head, dtype, rng):
    policy, obs, masks = setup(head, dtype, rng, n_rows=8, hidden=(4, 3))
    params = policy.get_params().astype(np.float64)
    lin = policy.linearize(obs, masks)
    fisher = np.stack([lin.fvp(e) for e in np.eye(policy.num_params)], axis=1)
    explicit = explicit_masked_fisher(policy, obs, masks, params)
    scale = np.abs(explicit).max()
    np.testing.assert_allclose(fisher, explicit, rtol=RTOL[dtype] * 10,
                               atol=RTOL[dtype] * 10 * scale)
    out_old = ref_out(policy, params, obs)
    hessian = reference.central_hessian(
        lambda th: ref_kl(policy.nvec, out_old, ref_out(policy, th, obs), masks), params, 1e-3)
    np.testing.assert_allclose(fisher, hessian, rtol=RTOL[dtype] * 10,
                               atol=RTOL[dtype] * 10 * scale)
    # the masks matter: the unmasked Fisher differs
    unmasked = np.stack([policy.linearize(obs).fvp(e) for e in np.eye(policy.num_params)], 1)
    assert np.abs(unmasked - fisher).max() > 100 * RTOL[dtype] * scale


@pytest.mark.parametrize("step", ["trpo", "cpo", "pcpo"])
def test_policy_steps_use_the_masks_of_their_states(step, rng):
    policy, obs, masks = setup("multidiscrete", np.float64, rng, n_rows=300)
    actions = valid_actions(policy.nvec, masks, rng)
    advantages, costs = rng.standard_normal(len(obs)), rng.standard_normal(len(obs))
    old = policy.get_params()
    if step == "trpo":
        info = trpo_step(policy, obs, actions, advantages, max_kl=0.01, masks=masks)
    elif step == "cpo":
        info = cpo_step(policy, obs, actions, advantages, costs, -0.1, max_kl=0.01, masks=masks)
    else:
        info = pcpo_step(policy, obs, actions, advantages, costs, -0.1, max_kl=0.01,
                         masks=masks)
    assert info.accepted
    # the line search's KL is the masked policies' and within the trust region
    kl = policy.mean_kl(obs, old, masks)
    assert info.kl == pytest.approx(kl, rel=1e-9) and 0 < kl <= 0.01
    assert policy.mean_kl(obs, old) != pytest.approx(kl, rel=1e-2)


@pytest.mark.optional_deps
@pytest.mark.parametrize("head", HEADS)
def test_masked_fvp_matches_torch_double_backprop(head, rng):
    torch = require("torch")
    policy, obs, masks = setup(head, np.float64, rng, n_rows=16, hidden=(5, 4))
    params = policy.get_params()
    sizes = policy.layout.layer_sizes
    obs_t, mask_t = torch.tensor(obs), torch.tensor(masks)

    def logits(theta):
        h, offset = obs_t, 0
        for layer in range(len(sizes) - 1):
            fan_in, fan_out = int(sizes[layer]), int(sizes[layer + 1])
            w = theta[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out)
            offset += fan_in * fan_out
            h = h @ w + theta[offset:offset + fan_out]
            offset += fan_out
            if layer < len(sizes) - 2:
                h = torch.tanh(h)
        # sb3-contrib's MaskableCategorical: invalid logits replaced by a large negative value
        return torch.where(mask_t, h, torch.tensor(MASKED_LOGIT, dtype=h.dtype))

    def mean_kl(theta, old):
        total = 0.0
        for a, b in blocks(policy.nvec):
            lp = torch.log_softmax(logits(old)[:, a:b], dim=1)
            lq = torch.log_softmax(logits(theta)[:, a:b], dim=1)
            total = total + (lp.exp() * (lp - lq)).sum(dim=1)
        return total.mean()

    theta = torch.tensor(params, requires_grad=True)
    old = torch.tensor(params)
    (grad,) = torch.autograd.grad(mean_kl(theta, old), theta, create_graph=True)
    lin = policy.linearize(obs, masks)
    for _ in range(3):
        v = rng.standard_normal(params.size)
        (hvp,) = torch.autograd.grad(grad @ torch.tensor(v), theta, retain_graph=True)
        np.testing.assert_allclose(lin.fvp(v), hvp.numpy(), rtol=1e-7,
                                   atol=1e-9 * np.abs(hvp.numpy()).max())


def test_multidiscrete_masks_are_the_concatenated_per_dimension_masks(rng):
    policy, obs, masks = setup("multidiscrete", np.float64, rng)
    params = policy.get_params().astype(np.float64)
    out = ref_out(policy, params, obs)
    actions = valid_actions(policy.nvec, masks, rng)
    # each dimension's log-likelihood is its own masked softmax; the joint one is their sum
    separate = sum(masked_log_softmax(out[:, a:b], masks[:, a:b])[np.arange(len(obs)),
                                                                  actions[:, i]]
                   for i, (a, b) in enumerate(blocks(policy.nvec)))
    np.testing.assert_allclose(policy.log_prob(obs, actions, masks), separate, rtol=1e-10)
    # a mask of one dimension does not touch the other's distribution
    n0, rows = int(policy.nvec[0]), np.arange(len(obs))
    only_first = masks.copy()
    only_first[:, n0:] = True
    lp = policy.log_prob(obs, actions, only_first)
    np.testing.assert_allclose(
        lp - masked_log_softmax(out[:, :n0], masks[:, :n0])[rows, actions[:, 0]],
        (out[:, n0:] - logsumexp(out[:, n0:], axis=1, keepdims=True))[rows, actions[:, 1]],
        rtol=1e-10)
    # equal sizes: (N, k, n) is accepted too (sb3-contrib reshapes to it)
    square = make_policy("multidiscrete", np.float64, "tanh")
    square_masks = random_masks([2, 3], len(obs), rng)
    assert check_action_masks(square_masks, [2, 3], len(obs)).shape == (len(obs), 5)
    cube = random_masks([3, 3], 4, rng)
    np.testing.assert_array_equal(check_action_masks(cube.reshape(4, 2, 3), [3, 3], 4), cube)
    np.testing.assert_array_equal(check_action_masks(cube[1].reshape(2, 3), [3, 3], 1),
                                  cube[1:2])
    assert square.as_masks(None, 3) is None


# ---- bad input ----------------------------------------------------------------------------
def test_bad_masks_are_refused_with_the_fix(rng):
    policy, obs, masks = setup("multidiscrete", np.float32, rng, n_rows=4)
    with pytest.raises(ValueError, match=r"action_masks: expected shape \(4, 5\).*2 \+ 3"):
        policy.act(obs, masks=masks[:, :4])
    with pytest.raises(ValueError, match=r"action_masks: expected shape \(4, 5\)"):
        policy.act(obs, masks=masks[:3])
    empty = masks.copy()
    empty[2, 2:] = False
    with pytest.raises(ValueError, match=r"row 2 allows no action in sub-action 1.*all-False"):
        policy.log_prob(obs, np.zeros((4, 2)), empty)
    with pytest.raises(ValueError, match="booleans or 0/1"):
        policy.act(obs, masks=masks * 2)
    with pytest.raises(ValueError, match="expected booleans"):
        policy.act(obs, masks=np.full((4, 5), "x"))
    np.testing.assert_array_equal(policy.as_masks(masks.astype(np.uint8), 4), masks)
    gaussian = make_policy("gaussian", np.float32, "tanh")
    with pytest.raises(ValueError, match=r"Discrete and MultiDiscrete.*'gaussian'.*=None"):
        gaussian.act(obs, masks=np.ones((4, 2), bool))
    bernoulli = make_policy("bernoulli", np.float32, "tanh")
    with pytest.raises(ValueError, match="'bernoulli'"):
        bernoulli.linearize(obs, np.ones((4, 3), bool))


def test_cython_act_checks_its_mask(rng):
    from fasttrpo._cython import forward

    policy, obs, masks = setup("multidiscrete", np.float32, rng, n_rows=6)
    obs = np.ascontiguousarray(obs, dtype=np.float32)
    sizes, n = policy.layout.layer_sizes, len(obs)
    work = np.empty(forward.work_size(sizes, n), np.float32)
    out = np.empty((n, 2), np.float32)
    args = (policy.get_params(), sizes, policy.layout.activation, policy.head, policy.nvec,
            obs, None, out, work, True)
    with pytest.raises(ValueError, match=r"mask has shape \(6, 4\), expected \(6, 5\)"):
        forward.act(*args, False, masks[:, :4].copy().view(np.uint8))
    for row_invariant in (False, True):  # both forward paths mask
        forward.act(*args, row_invariant, masks.view(np.uint8))
        for i, (a, _) in enumerate(blocks(policy.nvec)):
            assert masks[np.arange(n), a + out[:, i].astype(int)].all()
    gaussian = make_policy("gaussian", np.float32, "tanh")
    with pytest.raises(ValueError, match="only the categorical head"):
        forward.act(gaussian.get_params(), gaussian.layout.layer_sizes, 0, gaussian.head, None,
                    obs, None, np.empty((n, 2), np.float32), work, True, False,
                    np.ones((n, 2), np.uint8))
