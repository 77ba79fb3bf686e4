"""Kernels and one full update: fasttrpo vs the PyTorch reference vs sb3-contrib.

For each network (11->64->64->3 and 17->256->256->6 Gaussian, 4->64->64->2 categorical), batch
(2048, 16384) and dtype (float32, float64), on the same buffer and parameters:

- ``fvp``: one Fisher-vector product (fasttrpo: analytic ``J^T M J v`` on a cached
  linearisation; torch: double backprop of the KL with its graph built once, or torch.func);
- ``policy_step``: surrogate gradient, 15 CG iterations, line search (a full TRPO step);
- ``value_fit``: 10 epochs of minibatch (128) Adam on the value MSE;
- ``update``: both (fasttrpo: ``TRPO.train(buffer)``, which also does GAE; the torch
  reference: advantage normalisation + policy step + value fit; sb3-contrib:
  ``TRPO.train()`` on its filled rollout buffer).

Every timed call starts from the same parameters and a fresh optimiser. fasttrpo runs on one
thread (conftest); torch runs with each of ``_config.torch_threads(kernel)`` threads.

Run: ``python -m pytest benchmarks/test_bench_update.py --benchmark-only``.
"""

import numpy as np
import pytest

from benchmarks import _config
from benchmarks.harness import (
    UpdateProblem,
    require_sb3,
    require_torch,
    run_timed,
    torch_threads,
)
from fasttrpo.steps.trpo import trpo_step

TORCH_IMPLS = {"torch-dbp": "double_backprop", "torch-func": "func"}
KERNEL_IMPLS = {
    "fvp": ("fasttrpo", "torch-dbp", "torch-func"),
    "policy_step": ("fasttrpo", "torch-dbp", "torch-func"),
    "value_fit": ("fasttrpo", "torch-dbp"),  # the value fit does not depend on the FVP
    "update": ("fasttrpo", "torch-dbp", "torch-func", "sb3-contrib"),
}


def _params(kernel):
    params = []
    for net, n, dtype in _config.update_cases():
        for impl in KERNEL_IMPLS[kernel]:
            if impl == "sb3-contrib" and dtype != "float32":
                continue  # sb3 casts observations to float32 (preprocess_obs): float32 only
            threads = (1,) if impl == "fasttrpo" else _config.torch_threads(kernel)
            for t in threads:
                ident = f"{net.name.replace(' ', '_')}-N{n}-{dtype}-{impl}-t{t}"
                params.append(pytest.param(net, n, dtype, impl, t, id=ident))
    return params


_cache: dict = {}


def _problem(net, n, dtype) -> UpdateProblem:
    """The problem of the current case (one kept at a time: 16384-row cases are large)."""
    key = (net, n, dtype)
    if key not in _cache:
        _cache.clear()
        _cache[key] = UpdateProblem(net, n, dtype)
    return _cache[key]


def _sb3(problem):
    key = ("sb3", problem.net, problem.n, problem.dtype_name)
    if key not in _cache:
        _cache[key] = problem.sb3_model()
    return _cache[key]


def _record(benchmark, kernel, problem, impl, threads, **info):
    benchmark.group = f"{kernel} {problem.label}"
    benchmark.extra_info.update(
        suite="update", kernel=kernel, net=problem.net.name, n=problem.n,
        dtype=problem.dtype_name, impl=impl, threads=threads, **info)


def _check_same_work(info, problem):
    # recorded so the report can show every implementation did the same work (CG iterations,
    # line-search candidates); tiny smoke networks may converge before cg_max_steps
    assert info["line_search_steps"] >= 1, info


