"""Many seeds with ``compiled=True``: train seed after seed, one process, one core.

Usage::

    python -m benchmarks.compiled_seeds                     # CartPole-v1, seeds 0..9, 1e5 steps
    python -m benchmarks.compiled_seeds --env Acrobot-v1 --seeds 5

Each seed is ``TRPO("MlpPolicy", env, compiled=True, seed=s, **zoo hyperparameters)``, built,
trained with ``learn()`` and evaluated (10 deterministic episodes on gymnasium's env, as
``benchmarks.e2e``), one after another; a short warm-up run first loads the Numba cache. The
total is the wall time of the whole loop (construction, learn and evaluation of every seed).
Writes ``benchmarks/results/compiled_seeds.json`` and the learning curves of all seeds (mean
return of the training episodes that ended in each rollout, against steps) in
``benchmarks/results/compiled_seeds.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import compiled, e2e

RESULTS = Path(__file__).resolve().parent / "results"


def run(env_id: str = "CartPole-v1", seeds=tuple(range(10)), timesteps: int | None = None,
        n_steps: int | None = None, json_path: Path | None = RESULTS / "compiled_seeds.json",
        png_path: Path | None = RESULTS / "compiled_seeds.png", verbose: bool = False) -> dict:
    """Train ``seeds`` one after another; returns (and saves) the runs and the totals."""
    with threadpool_limits(1):
        start_machine = compiled.machine()
        # warm-up: Numba cache loads and first calls, outside the total
        e2e.run_fasttrpo(env_id, 0, 256, 64, compiled=True, evaluation=False)
        runs = []
        t0 = time.perf_counter()
        for seed in seeds:
            result = e2e.run_fasttrpo(env_id, seed, timesteps, n_steps, compiled=True)
            runs.append({"seed": seed, **{k: result[k] for k in (
                "learn_s", "setup_s", "eval_s", "rollout_s", "update_s", "timesteps",
                "eval_mean", "eval_returns", "curve")}})
            if verbose:
                print(f"seed {seed}: learn {result['learn_s']:.2f} s, eval "
                      f"{result['eval_mean']:.1f}", flush=True)
        total_s = time.perf_counter() - t0
    out = {"env_id": env_id, "seeds": list(seeds), "timesteps": runs[0]["timesteps"],
           "total_s": total_s, "learn_total_s": float(sum(r["learn_s"] for r in runs)),
           "machine": start_machine, "machine_end": compiled.machine(),
           "command": "python -m benchmarks.compiled_seeds" + (
               f" --env {env_id}" if env_id != "CartPole-v1" else "")
           + (f" --seeds {len(seeds)}" if len(seeds) != 10 else ""), "runs": runs}
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(out, indent=1))
    if png_path is not None:
        plot(out, Path(png_path))
    return out


def plot(out: dict, path: Path) -> None:
    """Learning curves of every seed in one figure, with the median over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    cmap = plt.get_cmap("tab10")
    grid, stacked = None, []
    for i, run_ in enumerate(out["runs"]):
        points = [(p["timesteps"], p["rollout_mean"]) for p in run_["curve"]
                  if p.get("rollout_mean") is not None]
        if not points:
            continue
        steps, returns = map(np.asarray, zip(*points, strict=True))
        ax.plot(steps, returns, color=cmap(i % 10), lw=1.0, alpha=0.75,
                label=f"seed {run_['seed']} (eval {run_['eval_mean']:.0f})")
        grid = steps if grid is None else grid
        stacked.append(np.interp(grid, steps, returns))
    if len(stacked) > 1:
        ax.plot(grid, np.median(stacked, axis=0), color="black", lw=2.2, label="median")
    m, m_end = out["machine"], out["machine_end"]
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return of the episodes ended in the rollout")
    ax.set_title(f"{out['env_id']}, TRPO compiled=True, {len(out['runs'])} seeds one after "
                 f"another: {out['total_s']:.1f} s in all ({out['learn_total_s']:.1f} s learn)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.text(0.01, 0.01, compiled.format_machine(m, m_end), fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compiled_seeds",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1", choices=compiled.ENV_IDS)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="steps per seed (default: the zoo's n_timesteps)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    out = run(args.env, tuple(range(args.seeds)), args.timesteps,
              png_path=None if args.no_plot else RESULTS / "compiled_seeds.png", verbose=True)
    scores = [r["eval_mean"] for r in out["runs"]]
    print(f"{out['env_id']}: {len(scores)} seeds in {out['total_s']:.1f} s "
          f"(learn {out['learn_total_s']:.1f} s); eval {scores}; "
          f"{compiled.format_machine(out['machine'], out['machine_end'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
