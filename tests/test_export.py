"""Exported artefacts (ONNX graph, C source) agree with ``TRPO.predict``; the export API and
the ``fasttrpo export`` command."""

import ctypes
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fasttrpo import TRPO, runtime
from fasttrpo.cli import main
from fasttrpo.export import export
from fasttrpo.export.c import c_identifier, to_c
from fasttrpo.export.model import policy_from_model

from export_cases import CASES, assert_same_actions, export_input, make_model, observations
from toy_envs import MatchEnv

CC = shutil.which("cc") or shutil.which("gcc")
C_FLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC"]


# ---- ONNX ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_onnx_matches_predict(tmp_path, case):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = make_model(case)
    (path,) = model.export(tmp_path / "policy.onnx")
    assert path.suffix == ".onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["obs"]
    assert [o.name for o in session.get_outputs()] == ["action"]
    obs = observations(model)
    feed = export_input(policy_from_model(model), obs)
    if not policy_from_model(model).obs_segments and feed.dtype == np.float32:
        feed = np.asarray(obs, dtype=np.float32)  # Box input keeps the space's shape
    (got,) = session.run(None, {"obs": feed})
    expected, _ = model.predict(obs, deterministic=True)
    assert_same_actions(model, policy_from_model(model), obs, expected, got, atol=1e-5)
    (one,) = session.run(None, {"obs": feed[:1]})  # a batch of one
    assert one.shape == (1, *np.shape(expected[0]))


def test_onnx_missing_package_message(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ImportError, match=r"fasttrpo\[export\]"):
        make_model("box-raw").export(tmp_path / "policy.onnx")
    assert not (tmp_path / "policy.onnx").exists()


