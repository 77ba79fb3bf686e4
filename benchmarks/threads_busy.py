"""Does a second thread pay when the other core is busy? ``n_threads`` 1 against 2.

Usage::

    python -m benchmarks.threads_busy [--rounds R] [--cpus 0,1] [--rows N]

Times one full update (``model.train`` on a fixed batch: the headline Gaussian 11-64-64-3
policy, float32, ``--rows`` rows; `benchmarks.harness.UpdateProblem`) with ``n_threads`` 1
and 2, in alternation, on the CPUs ``--cpus`` (taskset), in three conditions of the second
CPU: as it is (``idle``: whatever else runs there), a busy-loop process at normal priority
pinned to it (``busy``: another job), and the same at nice 19 (``niced``: a background job,
which the kernel scheduler makes yield). Prints the median update time of each round and
condition and the ratio 1 thread / 2 threads (above 1: the second thread pays); used for the
rule of `fasttrpo.foundation.threads.default_n_threads` (BENCHMARKS.md, "Threads").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
import numpy as np
from benchmarks import _config
from benchmarks.harness import UpdateProblem
from fasttrpo.foundation.threads import limit_threads
out = {}
for n_threads in (1, 2):
    problem = UpdateProblem(_config.HEADLINE, ROWS, "float32", n_threads=n_threads)
    times = []
    with limit_threads(1):  # as learn: BLAS on one thread
        for i in range(25):
            problem.fasttrpo_reset()
            t0 = time.perf_counter()
            problem.model.train(problem.buffer)
            if i >= 5:
                times.append(time.perf_counter() - t0)
    out[n_threads] = float(np.median(times))
print("THREADS " + json.dumps(out))
"""

SPIN = "while True: pass"


def measure(cpus: str, rows: int) -> dict:
    """Median update seconds with 1 and 2 threads, in a fresh process on ``cpus``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(["taskset", "-c", cpus, sys.executable, "-c",
                          CHILD.replace("ROWS", str(rows))],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("THREADS ")][-1]
    return {int(k): v for k, v in json.loads(line.removeprefix("THREADS ")).items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", default="0,1", help="two CPUs; the second gets the spinner")
    parser.add_argument("--rows", type=int, default=2048)
    args = parser.parse_args(argv)
    other = args.cpus.split(",")[1]
    results: dict[str, list] = {"idle": [], "busy": [], "niced": []}
    for round_ in range(args.rounds):
        for condition in results:
            spinner = None
            if condition != "idle":
                nice = ["nice", "-n", "19"] if condition == "niced" else []
                spinner = subprocess.Popen([*nice, "taskset", "-c", other, sys.executable,
                                            "-c", SPIN])
                time.sleep(0.5)
            try:
                load = os.getloadavg()[0]
                times = measure(args.cpus, args.rows)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            results[condition].append(times)
            print(f"round {round_} {condition}: 1 thread {times[1] * 1e3:.1f} ms, 2 threads "
                  f"{times[2] * 1e3:.1f} ms, ratio {times[1] / times[2]:.2f}, load {load:.2f}",
                  file=sys.stderr)
    summary = {}
    for condition, rows in results.items():
        one = float(np.median([r[1] for r in rows]))
        two = float(np.median([r[2] for r in rows]))
        summary[condition] = {"1_thread_ms": one * 1e3, "2_threads_ms": two * 1e3,
                              "ratio": float(np.median([r[1] / r[2] for r in rows]))}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
