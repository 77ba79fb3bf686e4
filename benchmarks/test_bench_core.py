"""Kernel and policy-step timings: Gaussian 11->64->64->3 tanh, N=2048, one thread.

Run: ``python -m pytest benchmarks/test_bench_core.py --benchmark-only``.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import fasttrpo
from fasttrpo.steps.trpo import trpo_step

N = 2048
DTYPES = [np.float32, np.float64]
IDS = ["float32", "float64"]


def make_batch(dtype):
    policy = fasttrpo.GaussianMLPPolicy(11, 3, (64, 64), dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((N, 11)).astype(dtype)
    actions = rng.standard_normal((N, 3)).astype(dtype)
    advantages = rng.standard_normal(N).astype(dtype)
    return policy, obs, actions, advantages


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_fisher_vector_product(benchmark, dtype):
    policy, obs, _, _ = make_batch(dtype)
    linearization = policy.linearize(obs)
    vector = np.random.default_rng(1).standard_normal(policy.num_params).astype(dtype)
    benchmark(linearization.fvp, vector)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_linearize(benchmark, dtype):
    """Forward pass with cached activations and Fisher weights (once per update)."""
    policy, obs, _, _ = make_batch(dtype)
    benchmark(policy.linearize, obs)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_policy_step(benchmark, dtype):
    """Linearise + surrogate gradient + 10 CG iterations + one line-search evaluation."""
    policy, obs, actions, advantages = make_batch(dtype)
    old_params = policy.get_params()
    old_log_prob = policy.log_prob(obs, actions)

    def step():
        policy.set_params(old_params)
        return trpo_step(
            policy, obs, actions, advantages, old_log_prob, cg_max_steps=10,
            line_search_max_iter=1,
        )

    info = benchmark(step)
    assert info.cg_iterations == 10 and info.line_search_steps == 1


STARTUP = """
import time
t0 = time.perf_counter()
from fasttrpo import TRPO
for dtype in ("float32", "float64"):
    for env in ("CartPole-v1", "Pendulum-v1"):
        TRPO("MlpPolicy", env, n_steps=64, batch_size=32, dtype=dtype, seed=0).learn(64)
print(time.perf_counter() - t0)
"""


def _startup_seconds(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def test_numba_startup(benchmark):
    """Cold compile (empty cache) and warm start-up (cache filled) of every kernel a training
    run uses (both dtypes, Gaussian and categorical heads, one TRPO iteration each), measured
    in fresh interpreters from ``import fasttrpo`` on; reported in ``extra_info``."""
    with tempfile.TemporaryDirectory() as cache_dir:
        t0 = time.perf_counter()
        cold = _startup_seconds(cache_dir)
        benchmark.extra_info["cold_wall_s"] = time.perf_counter() - t0
        benchmark.extra_info["cold_in_process_s"] = cold
        warm = benchmark.pedantic(_startup_seconds, args=(cache_dir,), rounds=3, iterations=1)
        benchmark.extra_info["warm_in_process_s"] = warm
    print(f"\nnumba cold compile {cold:.2f} s, warm start-up {warm:.2f} s (in-process)")
