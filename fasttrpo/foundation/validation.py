"""Input checks for the public API.

Bad data gets a ValueError that names it, before any kernel sees it.
"""

from collections.abc import Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype) -> np.dtype:
    """Normalise a float dtype argument; only float32 and float64 are supported."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype: {dtype!r} is not a dtype; use np.float32 or np.float64") from err
    if resolved not in FLOAT_DTYPES:
        raise ValueError(f"dtype: {resolved} is not supported; use np.float32 or np.float64")
    return resolved


def _as_real_array(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot be read as a numeric array ({err})") from err
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name}: dtype {array.dtype} cannot be cast safely to a real number array"
        )
    return array


def float_array(
    name: str, value, dtype: np.dtype, shape: Sequence[int | None], finite: bool = True
) -> np.ndarray:
    """Return ``value`` as a C-contiguous array of ``dtype`` with the given shape.

    ``shape`` entries that are ``None`` match any length. Raises ValueError naming ``name``
    on a non-numeric dtype, a wrong shape or (with ``finite``) NaN/inf entries.
    """
    array = _as_real_array(name, value)
    check_shape(name, array, shape)
    array = np.ascontiguousarray(array, dtype=dtype)
    if finite and not np.isfinite(array).all():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name}: contains {bad} NaN or infinite value(s)")
    return array


def check_shape(name: str, array: np.ndarray, shape: Sequence[int | None]) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``array`` has ``shape`` (None: any size)."""
    dims = ", ".join("N" if s is None else str(s) for s in shape)
    expected = "(" + dims + ("," if len(shape) == 1 else "") + ")"
    if array.ndim != len(shape) or any(
        s is not None and s != got for s, got in zip(shape, array.shape, strict=True)
    ):
        raise ValueError(f"{name}: expected shape {expected}, got {array.shape}")


def index_array(name: str, value, shape: Sequence[int | None], upper: np.ndarray) -> np.ndarray:
    """Integer class indices with ``0 <= value[..., i] < upper[i]``, as an int64 array.

    Floats are accepted when they hold whole numbers (discrete actions stored in float
    buffers); anything else raises ValueError naming ``name``.
    """
    array = _as_real_array(name, value)
    check_shape(name, array, shape)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: contains NaN or infinite value(s)")
        if not (array == np.round(array)).all():
            raise ValueError(f"{name}: discrete actions must be whole numbers")
    indices = array.astype(np.int64)
    bad = (indices < 0) | (indices >= upper)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: value {indices[first]} at index {first} is outside the valid range "
            f"[0, {int(np.broadcast_to(upper, indices.shape)[first])})"
        )
    return indices


def mapping_entry_array(mapping, key: str, shape: tuple[int, ...],
                        what: str = "state dict") -> np.ndarray:
    """``mapping[key]`` as a new float64 array of ``shape`` with finite entries.

    For values read back from outside (state dicts, named parameters). Raises a ValueError
    naming ``key`` when it is missing (``what`` names the mapping), cannot be read as
    numbers, has another shape, or holds NaN / inf.
    """
    if key not in mapping:
        raise ValueError(f"{key}: missing from the {what} (keys: {sorted(mapping)})")
    try:
        value = np.array(mapping[key], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{key}: cannot be read as a float array ({err})") from err
    if value.shape != shape:
        raise ValueError(f"{key}: expected shape {shape}, got {value.shape}")
    if not np.isfinite(value).all():
        raise ValueError(f"{key}: contains NaN or infinite value(s)")
    return value
