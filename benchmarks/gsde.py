"""gSDE learning check (issue 14, item 1); on demand, not in CI.

fasttrpo with the zoo's gSDE entries of ``hyperparams/trpo.yml`` (``use_sde: True``,
``sde_sample_freq: 4``), fasttrpo without gSDE (the same entries less those two keys) and,
when installed, sb3-contrib with gSDE, on Pendulum-v1 (1e5 steps) and
MountainCarContinuous-v0 (5e4 steps), 3 seeds each, one thread; each final policy evaluated
deterministically on 10 episodes (``benchmarks.e2e.evaluate``: env seeds 10000..10009).

Usage::

    python -m benchmarks.gsde                       # every library, seeds 0,1,2
    python -m benchmarks.gsde --libs fasttrpo-gsde fasttrpo --seeds 0,1,2

Appends one JSON line per run to ``benchmarks/results/gsde.jsonl`` (runs already there are
skipped) and prints the table of mean evaluation returns.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import e2e

RESULTS = Path(__file__).resolve().parent / "results" / "gsde.jsonl"
TASKS = {"Pendulum-v1": 100_000, "MountainCarContinuous-v0": 50_000}
LIBS = ("fasttrpo-gsde", "fasttrpo", "sb3-gsde")


def run(lib: str, task: str, seed: int) -> dict:
    """Train ``lib`` on ``task`` with the zoo entry and ``seed``; the record of one run."""
    steps = TASKS[task]
    with threadpool_limits(1):
        if lib == "sb3-gsde":
            result = e2e.run_sb3(task, seed, steps)
        else:
            result = e2e.run_fasttrpo(task, seed, steps, use_sde=lib == "fasttrpo-gsde")
    return {"lib": lib, "task": task, "seed": seed, "timesteps": result["timesteps"],
            "learn_s": result["learn_s"], "eval_returns": result["eval_returns"],
            "eval_mean": result["eval_mean"], "hyperparams": {
                k: v for k, v in result["hyperparams"].items() if k != "policy_kwargs"},
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def table(records: list[dict]) -> str:
    """Markdown table: per task and library, the evaluation mean per seed and their mean."""
    lines = ["| task | library | seeds | eval mean per seed | mean | learn() s |",
             "|---|---|---|---|---|---|"]
    for task in TASKS:
        for lib in LIBS:
            rows = sorted((r for r in records if r["task"] == task and r["lib"] == lib),
                          key=lambda r: r["seed"])
            if not rows:
                continue
            scores = [r["eval_mean"] for r in rows]
            lines.append(f"| {task} | {lib} | {len(rows)} | "
                         f"{', '.join(f'{s:.1f}' for s in scores)} | {np.mean(scores):.1f} | "
                         f"{np.median([r['learn_s'] for r in rows]):.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gsde",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--libs", nargs="+", default=list(LIBS), choices=LIBS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    records = ([json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
               if RESULTS.exists() else [])
    done = {(r["lib"], r["task"], r["seed"]) for r in records}
    warnings.filterwarnings("ignore")
    for task in args.tasks:
        for lib in args.libs:
            for seed in seeds:
                if (lib, task, seed) in done:
                    continue
                record = run(lib, task, seed)
                records.append(record)
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                with RESULTS.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(f"{lib} {task} seed {seed}: eval {record['eval_mean']:.1f} "
                      f"({record['learn_s']:.1f} s)", flush=True)
    print(table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
