"""Single-observation deterministic action latency of a deployed policy, one thread.

The policy: Gaussian 11 -> 64 -> 64 -> 3, tanh, float32, with observation normalisation
(frozen statistics) and action clipping, as ``TRPO.predict(obs, deterministic=True)``
computes it. Compared: ``model.predict``, ``fasttrpo.runtime`` (numpy only), onnxruntime on
the exported graph, the exported C function through ctypes and in a C loop (no call
overhead), and a torch forward of the same network with the same pre/post-processing.

Run: ``python -m pytest benchmarks/test_bench_latency.py --benchmark-only``
(``--benchmark-columns=median,iqr,ops`` for a compact table). The C tests need a C
compiler; onnxruntime and torch are skipped when not installed.
"""

import ctypes
import itertools
import shutil
import subprocess

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import fasttrpo.runtime
from fasttrpo import TRPO

OBS_DIM, ACT_DIM, HIDDEN = 11, 3, [64, 64]
C_LOOP = 1000  # act calls per timed C loop
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.benchmark(group="single-observation action latency")


class Box11Env(gym.Env):
    """Only its spaces matter: 11-dim observations, 3 actions in [-1, 1]."""

    observation_space = spaces.Box(-np.inf, np.inf, (OBS_DIM,), dtype=np.float32)
    action_space = spaces.Box(-1.0, 1.0, (ACT_DIM,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(OBS_DIM, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(OBS_DIM, dtype=np.float32), 0.0, True, False, {}


@pytest.fixture(scope="module")
def model():
    model = TRPO("MlpPolicy", Box11Env(), seed=0, normalize_obs=True,
                 policy_kwargs=dict(net_arch=HIDDEN))
    rng = np.random.default_rng(0)
    params = model.policy.get_params()
    params[: model.policy.n_mlp] += 0.3 * rng.standard_normal(model.policy.n_mlp)
    model.policy.set_params(params)
    model.obs_normalizer.load_state_dict({
        "mean": rng.normal(0, 1, OBS_DIM), "var": rng.uniform(0.5, 2, OBS_DIM),
        "count": np.array(1e4)})
    return model


@pytest.fixture(scope="module")
def obs():
    return np.random.default_rng(1).standard_normal(OBS_DIM).astype(np.float32)


@pytest.fixture(scope="module")
def expected(model, obs):
    return model.predict(obs, deterministic=True)[0]


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("latency")
    return {"npz": model.export(folder / "policy.npz")[0], "folder": folder}


def test_predict(benchmark, model, obs, expected):
    action = benchmark(model.predict, obs, deterministic=True)[0]
    np.testing.assert_array_equal(action, expected)


def test_runtime_numpy(benchmark, exported, obs, expected):
    policy = fasttrpo.runtime.load(exported["npz"])
    action = benchmark(policy.act, obs)
    np.testing.assert_allclose(action, expected, atol=1e-5)


def test_onnxruntime(benchmark, model, exported, obs, expected):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    (path,) = model.export(exported["folder"] / "policy.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"obs": obs[None]}
    (action,) = benchmark(session.run, ["action"], feed)
    np.testing.assert_allclose(action[0], expected, atol=1e-5)


HARNESS = r"""
#include <time.h>
#include "bench_policy.h"

/* Mean ns per bench_policy_act over n calls; each call reads the previous action so the
   compiler can neither hoist nor drop it. */
double bench_policy_loop(const float *obs, float *action, long n)
{
    float x[BENCH_POLICY_OBS_SIZE];
    struct timespec t0, t1;
    long i;
    int j;
    for (j = 0; j < BENCH_POLICY_OBS_SIZE; ++j) x[j] = obs[j];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; ++i) {
        bench_policy_act(x, action);
        x[0] = obs[0] + 1e-30f * action[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
}
"""


@pytest.fixture(scope="module")
def c_library(model, exported):
    if CC is None:
        pytest.skip("no C compiler")
    folder = exported["folder"]
    source, _ = model.export(folder / "bench_policy", format="c")
    (folder / "harness.c").write_text(HARNESS)
    library = folder / "libbench_policy.so"
    subprocess.run([CC, "-std=c99", "-D_POSIX_C_SOURCE=199309L", "-O2", "-shared", "-fPIC",
                    str(source), str(folder / "harness.c"), "-o", str(library), "-lm"],
                   check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(library))
    lib.bench_policy_act.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bench_policy_act.restype = None
    lib.bench_policy_loop.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    lib.bench_policy_loop.restype = ctypes.c_double
    return lib


def test_c_ctypes(benchmark, c_library, obs, expected):
    """One ctypes call per action (pointers prepared once): mostly ctypes' own overhead."""
    action = np.zeros(ACT_DIM, dtype=np.float32)
    obs_ptr, action_ptr = obs.ctypes.data, action.ctypes.data
    benchmark(c_library.bench_policy_act, obs_ptr, action_ptr)
    np.testing.assert_allclose(action, expected, atol=1e-5)


def test_c_loop(benchmark, c_library, obs, expected):
    """``C_LOOP`` calls timed inside C; per-call ns in ``extra_info`` (median / C_LOOP)."""
    action = np.zeros(ACT_DIM, dtype=np.float32)
    per_call = []

    def run():
        per_call.append(c_library.bench_policy_loop(obs.ctypes.data, action.ctypes.data,
                                                    C_LOOP))

    benchmark.pedantic(run, rounds=200, warmup_rounds=5)
    benchmark.extra_info["calls_per_round"] = C_LOOP
    benchmark.extra_info["median_ns_per_act"] = float(np.median(per_call))
    np.testing.assert_allclose(action, expected, atol=1e-4)


def test_torch_forward(benchmark, model, obs, expected):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        layers = []
        params = model.policy.get_params()
        offset = 0
        sizes = [OBS_DIM, *HIDDEN, ACT_DIM]
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            linear = torch.nn.Linear(fan_in, fan_out)
            w = params[offset: offset + fan_in * fan_out].reshape(fan_in, fan_out)
            offset += fan_in * fan_out
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T.copy()))  # torch's weight is W^T
                linear.bias.copy_(torch.from_numpy(params[offset: offset + fan_out]))
            offset += fan_out
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(torch.nn.Tanh())
        net = torch.nn.Sequential(*layers).eval()
        norm = model.obs_normalizer
        mean = torch.from_numpy(norm.mean.copy())
        std = torch.from_numpy(np.sqrt(norm.var + norm.epsilon))
        clip = norm.clip_obs
        low = torch.from_numpy(model.action_space.low)
        high = torch.from_numpy(model.action_space.high)

        def act(observation):
            with torch.inference_mode():
                x = torch.from_numpy(observation)[None].double()
                x = ((x - mean) / std).clamp(-clip, clip).float()
                return torch.clamp(net(x), low, high).numpy()[0]

        action = benchmark(act, obs)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(action, expected, atol=1e-5)
