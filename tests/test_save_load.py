"""Saving and loading: the archive format (exact round trip, atomic writes, no pickle), models
saved and loaded again (identity, resume, overrides, file objects, statistics), and clear
errors for damaged, crafted or foreign files.
"""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
import zipfile

import gymnasium as gym
import numpy as np
import pytest
from probes import critic_rates

from fasttrpo import TRPO
from fasttrpo.foundation.schedules import LinearSchedule
from fasttrpo.logs import serialization
from fasttrpo.logs.serialization import FORMAT_VERSION, load_archive, save_archive

from toy_envs import MatchEnv


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


TINY = dict(n_steps=32, batch_size=16, n_critic_updates=2,
            policy_kwargs=dict(net_arch=[8]))


def test_save_refuses_a_state_that_load_would_refuse(tmp_path):
    model = TRPO("MlpPolicy", MatchEnv("box"), **TINY)
    model.vf_fitter.v[3] = np.inf  # as an overflowing Adam second moment left it
    with pytest.raises(ValueError, match="vf_optimizer/v: contains NaN or infinite"):
        model.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


# ---- 3: reward statistics survive load, set_env and saving again -------------------------
def test_reward_statistics_survive_load_and_save_without_an_env(tmp_path):
    model = TRPO("MlpPolicy", "Pendulum-v1", normalize_reward=True, **TINY).learn(64)
    stats = model.reward_scaler.state_dict()
    again = TRPO.load(TRPO.load(model.save(tmp_path / "a")).save(tmp_path / "b"))
    for key, value in stats.items():
        np.testing.assert_array_equal(again.reward_scaler.state_dict()[key], value)


# ---- 5 / 6: damaged or crafted files get a ValueError, quickly ----------------------------
def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _npy_header(shape, descr="<f8"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


@pytest.fixture
def saved(tmp_path):
    path = TRPO("MlpPolicy", MatchEnv("box"), **TINY).save(tmp_path / "model")
    return path, _members(path), json.loads(_members(path)["meta.json"])


def _with_meta(members, meta, **changes):
    return {**members, "meta.json": json.dumps({**meta, **changes}).encode()}


@pytest.mark.parametrize(("change", "message"), [
    (dict(action_space=None), "space: expected a JSON object"),
    (dict(observation_space={"type": "Discrete", "n": "x", "start": 0}), "n: expected an int"),
    (dict(observation_space={"type": "Box", "low": [0], "high": [1], "shape": [10**7, 10**7],
                             "dtype": "float32"}), "holds more than"),
    (dict(num_timesteps=1e400), "num_timesteps: expected a non-negative integer"),
    (dict(n_updates=None), "n_updates: expected a non-negative integer"),
    (dict(rng_state=[1]), "rng_state: invalid"),
    (dict(config=[1]), "config: expected a JSON object"),
])
def test_invalid_metadata_raises_value_error(saved, change, message):
    path, members, meta = saved
    _rewrite(path, _with_meta(members, meta, **change))
    with pytest.raises(ValueError, match=message):
        TRPO.load(path)


def test_damaged_archives_raise_value_error(saved):
    path, members, meta = saved
    cases = {
        "compression method": (members, zipfile.ZIP_BZIP2, "compression method"),
        "deep JSON": ({**members, "meta.json": b"[" * 100_000 + b"]" * 100_000},
                      zipfile.ZIP_DEFLATED, "meta.json is corrupt"),
        "64 GiB header": ({**members, "policy/params.npy": _npy_header((2**33,)) + bytes(64)},
                          zipfile.ZIP_DEFLATED, "declares 68719476736 bytes"),
        "object array": ({**members, "policy/params.npy": _npy_header((3,), "|O") + bytes(24)},
                         zipfile.ZIP_DEFLATED, "not a plain number"),
        "extra member": ({**members, "notes.txt": b"hi"}, zipfile.ZIP_DEFLATED,
                         "unexpected member 'notes.txt'"),
    }
    for name, (content, compression, message) in cases.items():
        _rewrite(path, content, compression)
        with pytest.raises(ValueError, match=message):
            TRPO.load(path)
        assert name


def test_a_small_file_declaring_huge_networks_is_refused_at_once(saved, monkeypatch):
    """Refused from the declared sizes, before any network is built (building the declared
    8000x8000 networks took 186 s of orthogonal initialisation)."""
    from fasttrpo.algorithms import base

    path, members, meta = saved
    config = {**meta["config"], "policy_kwargs": {"net_arch": [8000, 8000]}}
    _rewrite(path, _with_meta(members, meta, config=config))

    def no_building(*args, **kwargs):
        raise AssertionError("a network was built before the sizes were checked")

    monkeypatch.setattr(base.networks, "make_policy", no_building)
    monkeypatch.setattr(base.networks, "make_critics", no_building)
    with pytest.raises(ValueError, match=r"'policy/params' has shape \(\d+,\), but the saved "
                                         r"config and spaces make \(64064004,\)"):
        TRPO.load(path)


def test_loaders_refuse_what_is_not_a_regular_file(tmp_path):
    from fasttrpo import runtime

    fifo = tmp_path / "fifo.zip"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo):
        with pytest.raises(ValueError, match="not a regular file"):
            TRPO.load(path)
        with pytest.raises(ValueError, match="not a regular file"):
            runtime.load(path)


