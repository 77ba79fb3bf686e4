"""Run an exported policy with numpy alone: ``fasttrpo.runtime.load("policy.npz").act(obs)``.

This module imports numpy and the Python standard library, nothing else: no numba, scipy,
gymnasium or compiled extension, so it runs wherever numpy does (robots, game servers, small
boards). ``fasttrpo/__init__.py`` imports nothing eagerly, so ``import fasttrpo.runtime``
loads only this file, ``fasttrpo.foundation.heads`` (the head and activation names, standard
library only) and ``fasttrpo.foundation.portable`` (the bounded file reader and input checks it
shares with the training stack, numpy and standard library only). Write the file with
``model.export("policy.npz")`` or ``fasttrpo export MODEL --format npz --output policy.npz``.

A policy file is an uncompressed ``.npz`` (``numpy.savez``; nothing pickled) holding:

=====================  ==================================================================
``format``             ``"fasttrpo-policy"`` (str scalar)
``format_version``     ``1`` (int scalar)
``observation_space``  JSON of the observation space: ``{"type": "Box", "shape", "low",
                       "high", "dtype"}``, ``{"type": "Discrete", "n", "start"}``,
                       ``{"type": "MultiDiscrete", "nvec", "start"}`` (one-hot per component)
``action_space``       JSON of the action space: Box as above, ``{"type": "Discrete", "n",
                       "start"}``, ``{"type": "MultiDiscrete", "nvec", "start"}`` or
                       ``{"type": "MultiBinary", "n"}``
``layer_sizes``        int64 ``[obs_dim, h_1, ..., out_dim]``
``activation``         ``"tanh"`` or ``"relu"`` (after every layer but the last)
``head``               ``"gaussian"``, ``"gsde"``, ``"categorical"`` or ``"bernoulli"``
``nvec``               int64, classes per categorical sub-action (empty for other heads)
``params``             float32 or float64 ``[W0, b0, ..., WL, bL(, log_std)]``, each ``W``
                       of shape (fan_in, fan_out) row-major; a layer is ``h @ W + b``;
                       ``log_std``: (act_dim,) for ``gaussian``; (Z * act_dim,) row-major
                       or (Z,) for ``gsde`` (``Z`` = ``layer_sizes[-2]``)
``clip_obs``           float64 scalar; 0 when observations are not normalised
``obs_mean``           float64 (obs_dim,), only with observation normalisation
``obs_std``            float64 (obs_dim,), ``sqrt(var + epsilon)`` of the frozen statistics
``gru_hidden_size``    int scalar ``H``, only for a recurrent (``MlpGruPolicy``) policy: then
                       ``layer_sizes`` is the encoder ``[obs_dim, e_1, ..., 3H]`` (its last,
                       linear layer the GRU's input projection) and ``params`` continues
                       with ``W_hh`` (H, 3H), ``b_hh`` (3H,), ``W_out`` (H, out_dim),
                       ``b_out`` (out_dim,) (then ``log_std``); PyTorch's GRU equations,
                       gates (r, z, n); ``act(obs, state)`` returns ``(action, state)``
=====================  ==================================================================

Examples
--------
>>> import fasttrpo.runtime
>>> policy = fasttrpo.runtime.load("policy.npz")        # doctest: +SKIP
>>> action = policy.act(obs)                             # doctest: +SKIP
>>> actions = policy.act(obs_batch, deterministic=False, rng=np.random.default_rng(0))
... # doctest: +SKIP
"""

import math
import os
from itertools import pairwise

import numpy as np

from fasttrpo.foundation.heads import (
    ACTIVATION_NAMES,
    extra_param_counts,
    head_code,
    head_for_space,
)
from fasttrpo.foundation.masking import check_action_masks, mask_logits
from fasttrpo.foundation.policy_file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SPACE_KEYS,
    ObsSegment,
    box_bounds,
    dict_segments,
    encoding_segments,
    multi_discrete_segment,
    read_policy_file,
    space_kind,
    space_size,
)
from fasttrpo.foundation.portable import discrete_indices, normalize_rows

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Policy", "load"]

