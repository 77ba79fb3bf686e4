"""Model archives: exact round trip, atomic writes, clear errors for damaged or foreign files."""

import json
import os
import zipfile

import numpy as np
import pytest

from fasttrpo.logs import serialization
from fasttrpo.logs.serialization import FORMAT_VERSION, load_archive, save_archive


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "policy/params": rng.standard_normal(37).astype(np.float32),
        "value/params": rng.standard_normal((4, 5)),
        "ints": np.arange(-3, 9, dtype=np.int64).reshape(3, 4),
        "fortran": np.asfortranarray(rng.standard_normal((3, 2))),
        "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(7, dtype=np.int32),
    }


META = {"algorithm": "TRPO", "hyperparams": {"gamma": 0.99, "net_arch": [64, 64]},
        "rng_state": {"state": 2**100 + 1}, "text": "héllo"}


def test_round_trip_is_bit_identical(tmp_path):
    arrays = _arrays()
    written = save_archive(tmp_path / "model", META, arrays)
    assert written == tmp_path / "model.zip"
    meta, loaded = load_archive(tmp_path / "model")  # without the suffix
    assert meta == {**META, "format": "fasttrpo-model", "format_version": FORMAT_VERSION}
    assert list(loaded) == list(arrays)
    for key, array in arrays.items():
        assert loaded[key].dtype == array.dtype
        assert loaded[key].shape == array.shape
        assert loaded[key].tobytes() == array.tobytes(), key
    assert load_archive(written)[1].keys() == loaded.keys()
    with zipfile.ZipFile(written) as archive:  # plain zip with JSON + .npy, nothing pickled
        assert "meta.json" in archive.namelist()
        assert "policy/params.npy" in archive.namelist()


def test_suffix_kept(tmp_path):
    assert save_archive(tmp_path / "m.model", {}, {}) == tmp_path / "m.model"
    assert save_archive(str(tmp_path / "m.zip"), {}, {}) == tmp_path / "m.zip"


def test_object_arrays_and_bad_meta_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="object"):
        save_archive(tmp_path / "m", {}, {"x": np.array([{}, 1], dtype=object)})
    with pytest.raises(ValueError, match="JSON"):
        save_archive(tmp_path / "m", {"x": object()}, {})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, error):
    path = save_archive(tmp_path / "model", {"version": "old"}, {"a": np.arange(3.0)})
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def failing_write(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # mid-archive: meta and one array already written
            raise error
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(type(error)):
        save_archive(path, {"version": "new"}, {"a": np.zeros(5), "b": np.ones(5)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.zip"]
    assert load_archive(path)[0]["version"] == "old"


def test_failed_replace_leaves_no_temp(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(serialization.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        save_archive(tmp_path / "model", {}, {"a": np.zeros(2)})
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        load_archive(tmp_path / "nothing")


def test_truncated_file(tmp_path):
    path = save_archive(tmp_path / "model", META, _arrays())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        load_archive(path)
    assert "model.zip" in str(info.value)


def test_corrupt_array_data(tmp_path):
    path = save_archive(tmp_path / "model", {}, {"a": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("a.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    data[start : start + 8] = bytes(8)  # damage the compressed payload
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="array 'a'.*truncated or corrupt"):
        load_archive(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.zip"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="noise.zip"):
        load_archive(path)


def test_foreign_zip(tmp_path):
    path = tmp_path / "sb3.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", b"\x80\x04")
    with pytest.raises(ValueError, match="not a fasttrpo model file"):
        load_archive(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a fasttrpo model file"):
        load_archive(path)


def test_future_format_version(tmp_path):
    path = tmp_path / "future.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps(
            {"format": "fasttrpo-model", "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="format_version 2.*upgrade"):
        load_archive(path)


def test_pickled_array_refused(tmp_path):
    path = tmp_path / "pickled.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps({"format": "fasttrpo-model", "format_version": 1}))
        with archive.open("x.npy", "w") as member:
            np.lib.format.write_array(member, np.array([{}, 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="array 'x'"):
        load_archive(path)
