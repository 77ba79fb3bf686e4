"""One-file model archives: a zip holding ``meta.json`` and one ``.npy`` member per array.

No pickle anywhere: metadata is JSON, arrays are written and read with
``numpy.lib.format`` and ``allow_pickle=False``. Files are written atomically, so a crash
or an error during ``save_archive`` never leaves a half-written model behind nor damages a
previous file of the same name, and temporary files left by a killed writer are removed by
the next save to the same path. Reading is bounded: only regular files are opened, and every
size a file declares is checked before anything is allocated (`fasttrpo.foundation.portable`).
"""

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from fasttrpo.foundation.portable import is_binary_file, read_zip_arrays, write_atomically

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "META_MEMBER",
    "load_archive",
    "resolve_load_path",
    "save_archive",
]

FORMAT_NAME = "fasttrpo-model"
FORMAT_VERSION = 1
META_MEMBER = "meta.json"
_ARRAY_SUFFIX = ".npy"


def _save_path(path: str | os.PathLike) -> Path:
    """Return the path ``save_archive`` writes: ``path``, plus ".zip" if it has no suffix."""
    target = Path(os.fspath(path))
    if target.suffix == "":
        target = target.with_name(target.name + ".zip")
    return target


def resolve_load_path(path: str | os.PathLike) -> Path:
    """Find the file ``load_archive`` would read.

    Parameters
    ----------
    path : str or os.PathLike
        The archive, with or without its ".zip" suffix.

    Returns
    -------
    pathlib.Path
        ``path`` if it exists, else ``path`` + ".zip" if that exists.

    Raises
    ------
    FileNotFoundError
        If neither exists (the message names both candidates).
    ValueError
        If the path is a directory.
    """
    target = Path(os.fspath(path))
    candidates = [target]
    if target.suffix != ".zip":
        candidates.append(target.with_name(target.name + ".zip"))
    for candidate in candidates:
        if candidate.is_dir():
            raise ValueError(f"{candidate}: is a directory, not a fasttrpo model file")
        if candidate.exists():
            return candidate
    tried = " or ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"model file not found: {tried}")


def _check_inputs(meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> tuple[bytes, dict]:
    """Validate and encode everything before the file is touched."""
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta: expected a dict, got {type(meta).__name__}")
    full_meta = dict(meta)
    full_meta["format"] = FORMAT_NAME
    full_meta["format_version"] = FORMAT_VERSION
    try:
        meta_bytes = json.dumps(full_meta, indent=1, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta: cannot be written as JSON ({err})") from err
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays: expected a dict of arrays, got {type(arrays).__name__}")
    checked: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key:
            raise ValueError(f"arrays: invalid array name {key!r}")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"arrays[{key!r}]: object arrays cannot be saved without pickle")
        checked[key] = array
    return meta_bytes, checked


def save_archive(path: "str | os.PathLike | BinaryIO", meta: Mapping[str, Any],
                 arrays: Mapping[str, Any]) -> "Path | BinaryIO":
    """Write ``meta`` and ``arrays`` to one zip file, atomically.

    Parameters
    ----------
    path : str, os.PathLike or binary file-like object
        Destination; ".zip" is appended if it has no suffix (as stable-baselines3 does).
        The parent directory must exist. An open binary file object (``io.BytesIO``, a file
        opened "wb") is written from its current position, not atomically, and returned.
    meta : dict
        JSON-serialisable metadata, stored as the member ``meta.json`` with the extra keys
        ``"format": "fasttrpo-model"`` and ``"format_version": 1``.
    arrays : dict of str to numpy.ndarray
        Arrays stored as ``<name>.npy`` members (names may contain "/"). Object arrays are
        refused: nothing is pickled.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        If ``meta`` or ``arrays`` is not a mapping.
    ValueError
        If ``meta`` is not JSON-serialisable or an array name or dtype cannot be stored.
        Both are raised before any file is created.
    OSError
        If writing fails. The temporary file is removed and a previous file at ``path`` is
        left unchanged.

    Notes
    -----
    The archive is written to a temporary file ``.<name>.<host>-<pid>-<random>.tmp`` in the
    destination directory, flushed and ``fsync``-ed, then moved over ``path`` with
    ``os.replace``. Temporary files of ``path`` whose writer was killed are removed first.
    """
    meta_bytes, checked = _check_inputs(meta, arrays)

    def write(handle) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=1) as archive:
            archive.writestr(META_MEMBER, meta_bytes)
            for key, array in checked.items():
                with archive.open(key + _ARRAY_SUFFIX, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    if is_binary_file(path):  # a file-like object (sb3's save accepts one): written as is
        write(path)
        return path
    return write_atomically(_save_path(path), write)


def _read_meta(texts: dict[str, bytes], source: Path | BinaryIO) -> dict:
    if META_MEMBER not in texts:
        raise ValueError(f"{source}: not a fasttrpo model file (the zip has no {META_MEMBER})")
    try:
        meta = json.loads(texts[META_MEMBER].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        # RecursionError: JSON nested deeper than Python's recursion limit
        raise ValueError(f"{source}: {META_MEMBER} is corrupt ({type(err).__name__}: "
                         f"{str(err)[:200]})") from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != FORMAT_NAME:
        raise ValueError(f"{source}: not a fasttrpo model file "
                         f"(format {found!r} in {META_MEMBER}, expected {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{source}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{source}: written with format_version {version}, but this fasttrpo "
                         f"reads format_version <= {FORMAT_VERSION}; upgrade fasttrpo")
    return meta


def load_archive(path: "str | os.PathLike | BinaryIO") -> tuple[dict, dict[str, np.ndarray]]:
    """Read an archive written by `save_archive`.

    Parameters
    ----------
    path : str, os.PathLike or binary file-like object
        The archive; ``path`` + ".zip" is tried when ``path`` itself does not exist. An open
        binary file object is read from its start and left open.

    Returns
    -------
    meta : dict
        The metadata, including the ``"format"`` and ``"format_version"`` keys.
    arrays : dict of str to numpy.ndarray
        Every stored array, bit-identical to what was saved, in the order saved.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the path is not a regular file (a directory, FIFO or device), the file is
        truncated or corrupt, is not a fasttrpo archive (an unexpected member, an object
        array), declares sizes that disagree or exceed the reader's limits
        (`fasttrpo.foundation.portable.MAX_ARRAY_BYTES`), has a newer ``format_version`` than this
        version supports, or an array fails to load. The message names the file.
    """
    source = path if is_binary_file(path) else resolve_load_path(path)
    texts, arrays = read_zip_arrays(source, text_members=(META_MEMBER,),
                                    what="fasttrpo model file")
    return _read_meta(texts, source), arrays
