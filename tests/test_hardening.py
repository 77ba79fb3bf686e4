"""Regression tests of issue 15 (hardening): one or more per defect, named after it.

The seeded, bounded fuzz suites (``test_fuzz_*.py``) sweep the same ground with many more
inputs; these tests pin each defect down with the input that exposed it.
"""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile

import gymnasium as gym
import numpy as np
import pytest

from fasttrpo import TRPO, GaussianMLPPolicy
from fasttrpo.models.normalize import RewardScaler, RunningMeanStd

from toy_envs import CounterEnv, MatchEnv

TINY = dict(n_steps=32, batch_size=16, n_critic_updates=2, seed=0,
            policy_kwargs=dict(net_arch=[8]))


class ScaledReward(gym.Wrapper):
    """Every reward replaced by ``self.reward`` (changeable between ``learn`` calls)."""

    def __init__(self, env, reward):
        super().__init__(env)
        self.reward = reward

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, self.reward, terminated, truncated, info


def _state(model):
    """Everything an update may change: policy, critic, Adam state."""
    return [model.policy.get_params(), model.value_function.get_params(),
            *model.vf_fitter.state_dict().values()]


def _assert_same(before, after):
    for want, got in zip(before, after, strict=True):
        np.testing.assert_array_equal(got, want)


# ---- 1 / 7: a batch the critic cannot fit is refused before anything changes --------------
@pytest.mark.parametrize(("dtype", "reward"), [("float32", 1e20), ("float64", 1e200)])
def test_huge_rewards_are_refused_before_any_update_and_the_model_stays_savable(
        tmp_path, dtype, reward):
    model = TRPO("MlpPolicy", ScaledReward(MatchEnv("box"), reward), dtype=dtype, **TINY)
    before = _state(model)
    with pytest.raises(ValueError, match=r"reward: value targets reach .*Nothing was updated"):
        model.learn(32)
    _assert_same(before, _state(model))
    loaded = TRPO.load(model.save(tmp_path / "m"))  # what was saved loads
    _assert_same(before, _state(loaded))


def test_a_diverging_critic_fit_is_undone_with_the_policy_step(tmp_path):
    model = TRPO("MlpPolicy", CounterEnv(terminate_at=5), learning_rate=1e30,
                 **{**TINY, "batch_size": 8, "n_critic_updates": 5})
    before = _state(model)
    with pytest.raises(ValueError, match="reward: the critic fit diverged"):
        model.learn(32)
    _assert_same(before, _state(model))
    TRPO.load(model.save(tmp_path / "m"))


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


# ---- 4: the reward normaliser refuses what overflows, unchanged ---------------------------
def test_running_stats_refuse_an_overflowing_batch_unchanged():
    rms = RunningMeanStd()
    rms.update(np.array([1.0, 2.0, 3.0]))
    state = rms.state_dict()
    with pytest.raises(ValueError, match="too large"):
        rms.update(np.array([1e200]))
    for key, value in state.items():
        np.testing.assert_array_equal(rms.state_dict()[key], value)


def test_reward_scaler_error_names_the_rewards_and_keeps_its_returns():
    scaler = RewardScaler(2, gamma=0.99)
    scaler.scale(np.array([1.0, 2.0]), np.array([False, False]))
    returns = scaler.returns.copy()
    with pytest.raises(ValueError, match=r"rewards: \[1e\+200, 1\.0\] cannot be normalised"):
        scaler.scale(np.array([1e200, 1.0]), np.array([False, False]))
    np.testing.assert_array_equal(scaler.returns, returns)


def test_an_overflowing_reward_does_not_poison_later_learning():
    env = ScaledReward(MatchEnv("box"), 1e200)
    model = TRPO("MlpPolicy", env, normalize_reward=True, dtype="float64", **TINY)
    with pytest.raises(ValueError, match="rewards: .*cannot be normalised"):
        model.learn(32)
    env.reward = 1.0  # the env recovers: training goes on
    model.learn(64)
    assert all(np.isfinite(v).all() for v in model.reward_scaler.state_dict().values())
    assert all(np.isfinite(a).all() for a in _state(model))


# ---- 7: core-API values of a saturated distribution are refused, not returned ------------
def test_saturated_distribution_raises_instead_of_returning_inf():
    policy = GaussianMLPPolicy(3, 2, (4,), seed=0, log_std_init=-60.0)  # var underflows
    with pytest.raises(ValueError, match="log_prob: not finite.*saturated"):
        policy.log_prob(np.zeros((2, 3)), np.ones((2, 2)))


# ---- 8: predict refuses what is not an observation --------------------------------------
@pytest.mark.parametrize("obs", [1.0, None, {}, "abc", [[1.0, 2.0]], [[1, 2], [3]]])
def test_predict_refuses_non_observations(obs):
    model = TRPO("MlpPolicy", MatchEnv("box"), **TINY)
    with pytest.raises(ValueError, match="observation"):
        model.predict(obs)


def test_discrete_observations_must_be_whole_numbers(tmp_path):
    model = TRPO("MlpPolicy", "FrozenLake-v1", **TINY)
    same = model.predict(1, deterministic=True)[0]
    assert model.predict(1.0, deterministic=True)[0] == same
    for bad in (1.7, np.nan, [0, 2.5]):
        with pytest.raises(ValueError, match="Discrete observations must be integers"):
            model.predict(bad)
    from fasttrpo import runtime

    policy = runtime.load(model.export(tmp_path / "p.npz")[0])
    with pytest.raises(ValueError, match="Discrete observations must be integers"):
        policy.act(1.7)


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


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# ---- 9: C export names that would not compile ---------------------------------------------
CC = shutil.which("cc") or shutil.which("gcc")


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize(("stem", "written"), [
    ('my"policy', "my_policy"), ("math", "math_policy"), ("stdio", "stdio_policy"),
    ("back\\slash", "back_slash"), ("2fast", "2fast")])
