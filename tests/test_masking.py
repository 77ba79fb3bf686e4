"""Action masking (issue 26, item 4): masked Categorical and MultiDiscrete heads.

The masked policy is the softmax over the valid actions only; every quantity (sampling,
log-likelihood, entropy, KL, surrogate gradient, Fisher) is checked against an explicit
numpy computation of that renormalised softmax, the Fisher also against torch's double
backprop when torch is installed. Then the samplers, TRPO on an env whose valid actions
change every step (an invalid action raises), predict, save / load and the exports.
"""

import shutil
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from scipy.special import logsumexp

from fasttrpo import TRPO, runtime
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.export.model import policy_from_model
from fasttrpo.foundation.masking import MASKED_LOGIT, check_action_masks
from fasttrpo.models.policies import CategoricalMLPPolicy
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.rollout import RolloutBatch, VectorEnvSampler
from fasttrpo.rollout.gym_sampler import make_vector_env
from fasttrpo.rollout.streams import NoiseStreams
from fasttrpo.steps.cpo import cpo_step
from fasttrpo.steps.pcpo import pcpo_step
from fasttrpo.steps.trpo import trpo_step

import reference
from conftest import make_policy, require

HEADS = ("categorical", "multidiscrete")  # conftest's heads: Discrete(3), MultiDiscrete([2, 3])
RTOL = {np.float32: 2e-3, np.float64: 1e-6}
CASES = [(head, dtype) for head in HEADS for dtype in (np.float32, np.float64)]
IDS = [f"{head}-{np.dtype(dtype).name}" for head, dtype in CASES]


def random_masks(nvec, n_rows, rng):
    """Random masks with at least one valid action per sub-action (and some rows all valid)."""
    blocks = []
    for n in nvec:
        block = rng.random((n_rows, n)) < 0.5
        block[np.arange(n_rows), rng.integers(0, n, n_rows)] = True
        blocks.append(block)
    masks = np.concatenate(blocks, axis=1)
    masks[::7] = True
    return masks


def blocks(nvec):
    starts = np.concatenate([[0], np.cumsum(nvec)[:-1]]).astype(int)
    return [(s, s + int(n)) for s, n in zip(starts, nvec)]


def ref_out(policy, params, obs):
    return reference.mlp_forward(params, policy.layout.layer_sizes, policy.activation, obs)


def masked_log_softmax(logits, mask):
    """log of the renormalised softmax over the valid entries; -inf on the invalid ones."""
    z = np.where(mask, logits, -np.inf)
    return z - logsumexp(z, axis=1, keepdims=True)


def _valid_sum(mask, values):
    with np.errstate(invalid="ignore"):  # 0 * -inf on the invalid entries, dropped
        return np.sum(np.where(mask, values(), 0.0), axis=1)


def ref_log_prob(nvec, out, masks, actions):
    total = np.zeros(out.shape[0])
    for i, (a, b) in enumerate(blocks(nvec)):
        logp = masked_log_softmax(out[:, a:b], masks[:, a:b])
        total += logp[np.arange(out.shape[0]), actions[:, i].astype(int)]
    return total


def ref_entropy(nvec, out, masks):
    total = np.zeros(out.shape[0])
    for a, b in blocks(nvec):
        logp = masked_log_softmax(out[:, a:b], masks[:, a:b])
        total -= _valid_sum(masks[:, a:b], lambda logp=logp: np.exp(logp) * logp)
    return total.mean()


def ref_kl(nvec, out_old, out_new, masks):
    total = np.zeros(out_old.shape[0])
    for a, b in blocks(nvec):
        lp = masked_log_softmax(out_old[:, a:b], masks[:, a:b])
        lq = masked_log_softmax(out_new[:, a:b], masks[:, a:b])
        total += _valid_sum(masks[:, a:b], lambda lp=lp, lq=lq: np.exp(lp) * (lp - lq))
    return total.mean()


def valid_actions(nvec, masks, rng):
    return np.stack([np.array([rng.choice(np.flatnonzero(row)) for row in masks[:, a:b]])
                     for a, b in blocks(nvec)], axis=1)


def setup(head, dtype, rng, n_rows=40, hidden=(5, 4)):
    policy = make_policy(head, dtype, "tanh", hidden=hidden)
    obs = rng.standard_normal((n_rows, policy.obs_dim))
    masks = random_masks(policy.nvec, n_rows, rng)
    return policy, obs, masks


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