class Policy:
    """A trained MLP policy that computes actions with numpy, as ``TRPO.predict`` does.

    Usually made by `load`; the constructor takes the contents of a policy file (see the
    module docstring) and validates them.

    Parameters
    ----------
    observation_space, action_space : dict
        JSON-style descriptions of the spaces (module docstring).
    layer_sizes : sequence of int
        ``[obs_dim, h_1, ..., out_dim]``.
    activation : {"tanh", "relu"}
    head : {"gaussian", "gsde", "categorical", "bernoulli"}
        ``"gsde"``: generalized state-dependent exploration (see `act`).
    nvec : sequence of int
        Classes per categorical sub-action (``[n]`` for ``Discrete``); empty otherwise.
    params : ndarray, float32 or float64
        Flat parameters ``[W0, b0, ..., WL, bL(, log_std)]``; their dtype is the
        computation dtype.
    obs_mean, obs_std : ndarray of shape (obs_dim,) or None
        Frozen normalisation statistics (``obs_std = sqrt(var + epsilon)``), or None.
    clip_obs : float
        Clipping after normalisation (ignored without statistics).

    Attributes
    ----------
    obs_shape : tuple of int
        Shape of one raw observation (``()`` for Discrete).
    obs_start : int
        The Discrete observation space's ``start`` (0 for Box).
    obs_dim : int
        Width of an encoded observation (Discrete observations are one-hot encoded).
    normalize_obs : bool
        Whether ``obs_mean`` / ``obs_std`` / ``clip_obs`` are applied.
    weights, biases : list of ndarray
        ``W_l`` (fan_in, fan_out) and ``b_l`` (fan_out,), views into ``params``.
    log_std : ndarray
        Gaussian ``log_std`` (act_dim,), gSDE's (Z * act_dim,) or (Z,); empty for discrete
        heads.
    dtype : numpy.dtype
        Computation dtype of the network.
    action_shape : tuple of int
        Shape of one action.
    action_dtype : numpy.dtype
        dtype of the actions returned by `act`.
    action_low, action_high : ndarray
        Box bounds (Box action spaces only).
    action_start : ndarray of int64
        Offsets added to class indices (Discrete: shape (1,); MultiDiscrete: (k,)).
    """

    def __init__(self, observation_space: dict, action_space: dict, layer_sizes, activation: str,
                 head: str, nvec, params, obs_mean=None, obs_std=None,
                 clip_obs: float = 0.0, gru_hidden_size: int = 0) -> None:
        self.gru_hidden_size = int(gru_hidden_size)
        self.observation_space = dict(observation_space)
        self.action_space = dict(action_space)
        self.layer_sizes = [int(s) for s in np.asarray(layer_sizes, dtype=np.int64).reshape(-1)]
        self.activation = str(activation)
        self.head = str(head)
        self.nvec = np.asarray(nvec, dtype=np.int64).reshape(-1)
        params = np.asarray(params)
        if params.dtype not in (np.float32, np.float64) or params.ndim != 1:
            raise ValueError(f"params: expected a 1-D float32 or float64 array, got "
                             f"{params.dtype} of shape {params.shape}")
        self.params = np.ascontiguousarray(params)
        self.dtype = self.params.dtype
        self._check_structure()
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        offset = 0
        for fan_in, fan_out in pairwise(self.layer_sizes):
            self.weights.append(self.params[offset: offset + fan_in * fan_out]
                                .reshape(fan_in, fan_out))
            offset += fan_in * fan_out
            self.biases.append(self.params[offset: offset + fan_out])
            offset += fan_out
        if self.recurrent:  # W_hh, b_hh, W_out, b_out after the encoder
            hid, out_dim = self.gru_hidden_size, self.out_dim
            self.w_hh = self.params[offset: offset + 3 * hid * hid].reshape(hid, 3 * hid)
            self.b_hh = self.params[offset + 3 * hid * hid: offset + 3 * hid * (hid + 1)]
            offset += 3 * hid * (hid + 1)
            self.w_out = self.params[offset: offset + hid * out_dim].reshape(hid, out_dim)
            self.b_out = self.params[offset + hid * out_dim: offset + (hid + 1) * out_dim]
            offset += (hid + 1) * out_dim
        self.log_std = self.params[offset:]
        self._set_observation(obs_mean, obs_std, clip_obs)
        self._set_action()

    # ---- validation ---------------------------------------------------------------------
    @property
    def recurrent(self) -> bool:
        """Whether the policy is a GRU policy (``gru_hidden_size`` > 0; `act` takes a state)."""
        return self.gru_hidden_size > 0

    @property
    def out_dim(self) -> int:
        """Width of the distribution parameters (the means or the logits)."""
        if not self.recurrent:
            return self.layer_sizes[-1]
        if self.head == "categorical":
            return int(self.nvec.sum())
        # Gaussian: H D + D weights and biases of the head, then D log_std
        hid = self.gru_hidden_size
        rest = self.params.size - self._n_encoder - 3 * hid * (hid + 1)
        return max(rest // (hid + 2), 1)

    @property
    def _n_encoder(self) -> int:
        return sum(a * b + b for a, b in pairwise(self.layer_sizes))

    def _check_recurrent_structure(self) -> None:
        hid, sizes = self.gru_hidden_size, self.layer_sizes
        if self.head not in ("gaussian", "categorical"):
            raise ValueError(f"head: a recurrent policy has a gaussian or categorical head, "
                             f"got {self.head!r}")
        if sizes[-1] != 3 * hid:
            raise ValueError(f"layer_sizes: a recurrent policy's encoder ends with 3 * "
                             f"gru_hidden_size = {3 * hid} units, got {sizes}")
        out_dim = self.out_dim
        extra = out_dim if self.head == "gaussian" else 0
        expected = self._n_encoder + 3 * hid * (hid + 1) + (hid + 1) * out_dim + extra
        if self.params.size != expected:
            raise ValueError(f"params: expected {expected} values for the encoder "
                             f"{sizes}, a GRU of {hid} and the {self.head} head, got "
                             f"{self.params.size}")

    def _check_structure(self) -> None:
        sizes = self.layer_sizes
        if self.gru_hidden_size < 0:
            raise ValueError(f"gru_hidden_size: expected >= 0, got {self.gru_hidden_size}")
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes: expected >= 2 positive sizes, got {sizes}")
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(
                f"activation: expected one of {ACTIVATION_NAMES}, got {self.activation!r}")
        head_code(self.head)  # ValueError "head: expected one of ..." for an unknown name
        out_dim = self.out_dim
        if self.head == "categorical":
            if self.nvec.size == 0 or (self.nvec < 1).any() or int(self.nvec.sum()) != out_dim:
                raise ValueError(f"nvec: expected positive class counts summing to the output "
                                 f"size {out_dim}, got {self.nvec.tolist()}")
        elif self.nvec.size:
            raise ValueError(f"nvec: must be empty for the {self.head} head, got {self.nvec}")
        n_mlp = sum(a * b + b for a, b in pairwise(sizes))
        # log_std: gSDE's per (latent unit, action) pair, or per latent unit
        expected = [n_mlp + n for n in extra_param_counts(self.head, out_dim, sizes[-2])]
        if self.recurrent:
            self._check_recurrent_structure()
        elif self.params.size not in expected:
            raise ValueError(f"params: expected {' or '.join(map(str, expected))} values for "
                             f"layer_sizes {sizes} and the {self.head} head, got "
                             f"{self.params.size}")
        if not np.isfinite(self.params).all():
            raise ValueError("params: contains NaN or infinite value(s)")

    def _set_observation(self, obs_mean, obs_std, clip_obs) -> None:
        space = self.observation_space
        kind = space_kind("observation_space", space,
                          ("Box", "Discrete", "MultiDiscrete", "Dict"))
        self.obs_segments: tuple[ObsSegment, ...] = ()
        #: what the flat layout's columns encode into (MultiDiscrete split per component);
        #: empty for Box and Discrete observations
        self.encoding_segments: tuple[ObsSegment, ...] = ()
        if kind == "Dict":  # MultiInputPolicy: entries flattened in key order
            self.obs_segments = dict_segments(space["spaces"])
            self.encoding_segments = encoding_segments(self.obs_segments)
            self.obs_shape, self._n_discrete_obs, self.obs_start = None, 0, 0
            obs_dim = sum(segment.encoded_size for segment in self.obs_segments)
        elif kind == "MultiDiscrete":  # one-hot per component, as sb3
            segment = multi_discrete_segment("observation_space", space)
            self.encoding_segments = encoding_segments((segment._replace(key="obs"),))
            self.obs_shape, self._n_discrete_obs, self.obs_start = segment.shape, 0, 0
            obs_dim = segment.encoded_size
        elif kind == "Box":
            self.obs_shape = tuple(int(s) for s in space["shape"])
            self._n_discrete_obs = 0
            self.obs_start = 0
            obs_dim = space_size(space)
        elif kind == "Discrete":
            self.obs_shape = ()
            self._n_discrete_obs = int(space["n"])
            self.obs_start = int(space.get("start", 0))
            obs_dim = self._n_discrete_obs
        if obs_dim != self.layer_sizes[0]:
            raise ValueError(f"observation_space: {obs_dim} inputs, but layer_sizes starts with "
                             f"{self.layer_sizes[0]}")
        self.obs_dim = obs_dim
        if (obs_mean is None) != (obs_std is None):
            raise ValueError("obs_mean, obs_std: give both or neither")
        self.normalize_obs = obs_mean is not None
        self.obs_mean = self.obs_std = None
        self.clip_obs = float(clip_obs)
        if self.normalize_obs:
            mean = np.asarray(obs_mean, dtype=np.float64)
            std = np.asarray(obs_std, dtype=np.float64)
            for name, value in (("obs_mean", mean), ("obs_std", std)):
                if value.shape != (obs_dim,) or not np.isfinite(value).all():
                    raise ValueError(f"{name}: expected {obs_dim} finite values, got shape "
                                     f"{value.shape}")
            if not (std > 0).all():
                raise ValueError("obs_std: must be positive")
            if not (self.clip_obs > 0 and math.isfinite(self.clip_obs)):
                raise ValueError(f"clip_obs: must be a positive number, got {clip_obs!r}")
            self.obs_mean, self.obs_std = mean, std

    def _set_action(self) -> None:
        space = self.action_space
        kind = space_kind("action_space", space, tuple(SPACE_KEYS))
        out_dim = self.out_dim
        expected_head = head_for_space(kind, use_sde=kind == "Box" and self.head == "gsde")
        if expected_head != self.head:
            raise ValueError(f"action_space: a {kind} space needs the {expected_head} head, "
                             f"not {self.head}")
        if kind == "Box":
            self.action_low, self.action_high, self.action_dtype = box_bounds(space)
            self.action_shape = self.action_low.shape
            width = space_size(space)
            self._low_flat = self.action_low.reshape(-1)
            self._high_flat = self.action_high.reshape(-1)
        elif kind == "Discrete":
            self.action_shape, self.action_dtype = (), np.dtype(np.int64)
            self.action_start = np.array([int(space.get("start", 0))], dtype=np.int64)
            width = int(space["n"])
            if self.nvec.tolist() != [width]:
                raise ValueError(f"nvec: {self.nvec.tolist()} does not match {space}")
        elif kind == "MultiDiscrete":
            nvec = np.asarray(space["nvec"], dtype=np.int64)
            self.action_shape, self.action_dtype = nvec.shape, np.dtype(np.int64)
            self.action_start = np.asarray(space.get("start", 0), dtype=np.int64) + 0 * nvec
            width = int(nvec.sum())
            if nvec.tolist() != self.nvec.tolist():
                raise ValueError(f"nvec: {self.nvec.tolist()} does not match {space}")
        else:
            self.action_shape = tuple(np.atleast_1d(space["n"]).tolist())
            self.action_dtype = np.dtype(np.int8)
            width = space_size(space)
        if width != out_dim:
            raise ValueError(f"action_space: needs {width} network outputs, but layer_sizes "
                             f"ends with {out_dim}")
        self._action_kind = kind

    # ---- computation --------------------------------------------------------------------
    def preprocess(self, obs) -> tuple[np.ndarray, bool]:
        """Encode and normalise ``obs`` into rows ``(N, obs_dim)`` of the network dtype.

        Returns ``(rows, single)``, ``single`` telling whether ``obs`` was a single
        observation (then ``N`` is 1).

        Box observations are flattened, Discrete ones one-hot encoded (MultiDiscrete ones per
        component); with statistics,
        ``clip((x - mean) / std, -clip_obs, clip_obs)`` is applied in float64, exactly as
        ``TRPO.predict``.
        """
        if self.obs_segments:
            raw, single = self.flatten_obs(obs)
            rows = self._encode_segments(raw)
            return self._normalized(rows), single
        raw = np.asarray(obs)
        obs_shape = self.obs_shape
        assert obs_shape is not None  # None only for Dict observations, encoded above
        single = raw.shape == obs_shape
        if single:
            raw = raw[None]
        if raw.ndim != len(obs_shape) + 1 or raw.shape[1:] != obs_shape:
            raise ValueError(f"obs: expected shape {self.obs_shape} or (batch, *{self.obs_shape})"
                             f", got {np.shape(obs)}")
        if raw.dtype.kind not in "biuf":
            raise ValueError(f"obs: dtype {raw.dtype} is not a real number type")
        n_rows = raw.shape[0]
        if self._n_discrete_obs:
            index = discrete_indices("obs", raw, self.obs_start, self._n_discrete_obs)
            rows = np.zeros((n_rows, self.obs_dim))
            rows[np.arange(n_rows), index] = 1.0
        elif self.encoding_segments:  # MultiDiscrete
            rows = self._encode_segments(raw.astype(np.float64))
        else:
            rows = raw.reshape(n_rows, self.obs_dim)
            if not np.isfinite(rows).all():
                raise ValueError("obs: contains NaN or infinite value(s)")
        return self._normalized(rows), single

    def _normalized(self, rows: np.ndarray) -> np.ndarray:
        """Normalise encoded rows (with statistics) and cast them to the network dtype."""
        if self.obs_mean is not None and self.obs_std is not None:  # normalize_obs
            # (x - mean) / sqrt(var + eps), clipped, in float64
            rows = normalize_rows(rows, self.obs_mean, self.obs_std, self.clip_obs)
        with np.errstate(over="ignore"):
            rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if not self.normalize_obs and not np.isfinite(rows).all():
            # finite float64 values beyond float32's range (1e300) become inf here
            raise ValueError(f"obs: values beyond the range of the {self.dtype} network")
        return rows

    @property
    def raw_obs_dim(self) -> int:
        """Floats of one observation in the flat layout the ONNX and C exports read.

        Box entries flattened row-major, a Discrete entry as one value, a MultiBinary entry
        as its bits, the entries of a Dict space in key order (`obs_segments`).
        """
        if self.encoding_segments:  # Dict, MultiDiscrete
            return sum(segment.raw_size for segment in self.encoding_segments)
        return 1 if self._n_discrete_obs else self.obs_dim

    def flatten_obs(self, obs) -> tuple[np.ndarray, bool]:
        """Flatten a Dict observation (or a batch) to the export layout; say if it was one.

        ``obs`` is a dict with one array per key (each of its entry's shape, or with a
        leading batch dimension), or already the flat layout: (raw_obs_dim,) or
        (N, raw_obs_dim). Returns ``(rows, single)`` with rows (N, raw_obs_dim) float64.
        """
        segments = self.obs_segments
        if not isinstance(obs, dict):
            raw = np.asarray(obs)
            if raw.dtype.kind not in "biuf" or raw.shape[-1:] != (self.raw_obs_dim,) \
                    or raw.ndim not in (1, 2):
                raise ValueError(f"obs: expected a dict with keys "
                                 f"{[s.key for s in segments]} or the flat layout of "
                                 f"{self.raw_obs_dim} values, got {raw.dtype} {raw.shape}")
            return raw.reshape(-1, self.raw_obs_dim).astype(np.float64), raw.ndim == 1
        missing = [s.key for s in segments if s.key not in obs]
        unknown = sorted(set(obs) - {s.key for s in segments})
        if missing or unknown:
            raise ValueError(f"obs: missing keys {missing}, unexpected keys {unknown}")
        single = np.shape(obs[segments[0].key]) == segments[0].shape
        n_rows = 1 if single else len(np.asarray(obs[segments[0].key]))
        columns = []
        for segment in segments:
            value = np.asarray(obs[segment.key])
            if single:
                value = value[None]
            if value.shape != (n_rows, *segment.shape):
                raise ValueError(f"obs[{segment.key!r}]: expected shape {segment.shape} or "
                                 f"(batch, *{segment.shape}), got {np.shape(obs[segment.key])}")
            if value.dtype.kind not in "biuf":
                raise ValueError(f"obs[{segment.key!r}]: dtype {value.dtype} is not a real "
                                 "number type")
            columns.append(value.reshape(len(value), segment.raw_size).astype(np.float64))
        return np.concatenate(columns, axis=1), single

    def _encode_segments(self, raw: np.ndarray) -> np.ndarray:
        """Encode flat-layout rows: Discrete entries one-hot, the others as they are."""
        rows = np.zeros((raw.shape[0], self.obs_dim))
        raw_at = encoded_at = 0
        for segment in self.encoding_segments:
            values = raw[:, raw_at:raw_at + segment.raw_size]
            if segment.kind == "Discrete":
                index = discrete_indices(f"obs[{segment.key!r}]", values[:, 0], segment.start,
                                         segment.encoded_size)
                rows[np.arange(len(raw)), encoded_at + index] = 1.0
            else:
                if not np.isfinite(values).all():
                    raise ValueError(f"obs[{segment.key!r}]: contains NaN or infinite value(s)")
                rows[:, encoded_at:encoded_at + segment.encoded_size] = values
            raw_at += segment.raw_size
            encoded_at += segment.encoded_size
        return rows

    def forward(self, obs) -> np.ndarray:
        """Compute the distribution parameters (N, out_dim) of a batch.

        For one observation the result has shape (out_dim,). These are the Gaussian means, or
        the logits (categorical, Bernoulli).
        """
        if self.recurrent:
            raise ValueError("forward: a recurrent policy needs its state; use "
                             "act(obs, state) -> (action, state)")
        rows, single = self.preprocess(obs)
        out, _ = self._mlp(rows)
        return out[0] if single else out

    def _gru(self, rows: np.ndarray, state, episode_start) -> tuple[np.ndarray, np.ndarray]:
        """One GRU step per row: ``(out (N, out_dim), next state (N, H))``.

        ``gi = enc(x)`` (its last layer ``W_ih``, ``b_ih``); ``gh = h W_hh + b_hh``;
        ``r = sig(gi_r + gh_r)``, ``z = sig(gi_z + gh_z)``, ``n = tanh(gi_n + r gh_n)``,
        ``h' = n + z (h - n)``; ``out = h' W_out + b_out``.
        """
        n_rows, hid = rows.shape[0], self.gru_hidden_size
        if state is None:
            h = np.zeros((n_rows, hid), dtype=self.dtype)
        else:
            h = np.asarray(state, dtype=self.dtype)
            if h.shape == (hid,) and n_rows == 1:
                h = h[None]
            if h.shape != (n_rows, hid):
                raise ValueError(f"state: expected shape ({n_rows}, {hid}), got {h.shape}")
            if not np.isfinite(h).all():
                raise ValueError("state: contains NaN or infinite value(s)")
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
            if starts.shape != (n_rows,):
                raise ValueError(f"episode_start: expected {n_rows} booleans, got shape "
                                 f"{starts.shape}")
            h = np.where(starts[:, None], np.zeros_like(h), h)
        gi, _ = self._mlp(rows)
        gh = h @ self.w_hh + self.b_hh

        def sigmoid(x):
            return 0.5 * (1.0 + np.tanh(0.5 * x))

        r = sigmoid(gi[:, :hid] + gh[:, :hid])
        z = sigmoid(gi[:, hid: 2 * hid] + gh[:, hid: 2 * hid])
        n = np.tanh(gi[:, 2 * hid:] + r * gh[:, 2 * hid:])
        h_next = (n + z * (h - n)).astype(self.dtype, copy=False)
        return h_next @ self.w_out + self.b_out, h_next

    def _mlp(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(output, latent)``: the network output and its last layer's input ``z``."""
        last = len(self.weights) - 1
        latent = h
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            latent = h
            h = h @ w  # h W + b, then the activation on hidden layers
            h += b
            if layer < last:
                if self.activation == "tanh":
                    np.tanh(h, out=h)
                else:
                    np.maximum(h, 0, out=h)
        return h, latent

    def exploration_std(self) -> np.ndarray:
        """gSDE: ``std = exp(log_std)`` as (Z * act_dim,) row-major (shared std repeated)."""
        if self.head != "gsde":
            raise ValueError(f"exploration: the {self.head} head has no exploration matrix")
        std = np.exp(self.log_std)
        act_dim = self.layer_sizes[-1]
        return std if std.size == self.layer_sizes[-2] * act_dim else np.repeat(std, act_dim)

    def sample_exploration(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """Draw ``n`` gSDE exploration matrices ``E = std * eps``, shape (n, Z, act_dim).

        ``eps ~ N(0, 1)`` from ``rng`` (in the network dtype), as ``TRPO.predict`` and the
        training samplers draw them. Pass them to `act` as ``exploration`` to act with the
        same matrices for several steps, as training does every ``sde_sample_freq`` steps.
        """
        latent_dim, act_dim = self.layer_sizes[-2], self.layer_sizes[-1]
        noise = rng.standard_normal((int(n), latent_dim * act_dim), dtype=self.dtype)
        noise *= self.exploration_std()
        return noise.reshape(int(n), latent_dim, act_dim)

    def act(self, obs, deterministic: bool = True,
            rng: np.random.Generator | None = None, exploration=None,
            action_masks=None, state=None, episode_start=None):
        """Compute the action for one observation, or the actions for a batch.

        Parameters
        ----------
        obs : array_like
            One observation (the observation space's shape; a scalar for ``Discrete``) or a
            batch ``(N, *shape)``.
        deterministic : bool, default True
            True: the Gaussian (and gSDE) mean (clipped to the Box bounds), the most likely
            class of each categorical (first maximum) or ``logit > 0`` for each Bernoulli.
            False: a sample, drawn as ``TRPO.predict`` draws it, so a generator in the same
            state gives the same actions.
        rng : numpy.random.Generator, optional
            Source of the sampling noise (a fresh unseeded generator when None).
        exploration : ndarray, optional
            gSDE only, when sampling: exploration matrices from `sample_exploration`, one
            (1, Z, act_dim) for every row or one per row (N, Z, act_dim); the action is
            ``mu(s) + z(s) @ E``. None: a fresh matrix per row from ``rng`` (then each action
            is a sample of the per-state Gaussian ``N(mu, sum_i z_i^2 std_ij^2)``, as
            ``TRPO.predict`` draws it).
        action_masks : array_like of bool, optional
            Categorical head only (``Discrete``, ``MultiDiscrete``), as ``TRPO.predict``
            takes them: one row per observation of ``sum(nvec)`` booleans (the sub-actions'
            masks concatenated), False for an invalid action, which is then never returned.
            None: no masking.
        state, episode_start : array_like, optional
            Recurrent policies only (`recurrent`), as ``TRPO.predict``: the GRU states
            (N, H) the previous call returned (None: zeros, an episode start) and the rows
            (N,) whose episode starts now (their state is reset to zero first).

        Returns
        -------
        ndarray, or (ndarray, ndarray) for a recurrent policy: ``(action, next state)``
            As ``TRPO.predict``: Box actions of the space's dtype and shape, clipped to the
            bounds; int64 class indices (``Discrete``: shape (N,) or a scalar;
            ``MultiDiscrete``: (N, k)) including the space's ``start``; int8 0/1 for
            ``MultiBinary``. A single observation gives an unbatched action.
        """
        rows, single = self.preprocess(obs)
        if self.recurrent:
            if action_masks is not None or exploration is not None:
                raise ValueError("action_masks, exploration: not supported by a recurrent "
                                 "policy")
            out, next_state = self._gru(rows, state, episode_start)
            if not deterministic and rng is None:
                rng = np.random.default_rng()
            actions = self._sample(out, deterministic, rng)
            return (actions[0] if single else actions), next_state
        if state is not None or episode_start is not None:
            raise ValueError("state, episode_start: this policy is not recurrent")
        masks = None if action_masks is None else check_action_masks(
            action_masks, self.nvec, rows.shape[0], self.head)
        out, latent = self._mlp(rows)
        mask_logits(out, masks)  # invalid actions: probability 0 (foundation.masking)
        if not deterministic and rng is None and exploration is None:
            rng = np.random.default_rng()
        if not deterministic and self.head == "gsde":
            out = out + self._exploration_noise(latent, rng, exploration)
        actions = self._sample(out, deterministic or self.head == "gsde", rng)
        return actions[0] if single else actions

    def _exploration_noise(self, latent: np.ndarray, rng, exploration) -> np.ndarray:
        """GSDE's ``z(s) @ E`` per row, (N, act_dim)."""
        n_rows = latent.shape[0]
        shape = (self.layer_sizes[-2], self.layer_sizes[-1])
        if exploration is None:
            exploration = self.sample_exploration(rng, n_rows)
        exploration = np.asarray(exploration)
        if exploration.ndim != 3 or exploration.shape[1:] != shape or \
                exploration.shape[0] not in (1, n_rows):
            raise ValueError(f"exploration: expected shape (1, {shape[0]}, {shape[1]}) or "
                             f"({n_rows}, {shape[0]}, {shape[1]}), got {exploration.shape}")
        if not np.isfinite(exploration).all():
            raise ValueError("exploration: contains NaN or infinite value(s)")
        # (N, 1, Z) @ (N or 1, Z, A) -> (N, 1, A)
        return (latent[:, None, :] @ exploration.astype(self.dtype, copy=False))[:, 0, :]

    def _sample(self, out: np.ndarray, deterministic: bool, rng) -> np.ndarray:
        n_rows = out.shape[0]
        kind = self._action_kind
        if kind == "Box":
            if not deterministic:
                # a = mu + exp(log_std) * eps, eps ~ N(0, I), the noise TRPO.predict draws
                noise = rng.standard_normal(out.shape, dtype=self.dtype)
                out = out + np.exp(self.log_std) * noise
            clipped = np.minimum(np.maximum(out, self._low_flat), self._high_flat)
            return clipped.astype(self.action_dtype, copy=False).reshape(n_rows,
                                                                         *self.action_shape)
        if kind == "MultiBinary":
            if deterministic:
                bits = out > 0
            else:
                # a = [u < sigmoid(z)], u ~ U[0, 1); sigmoid without overflow
                noise = rng.random(out.shape, dtype=self.dtype)
                e = np.exp(-np.abs(out))
                bits = noise < np.where(out >= 0, 1 / (1 + e), e / (1 + e))
            return bits.astype(self.action_dtype).reshape(n_rows, *self.action_shape)
        noise = None if deterministic else rng.random((n_rows, self.nvec.size), dtype=self.dtype)
        choice = np.empty((n_rows, self.nvec.size), dtype=np.int64)
        start = 0
        for j, n in enumerate(self.nvec.tolist()):
            logits = out[:, start: start + n]
            start += n
            if noise is None:  # deterministic
                choice[:, j] = np.argmax(logits, axis=1)  # first maximum
                continue
            # inverse CDF of softmax: first i with sum_{l <= i} p_l > u * sum(p)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            cum = np.cumsum(p, axis=1)
            target = noise[:, j] * cum[:, -1]
            picked = (cum <= target[:, None]).sum(axis=1)
            last_positive = n - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
            choice[:, j] = np.where(picked < n, picked, last_positive)
        choice += self.action_start
        return choice[:, 0] if kind == "Discrete" else choice

    __call__ = act

    def __repr__(self) -> str:
        """Describe the policy: layer sizes, activation, head, dtype and normalisation."""
        sizes = " -> ".join(map(str, self.layer_sizes))
        if self.recurrent:
            sizes += f" -> GRU({self.gru_hidden_size}) -> {self.out_dim}"
        norm = ", normalised obs" if self.normalize_obs else ""
        return (f"fasttrpo.runtime.Policy({sizes}, {self.activation}, {self.head} head, "
                f"{self.dtype}{norm})")


def load(path: str | os.PathLike) -> Policy:
    """Load a policy file written by ``TRPO.export(path, format="npz")``.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``path`` + ".npz" is tried when ``path`` has no suffix and does not exist.

    Returns
    -------
    Policy

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the path is not a regular file, the file is corrupt or truncated, is not a
        fasttrpo policy file (a model ``.zip`` from ``TRPO.save`` is not one: export it; a
        member that is not an array), declares sizes beyond the reader's limits, has an
        unsupported ``format_version``, lacks an entry or holds inconsistent values (NaN
        action bounds, for one). The message names the file.
    """
    return read_policy_file(path, Policy)