# ---- C --------------------------------------------------------------------------------------
def _compile(source, tmp_path, name):
    library = tmp_path / f"lib{name}.so"
    result = subprocess.run([CC, *C_FLAGS, str(source), "-o", str(library), "-lm"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return ctypes.CDLL(str(library))


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("case", CASES)
def test_c_matches_predict(tmp_path, case):
    model = make_model(case)
    name = c_identifier(f"policy_{case}")
    source, header = model.export(tmp_path / name, format="c")
    assert (source.name, header.name) == (f"{name}.c", f"{name}.h")
    text = source.read_text()
    assert set(re.findall(r"#include\s*(\S+)", text)) == {"<math.h>", f'"{name}.h"'}
    assert not re.search(r"\b(malloc|calloc|realloc|free)\b", text)
    assert "static const float" in text
    library = _compile(source, tmp_path, name)
    obs = observations(model)
    expected, _ = model.predict(obs, deterministic=True)
    obs_rows = export_input(policy_from_model(model), obs).astype(np.float32).reshape(
        len(expected), -1)
    n_rows = len(obs_rows)
    width = int(np.prod(np.shape(expected[0]), dtype=np.int64))
    header_text = header.read_text()
    assert f"#define {name.upper()}_OBS_SIZE {obs_rows.shape[1]}" in header_text
    assert f"#define {name.upper()}_ACTION_SIZE {width}" in header_text
    out = np.full((n_rows, width), np.nan, dtype=np.float32)
    act_batch = getattr(library, f"{name}_act_batch")
    act_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    act_batch(obs_rows.ctypes.data, out.ctypes.data, n_rows)
    got = out.reshape(expected.shape).astype(expected.dtype)
    if model.codec.kind != "gaussian":  # class indices / bits are written as exact floats
        np.testing.assert_array_equal(out.reshape(expected.shape), got)
    policy = policy_from_model(model)
    assert_same_actions(model, policy, obs, expected, got, atol=1e-5)
    # the single-observation entry point gives the same as the batch one
    act = getattr(library, f"{name}_act")
    act.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    one = np.full(width, np.nan, dtype=np.float32)
    act(obs_rows[3].ctypes.data, one.ctypes.data)
    np.testing.assert_array_equal(one, out[3])


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_c_program_compiles_and_runs(tmp_path):
    """The header is usable from a plain C program (and from C++-style extern guards)."""
    model = make_model("discrete_obs-norm")
    source, _ = model.export(tmp_path / "ctrl", format="c")
    main_c = tmp_path / "main.c"
    main_c.write_text(
        '#include <stdio.h>\n#include "ctrl.h"\n'
        "int main(void) {\n"
        "    float obs[CTRL_OBS_SIZE] = {1.0f};\n    float action[CTRL_ACTION_SIZE];\n"
        "    int i;\n    ctrl_act(obs, action);\n"
        '    for (i = 0; i < CTRL_ACTION_SIZE; ++i) printf("%g\\n", action[i]);\n'
        "    return 0;\n}\n")
    program = tmp_path / "ctrl_demo"
    build = subprocess.run([CC, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2",
                            str(main_c), str(source), "-o", str(program), "-lm"],
                           check=False, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(program)], check=False, capture_output=True, text=True, timeout=60)
    expected, _ = model.predict(1, deterministic=True)
    assert [float(v) for v in run.stdout.split()] == expected.astype(float).tolist()


def test_c_names():
    assert c_identifier("my-policy.v2") == "my_policy_v2"
    assert c_identifier("2d") == "p_2d"
    with pytest.raises(ValueError, match="not a C identifier"):
        to_c(policy_from_model(make_model("box-raw")), name="bad name")


# ---- API and CLI --------------------------------------------------------------------------
def test_export_api_formats_and_suffixes(tmp_path):
    model = make_model("multibinary-norm")
    (npz,) = model.export(tmp_path / "a")  # npz by default, suffix appended
    assert npz.name == "a.npz"
    (npz2,) = model.export(tmp_path / "b.npz", format="npz")
    assert runtime.load(npz2).act(np.zeros(4)).tolist() == runtime.load(npz).act(
        np.zeros(4)).tolist()
    c_files = model.export(tmp_path / "c.h")  # format from the suffix
    assert [p.name for p in c_files] == ["c.c", "c.h"]
    assert '#include "c.h"' in c_files[0].read_text()
    named = model.export(tmp_path / "ctl", format="c", name="robot")
    assert "void robot_act(const float *obs, float *action);" in named[1].read_text()
    assert '#include "ctl.h"' in named[0].read_text()
    with pytest.raises(ValueError, match="format: expected one of npz, onnx, c"):
        model.export(tmp_path / "x", format="tflite")
    with pytest.raises(TypeError, match="expected a fasttrpo TRPO model"):
        export(object(), tmp_path / "y.npz")


def test_cli_export(tmp_path, capsys):
    model = make_model("discrete-norm")
    model_path = model.save(tmp_path / "model")
    obs = observations(model)
    expected, _ = model.predict(obs, deterministic=True)

    assert main(["export", str(tmp_path / "model"), "--format", "npz",
                 "--output", str(tmp_path / "out" / "p.npz")]) == 2  # no such directory
    assert "No such file or directory" in capsys.readouterr().err

    code = main(["export", str(model_path), "--format", "npz", "--output", str(tmp_path / "p")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"wrote {tmp_path / 'p.npz'}" in out
    policy = runtime.load(tmp_path / "p.npz")
    assert_same_actions(model, policy, obs, expected, policy.act(obs))

    code = main(["export", str(tmp_path / "p.npz"), "--output", str(tmp_path / "q.c"),
                 "--name", "cartpole"])  # from a policy file; format from the suffix
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "void cartpole_act(" in (tmp_path / "q.h").read_text()

    assert main(["export", str(tmp_path / "missing"), "--output", str(tmp_path / "r")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["export", str(model_path), "--format", "tflite", "--output", "r"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_export_onnx_without_the_package(tmp_path, capsys, monkeypatch):
    model_path = make_model("box-raw").save(tmp_path / "model")
    monkeypatch.setitem(sys.modules, "onnx", None)
    code = main(["export", str(model_path), "--format", "onnx", "--output",
                 str(tmp_path / "p.onnx")])
    assert code == 2
    assert 'pip install "fasttrpo[export]"' in capsys.readouterr().err


def test_float64_relu_policy_in_every_format(tmp_path):
    """ReLU hidden layers and a float64 network: the runtime matches exactly; ONNX and C
    compute in float32."""
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=3, dtype="float64", normalize_obs=True,
                 policy_kwargs=dict(net_arch=[8, 8], activation_fn="nn.ReLU"))
    params = model.policy.get_params()
    params[: model.policy.n_mlp] += np.random.default_rng(0).standard_normal(model.policy.n_mlp)
    model.policy.set_params(params)
    obs = observations(model)
    expected, _ = model.predict(obs, deterministic=True)
    assert 0 < (np.abs(expected) == 1).mean() < 1  # some actions clipped, some not
    policy = runtime.load(model.export(tmp_path / "relu.npz")[0])
    assert policy.activation == "relu" and policy.dtype == np.float64
    np.testing.assert_array_equal(policy.act(obs), expected)
    results = {}
    if CC is not None:
        source, _ = model.export(tmp_path / "relu", format="c")
        library = _compile(source, tmp_path, "relu")
        out = np.zeros(expected.shape, dtype=np.float32)
        library.relu_act_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
        library.relu_act_batch(obs.ctypes.data, out.ctypes.data, len(obs))
        results["c"] = out
    try:
        import onnxruntime as ort

        (path,) = model.export(tmp_path / "relu.onnx")
        results["onnx"] = ort.InferenceSession(str(path)).run(None, {"obs": obs})[0]
    except ImportError:
        pass
    for name, got in results.items():
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=name)


TINY = dict(n_steps=32, batch_size=16, n_critic_updates=2, seed=0,
            policy_kwargs=dict(net_arch=[8]))


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