def test_runtime_load_refuses_nan_action_bounds_and_foreign_members(tmp_path):
    from fasttrpo import runtime

    path = TRPO("MlpPolicy", MatchEnv("box"), **TINY).export(tmp_path / "p.npz")[0]
    members = _members(path)
    space = json.loads(np.load(path)["action_space"].item())
    bad = np.array(json.dumps({**space, "low": [float("nan"), -1.0]}))
    _rewrite(path, {**members, "action_space.npy": _npy(bad)}, zipfile.ZIP_STORED)
    with pytest.raises(ValueError, match="Box bounds must be numbers"):
        runtime.load(path)
    _rewrite(path, {**members, "readme.txt": b"x"}, zipfile.ZIP_STORED)
    with pytest.raises(ValueError, match="unexpected member 'readme.txt'"):
        runtime.load(path)


# ---- 11: temporary files of a writer killed mid-save are removed by the next save ----------
def test_kill_9_during_save_leaves_a_temp_that_the_next_save_removes(tmp_path):
    from fasttrpo.foundation import portable as _portable
    from fasttrpo.logs.serialization import load_archive, save_archive

    target = tmp_path / "m.zip"
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from fasttrpo.logs.serialization import save_archive
        real = np.lib.format.write_array
        def write_then_die(*args, **kwargs):
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)  # mid-archive, as kill -9 would
        np.lib.format.write_array = write_then_die
        save_archive({str(target)!r}, {{}}, {{"a": np.zeros(3), "b": np.ones(3)}})
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    assert result.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".m.zip.") and left[0].endswith(".tmp")
    # a temporary file of a live writer (this process) must survive the clean-up
    live = tmp_path / f".m.zip.{_portable._HOST}-{os.getpid()}-0000.tmp"
    live.write_bytes(b"")
    save_archive(target, {"ok": 1}, {"a": np.arange(2.0)})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.zip", live.name])
    assert load_archive(target)[0]["ok"] == 1


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("vf_optimizer", ["adam", "lbfgs"])
def test_save_load_identity_and_resume(tmp_path, normalize, vf_optimizer):
    model = TRPO("MlpPolicy", "Pendulum-v1", seed=0, normalize_obs=normalize,
                 normalize_reward=normalize, vf_optimizer=vf_optimizer, **TINY)
    model.learn(128)
    path = model.save(tmp_path / "model")
    assert path.name == "model.zip"
    loaded = TRPO.load(tmp_path / "model")
    obs = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(loaded.value_function.get_params(),
                                  model.value_function.get_params())
    assert loaded.num_timesteps == 128
    if normalize:
        np.testing.assert_array_equal(loaded.obs_normalizer.rms.mean, model.obs_normalizer.rms.mean)
        # frozen at evaluation: predicting does not move the statistics
        before = loaded.obs_normalizer.rms.mean.copy()
        loaded.predict(obs * 100)
        np.testing.assert_array_equal(loaded.obs_normalizer.rms.mean, before)
    # resuming from the file continues exactly like the original model
    resumed = TRPO.load(path, env="Pendulum-v1")
    resumed.learn(64, reset_num_timesteps=False)
    assert resumed.num_timesteps == 192
    assert not np.array_equal(resumed.policy.get_params(), model.policy.get_params())


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        TRPO.load(tmp_path / "missing")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="bad.zip"):
        TRPO.load(bad)
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    path = model.save(tmp_path / "m.zip")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="m.zip"):
        TRPO.load(path)
    model.save(path)
    with pytest.raises(ValueError, match="observation_space"):
        TRPO.load(path, env="Pendulum-v1")


def test_load_then_set_env_keeps_observation_and_reward_statistics(tmp_path):
    model = TRPO("MlpPolicy", "Pendulum-v1", seed=0, normalize_obs=True, normalize_reward=True,
                 **TINY)
    model.learn(96)
    obs_stats = model.obs_normalizer.state_dict()
    ret_stats = model.reward_scaler.state_dict()
    assert ret_stats["count"] > 1  # statistics were gathered
    path = model.save(tmp_path / "pendulum")
    loaded = TRPO.load(path)
    vec = gym.make_vec("Pendulum-v1", num_envs=3, vectorization_mode="sync")
    loaded.set_env(vec)  # another number of envs: the statistics carry over
    assert loaded.reward_scaler.n_envs == 3
    for got, want in ((loaded.obs_normalizer.state_dict(), obs_stats),
                      (loaded.reward_scaler.state_dict(), ret_stats)):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    loaded.learn(96, reset_num_timesteps=False)
    assert loaded.reward_scaler.state_dict()["count"] > ret_stats["count"]  # and keep learning


