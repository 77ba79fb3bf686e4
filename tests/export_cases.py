"""Tiny trained models for the runtime / export tests: every action head (gSDE included), with
and without observation normalisation, plus unusual spaces (multi-dimensional Box with
infinite bounds, Discrete and MultiDiscrete observations and space offsets). Built once per
test process."""

import functools

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fasttrpo import TRPO

from toy_envs import MatchEnv

TINY = dict(n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[8]), n_critic_updates=2,
            clip_obs=3.0)
HEAD_KINDS = ("box", "discrete", "multidiscrete", "multibinary")
CASES = [f"{kind}-{norm}" for kind in (*HEAD_KINDS, "gsde") for norm in ("raw", "norm")] + [
    "shaped_box-norm", "discrete_obs-raw", "discrete_obs-norm", "dict_obs-raw", "dict_obs-norm",
    "multidiscrete_obs-raw", "multidiscrete_obs-norm"]


class ShapedBoxEnv(gym.Env):
    """(2, 3) float64 observations, (2, 2) actions with some infinite bounds."""

    observation_space = spaces.Box(-np.inf, np.inf, (2, 3), dtype=np.float64)
    action_space = spaces.Box(np.array([[-1.0, -np.inf], [-0.5, 0.0]], dtype=np.float32),
                              np.array([[1.0, np.inf], [0.5, np.inf]], dtype=np.float32))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


class OffsetSpacesEnv(gym.Env):
    """Discrete observations starting at -2, MultiDiscrete actions with offsets."""

    observation_space = spaces.Discrete(5, start=-2)
    action_space = spaces.MultiDiscrete([3, 4], start=[1, -1])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return -2, {}

    def step(self, action):
        return int(self.np_random.integers(-2, 3)), 0.0, True, False, {}


class DictObsEnv(gym.Env):
    """Dict observations (Box, Discrete with an offset, MultiBinary, a small uint8 image)."""

    observation_space = spaces.Dict({
        "pos": spaces.Box(-1.0, 1.0, (3,), np.float32), "mode": spaces.Discrete(4, start=-1),
        "flags": spaces.MultiBinary(2), "img": spaces.Box(0, 255, (2, 3), np.uint8),
        "grid": spaces.MultiDiscrete([2, 3], start=[1, -1])})
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


class MultiDiscreteObsEnv(gym.Env):
    """MultiDiscrete observations with offsets (one-hot per component), Box actions."""

    observation_space = spaces.MultiDiscrete([3, 4, 2, 5, 6], start=[0, -1, 5, 0, 2])
    action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample(), {}

    def step(self, action):
        reward = -float(np.abs(action).sum())
        return self.observation_space.sample(), reward, False, self.np_random.random() < 0.1, {}


@functools.cache
def make_model(case: str) -> TRPO:
    """A trained-then-perturbed model; see `CASES`. Do not modify the returned model."""
    kind, norm = case.split("-")
    normalize = norm == "norm"
    if kind in HEAD_KINDS:
        model = TRPO("MlpPolicy", MatchEnv(kind), seed=0, normalize_obs=normalize, **TINY)
        model.learn(128)
    elif kind == "gsde":  # full_std with raw observations, one std per latent unit with norm
        tiny = {**TINY, "policy_kwargs": {**TINY["policy_kwargs"], "full_std": not normalize}}
        model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, normalize_obs=normalize,
                     use_sde=True, sde_sample_freq=4, **tiny)
        model.learn(128)
    elif kind == "dict_obs":
        model = TRPO("MultiInputPolicy", DictObsEnv(), seed=0, normalize_obs=normalize, **TINY)
    elif kind == "multidiscrete_obs":
        model = TRPO("MlpPolicy", MultiDiscreteObsEnv(), seed=0, normalize_obs=normalize,
                     **TINY)
        model.learn(128)
    else:
        env = ShapedBoxEnv() if kind == "shaped_box" else OffsetSpacesEnv()
        model = TRPO("MlpPolicy", env, seed=0, normalize_obs=normalize, **TINY)
    rng = np.random.default_rng(sum(map(ord, case)))
    # larger weights than after 2 updates: diverse classes, Box means beyond the bounds
    params = model.policy.get_params().astype(np.float64)
    params[: model.policy.n_mlp] += rng.standard_normal(model.policy.n_mlp)
    model.policy.set_params(params)
    if normalize:  # statistics far from (0, 1), so that some inputs hit clip_obs
        dim = model.encoder.obs_dim
        # one-hot inputs lie in [0, 1]: smaller variances there, so that some hit clip_obs
        high = 0.1 if kind == "multidiscrete_obs" else 2.0
        model.obs_normalizer.load_state_dict({
            "mean": rng.normal(0.0, 0.5, dim), "var": rng.uniform(0.005, high, dim),
            "count": np.array(100.0)})
    return model


