"""A/B of two revisions of fasttrpo: cold Numba compile and the policy step, in alternation.

Usage::

    python -m benchmarks.ab_revisions --old 4a17780 --rounds 5 --cpus 0

The old revision is checked out into a temporary worktree and built in place; each round runs,
for the old then the new tree (this working tree), one cold start (a fresh ``NUMBA_CACHE_DIR``:
``import fasttrpo``, a float32 TRPO learn on CartPole with 1 and with 2 threads, so the serial
and parallel kernels compile) and one timing of ``trpo_step`` (11-64-64-3 Gaussian, float32,
2048 rows, 15 CG iterations, one line-search candidate; median of 40 calls) on 1 and 2
threads. Alternating the trees spreads a shared machine's load over both. Prints the medians
over rounds and their ratios (new / old) as JSON; used for BENCHMARKS.md "Start-up".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

COLD = """
import time
t0 = time.perf_counter()
from fasttrpo import TRPO
for threads in (1, 2):
    TRPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=128, n_envs=2, seed=0,
         n_threads=threads).learn(512)
print(time.perf_counter() - t0)
"""

STEP = """
import time
import numpy as np
import fasttrpo
try:
    from fasttrpo.foundation.threads import use_threads
    from fasttrpo.steps.trpo import trpo_step
except ImportError:  # revisions before the layer folders (issue 23)
    from fasttrpo._threads import use_threads
    from fasttrpo.trpo_step import trpo_step
pi = fasttrpo.GaussianMLPPolicy(11, 3, hidden_sizes=(64, 64), dtype=np.float32, seed=0)
rng = np.random.default_rng(0)
obs = rng.normal(size=(2048, 11)).astype(np.float32)
actions = (pi.forward(obs) + rng.normal(size=(2048, 3))).astype(np.float32)
advantages = rng.normal(size=2048).astype(np.float32)
logp = pi.log_prob(obs, actions)
start = pi.get_params()
out = []
for threads in (1, 2):
    times = []
    with use_threads(threads):
        for i in range(45):
            pi.set_params(start)
            t0 = time.perf_counter()
            trpo_step(pi, obs, actions, advantages, logp, cg_max_steps=15, line_search_max_iter=1)
            if i >= 5:
                times.append(time.perf_counter() - t0)
    out.append(float(np.median(times)))
print(*out)
"""


def _run(tree: Path, code: str, cache: str, cpus: str | None = None) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(tree), NUMBA_CACHE_DIR=cache)
    pin = ["taskset", "-c", cpus] if cpus else []
    out = subprocess.run([*pin, sys.executable, "-c", code], cwd=tree, env=env, check=True,
                         capture_output=True, text=True)
    return [float(x) for x in out.stdout.split()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", help="run every process on these CPUs (taskset -c), e.g. 0 "
                        "while another job holds the other core")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.old], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                           cwd=old, check=True, capture_output=True)
            results: dict[str, list] = {"old": [], "new": []}
            for round_ in range(args.rounds):
                for name, tree in (("old", old), ("new", ROOT)):
                    cache = tempfile.mkdtemp(dir=tmp)
                    cold = _run(tree, COLD, cache, args.cpus)[0]
                    step = _run(tree, STEP, cache, args.cpus)
                    results[name].append([cold, *step])
                    print(name, round_, results[name][-1], file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                           capture_output=True)
    medians = {name: np.median(np.array(rows), axis=0).tolist() for name, rows in
               results.items()}
    keys = ("cold_compile_s", "policy_step_1_thread_s", "policy_step_2_threads_s")
    report = {name: dict(zip(keys, values)) for name, values in medians.items()}
    report["new_over_old"] = {k: medians["new"][i] / medians["old"][i] for i, k in
                              enumerate(keys)}
    report["old_revision"], report["rounds"], report["cpus"] = args.old, args.rounds, args.cpus
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
