"""Scaling: update time against batch size (512..65536, 64x64) and width (32..512, N=2048).

Gaussian 11->W->W->3 tanh, float32, sb3-contrib default hyperparameters (15 CG iterations,
10 epochs of minibatch-128 Adam). The two parts of an update are timed separately, for
fasttrpo (one thread) and the PyTorch reference (double-backprop FVP, each thread count of
``_config.torch_threads("scaling")``): ``policy_step`` (CG + line search) and ``value_fit``.

Run: ``python -m pytest benchmarks/test_bench_scaling.py --benchmark-only``.
"""

import numpy as np
import pytest

from benchmarks import _config
from benchmarks.harness import UpdateProblem, require_torch, run_timed, torch_threads
from fasttrpo.steps.trpo import trpo_step

IMPLS = ("fasttrpo", "torch-dbp")


def _params():
    params = []
    for sweep, net, n in _config.scaling_cases():
        for part in ("policy_step", "value_fit"):
            for impl in IMPLS:
                threads = (1,) if impl == "fasttrpo" else _config.torch_threads("scaling")
                for t in threads:
                    ident = f"{sweep}-{net.name.replace(' ', '_')}-N{n}-{part}-{impl}-t{t}"
                    params.append(pytest.param(sweep, net, n, part, impl, t, id=ident))
    return params


_cache: dict = {}


def _problem(net, n) -> UpdateProblem:
    key = (net, n)
    if key not in _cache:
        _cache.clear()
        _cache[key] = UpdateProblem(net, n, "float32")
    return _cache[key]


@pytest.mark.parametrize(("sweep", "net", "n", "part", "impl", "threads"), _params())
def test_scaling(benchmark, sweep, net, n, part, impl, threads):
    problem = _problem(net, n)
    hp = problem.hp
    benchmark.group = f"scaling {sweep} {part}"
    benchmark.extra_info.update(suite="scaling", sweep=sweep, net=net.name, n=n,
                                width=net.hidden[0], part=part, impl=impl, threads=threads,
                                dtype="float32")
    if impl == "fasttrpo":
        if part == "policy_step":
            def fn():
                trpo_step(problem.model.policy, problem.obs, problem.policy_actions,
                          problem.norm_advantages, problem.log_prob, max_kl=hp["target_kl"],
                          cg_max_steps=hp["cg_max_steps"], cg_damping=hp["cg_damping"])
        else:
            rng = np.random.default_rng(0)

            def fn():
                problem.model.vf_fitter.fit(problem.obs, problem.returns, rng)
        run_timed(benchmark, fn, setup=problem.fasttrpo_reset)
        return
    require_torch()
    with torch_threads(threads):
        ref, t = problem.torch_reference("double_backprop")
        if part == "policy_step":
            run_timed(benchmark, lambda: ref.policy_step(
                t["theta_pi"], t["obs"], t["actions"], t["norm_advantages"], t["old_log_prob"]))
        else:
            run_timed(benchmark, lambda: ref.value_fit(t["obs"], t["returns"]),
                      setup=lambda: ref.set_value_params(t["theta_v"]))