def observations(model: TRPO, n: int = 200, seed: int = 0):
    """A batch of float32 observations (Box: beyond the bounds too), Discrete values, or a
    dict of such batches for a Dict space."""
    rng = np.random.default_rng(seed)
    space = model.observation_space
    if isinstance(space, spaces.Dict):
        space.seed(seed)
        samples = [space.sample() for _ in range(n)]
        return {key: np.stack([sample[key] for sample in samples]) for key in space.spaces}
    if isinstance(space, spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, n)
    if isinstance(space, spaces.MultiDiscrete):
        return rng.integers(space.start, space.start + space.nvec, (n, len(space.nvec)))
    return rng.uniform(-3.0, 3.0, (n, *space.shape)).astype(np.float32)


def near_ties(model: TRPO, policy, obs, margin: float = 1e-4) -> np.ndarray:
    """Rows whose discrete action could flip with rounding: two logits of a categorical
    within ``margin``, or a Bernoulli logit within ``margin`` of 0. All False for Box."""
    out = policy.forward(obs)
    head = policy.head
    if head in ("gaussian", "gsde"):
        return np.zeros(len(out), dtype=bool)
    if head == "bernoulli":
        return (np.abs(out) < margin).any(axis=1)
    tie = np.zeros(len(out), dtype=bool)
    start = 0
    for n in policy.nvec.tolist():
        block = np.sort(out[:, start: start + n], axis=1)
        start += n
        if n > 1:
            tie |= block[:, -1] - block[:, -2] < margin
    return tie


def assert_same_actions(model: TRPO, policy, obs, expected, got, atol: float = 1e-5) -> None:
    """``got`` equals ``expected`` (``model.predict``'s actions): same shape and dtype; Box
    within ``atol``; discrete exactly, except near-tie rows (fewer than 5% of them)."""
    expected, got = np.asarray(expected), np.asarray(got)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if policy.head in ("gaussian", "gsde"):
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
        return
    ties = near_ties(model, policy, obs)
    assert ties.mean() < 0.05
    np.testing.assert_array_equal(got[~ties], expected[~ties])


def export_input(policy, obs) -> np.ndarray:
    """``obs`` as the ONNX graph and the C code read it: float32 rows (the flat layout of a
    Dict space, a Box flattened), or int64 Discrete values."""
    if policy.obs_segments:
        return policy.flatten_obs(obs)[0].astype(np.float32)
    obs = np.asarray(obs)
    if obs.dtype.kind == "i" and obs.ndim == 1:  # Discrete values
        return obs.astype(np.int64)
    return np.ascontiguousarray(obs.reshape(len(obs), -1), dtype=np.float32)


def take(obs, index):
    """``obs[index]`` for a batch, or for each entry of a dict of batches (Dict spaces)."""
    if isinstance(obs, dict):
        return {key: value[index] for key, value in obs.items()}
    return obs[index]


def n_observations(obs) -> int:
    """Observations in a batch (a dict of batches too)."""
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
