"""Checks and file handling shared by the training stack and the numpy-only runtime.

``fasttrpo.runtime`` imports this module, so it imports numpy and the standard library only.

* `discrete_indices`: Discrete observations as class indices, refusing 1.7 rather than
  truncating it to 1.
* `normalize_rows`: observations normalised with frozen statistics (VecNormalize's formula),
  for ``predict``, the runtime and the exporters' reference.
* `read_zip_arrays`: the one reader of model archives (``TRPO.save``) and policy files
  (``.npz``). It opens regular files only (a FIFO or ``/dev/zero`` would block or never end),
  and checks every size a file declares before it allocates or decompresses anything, so a
  small crafted file cannot demand gigabytes or minutes of work before it is refused.
* `write_atomically`: write through a temporary file renamed over the target, removing the
  temporary files that killed writers (``kill -9``) left behind.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import socket
import stat
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:  # typing.TypeIs is Python 3.13's
    from typing_extensions import TypeIs

__all__ = [
    "MAX_ARRAY_BYTES",
    "MAX_MEMBERS",
    "MAX_TEXT_BYTES",
    "discrete_indices",
    "normalize_rows",
    "is_binary_file",
    "open_regular_file",
    "read_zip_arrays",
    "write_atomically",
]

#: most bytes all the arrays of one file may hold once decompressed (4 GiB); a crafted zip can
#: declare far more in a few bytes, and the reader allocates only after this check
MAX_ARRAY_BYTES = 4 << 30
#: most bytes of one non-array member (a model's ``meta.json``)
MAX_TEXT_BYTES = 64 << 20
#: most members of one archive (a model has fewer than 20)
MAX_MEMBERS = 1000
_ARRAY_SUFFIX = ".npy"
_NPY_HEADER_MAX = 10_000  # numpy's own default limit for an .npy header
# what zipfile and numpy raise on damaged data; anything else is a bug
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
                UnicodeDecodeError, SyntaxError, TypeError, OverflowError, NotImplementedError)


def normalize_rows(rows, mean: np.ndarray, std: np.ndarray, clip: float) -> np.ndarray:
    """Return ``clip((rows - mean) / std, -clip, clip)`` as a new float64 array.

    VecNormalize's observation formula with ``std = sqrt(var + epsilon)``; ``rows`` (..., D),
    ``mean`` and ``std`` (D,). (np.maximum / np.minimum: np.clip's Python wrapper costs more
    on small arrays; the values are the same, NaN included.)
    """
    out = np.subtract(rows, mean, dtype=np.float64)
    out /= std
    np.maximum(out, -clip, out=out)
    np.minimum(out, clip, out=out)
    return out


def discrete_indices(name: str, values, start: int, n: int) -> np.ndarray:
    """Return Discrete values as int64 indices in ``[0, n)`` (``values - start``).

    Raises ValueError naming ``name`` for a non-numeric dtype, a non-integral or non-finite
    value (1.7 is not state 1) or a value outside ``[start, start + n)``.
    """
    raw = np.asarray(values)
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{name}: Discrete observations must be integers, got dtype {raw.dtype}")
    if raw.dtype.kind == "f" and not (np.isfinite(raw) & (raw == np.round(raw))).all():
        raise ValueError(f"{name}: Discrete observations must be integers, got {raw}")
    index = raw.astype(np.int64) - int(start)
    if (index < 0).any() or (index >= n).any():
        raise ValueError(f"{name}: Discrete observation outside [{start}, {start + n}): {raw}")
    return index


# ---- reading -------------------------------------------------------------------------------
def open_regular_file(path: Path) -> BinaryIO:
    """Open ``path`` for reading; ValueError unless it is a regular file.

    The file is opened non-blocking, so a FIFO is refused rather than waited on, and checked
    with ``fstat`` on the open descriptor (no race between the check and the read).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ValueError(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path}: not a regular file (a device, FIFO or socket)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_info(info: zipfile.ZipInfo) -> None:
    if info.flag_bits & 0x1:
        raise ValueError(f"member {info.filename!r} is encrypted")
    if info.extract_version > zipfile.MAX_EXTRACT_VERSION:
        raise ValueError(f"member {info.filename!r} needs zip version "
                         f"{info.extract_version / 10:.1f}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"member {info.filename!r} uses compression method "
                         f"{info.compress_type}; only stored and deflated members are read")


