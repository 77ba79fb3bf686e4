"""Gymnasium spaces: which are supported, how observations are encoded and actions sent."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from fasttrpo._cython.rollout_step import clip_actions, copy_obs_checked
from fasttrpo.foundation.heads import extra_param_count, head_for_space
from fasttrpo.foundation.portable import discrete_indices

#: the action codec's kind of each action-space kind (gymnasium's class names)
_CODEC_SPACE_KINDS = {"gaussian": "Box", "categorical": "Discrete",
                      "multidiscrete": "MultiDiscrete", "bernoulli": "MultiBinary"}

SUPPORTED_OBS = ("Box (any shape, flattened), Discrete (one-hot encoded), MultiDiscrete "
                 "(1-D, one-hot encoded per component, as sb3), MultiBinary, and a Dict of "
                 "those (MultiInputPolicy's observations, flattened in key order)")
SUPPORTED_ACT = "Box, Discrete, MultiDiscrete and MultiBinary"


@dataclass(frozen=True)
class ObsEncoder:
    """Turns a batch of raw observations into the (E, obs_dim) float rows the policy reads.

    Attributes
    ----------
    space : the single-env observation space.
    obs_dim : int, width of an encoded observation.
    n_discrete : int, the Discrete space's size (one-hot), 0 for Box.
    """

    space: Any  # a gymnasium Box, Discrete or Dict (its attributes per kind)
    obs_dim: int
    n_discrete: int
    #: a Dict space's entries, in its (sorted) key order: ``((key, encoder), ...)``
    parts: tuple = ()
    #: a MultiDiscrete space's components as Discrete encoders (one-hot each), in order
    components: tuple = ()

    @classmethod
    def for_space(cls, space: spaces.Space, nested: bool = False) -> "ObsEncoder":
        """Return the encoder of ``space``; ValueError for an unsupported space."""
        if isinstance(space, (spaces.Box, spaces.MultiBinary)):
            return cls(space, int(np.prod(space.shape, dtype=np.int64)), 0)
        if isinstance(space, spaces.Discrete):
            return cls(space, int(space.n), int(space.n))
        if isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
            components = tuple(cls.for_space(spaces.Discrete(int(n), start=int(s)))
                               for n, s in zip(space.nvec, space.start, strict=True))
            return cls(space, sum(c.obs_dim for c in components), 0, components=components)
        if isinstance(space, spaces.Dict) and not nested and len(space.spaces):
            parts = tuple((key, cls.for_space(sub, nested=True))
                          for key, sub in space.spaces.items())
            return cls(space, sum(part.obs_dim for _, part in parts), 0, parts)
        raise ValueError(
            f"observation_space: {space} is not supported; fasttrpo's MLP policies take "
            f"{SUPPORTED_OBS} observations (no nested Dict or Tuple: flatten those, e.g. "
            "with gymnasium.wrappers.FlattenObservation)"
        )

    @property
    def plain_rows(self) -> bool:
        """Whether a batch of observations is its own encoding: (E, obs_dim) reals (a 1-D Box).

        The gymnasium sampler then copies the env's rows without calling `encode`.
        """
        return (type(self.space) is spaces.Box and len(self.space.shape) == 1
                and self.space.dtype in (np.float32, np.float64))

    def observation_rows(self, observation) -> tuple[np.ndarray, bool]:
        """Encode one observation or a batch, as ``predict`` receives it.

        Returns ``(rows, single)``: the (N, obs_dim) float64 encoding and whether
        ``observation`` was one observation (N = 1). A Dict space takes a dict of arrays, one
        per key, each of its entry's shape or with a leading batch dimension.

        Raises
        ------
        ValueError
            Naming the observation (and the key) that is not of the space.
        """
        raw: Any  # a dict of batches (Dict space) or one batch array
        if self.parts:
            if not isinstance(observation, Mapping):
                raise ValueError(f"observation: expected a dict with keys "
                                 f"{[key for key, _ in self.parts]} for {self.space}, got "
                                 f"{type(observation).__name__}")
            first_key, first = self.parts[0]
            if first_key not in observation:
                raise ValueError(f"observation: missing key {first_key!r} of {self.space}")
            single = np.shape(observation[first_key]) == _entry_shape(first.space)
            raw = {key: (np.asarray(value)[None] if single else value)
                   for key, value in observation.items()}
            n_rows = len(np.asarray(raw[first_key]))
        else:
            shape = self.space.shape
            if observation is None or isinstance(observation, (Mapping, str, bytes)):
                raise ValueError(f"observation: expected an array of shape {shape} or "
                                 f"(batch, *{shape}) for {self.space}, got "
                                 f"{type(observation).__name__}")
            try:
                raw = np.asarray(observation)
            except (TypeError, ValueError) as err:
                raise ValueError(f"observation: not an array of numbers ({err})") from None
            single = raw.shape == shape
            if single:
                raw = raw[None]
            if raw.ndim != len(shape) + 1 or raw.shape[1:] != shape:
                raise ValueError(f"observation: expected shape {shape} or (batch, *{shape}) "
                                 f"for {self.space}, got shape {raw.shape}")
            n_rows = raw.shape[0]
        rows = np.empty((n_rows, self.obs_dim))
        try:
            self.encode(raw, rows)
        except ValueError as err:
            raise ValueError(f"observation: not of {self.space}; {err}") from None
        return rows, single

    def encode(self, raw_obs, out: np.ndarray) -> np.ndarray:
        """Write the encoding of ``raw_obs`` (E, *space.shape) into ``out`` (E, obs_dim).

        A Dict space takes a dict of such batches, one per key, and writes each entry's
        encoding into its columns, in key order. Raises ValueError on a wrong shape or key,
        a Discrete value out of range or NaN/inf.
        """
        n_rows = out.shape[0]
        if self.parts:
            if not isinstance(raw_obs, Mapping):
                raise ValueError(f"obs: expected a dict of {len(self.parts)} batches, got "
                                 f"{type(raw_obs).__name__}")
            unknown = sorted(set(raw_obs) - {key for key, _ in self.parts})
            if unknown:
                raise ValueError(f"obs: unexpected key(s) {unknown}")
            column = 0
            for key, part in self.parts:
                if key not in raw_obs:
                    raise ValueError(f"obs: missing key {key!r}")
                block = np.empty((n_rows, part.obs_dim))
                try:
                    part.encode(raw_obs[key], block)
                except ValueError as err:
                    raise ValueError(f"obs[{key!r}]: {err}") from None
                out[:, column:column + part.obs_dim] = block
                column += part.obs_dim
            return out
        raw = np.asarray(raw_obs)
        if self.components:  # MultiDiscrete: each component one-hot, in its columns
            if raw.shape != (n_rows, len(self.components)):
                raise ValueError(f"obs: expected shape ({n_rows}, {len(self.components)}) of "
                                 f"MultiDiscrete values, got {raw.shape}")
            column = 0
            for c, component in enumerate(self.components):
                block = np.empty((n_rows, component.obs_dim))
                try:
                    component.encode(raw[:, c], block)
                except ValueError as err:
                    raise ValueError(f"obs[:, {c}]: {err}") from None
                out[:, column:column + component.obs_dim] = block
                column += component.obs_dim
            return out
        if self.n_discrete:
            if raw.shape != (n_rows,):
                raise ValueError(
                    f"obs: expected shape ({n_rows},) of Discrete values, got {raw.shape}")
            index = discrete_indices("obs", raw, int(self.space.start), self.n_discrete)
            out[:] = 0.0
            out[np.arange(n_rows), index] = 1.0
            return out
        if raw.shape[1:] != self.space.shape or raw.shape[0] != n_rows:
            raise ValueError(
                f"obs: expected shape ({n_rows}, {', '.join(map(str, self.space.shape))}), "
                f"got {raw.shape}"
            )
        if raw.dtype.kind not in "biuf":
            raise ValueError(f"obs: dtype {raw.dtype} cannot be cast safely to a real number array")
        rows = raw.reshape(n_rows, self.obs_dim)
        if rows.dtype.kind != "f" or rows.dtype.itemsize not in (4, 8):
            rows = rows.astype(np.float64)
        # compiled copy + finiteness check: a few numpy calls cost more than acting itself
        if not copy_obs_checked(np.ascontiguousarray(rows), out):
            raise ValueError("obs: NaN or infinite observation values, or values beyond the "
                             f"range of {out.dtype}")
        return out


def _entry_shape(space: spaces.Space) -> tuple[int, ...]:
    """Shape of one observation of a Dict entry (``()`` for Discrete)."""
    return tuple(space.shape) if space.shape is not None else ()


@dataclass(frozen=True)
class ActionCodec:
    """The policy head for an action space and the conversion of sampled actions for the env.

    Attributes
    ----------
    space : the single-env action space.
    kind : "gaussian", "categorical", "multidiscrete" or "bernoulli".
    width : int, columns of the (E, width) float action rows the policy samples.
    """

    space: Any  # a gymnasium Box, Discrete, MultiDiscrete or MultiBinary (per ``kind``)
    kind: str
    width: int
    # per batch size: (low, high, env-dtype output) for clipping Box actions without allocating
    _clip_buffers: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_space(cls, space: spaces.Space) -> "ActionCodec":
        """Return the codec of ``space``; ValueError for an unsupported space."""
        if isinstance(space, spaces.Box):
            return cls(space, "gaussian", int(np.prod(space.shape, dtype=np.int64)))
        if isinstance(space, spaces.Discrete):
            return cls(space, "categorical", 1)
        if isinstance(space, spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise ValueError(
                    f"action_space: multi-dimensional MultiDiscrete {space} is not supported")
            return cls(space, "multidiscrete", int(space.nvec.size))
        if isinstance(space, spaces.MultiBinary):
            return cls(space, "bernoulli", int(np.prod(space.shape, dtype=np.int64)))
        raise ValueError(
            f"action_space: {space} is not supported; fasttrpo supports {SUPPORTED_ACT}")

    def policy_outputs(self) -> tuple[int, int]:
        """``(network outputs, extra parameters)`` of the policy for this action space.

        The Gaussian's extra parameters are its ``log_std``; the MultiDiscrete head has one
        logit per class of each sub-action.
        """
        if self.kind == "categorical":
            out_dim = int(self.space.n)
        elif self.kind == "multidiscrete":
            out_dim = int(self.space.nvec.sum())
        else:
            out_dim = self.width
        head = head_for_space(_CODEC_SPACE_KINDS[self.kind])
        return out_dim, extra_param_count(head, out_dim, latent_dim=0)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """Convert policy rows ``actions`` (E, width) into an env-ready batch.

        Box actions are clipped to the bounds (the unclipped sample is what the update uses),
        class indices become integers.
        """
        space = self.space
        n_rows = actions.shape[0]
        if self.kind == "gaussian":
            buffers = self._clip_buffers.get(n_rows)
            if buffers is None:
                env_dtype = space.dtype if space.dtype in (np.float32, np.float64) else np.float64
                buffers = self._clip_buffers[n_rows] = (
                    space.low.reshape(-1).astype(np.float64),
                    space.high.reshape(-1).astype(np.float64),
                    np.empty((n_rows, self.width), dtype=env_dtype))
            low, high, clipped = buffers
            clip_actions(actions, low, high, clipped)
            # a copy: the env may keep the action, and the buffer is reused next step
            return clipped.astype(space.dtype).reshape(n_rows, *space.shape)
        if self.kind == "categorical":
            indices = actions[:, 0].astype(np.int64)  # a new array: the env may keep it
            if space.start:  # (an addition costs as much as the cast)
                indices += int(space.start)
            return indices
        if self.kind == "multidiscrete":
            return actions.astype(space.dtype) + space.start
        return actions.astype(space.dtype).reshape(n_rows, *space.shape)


def space_to_json(space: spaces.Space) -> dict:
    """Describe a supported space as JSON-ready data (inverse: `space_from_json`)."""
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(),
                "shape": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.Dict):  # a list of pairs keeps the key order in JSON
        return {"type": "Dict", "spaces": [[key, space_to_json(sub)]
                                           for key, sub in space.spaces.items()]}
    raise ValueError(f"space: {space} cannot be saved")


#: largest size of a space dimension read from a file: a saved space is trusted no further
MAX_SPACE_SIZE = 2**31 - 1
#: most entries of a saved Dict observation space
MAX_DICT_KEYS = 1024


def _json_int(name: str, value, low: int = 0, high: int = MAX_SPACE_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: expected an integer in [{low}, {high}], got {value!r}")
    return value


def _json_ints(name: str, value, low: int = 0, high: int = MAX_SPACE_SIZE) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"{name}: expected a list of integers, got {type(value).__name__}")
    return [_json_int(name, item, low, high) for item in value]


def _box_from_json(data: dict) -> spaces.Box:
    shape = _json_ints("shape", data["shape"])
    if int(np.prod(shape, dtype=object)) > MAX_SPACE_SIZE:
        raise ValueError(f"shape: {shape} holds more than {MAX_SPACE_SIZE} values")
    dtype = np.dtype(data["dtype"])
    if dtype.kind not in "fiu":
        raise ValueError(f"dtype: a Box of {dtype} is not supported")
    with np.errstate(over="ignore"):  # 1e300 in a float32 Box is inf: unbounded, as gym does
        low = np.array(data["low"], dtype=dtype).reshape(shape)
        high = np.array(data["high"], dtype=dtype).reshape(shape)
    if np.isnan(low).any() or np.isnan(high).any() or (low > high).any():
        raise ValueError("low, high: bounds must be numbers with low <= high")
    return spaces.Box(low, high, dtype=dtype)


def space_from_json(data: dict, nested: bool = False) -> spaces.Space:
    """Rebuild the space `space_to_json` described.

    The description comes from a file: anything but what `space_to_json` writes (a missing
    key, a wrong type, a size beyond `MAX_SPACE_SIZE`, NaN bounds) raises ValueError.
    """
    if not isinstance(data, dict):
        raise ValueError(f"space: expected a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    try:
        if kind == "Box":
            return _box_from_json(data)
        if kind == "Discrete":
            return spaces.Discrete(_json_int("n", data["n"], low=1),
                                   start=_json_int("start", data["start"], -MAX_SPACE_SIZE))
        if kind == "MultiDiscrete":
            nvec = _json_ints("nvec", data["nvec"], low=1)
            start = _json_ints("start", data["start"], -MAX_SPACE_SIZE)
            if not nvec or len(start) != len(nvec):
                raise ValueError("nvec, start: expected two lists of the same, non-zero length")
            return spaces.MultiDiscrete(nvec, start=start)
        if kind == "MultiBinary":
            n = data["n"]
            return spaces.MultiBinary(_json_ints("n", n, low=1) if isinstance(n, list)
                                      else _json_int("n", n, low=1))
        if kind == "Dict" and not nested:
            entries = data["spaces"]
            if not isinstance(entries, list) or not entries or len(entries) > MAX_DICT_KEYS \
                    or not all(isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                               for e in entries):
                raise ValueError(f"spaces: expected 1 to {MAX_DICT_KEYS} [key, space] pairs")
            return spaces.Dict({key: space_from_json(sub, nested=True) for key, sub in entries})
    except (KeyError, TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"space: invalid saved {kind} space ({type(err).__name__}: "
                         f"{str(err)[:200]})") from None
    raise ValueError(f"space: unknown saved space type {str(kind)[:100]!r}")