# ---- envs ---------------------------------------------------------------------------------
class MaskedChoiceEnv(gym.Env):
    """Discrete(4): a random half of the actions is valid each step, one of them rewarded.

    The observation is the one-hot of the rewarded action; an invalid action raises (the
    test fails). ``info_masks=True`` reports the mask in ``info["action_mask"]`` instead of
    an ``action_masks()`` method.
    """

    observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(4)

    def __init__(self, info_masks=False, length=16):
        self.info_masks, self.length = info_masks, length
        self.rng = np.random.default_rng(0)
        self.seen_masks = []

    def _draw(self):
        self.valid = np.zeros(4, bool)
        self.valid[self.rng.choice(4, 2, replace=False)] = True
        self.target = int(self.rng.choice(np.flatnonzero(self.valid)))
        self.seen_masks.append(self.valid.copy())
        obs = np.zeros(4, np.float32)
        obs[self.target] = 1.0
        return obs

    def _info(self):
        return {"action_mask": self.valid.copy()} if self.info_masks else {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = 0
        return self._draw(), self._info()

    def step(self, action):
        action = int(action)
        if not self.valid[action]:
            raise RuntimeError(f"invalid action {action} (valid: {np.flatnonzero(self.valid)})")
        self.t += 1
        reward = float(action == self.target)
        return self._draw(), reward, False, self.t >= self.length, self._info()


class MethodMaskedChoiceEnv(MaskedChoiceEnv):
    def action_masks(self):
        return self.valid.copy()


class GameOverEnv(MethodMaskedChoiceEnv):
    """No valid action in the final state (a game that is over)."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if truncated:
            self.valid[:] = False
        return obs, reward, terminated, truncated, info


class MaskedMultiEnv(gym.Env):
    """MultiDiscrete([3, 4]) with per-dimension masks that change each step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 4])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.mask = random_masks([3, 4], 1, self.np_random)[0]
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def action_masks(self):
        return self.mask.copy()

    def step(self, action):
        if not (self.mask[action[0]] and self.mask[3 + action[1]]):
            raise RuntimeError(f"invalid action {action}")
        self.t += 1
        self.mask = random_masks([3, 4], 1, self.np_random)[0]
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return obs, float(action[0] == 0), False, self.t >= 10, {}


TINY = dict(n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[16]), n_critic_updates=2)