def _read_exactly(member, n_bytes: int, what: str) -> bytearray:
    buffer = bytearray(n_bytes)
    view, filled = memoryview(buffer), 0
    while filled < n_bytes:
        got = member.readinto(view[filled:])
        if not got:
            raise ValueError(f"{what}: {n_bytes - filled} bytes missing (truncated)")
        filled += got
    if member.read(1):  # also reaches the end of the member, where zipfile checks the CRC
        raise ValueError(f"{what}: unexpected data after the end")
    return buffer


def _read_npy(member, info: zipfile.ZipInfo, budget: int) -> np.ndarray:
    """Read one ``.npy`` member whose header's size agrees with the zip's and the budget."""
    version = np.lib.format.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"unsupported .npy version {version}")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    try:
        with warnings.catch_warnings():  # a damaged header's text is no concern of the user's
            warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
            shape, fortran_order, dtype = read_header(member, max_header_size=_NPY_HEADER_MAX)
    except _READ_ERRORS:
        raise
    except Exception as err:  # noqa: BLE001 (numpy parses the header with ast/tokenize:
        # a damaged one raises their errors, e.g. tokenize.TokenError)
        raise ValueError(f"invalid .npy header ({type(err).__name__}: {err})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biufU":
        raise ValueError(f"dtype {dtype} is not a plain number or string type")
    n_bytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    offset = member.tell()  # magic, header length and header: where the data starts
    if offset + n_bytes != info.file_size:
        raise ValueError(f"the header declares {n_bytes} bytes of data, the member holds "
                         f"{info.file_size - offset}")
    if n_bytes > budget:
        raise ValueError(f"{n_bytes} bytes of arrays exceed the {MAX_ARRAY_BYTES}-byte limit")
    data = _read_exactly(member, n_bytes, "array data")
    array = np.frombuffer(data, dtype=dtype) if n_bytes else np.empty(0, dtype)
    return array.reshape(shape, order="F" if fortran_order else "C")


def read_zip_arrays(path: Path | BinaryIO, text_members: Collection[str] = (),
                    what: str = "archive", hints: Mapping[str, str] | None = None,
                    ) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """Read every ``.npy`` member (and the named other members) of a zip file, bounded.

    Parameters
    ----------
    path : pathlib.Path or binary file-like object
        An existing path (a regular file; anything else raises ValueError), or an open
        binary file object with ``read`` and ``seek`` (read from its start, left open).
    text_members : collection of str
        Names of the non-array members allowed (e.g. ``"meta.json"``), read as bytes.
    what : str
        What the file should be, for the messages ("fasttrpo model", ...).
    hints : dict of str to str, optional
        Text added to the message when the member of that name is unexpected.

    Returns
    -------
    texts : dict of str to bytes
        The ``text_members`` present.
    arrays : dict of str to numpy.ndarray
        Each ``<name>.npy`` member under ``<name>``, in the archive's order.

    Raises
    ------
    ValueError
        Naming ``path``: not a regular file, not a zip, a damaged member (bad CRC, truncated
        data, an unsupported compression method, encryption), an object or structured dtype,
        sizes that disagree between the zip and the ``.npy`` header, a member that is neither
        an array nor one of ``text_members``, a duplicate name, more than `MAX_MEMBERS`
        members or more than `MAX_ARRAY_BYTES` of arrays.
    """
    if is_binary_file(path):  # an open file-like object: read it, leave it open
        label = getattr(path, "name", None) or f"<{type(path).__name__}>"
        return _read_zip_arrays(path, label, text_members, what, hints)
    with open_regular_file(path) as handle:
        return _read_zip_arrays(handle, path, text_members, what, hints)


def is_binary_file(obj: Any) -> TypeIs[BinaryIO]:
    """Whether ``obj`` is an open binary file-like object (``read``/``write`` and ``seek``)."""
    return (hasattr(obj, "seek") and (hasattr(obj, "read") or hasattr(obj, "write"))
            and not isinstance(obj, (str, bytes, os.PathLike)))


def _read_zip_arrays(handle: BinaryIO, path: Any, text_members: Collection[str], what: str,
                     hints: Mapping[str, str] | None,
                     ) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    try:
        archive = zipfile.ZipFile(handle, "r")
    except _READ_ERRORS as err:
        handle.seek(0)
        if handle.read(6) == b"\x93NUMPY":
            raise ValueError(f"{path}: a single .npy array, not an .npz archive; not a "
                             f"{what}") from None
        raise ValueError(f"{path}: not a readable zip archive; the file is truncated or "
                         f"corrupt, or is not a {what} ({err})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{path}: {len(infos)} members, more than a {what} has "
                             f"(limit {MAX_MEMBERS})")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise ValueError(f"{path}: duplicate member names; not a {what}")
        texts: dict[str, bytes] = {}
        arrays: dict[str, np.ndarray] = {}
        budget = MAX_ARRAY_BYTES
        for info in infos:
            name = info.filename
            is_array = name.endswith(_ARRAY_SUFFIX)
            if not is_array and name not in text_members:
                hint = (hints or {}).get(name, "")
                raise ValueError(f"{path}: unexpected member {name!r}; not a {what}{hint}")
            label = (f"array {name[: -len(_ARRAY_SUFFIX)]!r}" if is_array
                     else f"member {name!r}")
            try:
                _check_info(info)
                if not is_array and info.file_size > MAX_TEXT_BYTES:
                    raise ValueError(f"{info.file_size} bytes, more than the "
                                     f"{MAX_TEXT_BYTES}-byte limit")
                with archive.open(info, "r") as member:
                    if is_array:
                        array = _read_npy(member, info, budget)
                        budget -= array.nbytes
                        arrays[name[: -len(_ARRAY_SUFFIX)]] = array
                    else:
                        texts[name] = bytes(_read_exactly(member, info.file_size, name))
            except _READ_ERRORS as err:
                raise ValueError(f"{path}: {label} could not be loaded; the {what} is "
                                 f"truncated or corrupt ({err})") from None
    return texts, arrays


# ---- writing -------------------------------------------------------------------------------
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
#: a temporary file of another host, or of the old naming, is removed once this old (s)
STALE_TEMP_AGE = 24 * 3600.0


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) terminates the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(directory: Path, name: str) -> list[Path]:
    """Remove temporary files of ``name`` whose writer is gone; return those removed.

    `write_atomically` names its temporary file ``.<name>.<host>-<pid>-<random>.tmp``. One
    whose process no longer runs on this host was left by a killed writer; it is removed, as
    is any other ``.<name>.*.tmp`` older than `STALE_TEMP_AGE` (another host's, or one named
    by an older fasttrpo). A temporary file being written by a live process is kept.
    """
    removed: list[Path] = []
    prefix, now = f".{name}.", time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        tag = entry.name[len(prefix): -len(".tmp")]
        host, _, rest = tag.partition("-")
        pid = rest.partition("-")[0]
        try:
            stale = ((host == _HOST and pid.isdigit() and not _pid_alive(int(pid)))
                     or now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_AGE)
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove: leave it
            continue
    return removed


def _open_temp(directory: Path, name: str) -> tuple[int, Path]:
    """Create an exclusive temp file next to the target (mode 0o666 minus the umask)."""
    for _ in range(100):
        temp = directory / f".{name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        return fd, temp
    raise OSError(f"{directory}: could not create a temporary file")


def write_atomically(target: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``target`` through ``write(handle)`` on a temporary file, then rename it over.

    The temporary file is flushed and ``fsync``-ed before ``os.replace``; on any error
    (``KeyboardInterrupt`` included) it is removed and a previous ``target`` is unchanged.
    Temporary files that killed writers left beside ``target`` are removed first
    (`remove_stale_temps`).
    """
    directory = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(directory, target.name)
    fd, temp = _open_temp(directory, target.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return target


def _fsync_directory(directory: Path) -> None:
    """Persist the rename (best effort; not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