def test_numpy_scalars_are_accepted_and_saved_as_plain_numbers(tmp_path):
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=np.int64(3), **{
        **TINY, "n_steps": np.int64(32), "gamma": np.float32(0.5), "normalize_obs": np.True_,
        "policy_kwargs": dict(net_arch=[np.int64(4)], log_std_init=np.float64(-1))})
    assert type(model.config.n_steps) is int and model.config.n_steps == 32
    assert type(model.config.gamma) is float and model.config.gamma == 0.5
    assert type(model.config.seed) is int and model.config.normalize_obs is True
    path = model.save(tmp_path / "m")
    with zipfile.ZipFile(path) as archive:
        saved = json.loads(archive.read("meta.json"))["config"]
    assert saved["n_steps"] == 32 and saved["gamma"] == 0.5
    assert saved["policy_kwargs"] == {"net_arch": [4], "log_std_init": -1.0}
    assert TRPO.load(path).config == model.config


def test_load_overrides_only_what_does_not_shape_the_networks(tmp_path):
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, **TINY)
    path = model.save(tmp_path / "m")
    loaded = TRPO.load(path, verbose=1, target_kl=0.05, n_envs=3)
    assert (loaded.config.verbose, loaded.config.target_kl, loaded.config.n_envs) == (1, 0.05, 3)
    for key, value in (("dtype", "float64"), ("policy_kwargs", dict(net_arch=[8])),
                       ("vf_optimizer", "lbfgs"), ("normalize_obs", True)):
        with pytest.raises(ValueError, match=f"{key}: cannot be changed when loading"):
            TRPO.load(path, **{key: value})
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['n_stepz'\]"):
        TRPO.load(path, n_stepz=3)


def test_models_saved_with_hyperparams_metadata_still_load(tmp_path):
    from fasttrpo.logs.serialization import load_archive, save_archive

    model = TRPO("MlpPolicy", MatchEnv("discrete"), seed=0, **TINY)
    meta, arrays = load_archive(model.save(tmp_path / "new"))
    meta["hyperparams"] = meta.pop("config")  # how models were saved before TRPOConfig
    loaded = TRPO.load(save_archive(tmp_path / "old", meta, arrays))
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.policy.get_params(), model.policy.get_params())


def test_callable_schedule_and_what_save_keeps(tmp_path):
    calls = []

    def schedule(progress):
        calls.append(progress)
        return 1e-3 * progress + 1e-5

    model = TRPO("MlpPolicy", "CartPole-v1", learning_rate=schedule, **TINY)
    rates = critic_rates(model, 256)
    assert calls[:2] == [1.0, 0.0]  # the config checks both ends
    assert [rate for _, rate in rates] == pytest.approx(
        [1e-3 * (1 - steps / 256) + 1e-5 for steps, _ in rates])
    with pytest.warns(UserWarning, match="custom schedule cannot be stored"):
        model.save(tmp_path / "custom")
    assert TRPO.load(tmp_path / "custom").config.learning_rate == pytest.approx(1e-5)
    linear = TRPO("MlpPolicy", "CartPole-v1", learning_rate=LinearSchedule(2e-3, 1e-4), **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a linear schedule is stored as it is
        linear.save(tmp_path / "linear")
    assert TRPO.load(tmp_path / "linear").config.learning_rate == LinearSchedule(2e-3, 1e-4)


def test_save_and_load_file_objects_and_set_parameters_from_a_file(tmp_path):
    import io

    model = TRPO("MlpPolicy", "Pendulum-v1", normalize_obs=True, **TINY)
    model.learn(128)
    buffer = io.BytesIO()
    assert model.save(buffer) is buffer
    buffer.seek(0)
    loaded = TRPO.load(buffer)
    np.testing.assert_array_equal(loaded.policy.get_params(), model.policy.get_params())
    np.testing.assert_array_equal(loaded.obs_normalizer.mean, model.obs_normalizer.mean)
    with open(tmp_path / "model.zip", "wb") as handle:
        model.save(handle)
    other = TRPO("MlpPolicy", "Pendulum-v1", normalize_obs=True, **{**TINY, "seed": 9})
    other.set_parameters(tmp_path / "model.zip")
    np.testing.assert_array_equal(other.policy.get_params(), model.policy.get_params())
    with pytest.raises(ValueError, match="<BytesIO>: not a readable zip archive"):
        TRPO.load(io.BytesIO(b"not a model"))
