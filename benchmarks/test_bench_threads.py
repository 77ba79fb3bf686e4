"""Every core (issue 12): the update and zoo runs with ``n_threads`` 1 and 2, side by side.

- ``test_update``: one full update (``model.train`` on a fixed batch: GAE, the policy step,
  the critic fit) of the headline Gaussian 11-64-64-3 policy, float32, at N = 2048 and 16384
  rows (`benchmarks.harness.UpdateProblem`): fasttrpo with 1 and 2 threads (2: the critic fit
  on a worker thread while the policy step runs; the step's Fisher-vector products get the
  threads the critic leaves, none here) and the PyTorch reference (double-backprop FVP) with
  1 and 2 torch threads. Run the torch cases in a process of their own (``-k torch``): after
  Numba's OpenMP threads have run (``test_cg_crossover``) they spin and slow torch's.
- ``test_cg_crossover``: 15 CG iterations at N = 256 .. 16384, serial against the row blocks
  on 2 threads: where `fasttrpo.foundation.threads.PARALLEL_MIN_ROWS` should lie.
- ``test_policy_step``: one TRPO policy step (linearisation forward, surrogate gradient, 15
  CG iterations, line search) at N = 2048 and 16384, serial against the row blocks on 2
  threads (what the step gets from ``n_threads = 3``).
- ``test_zoo_run``: CartPole-v1 and Pendulum-v1, 1e5 steps with the zoo hyperparameters
  (``compiled=True``), 1 and 2 threads; the final parameters must be identical.

A second thread only pays when the other core is free: read the figures with the load
average recorded in ``extra_info``. Run: ``python -m pytest benchmarks/test_bench_threads.py
--benchmark-only``.
"""

import os

import numpy as np
import pytest

from benchmarks import _config
from benchmarks.harness import UpdateProblem, require_torch, run_timed
from fasttrpo import TRPO
from fasttrpo.foundation.threads import limit_threads, use_threads
from fasttrpo.models import linearization as linearization_module

_final_params: dict = {}
#: the implementations of ``test_update``: (name, threads)
_UPDATE_IMPLS = (("fasttrpo", 1), ("fasttrpo", 2), ("torch-dbp", 1), ("torch-dbp", 2))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _update_cases():
    sizes = (256,) if _config.MODE == "smoke" else (2048, 16384)
    return [pytest.param(n, impl, t, id=f"N{n}-{impl}-t{t}")
            for n in sizes for impl, t in _UPDATE_IMPLS]


@pytest.mark.parametrize(("n_rows", "impl", "n_threads"), _update_cases())
def test_update(benchmark, n_rows, impl, n_threads):
    benchmark.group = f"threads: update 11-64-64-3 float32 N={n_rows}"
    benchmark.extra_info.update(suite="threads", n_rows=n_rows, impl=impl, n_threads=n_threads,
                                load=_load())
    if impl.startswith("torch"):
        torch = require_torch()
        problem = UpdateProblem(_config.HEADLINE, n_rows, "float32")
        previous = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            ref, t = problem.torch_reference("double_backprop")
            run_timed(benchmark, lambda: ref.update(
                t["theta_pi"], t["obs"], t["actions"], t["advantages"], t["returns"],
                t["old_log_prob"]), setup=lambda: ref.set_value_params(t["theta_v"]))
        finally:
            torch.set_num_threads(previous)
        return
    problem = UpdateProblem(_config.HEADLINE, n_rows, "float32", n_threads=n_threads)
    model = problem.model
    with limit_threads(1):  # as learn: BLAS on one thread, n_threads the workers
        run_timed(benchmark, lambda: model.train(problem.buffer), setup=problem.fasttrpo_reset)


def _crossover_cases():
    sizes = (512,) if _config.MODE == "smoke" else (256, 512, 1024, 2048, 4096, 16384)
    return [pytest.param(n, t, id=f"N{n}-t{t}") for n in sizes for t in (1, 2)]


@pytest.mark.parametrize(("n_rows", "n_threads"), _crossover_cases())
def test_cg_crossover(benchmark, monkeypatch, n_rows, n_threads):
    # threads=2: always the row blocks
    monkeypatch.setattr(linearization_module, "PARALLEL_MIN_ROWS", 0)
    problem = UpdateProblem(_config.HEADLINE, n_rows, "float32")
    policy = problem.model.policy
    linearization = policy.linearize(problem.obs)
    _, grad = linearization.surrogate_grad(problem.policy_actions, problem.norm_advantages,
                                           problem.log_prob)
    benchmark.group = f"threads: 15 CG iterations 11-64-64-3 float32 N={n_rows}"
    benchmark.extra_info.update(suite="threads", n_rows=n_rows, n_threads=n_threads,
                                load=_load())

    def solve():
        with use_threads(n_threads):
            return linearization.conjugate_gradient(grad, 0.1, 15, 0.0)

    with limit_threads(1):
        solve()  # compilation
        run_timed(benchmark, solve)


def _step_cases():
    sizes = (512,) if _config.MODE == "smoke" else (2048, 16384)
    return [pytest.param(n, t, id=f"N{n}-t{t}") for n in sizes for t in (1, 2)]


@pytest.mark.parametrize(("n_rows", "n_threads"), _step_cases())
def test_policy_step(benchmark, n_rows, n_threads):
    from fasttrpo.steps.trpo import trpo_step

    problem = UpdateProblem(_config.HEADLINE, n_rows, "float32")
    policy = problem.model.policy
    benchmark.group = f"threads: policy step 11-64-64-3 float32 N={n_rows}"
    benchmark.extra_info.update(suite="threads", n_rows=n_rows, n_threads=n_threads,
                                load=_load())

    def step():
        with use_threads(n_threads):
            return trpo_step(policy, problem.obs, problem.policy_actions,
                             problem.norm_advantages, problem.log_prob, cg_max_steps=15)

    with limit_threads(1):
        step()  # compilation
        run_timed(benchmark, step, setup=lambda: policy.set_params(problem.theta_pi))


ZOO = {"CartPole-v1": dict(n_envs=2, n_steps=512, batch_size=512, gae_lambda=0.98,
                           cg_damping=1e-3, n_critic_updates=20),
       "Pendulum-v1": dict(n_envs=2, n_steps=1024, gamma=0.9, n_critic_updates=15)}


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("env_id", list(ZOO))
def test_zoo_run(benchmark, env_id, n_threads):
    steps = 2048 if _config.MODE == "smoke" else 100_000

    def run():
        model = TRPO("MlpPolicy", env_id, seed=0, compiled=True, n_threads=n_threads,
                     **ZOO[env_id])
        model.learn(steps)
        return model.policy.get_params()

    run()  # warm-up: compilation
    benchmark.group = f"zoo {env_id} 1e5 compiled"
    benchmark.extra_info.update(suite="threads", env_id=env_id, n_threads=n_threads,
                                load=_load())
    params = benchmark.pedantic(run, rounds=1 if _config.MODE == "smoke" else 3, iterations=1)
    _final_params[(env_id, n_threads)] = params
    other = _final_params.get((env_id, 3 - n_threads))
    if other is not None:  # the same seed gives the same parameters with 1 and 2 threads
        np.testing.assert_array_equal(params, other)
