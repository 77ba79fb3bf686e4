"""The numpy policy file (``TRPO.export(path, format="npz")``): its format, reader and spaces.

Read by the numpy-only runtime (`fasttrpo.runtime.load`), so standard library and numpy
only. The file's entries are listed in ``fasttrpo/runtime.py``'s docstring; `read_policy_file`
checks every one (format name and version, required keys, scalar and vector types, the JSON
space descriptions) and hands them to the policy's constructor, reporting any problem as the
file's. The JSON space descriptions (``fasttrpo.models.spaces.space_to_json``) are read with
`space_kind`, `dict_segments`, `space_size` and `box_bounds`.
"""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from fasttrpo.foundation.portable import read_zip_arrays

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "REQUIRED_KEYS", "SPACE_KEYS", "ObsSegment",
           "box_bounds", "dict_segments", "encoding_segments", "int_vector_entry",
           "multi_discrete_segment", "read_policy_file", "scalar_entry", "space_kind",
           "space_size"]

T = TypeVar("T")

FORMAT_NAME = "fasttrpo-policy"
FORMAT_VERSION = 1
# every key a version-1 file must hold (obs_mean / obs_std only when clip_obs > 0)
REQUIRED_KEYS = ("format", "format_version", "observation_space", "action_space",
                 "layer_sizes", "activation", "head", "nvec", "params", "clip_obs")


#: the keys each kind of JSON space description must have
SPACE_KEYS = {"Box": ("shape", "low", "high", "dtype"), "Discrete": ("n",), "Dict": ("spaces",),
               "MultiDiscrete": ("nvec",), "MultiBinary": ("n",)}


def space_kind(name: str, space: dict, allowed: tuple[str, ...]) -> str:
    """Return the ``type`` of a JSON space description, after checking its keys."""
    kind = space.get("type")
    if kind not in allowed:
        raise ValueError(f"{name}: expected a {' or '.join(allowed)} space, got type {kind!r}")
    missing = [key for key in SPACE_KEYS[kind] if key not in space]
    if missing:
        raise ValueError(f"{name}: the {kind} description lacks {', '.join(missing)}")
    return kind


class ObsSegment(NamedTuple):
    """One entry of a Dict observation space, in the flat layout and in the encoding.

    ``kind`` is "Box", "Discrete", "MultiDiscrete" or "MultiBinary"; ``shape`` one
    observation's shape (``()`` for Discrete, ``(k,)`` for MultiDiscrete); ``raw_size`` its
    values in the flat layout (1 for Discrete, k for MultiDiscrete); ``encoded_size`` its
    columns in the network input (one-hot: ``n`` for Discrete, ``sum(nvec)`` for
    MultiDiscrete); ``start`` the Discrete space's start (0 otherwise); ``nvec`` and
    ``starts`` a MultiDiscrete space's class counts and starts (empty otherwise).
    """

    key: str
    kind: str
    shape: tuple
    raw_size: int
    encoded_size: int
    start: int
    nvec: tuple = ()
    starts: tuple = ()


def multi_discrete_segment(key: str, space: dict) -> ObsSegment:
    """Return the `ObsSegment` of a JSON-described one-dimensional MultiDiscrete space."""
    nvec = np.asarray(space["nvec"])
    if nvec.ndim != 1 or nvec.size == 0 or nvec.dtype.kind not in "iu" or (nvec < 1).any():
        raise ValueError(f"{key}: a MultiDiscrete observation needs a non-empty 1-D nvec of "
                         f"positive integers, got {nvec.tolist()}")
    starts = np.asarray(space.get("start", np.zeros_like(nvec)))
    if starts.shape != nvec.shape or starts.dtype.kind not in "iu":
        raise ValueError(f"{key}: start must be integers of nvec's shape, got "
                         f"{starts.tolist()}")
    nvec_t, starts_t = tuple(int(n) for n in nvec), tuple(int(s) for s in starts)
    return ObsSegment(key, "MultiDiscrete", (len(nvec_t),), len(nvec_t), sum(nvec_t), 0,
                      nvec_t, starts_t)


def encoding_segments(segments) -> tuple[ObsSegment, ...]:
    """Return the segments as encoded: each MultiDiscrete one split into its components.

    A MultiDiscrete entry is one-hot encoded component by component, as sb3 does, so its
    ``k`` values in the flat layout become ``k`` Discrete segments ``key[c]``; the others are
    kept. The runtime and the exporters encode from this list.
    """
    out = []
    for segment in segments:
        if segment.kind != "MultiDiscrete":
            out.append(segment)
            continue
        out.extend(ObsSegment(f"{segment.key}[{c}]", "Discrete", (), 1, n, s)
                   for c, (n, s) in enumerate(zip(segment.nvec, segment.starts, strict=True)))
    return tuple(out)


def dict_segments(entries) -> tuple[ObsSegment, ...]:
    """List the `ObsSegment` of every ``[key, space]`` pair of a saved Dict space, in order."""
    if not isinstance(entries, list) or not entries or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) for e in entries):
        raise ValueError("observation_space: a Dict description needs a non-empty list of "
                         "[key, space] pairs")
    segments = []
    for key, sub in entries:
        name = f"observation_space[{key!r}]"
        kind = space_kind(name, sub, ("Box", "Discrete", "MultiDiscrete", "MultiBinary"))
        if kind == "Discrete":
            segments.append(ObsSegment(key, kind, (), 1, int(sub["n"]), int(sub.get("start", 0))))
        elif kind == "MultiDiscrete":
            segments.append(multi_discrete_segment(name, sub)._replace(key=key))
        else:
            shape = tuple(int(n) for n in (sub["shape"] if kind == "Box"
                                           else np.atleast_1d(sub["n"]).tolist()))
            size = space_size(sub)
            segments.append(ObsSegment(key, kind, shape, size, size, 0))
    return tuple(segments)


