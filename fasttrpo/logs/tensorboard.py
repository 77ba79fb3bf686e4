"""A minimal TensorBoard event-file writer for scalars (no TensorFlow, torch or protobuf).

TensorBoard reads ``events.out.tfevents.*`` files: a sequence of records, each
``uint64 length | uint32 masked CRC-32C of length | data | uint32 masked CRC-32C of data``
(little-endian), whose data is a serialised ``tensorflow.Event`` protocol buffer. Scalars
need only a few of its fields, encoded here by hand:

- ``Event``: ``wall_time`` (1, double), ``step`` (2, int64), ``file_version`` (3, string; the
  first event of a file), ``summary`` (5, message);
- ``Summary``: ``value`` (1, repeated message);
- ``Summary.Value``: ``tag`` (1, string), ``simple_value`` (2, float).

``tests/test_tensorboard.py`` checks the CRC against the standard test vectors and the
framing byte by byte; ``benchmarks/test_interop_logs.py`` reads the files back with
TensorBoard's own ``EventAccumulator``. The run folders are named as Stable-Baselines3 names
them (`tensorboard_run_dir`): ``<tensorboard_log>/<tb_log_name>_<k>``.
"""

import glob
import numbers
import os
import socket
import struct
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["EventFileWriter", "crc32c", "is_scalar", "latest_run_id", "tensorboard_run_dir"]

_CRC_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord files use it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # int64 as protobuf encodes it (two's complement)
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, body: bytes) -> bytes:
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + body


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked_crc(length)) + data
            + struct.pack("<I", _masked_crc(data)))


def scalar_event(scalars: Iterable[tuple[str, float]], step: int,
                 wall_time: float | None = None) -> bytes:
    """One framed record holding an ``Event`` with a ``Summary`` of ``(tag, value)`` scalars."""
    values = b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode("utf-8"))
                          + b"\x15" + struct.pack("<f", value))
        for tag, value in scalars)
    now = time.time() if wall_time is None else wall_time
    return _record(_event(now, int(step), _length_delimited(5, values)))


class EventFileWriter:
    """Append scalar summaries to one ``events.out.tfevents.*`` file in ``logdir``.

    The file is created (with its ``brain.Event:2`` version record) by the constructor and
    opened in append mode for each `add_scalars` call, so nothing stays open between calls.

    Parameters
    ----------
    logdir : str or os.PathLike
        The run folder (created).

    Attributes
    ----------
    path : pathlib.Path
        The event file.
    """

    _count = 0

    def __init__(self, logdir: str | os.PathLike) -> None:
        folder = Path(logdir)
        folder.mkdir(parents=True, exist_ok=True)
        EventFileWriter._count += 1
        now = time.time()
        name = (f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}."
                f"{EventFileWriter._count}")
        self.path = folder / name
        version = _length_delimited(3, b"brain.Event:2")
        with open(self.path, "wb") as handle:
            handle.write(_record(_event(now, 0, version)))

    def add_scalars(self, scalars: dict[str, float], step: int,
                    wall_time: float | None = None) -> None:
        """Write ``scalars`` (tag to number) as one event at ``step``; non-finite ones too."""
        items = [(tag, float(value)) for tag, value in scalars.items()]
        if not items:
            return
        with open(self.path, "ab") as handle:
            handle.write(scalar_event(items, step, wall_time))

    def add_scalar(self, tag: str, value: float, step: int,
                   wall_time: float | None = None) -> None:
        """Write one scalar (as ``torch.utils.tensorboard.SummaryWriter.add_scalar``)."""
        self.add_scalars({tag: value}, step, wall_time)


def latest_run_id(log_path: str | os.PathLike, log_name: str) -> int:
    """Largest ``k`` of the folders ``<log_path>/<log_name>_<k>`` (0 without any), as sb3."""
    largest = 0
    for path in glob.glob(os.path.join(glob.escape(os.fspath(log_path)),
                                       f"{glob.escape(log_name)}_[0-9]*")):
        stem, _, suffix = os.path.basename(path).rpartition("_")
        if stem == log_name and suffix.isdigit():
            largest = max(largest, int(suffix))
    return largest


def tensorboard_run_dir(tensorboard_log: str | os.PathLike, tb_log_name: str,
                        reset_num_timesteps: bool = True) -> Path:
    """Return the run folder Stable-Baselines3 would log to.

    ``<tensorboard_log>/<tb_log_name>_<k+1>`` for the largest existing ``k``; with
    ``reset_num_timesteps=False`` (continued training) the latest run, ``_<k>``, goes on.
    """
    run_id = latest_run_id(tensorboard_log, tb_log_name)
    if not reset_num_timesteps and run_id > 0:
        run_id -= 1
    return Path(tensorboard_log) / f"{tb_log_name}_{run_id + 1}"


def is_scalar(value) -> bool:
    """Whether ``value`` is a real number TensorBoard can show (booleans are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
