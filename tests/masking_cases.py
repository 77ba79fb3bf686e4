"""Shared pieces of the masking tests: random masks, the renormalised-softmax reference and
envs whose valid actions change every step (an invalid action raises)."""

import gymnasium as gym
import numpy as np
from scipy.special import logsumexp

import reference
from conftest import make_policy


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
