"""The TensorBoard event writer: CRC-32C, record framing and the Event protobuf, decoded here
independently (benchmarks/test_interop_logs.py reads the files with TensorBoard itself)."""

import struct

import numpy as np
import pytest

from fasttrpo.logs.logger import Logger
from fasttrpo.logs.tensorboard import EventFileWriter, crc32c, tensorboard_run_dir


@pytest.mark.parametrize(("data", "crc"), [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),  # the standard check value of CRC-32C
    (bytes(32), 0x8A9136AA),  # RFC 3720 B.4: 32 bytes of zeros
    (b"\xff" * 32, 0x62A8AB43),  # and of ones
    (bytes(range(32)), 0x46DD794E),  # incrementing bytes
])
def test_crc32c_known_vectors(data, crc):
    assert crc32c(data) == crc


def _unmask(masked):
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def read_records(path):
    """Split a TFRecord file, checking both CRCs of every record."""
    blob = path.read_bytes()
    records, i = [], 0
    while i < len(blob):
        (length,) = struct.unpack_from("<Q", blob, i)
        (length_crc,) = struct.unpack_from("<I", blob, i + 8)
        assert _unmask(length_crc) == crc32c(blob[i:i + 8])
        data = blob[i + 12:i + 12 + length]
        (data_crc,) = struct.unpack_from("<I", blob, i + 12 + length)
        assert _unmask(data_crc) == crc32c(data)
        records.append(data)
        i += 16 + length
    return records


def parse_message(data):
    """Decode protobuf fields: {field number: [values]} (varint, 64-bit, bytes, 32-bit)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 1:
            value, i = struct.unpack_from("<d", data, i)[0], i + 8
        elif wire == 2:
            length, i = _read_varint(data, i)
            value, i = data[i:i + length], i + length
        else:
            assert wire == 5
            value, i = struct.unpack_from("<f", data, i)[0], i + 4
        fields.setdefault(number, []).append(value)
    return fields


def _read_varint(data, i):
    value, shift = 0, 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7


def scalars_of(path):
    out = []
    for record in read_records(path)[1:]:
        event = parse_message(record)
        summary = parse_message(event[5][0])
        for value in summary[1]:
            fields = parse_message(value)
            out.append((event[2][0], fields[1][0].decode(), fields[2][0]))
    return out


def test_event_file_layout(tmp_path):
    writer = EventFileWriter(tmp_path / "run")
    writer.add_scalars({"rollout/ep_rew_mean": 12.5, "time/fps": np.int64(300)}, step=4096)
    writer.add_scalar("train/std", 0.25, step=2**40)
    assert writer.path.name.startswith("events.out.tfevents.")
    first = parse_message(read_records(writer.path)[0])
    assert first[3] == [b"brain.Event:2"] and first[2] == [0] and first[1][0] > 1e9
    assert scalars_of(writer.path) == [(4096, "rollout/ep_rew_mean", 12.5),
                                       (4096, "time/fps", 300.0), (2**40, "train/std", 0.25)]


def test_logger_writes_tensorboard_scalars_and_honours_exclude(tmp_path, capsys):
    log = Logger(verbose=1, folder=tmp_path / "csv", tensorboard_dir=tmp_path / "tb")
    log.record("train/value_loss", 2.0)
    log.record("time/total_timesteps", 64, exclude="tensorboard")
    log.record("info/name", "text")  # not a number: not a TensorBoard scalar
    log.record("train/hidden", 1.0, exclude=("stdout", "csv"))
    log.record_mean("rollout/ep_rew_mean", 3.0)
    log.record_mean("rollout/ep_rew_mean", 5.0)
    log.dump(64)
    out = capsys.readouterr().out
    assert "value_loss" in out and "hidden" not in out and "total_timesteps" in out
    header = (tmp_path / "csv" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "train/hidden" not in header and "time/total_timesteps" in header
    (events,) = (tmp_path / "tb").iterdir()
    assert sorted(scalars_of(events)) == [(64, "rollout/ep_rew_mean", 4.0),
                                          (64, "train/hidden", 1.0),
                                          (64, "train/value_loss", 2.0)]
    log.record("train/value_loss", 1.0)
    log.dump(128)  # exclusions last one dump
    assert (128, "train/value_loss", 1.0) in scalars_of(events)
    assert log.get_dir() == str(tmp_path / "csv") and Logger().get_dir() is None


def test_run_dir_numbering(tmp_path):
    assert tensorboard_run_dir(tmp_path, "TRPO") == tmp_path / "TRPO_1"
    for name in ("TRPO_1", "TRPO_3", "TRPO_x", "TRPO_LAG_7", "PPO_9"):
        (tmp_path / name).mkdir()
    assert tensorboard_run_dir(tmp_path, "TRPO") == tmp_path / "TRPO_4"
    assert tensorboard_run_dir(tmp_path, "TRPO", reset_num_timesteps=False) == \
        tmp_path / "TRPO_3"
    assert tensorboard_run_dir(tmp_path, "TRPO_LAG") == tmp_path / "TRPO_LAG_8"