def space_size(space: dict) -> int:
    """Count the scalars in one sample of a (JSON-described) Box / MultiBinary space."""
    shape = space["shape"] if space["type"] == "Box" else np.atleast_1d(space["n"]).tolist()
    return int(np.prod(shape, dtype=np.int64))


def box_bounds(space: dict) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Return ``(low, high, dtype)`` of a JSON-described Box action space, checked."""
    dtype = np.dtype(space["dtype"])
    if dtype.kind not in "fiu":
        raise ValueError(f"action_space: Box dtype {dtype} is not a number type")
    with np.errstate(over="ignore"):  # 1e300 in a float32 Box is inf: unbounded
        low = np.array(space["low"], dtype=dtype).reshape(space["shape"])
        high = np.array(space["high"], dtype=dtype).reshape(space["shape"])
    # NaN bounds would make every clipped action NaN; inf bounds mean "unbounded"
    if np.isnan(low).any() or np.isnan(high).any() or (low > high).any():
        raise ValueError(f"action_space: Box bounds must be numbers with low <= high, got "
                         f"low={low.tolist()}, high={high.tolist()}")
    return low, high, dtype


def scalar_entry(arrays: dict, key: str, kind: type):
    """Return the scalar entry ``key`` of a policy file as a ``kind`` (int, float or str)."""
    value = arrays[key]
    if value.shape != ():
        raise ValueError(f"entry {key!r} must be a scalar, got shape {value.shape}")
    value = value.item()
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(f"entry {key!r} must be a {kind.__name__}, got {value!r}")


def int_vector_entry(arrays: dict, key: str) -> np.ndarray:
    """Return the 1-D integer entry ``key`` of a policy file as int64."""
    value = arrays[key]
    if value.ndim != 1 or value.dtype.kind not in "iu":
        raise ValueError(f"entry {key!r} must be a 1-D integer array, got {value.dtype} "
                         f"{value.shape}")
    return value.astype(np.int64)


def read_policy_file(path: str | os.PathLike, build: Callable[..., T]) -> T:
    """Read and check a policy file written by ``TRPO.export(path, format="npz")``.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``path`` + ".npz" is tried when ``path`` has no suffix and does not exist.
    build : callable
        Called with the file's entries as keywords (``fasttrpo.runtime.Policy``'s
        parameters); a ValueError it raises is reported as the file's.

    Returns
    -------
    What ``build`` returns.

    Raises
    ------
    FileNotFoundError, ValueError
        As `fasttrpo.runtime.load` lists them; every message names the file.
    """
    source = Path(os.fspath(path))
    if not source.exists() and source.suffix == "":
        source = source.with_name(source.name + ".npz")  # as export appends it
    if not source.exists():
        raise FileNotFoundError(f"policy file not found: {Path(os.fspath(path))}")
    model_hint = " (a TRPO model file? export it: fasttrpo export MODEL --format npz)"
    _, arrays = read_zip_arrays(source, what="fasttrpo policy file",
                                hints={"meta.json": model_hint})
    if "format" not in arrays:
        hint = model_hint if "policy/params" in arrays else ""
        raise ValueError(f"{source}: not a fasttrpo policy file, it has no 'format' entry{hint}")
    try:
        name = scalar_entry(arrays, "format", str)
        if name != FORMAT_NAME:
            raise ValueError(f"format is {name!r}, expected {FORMAT_NAME!r}")
        if "format_version" not in arrays:
            raise KeyError("format_version")
        version = scalar_entry(arrays, "format_version", int)
        if version != FORMAT_VERSION:
            newer = "; upgrade fasttrpo" if version > FORMAT_VERSION else ""
            raise ValueError(f"format_version {version} is not supported (this fasttrpo reads "
                             f"version {FORMAT_VERSION}){newer}")
        missing = [key for key in REQUIRED_KEYS if key not in arrays]
        clip_obs = scalar_entry(arrays, "clip_obs", float) if "clip_obs" in arrays else 0.0
        if clip_obs > 0:
            missing += [key for key in ("obs_mean", "obs_std") if key not in arrays]
        if missing:
            raise KeyError(", ".join(missing))
        spaces = {}
        for key in ("observation_space", "action_space"):
            spaces[key] = json.loads(scalar_entry(arrays, key, str))
            if not isinstance(spaces[key], dict):
                raise ValueError(f"entry {key!r} is not a JSON object")  # noqa: TRY004
        return build(
            spaces["observation_space"], spaces["action_space"],
            layer_sizes=int_vector_entry(arrays, "layer_sizes"),
            activation=scalar_entry(arrays, "activation", str),
            head=scalar_entry(arrays, "head", str),
            nvec=int_vector_entry(arrays, "nvec"),
            params=arrays["params"],
            obs_mean=arrays.get("obs_mean") if clip_obs > 0 else None,
            obs_std=arrays.get("obs_std") if clip_obs > 0 else None,
            clip_obs=clip_obs,
            **({"gru_hidden_size": scalar_entry(arrays, "gru_hidden_size", int)}
               if "gru_hidden_size" in arrays else {}),
        )
    except KeyError as err:
        raise ValueError(f"{source}: fasttrpo policy file lacks entry {err}") from err
    except (ValueError, TypeError, OverflowError, RecursionError) as err:
        # RecursionError: a space's JSON nested deeper than Python's recursion limit
        raise ValueError(f"{source}: invalid fasttrpo policy file: {type(err).__name__}: "
                         f"{str(err)[:300]}") from None