@pytest.mark.parametrize(("net", "n", "dtype", "impl", "threads"), _params("fvp"))
def test_fvp(benchmark, net, n, dtype, impl, threads):
    problem = _problem(net, n, dtype)
    problem.fasttrpo_reset()
    _record(benchmark, "fvp", problem, impl, threads)
    v = np.random.default_rng(1).standard_normal(problem.theta_pi.size).astype(problem.dtype)
    if impl == "fasttrpo":
        lin = problem.model.policy.linearize(problem.obs)
        run_timed(benchmark, lambda: lin.fvp(v))
        return
    torch = require_torch()
    with torch_threads(threads):
        ref, t = problem.torch_reference(TORCH_IMPLS[impl])
        fvp = ref.fvp_closure(t["theta_pi"], t["obs"])
        vt = torch.from_numpy(v)
        run_timed(benchmark, lambda: fvp(vt))


@pytest.mark.parametrize(("net", "n", "dtype", "impl", "threads"), _params("policy_step"))
def test_policy_step(benchmark, net, n, dtype, impl, threads):
    problem = _problem(net, n, dtype)
    hp = problem.hp
    _record(benchmark, "policy_step", problem, impl, threads)
    if impl == "fasttrpo":
        policy = problem.model.policy

        def step():
            return trpo_step(policy, problem.obs, problem.policy_actions,
                             problem.norm_advantages, problem.log_prob, max_kl=hp["target_kl"],
                             cg_max_steps=hp["cg_max_steps"], cg_damping=hp["cg_damping"])

        run_timed(benchmark, step, setup=problem.fasttrpo_reset)
        problem.fasttrpo_reset()
        info = vars(step())
    else:
        require_torch()
        with torch_threads(threads):
            ref, t = problem.torch_reference(TORCH_IMPLS[impl])

            def step():
                return ref.policy_step(t["theta_pi"], t["obs"], t["actions"],
                                       t["norm_advantages"], t["old_log_prob"])[1]

            info = vars(run_timed(benchmark, step) or step())
    benchmark.extra_info.update(cg_iterations=info["cg_iterations"],
                                line_search_steps=info["line_search_steps"])
    _check_same_work(info, problem)


@pytest.mark.parametrize(("net", "n", "dtype", "impl", "threads"), _params("value_fit"))
def test_value_fit(benchmark, net, n, dtype, impl, threads):
    problem = _problem(net, n, dtype)
    _record(benchmark, "value_fit", problem, impl, threads)
    if impl == "fasttrpo":
        fitter = problem.model.vf_fitter
        rng = np.random.default_rng(0)
        run_timed(benchmark, lambda: fitter.fit(problem.obs, problem.returns, rng),
                  setup=problem.fasttrpo_reset)
        return
    require_torch()
    with torch_threads(threads):
        ref, t = problem.torch_reference(TORCH_IMPLS[impl])
        run_timed(benchmark, lambda: ref.value_fit(t["obs"], t["returns"]),
                  setup=lambda: ref.set_value_params(t["theta_v"]))


@pytest.mark.parametrize(("net", "n", "dtype", "impl", "threads"), _params("update"))
def test_update(benchmark, net, n, dtype, impl, threads):
    problem = _problem(net, n, dtype)
    _record(benchmark, "update", problem, impl, threads)
    if impl == "fasttrpo":
        model = problem.model
        run_timed(benchmark, lambda: model.train(problem.buffer), setup=problem.fasttrpo_reset)
        return
    if impl == "sb3-contrib":
        require_sb3()
        with torch_threads(threads):
            model, reset = _sb3(problem)
            run_timed(benchmark, model.train, setup=reset)
        return
    require_torch()
    with torch_threads(threads):
        ref, t = problem.torch_reference(TORCH_IMPLS[impl])

        def update():
            return ref.update(t["theta_pi"], t["obs"], t["actions"], t["advantages"],
                              t["returns"], t["old_log_prob"])

        run_timed(benchmark, update, setup=lambda: ref.set_value_params(t["theta_v"]))
        ref.set_value_params(t["theta_v"])
        info = vars(update()[1])
    benchmark.extra_info.update(cg_iterations=info["cg_iterations"],
                                line_search_steps=info["line_search_steps"])
    _check_same_work(info, problem)
