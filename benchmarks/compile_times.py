"""Numba compile time of a cold first run, per compiled entry point.

Usage::

    python -m benchmarks.compile_times [--run cli|learn] [--threads K] [--rounds R]
        [--cpus 0] [--baseline OTHER_TREE] [--json F]

Each round runs the scenario in a fresh interpreter on an empty ``NUMBA_CACHE_DIR`` (a
temporary folder) and records every Numba compilation of a fasttrpo function through Numba's
``numba:compile`` events, in CPU seconds of the compiling thread (``time.thread_time``: a
shared machine's load stretches wall times two- or threefold, CPU seconds far less): from its
start to its end (``inclusive``; a kernel's compile includes the compilation of the callees
it types for the first time) and outside nested fasttrpo compilations (``self``), with the
number of signatures compiled. Prints a table of medians over the rounds: entry points by
``self`` time; the total of the outermost compilations (CPU, and wall as
`fasttrpo.kernels.compile_seconds` counts it); the run's CPU and wall time from
``import fasttrpo``. ``--baseline`` runs another source tree of fasttrpo (its Cython
extensions built) in alternation with this one, for an A/B on a shared machine. ``--json``
writes every round.

Scenarios (float32, the first run a user makes):

- ``cli``: ``fasttrpo train CartPole-v1`` (rl-baselines3-zoo hyperparameters, the README's
  first command), cut to 2048 steps;
- ``learn``: ``TRPO("MlpPolicy", "CartPole-v1").learn(...)`` with sb3-contrib's defaults, 2
  rollouts.

``--threads K`` passes ``n_threads=K`` (K >= 2 compiles the parallel variants too).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# runs in the child: records (name, signature, inclusive, self) per compilation, prints JSON
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
clock = time.thread_time  # CPU seconds of this thread: little disturbed by other processes
from numba.core import event

records, stack = [], []

class Timer(event.Listener):
    def on_start(self, ev):
        func = ev.data["dispatcher"].py_func
        if not (func.__module__ or "").startswith("fasttrpo."):
            return
        now = clock()
        if stack:
            stack[-1][3] += now - stack[-1][2]  # the parent's own time so far
        name = f"{func.__module__.removeprefix('fasttrpo.')}.{func.__qualname__}"
        stack.append([name, str(ev.data["args"]), now, 0.0, now])

    def on_end(self, ev):
        func = ev.data["dispatcher"].py_func
        if not (func.__module__ or "").startswith("fasttrpo.") or not stack:
            return
        now = clock()
        name, sig, resumed, own, started = stack.pop()
        records.append((name, sig, now - started, own + now - resumed, len(stack)))
        if stack:
            stack[-1][2] = now

event.register("numba:compile", Timer())
import fasttrpo
from fasttrpo.kernels import compile_seconds
RUN
total_cpu = sum(r[2] for r in records if r[4] == 0)
print("COMPILE_TIMES " + json.dumps(dict(records=records, total=total_cpu,
                                         total_wall=compile_seconds(),
                                         cpu=time.process_time(), wall=time.perf_counter() - t0)))
"""

RUNS = {
    "cli": (
        "import sys\n"
        "from fasttrpo.cli import main\n"
        "sys.argv = ['fasttrpo', 'train', 'CartPole-v1', '--seed', '0', '-n', '2048', "
        "'--eval-episodes', '1'{threads}]\n"
        "main(sys.argv[1:])\n"),
    "learn": (
        "from fasttrpo import TRPO\n"
        "TRPO('MlpPolicy', 'CartPole-v1', n_steps=512, seed=0{threads}).learn(1024)\n"),
}


def one_round(run: str, threads: int | None, cpus: str | None, tree: Path = ROOT) -> dict:
    """Run the scenario once on an empty cache with fasttrpo from ``tree``; return its records
    and times."""
    if run == "cli":
        extra = f", '--num-threads', '{threads}'" if threads else ""
    else:
        extra = f", n_threads={threads}" if threads else ""
    code = CHILD.replace("RUN", RUNS[run].format(threads=extra))
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as cwd:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
        env.update(NUMBA_CACHE_DIR=cache,
                   PYTHONPATH=os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]))
        pin = ["taskset", "-c", cpus] if cpus else []
        out = subprocess.run([*pin, sys.executable, "-c", code], cwd=cwd, env=env,
                             capture_output=True, text=True, check=False)
    line = [x for x in out.stdout.splitlines() if x.startswith("COMPILE_TIMES ")]
    if out.returncode or not line:
        raise RuntimeError(f"the {run} run failed:\n{out.stderr[-3000:]}")
    return json.loads(line[-1].removeprefix("COMPILE_TIMES "))


def table(rounds: list[dict]) -> str:
    """Markdown table of the medians over ``rounds`` (per entry point, then the totals)."""
    per_round = []
    for r in rounds:
        acc = defaultdict(lambda: [0.0, 0.0, 0, 0])  # self, outermost inclusive, n sigs, outer
        for name, _sig, inclusive, own, depth in r["records"]:
            acc[name][0] += own
            acc[name][2] += 1
            if depth == 0:
                acc[name][1] += inclusive
                acc[name][3] += 1
        per_round.append(acc)
    names = sorted({n for acc in per_round for n in acc},
                   key=lambda n: -np.median([acc[n][0] if n in acc else 0 for acc in per_round]))
    lines = ["| entry point | signatures | self CPU s | as outermost CPU s |", "|---|---|---|---|"]
    for n in names:
        med = [float(np.median([acc[n][i] if n in acc else 0 for acc in per_round]))
               for i in range(3)]
        lines.append(f"| `{n}` | {med[2]:.0f} | {med[0]:.2f} | {med[1]:.2f} |")
    def median(key):
        return float(np.median([r[key] for r in rounds]))

    sigs = float(np.median([sum(a[2] for a in acc.values()) for acc in per_round]))
    lines.append(f"| **total** (outermost compilations), CPU s | {sigs:.0f} | "
                 f"{median('total'):.2f} | |")
    lines.append(f"| the same, wall s (`kernels.compile_seconds`) | | "
                 f"{median('total_wall'):.2f} | |")
    lines.append(f"| run from `import fasttrpo`: CPU s / wall s | | {median('cpu'):.2f} / "
                 f"{median('wall'):.2f} | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", choices=sorted(RUNS), default="cli")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", help="taskset -c CPUS for every run, e.g. 0")
    parser.add_argument("--json", help="write every round's records to this file")
    parser.add_argument("--baseline", type=Path, help="another source tree of fasttrpo (built "
                        "in place), run in alternation with this one: an A/B on a shared machine")
    args = parser.parse_args(argv)
    trees = {"this tree": ROOT, **({"baseline": args.baseline} if args.baseline else {})}
    rounds: dict[str, list] = {name: [] for name in trees}
    for i in range(args.rounds):
        for name, tree in trees.items():
            r = one_round(args.run, args.threads, args.cpus, tree)
            rounds[name].append(r)
            print(f"round {i} {name}: compile {r['total']:.2f} CPU s ({r['total_wall']:.2f} s "
                  f"wall), run {r['cpu']:.2f} CPU s ({r['wall']:.2f} s wall), load "
                  f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    for name in trees:
        print(f"\n{name} ({trees[name]}), medians of {args.rounds} rounds:\n")
        print(table(rounds[name]))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(vars(args), baseline=str(args.baseline),
                                                   rounds=rounds), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