@pytest.mark.parametrize("info_masks", [False, True], ids=["method", "info"])
def test_sampler_stores_the_masks_of_each_row(info_masks):
    cls = MaskedChoiceEnv if info_masks else MethodMaskedChoiceEnv
    envs = [cls(info_masks=info_masks, length=100) for _ in range(2)]
    venv = gym.vector.SyncVectorEnv([lambda e=e: e for e in envs],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    policy = CategoricalMLPPolicy(4, 4, (8,), seed=0)
    sampler = VectorEnvSampler(venv, ObsEncoder.for_space(venv.single_observation_space),
                               ActionCodec.for_space(venv.single_action_space))
    batch = RolloutBatch(20, 2, 4, 1, np.float32)
    sampler.reset(seed=3)
    assert sampler.mask_source == ("info" if info_masks else "method")
    assert sampler.collect(policy, batch, NoiseStreams(0, 2))
    for e, env in enumerate(envs):
        np.testing.assert_array_equal(batch.action_masks[:, e], np.stack(env.seen_masks[:20]))
    chosen = batch.actions[..., 0].astype(int)
    assert np.take_along_axis(batch.action_masks, chosen[..., None], 2).all()


def test_ray_worker_sampler_refuses_a_masking_env():
    venv = make_vector_env(MethodMaskedChoiceEnv(), 1)
    model = TRPO("MlpPolicy", MethodMaskedChoiceEnv(), seed=0, **TINY)
    sampler = VectorEnvSampler(venv, model.encoder, model.codec,
                               mask_refusal="RaySampler does not carry action masks yet")
    with pytest.raises(ValueError, match=r"gives action masks.*RaySampler does not carry"):
        sampler.reset(seed=0)


@pytest.mark.optional_deps
def test_ray_sampler_refuses_a_masking_env_with_the_fix(monkeypatch):
    ray = require("ray")
    from fasttrpo.rollout import RaySampler

    # the workers unpickle the env class by reference: this folder on their path
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    ray.init(num_cpus=1, include_dashboard=False, configure_logging=False)
    try:
        sampler = RaySampler(MethodMaskedChoiceEnv, n_workers=1)
        with pytest.raises(RuntimeError, match=r"action masks.*RaySampler does not carry.*"
                                             r"default sampler"):
            TRPO("MlpPolicy", sampler, **TINY).learn(64)
        sampler.close()
    finally:
        ray.shutdown()


def test_box_policy_on_a_masking_env_is_refused():
    class BoxMasked(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

        def reset(self, *, seed=None, options=None):
            return np.zeros(2, np.float32), {}

        def step(self, action):
            return np.zeros(2, np.float32), 0.0, False, False, {}

        def action_masks(self):
            return np.ones(1, bool)

    model = TRPO("MlpPolicy", BoxMasked(), seed=0, **TINY)
    with pytest.raises(ValueError, match=r"env action_masks: action masks apply to Discrete"):
        model.learn(64)
    with pytest.raises(ValueError, match="action_masks: action masks apply to Discrete"):
        model.predict(np.zeros(2), action_masks=np.ones(1, bool))


@pytest.mark.parametrize("info_masks", [False, True], ids=["method", "info"])
def test_trpo_learns_a_masked_env_without_an_invalid_action(info_masks, tmp_path):
    cls = MaskedChoiceEnv if info_masks else MethodMaskedChoiceEnv
    env = gym.vector.SyncVectorEnv([lambda i=i: cls(info_masks=info_masks) for i in range(2)],
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    model = TRPO("MlpPolicy", env, seed=0, n_steps=128, batch_size=64,
                 policy_kwargs=dict(net_arch=[16]), n_critic_updates=5, target_kl=0.05)
    probe = MethodMaskedChoiceEnv()
    obs, masks = [], []
    for seed in range(200):
        probe.reset(seed=seed)
        obs.append(probe._draw())
        masks.append(probe.action_masks())
    obs, masks = np.stack(obs), np.stack(masks)
    targets = obs.argmax(axis=1)

    def greedy_hits():
        actions, _ = model.predict(obs, deterministic=True, action_masks=masks)
        assert masks[np.arange(len(obs)), actions].all()
        return np.mean(actions == targets)

    before = greedy_hits()
    model.learn(2048)  # the env raises on an invalid action
    after = greedy_hits()
    assert after >= 0.95 and after > before
    # predict with masks: never an invalid action, single observation too
    for row, mask in zip(obs[:20], masks[:20]):
        action, _ = model.predict(row, deterministic=False, action_masks=mask)
        assert mask[action]
    # evaluate_policy passes the masks as sb3-contrib's does (the env raises otherwise)
    mean, _ = evaluate_policy(model, cls(info_masks=info_masks), n_eval_episodes=3)
    assert mean >= 0.9 * 16
    vector = gym.vector.SyncVectorEnv([lambda: cls(info_masks=info_masks)] * 2)
    assert evaluate_policy(model, vector, n_eval_episodes=4)[0] >= 0.9 * 16
    # save / load: unaffected, the same masked predictions
    model.save(tmp_path / "masked")
    loaded = TRPO.load(tmp_path / "masked")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True, action_masks=masks)[0],
                                  model.predict(obs, deterministic=True, action_masks=masks)[0])


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_the_final_states_empty_mask_is_never_used(mode):
    # NEXT_STEP: the step after the end resets the env and ignores the action, so the final
    # state's mask (all False here) is not checked; SAME_STEP never shows the final state
    autoreset = gym.vector.AutoresetMode(mode)
    env = gym.vector.SyncVectorEnv([lambda: GameOverEnv(length=5)] * 2, autoreset_mode=autoreset)
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    model.learn(128)
    assert len(model.ep_info_buffer) >= 20


@pytest.mark.optional_deps
def test_sb3_vec_env_masks_through_env_method():
    vec_env = require("stable_baselines3.common.vec_env")
    env = vec_env.DummyVecEnv([lambda: MethodMaskedChoiceEnv(length=8)] * 2)
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    model.learn(128)  # the env raises on an invalid action
    assert len(model.ep_info_buffer) >= 10


def test_the_models_vec_env_view_gives_masks_through_env_method():
    # MaskablePPO's loop on a VecEnv: masks = np.stack(env.env_method("action_masks")) (what
    # sb3-contrib's get_action_masks does), then model.predict(obs, action_masks=masks)
    venv = gym.vector.SyncVectorEnv([MethodMaskedChoiceEnv] * 2,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    model = TRPO("MlpPolicy", venv, seed=0, **TINY)
    env = model.get_env()
    obs = env.reset()
    for _ in range(40):
        masks = np.stack(env.env_method("action_masks"))
        assert masks.shape == (2, 4)
        actions, _ = model.predict(obs, action_masks=masks)
        assert masks[np.arange(2), actions].all()
        obs, *_ = env.step(actions)  # the env raises on an invalid action
    assert env.get_attr("length", indices=1) == [16]


def test_trpo_on_a_multidiscrete_masked_env():
    model = TRPO("MlpPolicy", MaskedMultiEnv(), seed=0, **TINY)
    model.learn(256)  # the env raises on an invalid action
    assert model.num_timesteps == 256
    env = MaskedMultiEnv()
    obs, _ = env.reset(seed=1)
    for _ in range(30):
        action, _ = model.predict(obs, action_masks=env.action_masks())
        obs, *_ = env.step(action)  # raises on an invalid action


# ---- exports ------------------------------------------------------------------------------
def masked_model(kind):
    env = MethodMaskedChoiceEnv() if kind == "discrete" else MaskedMultiEnv()
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    rng = np.random.default_rng(5)
    params = model.policy.get_params().astype(np.float64)
    params[: model.policy.n_mlp] += rng.standard_normal(model.policy.n_mlp)
    model.policy.set_params(params)
    obs = rng.uniform(-1, 1, (300, model.encoder.obs_dim)).astype(np.float32)
    masks = random_masks(model.policy.nvec, len(obs), rng)
    return model, obs, masks


@pytest.mark.parametrize("kind", ["discrete", "multidiscrete"])
def test_runtime_agrees_with_predict_under_masks(kind, tmp_path):
    model, obs, masks = masked_model(kind)
    (path,) = model.export(tmp_path / "policy.npz")
    policy = runtime.load(path)
    expected, _ = model.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(policy.act(obs, action_masks=masks), expected)
    assert not np.array_equal(policy.act(obs), expected)  # the masks changed something
    sampled = policy.act(obs, deterministic=False, rng=np.random.default_rng(0),
                         action_masks=masks)
    predicted, _ = model.predict(obs, deterministic=False, action_masks=masks)
    for actions in (sampled, predicted):
        actions = np.asarray(actions).reshape(len(obs), -1)
        for i, (a, _) in enumerate(blocks(model.policy.nvec)):
            assert masks[np.arange(len(obs)), a + actions[:, i]].all()
    np.testing.assert_array_equal(policy.act(obs[0], action_masks=masks[0]), expected[0])
    with pytest.raises(ValueError, match="expected shape"):
        policy.act(obs, action_masks=masks[:, 1:])


@pytest.mark.parametrize("kind", ["discrete", "multidiscrete"])
def test_onnx_agrees_with_predict_under_masks(kind, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, obs, masks = masked_model(kind)
    (path,) = model.export(tmp_path / "policy.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"obs": obs, "action_mask": masks})
    expected, _ = model.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(got, expected)
    (plain,) = session.run(None, {"obs": obs})  # the mask input is optional
    np.testing.assert_array_equal(plain, model.predict(obs, deterministic=True)[0])
    assert not np.array_equal(plain, got)


CC = shutil.which("cc") or shutil.which("gcc")


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("kind", ["discrete", "multidiscrete"])
def test_c_export_agrees_with_predict_under_masks(kind, tmp_path):
    import ctypes

    model, obs, masks = masked_model(kind)
    source, header = model.export(tmp_path / "masked", format="c")
    assert "masked_act_masked" in header.read_text()
    library = tmp_path / "libmasked.so"
    subprocess.run([CC, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2",
                    "-shared", "-fPIC", str(source), "-o", str(library), "-lm"], check=True,
                   capture_output=True, timeout=120)
    lib = ctypes.CDLL(str(library))
    act_masked = lib.masked_act_masked
    act_masked.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    width = len(model.policy.nvec)
    expected, _ = model.predict(obs, deterministic=True, action_masks=masks)
    got = np.empty((len(obs), width), np.float32)
    mask_bytes = np.ascontiguousarray(masks, dtype=np.uint8)
    for r in range(len(obs)):
        act_masked(obs[r].ctypes.data, mask_bytes[r].ctypes.data, got[r].ctypes.data)
    np.testing.assert_array_equal(got.reshape(np.shape(expected)), expected)
    policy = policy_from_model(model)
    assert policy.head == "categorical"
