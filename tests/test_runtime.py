"""``fasttrpo.runtime``: the numpy-only policy runtime and its ``.npz`` format."""

import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import fasttrpo
from fasttrpo import runtime
from fasttrpo.export import export
from fasttrpo.export.model import policy_from_model
from fasttrpo.export.npz import policy_arrays

from export_cases import (
    CASES,
    assert_same_actions,
    make_model,
    n_observations,
    observations,
    take,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """case -> path of the model's exported .npz"""
    folder = tmp_path_factory.mktemp("policies")
    return {case: export(make_model(case), folder / case)[0] for case in CASES}


def test_cases_are_not_trivial():
    """The comparisons below would catch a missing clip, normalisation or argmax."""
    for case in CASES:
        model = make_model(case)
        obs = observations(model)
        actions, _ = model.predict(obs, deterministic=True)
        rows, _ = model.encoder.observation_rows(obs)  # encoded, one per observation
        if model.codec.kind == "gaussian":
            space = model.action_space
            at_bound = (actions == space.low) | (actions == space.high)
            assert 0.05 < at_bound.mean() < 0.95, case
        else:
            assert len(np.unique(actions.reshape(len(rows), -1), axis=0)) > 1, case
        if model.obs_normalizer is not None:
            clipped = np.abs(model.obs_normalizer.normalize(rows)) == model.obs_normalizer.clip_obs
            assert 0 < clipped.mean() < 1, case


@pytest.mark.parametrize("case", CASES)
def test_deterministic_actions_match_predict(exported, case):
    model = make_model(case)
    policy = runtime.load(exported[case])
    assert policy.params.dtype == np.float32
    obs = observations(model)
    expected, _ = model.predict(obs, deterministic=True)
    assert_same_actions(model, policy, obs, expected, policy.act(obs, deterministic=True))
    assert_same_actions(model, policy, obs, expected, policy(obs))  # deterministic by default
    for i in range(5):  # one observation gives one unbatched action
        row = take(obs, i)
        expected_one, _ = model.predict(row, deterministic=True)
        got = policy.act(row)
        assert np.shape(got) == np.shape(expected_one)
        assert_same_actions(model, policy, take(obs, slice(i, i + 1)),
                            np.asarray(expected_one)[None], np.asarray(got)[None])


@pytest.mark.parametrize("case", CASES)
def test_sampling_matches_predict_with_the_same_generator(exported, case):
    model = make_model(case)
    policy = runtime.load(exported[case])
    obs = observations(model, n=300, seed=1)
    saved_rng = model.rng
    try:
        model.rng = np.random.default_rng(7)
        expected, _ = model.predict(obs, deterministic=False)
    finally:
        model.rng = saved_rng
    got = policy.act(obs, deterministic=False, rng=np.random.default_rng(7))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if policy.head in ("gaussian", "gsde"):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    else:  # exp in numpy vs C may differ in the last bit: a sample on a boundary may flip
        assert (got == expected).reshape(n_observations(obs), -1).all(axis=1).mean() > 0.98
    deterministic = policy.act(obs)
    assert not np.array_equal(got, deterministic)  # it does sample
    other = policy.act(obs, deterministic=False, rng=np.random.default_rng(8))
    assert not np.array_equal(got, other)
    assert policy.act(take(obs, 0), deterministic=False).shape == np.shape(expected[0])


def test_categorical_sampling_frequencies():
    """Sampled classes follow softmax(logits) (a chi-square-sized tolerance)."""
    model = make_model("discrete-raw")
    policy = policy_from_model(model)
    obs = observations(model, n=1)[0]
    logits = policy.forward(obs)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    draws = policy.act(np.repeat(obs[None], 20000, axis=0), deterministic=False,
                       rng=np.random.default_rng(0))
    freq = np.bincount(draws, minlength=len(probs)) / len(draws)
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_file_is_self_describing(exported):
    with np.load(exported["multidiscrete-norm"], allow_pickle=False) as data:
        assert str(data["format"]) == runtime.FORMAT_NAME
        assert int(data["format_version"]) == runtime.FORMAT_VERSION
        assert str(data["head"]) == "categorical" and str(data["activation"]) == "tanh"
        assert data["layer_sizes"].tolist() == [4, 8, 4]
        assert data["nvec"].tolist() == [2, 2]
        assert json.loads(str(data["action_space"]))["type"] == "MultiDiscrete"
        assert data["obs_mean"].shape == data["obs_std"].shape == (4,)
        assert float(data["clip_obs"]) == 3.0
    model = make_model("multidiscrete-norm")
    policy = runtime.load(exported["multidiscrete-norm"])
    np.testing.assert_array_equal(policy.params, model.policy.get_params())
    np.testing.assert_array_equal(policy.obs_mean, model.obs_normalizer.mean)
    assert "normalised obs" in repr(policy)


def test_export_from_policy_or_file_round_trips(exported, tmp_path):
    source = exported["shaped_box-norm"]
    again = export(source, tmp_path / "again.npz")[0]
    a, b = runtime.load(source), runtime.load(again)
    for key, value in policy_arrays(a).items():
        np.testing.assert_array_equal(policy_arrays(b)[key], value)


# ---- a numpy-only import ------------------------------------------------------------------
def test_runtime_imports_only_numpy(exported):
    script = textwrap.dedent(f"""
        import sys
        import numpy, numpy.random
        baseline = set(sys.modules)
        import fasttrpo.runtime
        policy = fasttrpo.runtime.load({str(exported["box-norm"])!r})
        action = policy.act(numpy.zeros(4, dtype=numpy.float32))
        sample = policy.act(numpy.zeros((3, 4)), deterministic=False,
                            rng=numpy.random.default_rng(0))
        assert action.shape == (2,) and sample.shape == (3, 2)
        for name in ("numba", "scipy", "gymnasium", "threadpoolctl", "fasttrpo._cython"):
            assert name not in sys.modules, name
        new = sorted(set(sys.modules) - baseline)
        outside = [m for m in new if m.split(".")[0] not in sys.stdlib_module_names]
        # (_numba_cache: the standard-library check of the kernels' on-disk cache)
        assert outside == sorted(["fasttrpo", "fasttrpo.foundation", "fasttrpo.foundation.heads",
                                  "fasttrpo.foundation.masking",
                                  "fasttrpo.foundation.numba_cache",
                                  "fasttrpo.foundation.policy_file",
                                  "fasttrpo.foundation.portable", "fasttrpo.runtime"]), outside
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_package_attributes_load_lazily():
    script = textwrap.dedent("""
        import sys
        import fasttrpo
        assert "numba" not in sys.modules and "fasttrpo.algorithms.trpo" not in sys.modules
        from fasttrpo import TRPO, GaussianMLPPolicy, ValueFunction
        assert "fasttrpo.algorithms.trpo" in sys.modules
        assert fasttrpo.models.policies.GaussianMLPPolicy is GaussianMLPPolicy
        assert all(getattr(fasttrpo, name).__name__ == name for name in fasttrpo.__all__)
        assert fasttrpo.CPO is fasttrpo.algorithms.CPO
        assert fasttrpo.ValueFunction is fasttrpo.models.value_function.ValueFunction
        assert set(fasttrpo.__all__) <= set(dir(fasttrpo))
        assert not {"importlib", "TYPE_CHECKING", "invalidate_stale_cache"} & set(dir(fasttrpo))
        assert "models" in dir(fasttrpo)  # a loaded sub-package
        try:
            fasttrpo.no_such_thing
        except AttributeError as err:
            assert "no_such_thing" in str(err)
        else:
            raise AssertionError("no AttributeError")
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert fasttrpo.TRPO.__name__ == "TRPO"


# ---- bad input ----------------------------------------------------------------------------
def _rewrite(source, target, change):
    with np.load(source, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    change(arrays)
    with open(target, "wb") as handle:
        np.savez(handle, **arrays)


def _set(key, value):
    return lambda arrays: arrays.__setitem__(key, np.asarray(value))


def _drop(key):
    return lambda arrays: arrays.pop(key)


BAD_FILES = {
    "wrong_version": (_set("format_version", 2), "format_version 2 is not supported"),
    "old_version": (_set("format_version", 0), "format_version 0 is not supported"),
    "version_text": (_set("format_version", "1"), "'format_version' must be a int"),
    "wrong_name": (_set("format", "something-else"), "expected 'fasttrpo-policy'"),
    "no_format": (_drop("format"), "no 'format' entry"),
    "no_params": (_drop("params"), "lacks entry 'params'"),
    "no_obs_std": (_drop("obs_std"), "lacks entry 'obs_std'"),
    "short_params": (lambda a: a.__setitem__("params", a["params"][:-1]), "params: expected"),
    "nan_params": (lambda a: a["params"].__setitem__(0, np.nan), "NaN"),
    "bad_head": (_set("head", "beta"), "head: expected one of"),
    "bad_activation": (_set("activation", "gelu"), "activation: expected one of"),
    "bad_json": (_set("action_space", "{not json"), "invalid fasttrpo policy file"),
    "space_keys": (_set("action_space", '{"type": "Box"}'), "lacks shape, low, high, dtype"),
    "wrong_space": (_set("action_space", '{"type": "Discrete", "n": 2}'),
                    "needs the categorical head"),
    "sizes": (lambda a: a.update(layer_sizes=np.array([5, 8, 2]), params=np.zeros(68)),
              "layer_sizes starts with 5"),
    "negative_std": (lambda a: a["obs_std"].__setitem__(0, -1.0), "obs_std: must be positive"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_load_rejects_invalid_files(exported, tmp_path, name):
    change, message = BAD_FILES[name]
    path = tmp_path / f"{name}.npz"
    _rewrite(exported["box-norm"], path, change)
    with pytest.raises(ValueError, match="fasttrpo policy file|not supported") as info:
        runtime.load(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_load_rejects_corrupt_and_foreign_files(exported, tmp_path):
    data = exported["box-raw"].read_bytes()
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "garbage.npz": b"\x00\x01garbage" * 50,
        "empty.npz": b"",
        "flipped.npz": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
    }
    for file_name, content in cases.items():
        path = tmp_path / file_name
        path.write_bytes(content)
        with pytest.raises(ValueError, match="fasttrpo policy file") as info:
            runtime.load(path)
        assert str(path) in str(info.value), file_name
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        runtime.load(npy)
    # a TRPO model file (a zip of .npy members) gets a hint
    model_path = make_model("box-raw").save(tmp_path / "model")
    with pytest.raises(ValueError, match="fasttrpo export MODEL") as info:
        runtime.load(model_path)
    assert str(model_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        runtime.load(tmp_path / "missing.npz")
    assert runtime.load(exported["box-raw"].with_suffix("")).layer_sizes == [4, 8, 2]
    with pytest.raises(ValueError, match="is a directory"):
        runtime.load(tmp_path)
    assert zipfile.is_zipfile(exported["box-raw"])  # an ordinary .npz: zip of .npy


def test_act_rejects_bad_observations(exported):
    box = runtime.load(exported["box-raw"])
    with pytest.raises(ValueError, match=r"obs: expected shape \(4,\)"):
        box.act(np.zeros(3))
    with pytest.raises(ValueError, match="obs: expected shape"):
        box.act(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        box.act(np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="real number"):
        box.act(np.array(["a", "b", "c", "d"]))
    discrete = runtime.load(exported["discrete_obs-raw"])
    assert discrete.act(-2).shape == (2,)
    with pytest.raises(ValueError, match="outside"):
        discrete.act(3)
    with pytest.raises(ValueError, match="outside"):
        discrete.act(np.array([0, -3]))


def test_policy_constructor_validates():
    box = {"type": "Box", "shape": [2], "low": [-1.0, -1.0], "high": [1.0, 1.0],
           "dtype": "float32"}
    params = np.zeros(2 * 3 + 3, dtype=np.float32)
    policy = runtime.Policy(box, {"type": "MultiBinary", "n": 3}, [2, 3], "relu", "bernoulli",
                            [], params)
    assert policy.act(np.ones(2)).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="float32 or float64"):
        runtime.Policy(box, {"type": "MultiBinary", "n": 3}, [2, 3], "relu", "bernoulli", [],
                       params.astype(np.int32))
    with pytest.raises(ValueError, match="give both or neither"):
        runtime.Policy(box, {"type": "MultiBinary", "n": 3}, [2, 3], "relu", "bernoulli", [],
                       params, obs_mean=np.zeros(2))
    with pytest.raises(ValueError, match="nvec"):
        runtime.Policy(box, {"type": "Discrete", "n": 3}, [2, 3], "relu", "categorical",
                       [2], params)