def test_c_export_sanitises_file_and_symbol_names(tmp_path, stem, written):
    model = TRPO("MlpPolicy", MatchEnv("box"), **TINY)
    source, header = model.export(tmp_path / stem, format="c")
    assert (source.name, header.name) == (f"{written}.c", f"{written}.h")
    # -I on the output folder: a header named math.h would replace the library's
    result = subprocess.run([CC, "-std=c99", "-Wall", "-Werror", "-c", f"-I{tmp_path}",
                             str(source), "-o", str(tmp_path / "policy.o")],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [source.name, header.name, "policy.o"])  # no temporary file left


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


# ---- 7 / 10: values that fail only later are refused when given, naming the key ------------
@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(policy_kwargs=dict(log_std_init=100)), r"policy_kwargs.log_std_init: must lie in"),
    (dict(policy_kwargs=dict(log_std_init=-1e9)), r"policy_kwargs.log_std_init: must lie in"),
    (dict(target_kl=1e30), r"target_kl: must lie in \(0, 10\]"),
    (dict(n_steps=1e12), r"n_steps: must be a positive integer <= 2147483647"),
    (dict(n_steps=float("inf")), r"n_steps: must be a positive integer"),
    (dict(policy_kwargs=dict(net_arch=[10**6])), r"policy_kwargs: net_arch must be a list"),
    (dict(policy_kwargs=dict(net_arch=dict(pi=[8] * 65))), r"policy_kwargs.net_arch.pi"),
])
def test_hyperparameters_that_would_fail_later_are_refused_at_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TRPO("MlpPolicy", MatchEnv("box"), **{**TINY, **kwargs})


# ---- 10: YAML and CLI input ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["'false'", "'no'", "'Off'", "no", "false"])
def test_yaml_boolean_strings_are_not_taken_as_true(text):
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

    entry = load_zoo_hyperparams(
        f"E:\n  normalize_advantage: {text}\n  use_sde: {text}\n  normalize: {text}\n", "E")
    kwargs, settings = zoo_to_trpo_kwargs(entry)
    # normalize false adds nothing
    assert kwargs == {"normalize_advantage": False, "use_sde": False}
    assert settings["warnings"] == []
    word = text.strip("'")  # a string inside the Python-syntax dict(...)
    entry = load_zoo_hyperparams(f"E:\n  normalize: \"dict(norm_obs='{word}')\"\n", "E")
    assert zoo_to_trpo_kwargs(entry)[0]["normalize_obs"] is False


@pytest.mark.parametrize(("text", "message"), [
    ("E:\n  policy_kwargs: " + "[" * 5000 + "]" * 5000 + "\n", "invalid YAML"),
    ("E:\n  n_steps: " + "9" * 5000 + "\n", "invalid YAML"),
    ("E:\n  n_steps: '" + "9" * 5000 + "'\n", "n_steps: expected a number"),
    ("E:\n  n_timesteps: .inf\n", "n_timesteps: expected a whole number"),
    ("E:\n  n_envs: 1e300\n", "n_envs: expected a whole number"),
    ("E:\n  normalize_advantage: maybe\n", "normalize_advantage: expected true or false"),
])
def test_hostile_yaml_gets_a_value_error_naming_the_key(text, message):
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

    with pytest.raises(ValueError, match=message):
        zoo_to_trpo_kwargs(load_zoo_hyperparams(text, "E"))


@pytest.mark.parametrize(("args", "message"), [
    (["--timesteps", "1e300"], "argument --timesteps: expected a whole number"),
    (["--timesteps", "64", "--n_steps", "2000000000"], "n_steps, n_envs: a rollout of"),
    (["--timesteps", "64", "--policy_kwargs", "dict(net_arch=" + "[" * 300 + "]" * 300 + ")"],
     "policy_kwargs: not a valid Python expression"),
    (["--timesteps", "64", "--normalize_advantage", "perhaps"],
     "normalize_advantage: expected true or false"),
])
def test_cli_reports_huge_or_nested_input_without_a_traceback(capsys, args, message, tmp_path,
                                                               monkeypatch):
    from fasttrpo.cli import main

    monkeypatch.chdir(tmp_path)  # without --save, train writes the zoo layout under ./logs

    assert main(["train", "CartPole-v1", "--eval-episodes", "0", *args]) == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1] and "Traceback" not in err  # argparse adds usage


# ---- degenerate batches ---------------------------------------------------------------------
def test_a_rollout_of_only_autoreset_steps_updates_nothing():
    # one-step episodes in NEXT_STEP autoreset mode: every other step is a reset step, so a
    # one-step rollout may hold no valid transition at all
    venv = gym.vector.SyncVectorEnv([lambda: MatchEnv("box")])
    model = TRPO("MlpPolicy", venv, **{**TINY, "n_steps": 1, "batch_size": 1,
                                       "normalize_advantage": False})  # sb3-contrib refuses 1 row
    critic = model.value_function.get_params()
    model.learn(8)  # was: ValueError "obs: needs at least one row"; now empty rollouts skip
    assert model.num_timesteps == 8
    assert not np.array_equal(model.value_function.get_params(), critic)  # the others update


def test_a_hyperparameter_path_that_is_not_a_regular_file_is_refused(tmp_path):
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams

    fifo = tmp_path / "trpo.yml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    with pytest.raises(ValueError, match="not a regular file"):
        load_zoo_hyperparams(fifo, "CartPole-v1")
