"""Issue 29's end-to-end goals, side by side in one process: fasttrpo against sb3-contrib.

CartPole-v1 and Pendulum-v1 zoo runs (1e5 steps, ``hyperparams/trpo.yml``, `benchmarks.e2e`)
per seed, interleaved so that the machine's load falls on every configuration alike:

- fasttrpo with gymnasium envs, ``n_threads=1`` and ``n_threads=2`` (the critic fit beside the
  policy step and the next rollout);
- fasttrpo ``compiled=True`` (CartPole), ``n_threads=1`` and ``2``;
- sb3-contrib (torch on one thread; Pendulum with the zoo's gSDE and without).

fasttrpo trains with no callback (as a user without one: no per-step hook, the critic fit
free to run on into the next rollout); sb3-contrib with the curve callback of `benchmarks.e2e`
(a few microseconds a rollout).

Prints the medians and the ratios next to the goals (>= 8x sb3-contrib with gymnasium envs,
>= 15x compiled, 2 threads >= 1.3x 1 thread with gymnasium envs, compiled CartPole with 2
threads <= 1 s) and writes ``benchmarks/results/throughput_goals.json``::

    python -m benchmarks.throughput_goals --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from benchmarks import e2e
from benchmarks.cpu import cpu_model

RESULTS = Path(__file__).resolve().parent / "results" / "throughput_goals.json"




def configurations() -> list[tuple[str, str, dict]]:
    """``(name, env id, how to run it)`` of every measured configuration."""
    return [
        ("CartPole fasttrpo gym 1 thread", "CartPole-v1", {"overrides": {"n_threads": 1}}),
        ("CartPole fasttrpo gym 2 threads", "CartPole-v1", {"overrides": {"n_threads": 2}}),
        ("CartPole fasttrpo compiled 1 thread", "CartPole-v1",
         {"compiled": True, "overrides": {"n_threads": 1}}),
        ("CartPole fasttrpo compiled 2 threads", "CartPole-v1",
         {"compiled": True, "overrides": {"n_threads": 2}}),
        ("CartPole sb3-contrib", "CartPole-v1", {"sb3": True}),
        ("Pendulum fasttrpo gym 1 thread", "Pendulum-v1", {"overrides": {"n_threads": 1}}),
        ("Pendulum fasttrpo gym 2 threads", "Pendulum-v1", {"overrides": {"n_threads": 2}}),
        ("Pendulum sb3-contrib gSDE", "Pendulum-v1", {"sb3": True}),
        ("Pendulum sb3-contrib no-gSDE", "Pendulum-v1", {"sb3": True, "use_sde": False}),
    ]


def run(seeds: list[int]) -> dict:
    """Every configuration for every seed, seed-major; returns the record."""
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in configurations()}
    load = [os.getloadavg()[0]]
    for seed in seeds:
        for name, env_id, how in configurations():
            how = dict(how)
            if how.pop("sb3", False):
                result = e2e.run_sb3(env_id, seed, evaluation=False, **how)
            else:
                result = e2e.run_fasttrpo(env_id, seed, evaluation=False, curve=False, **how)
            runs[name].append({"seed": seed, "learn_s": result["learn_s"]})
            print(f"{name} seed {seed}: {result['learn_s']:.2f} s", flush=True)
        load.append(os.getloadavg()[0])
    return {"cpu": cpu_model(), "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset"),
            "load_1min": load, "seeds": seeds, "runs": runs}


def report(record: dict) -> str:
    """Markdown: medians per configuration and the goals' ratios."""
    med = {name: statistics.median(r["learn_s"] for r in rows)
           for name, rows in record["runs"].items() if rows}
    lines = ["| configuration | learn() median s | per seed |", "|---|---|---|"]
    for name, rows in record["runs"].items():
        lines.append(f"| {name} | {med[name]:.2f} | "
                     + ", ".join(f"{r['learn_s']:.2f}" for r in rows) + " |")
    goals = [
        ("CartPole gym vs sb3-contrib (>= 8x)",
         med["CartPole sb3-contrib"] / med["CartPole fasttrpo gym 1 thread"]),
        ("Pendulum gym vs sb3-contrib gSDE (>= 8x)",
         med["Pendulum sb3-contrib gSDE"] / med["Pendulum fasttrpo gym 1 thread"]),
        ("CartPole compiled vs sb3-contrib (>= 15x)",
         med["CartPole sb3-contrib"] / med["CartPole fasttrpo compiled 1 thread"]),
        ("CartPole gym, 2 threads vs 1 (>= 1.3x)",
         med["CartPole fasttrpo gym 1 thread"] / med["CartPole fasttrpo gym 2 threads"]),
        ("Pendulum gym, 2 threads vs 1 (>= 1.3x)",
         med["Pendulum fasttrpo gym 1 thread"] / med["Pendulum fasttrpo gym 2 threads"]),
    ]
    lines += ["", "| goal | ratio of medians |", "|---|---|"]
    lines += [f"| {goal} | {ratio:.2f}x |" for goal, ratio in goals]
    lines.append(f"| compiled CartPole, 2 threads (<= 1 s) | "
                 f"{med['CartPole fasttrpo compiled 2 threads']:.2f} s |")
    lines.append(f"\nCPU: {record['cpu']}, OPENBLAS_CORETYPE {record['openblas_coretype']}; "
                 f"1-minute load before and after each seed: "
                 + ", ".join(f"{x:.1f}" for x in record["load_1min"]))
    return "\n".join(lines)


def main() -> None:
    """Command line: run the seeds, write the JSON, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.report_only:
        record = json.loads(RESULTS.read_text())
    else:
        for env_id in ("CartPole-v1", "Pendulum-v1"):  # compile and import outside the timing
            e2e.run_fasttrpo(env_id, 99, timesteps=2048, evaluation=False)
            e2e.run_fasttrpo(env_id, 99, timesteps=2048, evaluation=False,
                             overrides={"n_threads": 2})
        e2e.run_fasttrpo("CartPole-v1", 99, timesteps=2048, evaluation=False, compiled=True,
                         overrides={"n_threads": 2})
        record = run(args.seeds)
        RESULTS.write_text(json.dumps(record, indent=1))
    print(report(record))


if __name__ == "__main__":
    main()
