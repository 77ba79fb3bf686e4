"""Statistics of the many-seeds learning benchmark (``benchmarks/learning.py``), after rliable.

Per task and library, over the seeds: the mean, median and IQM (interquartile mean: the mean
of the middle 50 % of the sorted per-seed scores, ``scipy.stats.trim_mean(x, 0.25)``) of the
final evaluation (the mean return of 20 deterministic, and of 20 stochastic, episodes per
seed), each with a 95 % percentile-bootstrap confidence interval over seeds (10,000 resamples,
fixed seed), as recommended by Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice" (rliable). The estimators are written out here (no rliable dependency; no torch).

Usage::

    python -m benchmarks.learning_stats      # reads benchmarks/results/learning/<lib>/<task>/
                                             # writes learning_stats.{md,json} and the figures
    python -m benchmarks.learning_stats --root benchmarks/results/learning-1e6
                                             # another runs folder (learning.py --out); its
                                             # statistics and figures are written into it

Verdict per task: the two libraries' IQM intervals *overlap* (no difference shown with these
seeds), or are disjoint (*fasttrpo higher* / *fasttrpo lower*).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
LEARNING = RESULTS / "learning"
# "-nogsde": the zoo entry without its gSDE keys (``learning.py --no-sde``); fasttrpo's
# Pendulum-v1 / MountainCarContinuous-v0 runs from before it had gSDE
# TRPO's defaults before issue 16 (the joint KL, the undamped step length)
_OLD_DEFAULTS = "damped_step_length-False-kl_per_action_dim-False"
LIBS = ("fasttrpo", f"fasttrpo-{_OLD_DEFAULTS}", "fasttrpo-kl_per_action_dim-False",
        "fasttrpo-nogsde", f"fasttrpo-nogsde-{_OLD_DEFAULTS}", "sb3", "sb3-nogsde")
LIB_LABEL = {"fasttrpo": "fasttrpo",
             f"fasttrpo-{_OLD_DEFAULTS}": "fasttrpo joint KL, undamped (old defaults)",
             "fasttrpo-kl_per_action_dim-False": "fasttrpo joint KL, damped",
             "fasttrpo-nogsde": "fasttrpo no-gSDE",
             f"fasttrpo-nogsde-{_OLD_DEFAULTS}": "fasttrpo no-gSDE, old defaults",
             "sb3": "sb3-contrib", "sb3-nogsde": "sb3-contrib no-gSDE"}
REFERENCE = "sb3"  # the verdicts compare every other variant with it
# further variants (``learning.py --set key=value``: ``fasttrpo-<key>``) follow in name order


def ordered_libs(names) -> list[str]:
    """The variants present, the known ones first."""
    return [lib for lib in LIBS if lib in names] + sorted(set(names) - set(LIBS))


def label(lib: str) -> str:
    return LIB_LABEL.get(lib, lib.replace("fasttrpo-", "fasttrpo ").replace("-", " "))
TASK_ORDER = ("CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0",
              "MountainCarContinuous-v0", "LunarLander-v3", "LunarLanderContinuous-v3",
              "Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5")
# rl-baselines3-zoo benchmark.md, algo trpo: one deterministic run's mean evaluation return
# after the zoo's n_timesteps (gymnasium v2 Box2D / v3 MuJoCo ids there; 1e6 steps for MuJoCo,
# so the reduced 1e5-step MuJoCo runs are not expected to reach them).
ZOO_SCORES = {"CartPole-v1": 500.0, "Pendulum-v1": -174.631, "Acrobot-v1": -83.114,
              "MountainCar-v0": -107.278, "MountainCarContinuous-v0": 92.489,
              "LunarLander-v3": 133.166, "LunarLanderContinuous-v3": 262.387,
              "Hopper-v5": 3618.386, "HalfCheetah-v5": 1785.476, "Walker2d-v5": 4933.148,
              "Swimmer-v5": 365.663, "Ant-v5": 4982.301}
N_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95
STATS = ("mean", "median", "iqm")
MODES = ("det", "stoch")


# ---- estimators ----------------------------------------------------------------------------
def iqm(x, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: drop floor(n/4) values at each end, average the rest.

    Equal to ``scipy.stats.trim_mean(x, 0.25, axis)`` and rliable's ``aggregate_iqm``.
    """
    x = np.sort(np.asarray(x, dtype=float), axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


ESTIMATORS = {"mean": lambda x, axis=-1: np.mean(x, axis=axis),
              "median": lambda x, axis=-1: np.median(x, axis=axis),
              "iqm": iqm}


def bootstrap_ci(x, stat: str = "iqm", n_resamples: int = N_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``stat`` over the seeds ``x``.

    ``n_resamples`` samples of len(x) seeds drawn with replacement (numpy ``default_rng(seed)``,
    so the interval is reproducible), the statistic of each, and the (1-level)/2 and
    (1+level)/2 quantiles of those.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("bootstrap_ci: expected a non-empty 1-d array of per-seed scores")
    rng = np.random.default_rng(seed)
    resampled = x[rng.integers(0, x.size, size=(n_resamples, x.size))]
    values = ESTIMATORS[stat](resampled, axis=1)
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def summarize(x, **bootstrap) -> dict:
    """{stat: {"value", "ci"}} for the mean, median and IQM of the per-seed scores ``x``."""
    x = np.asarray(x, dtype=float)
    return {stat: {"value": float(ESTIMATORS[stat](x)), "ci": list(bootstrap_ci(x, stat,
                                                                             **bootstrap))}
            for stat in STATS}


def overlap_verdict(fast_ci, other_ci) -> str:
    """'overlap' when the intervals share a point, else 'fasttrpo higher' / 'fasttrpo lower'."""
    if fast_ci[0] > other_ci[1]:
        return "fasttrpo higher"
    if fast_ci[1] < other_ci[0]:
        return "fasttrpo lower"
    return "overlap"


def time_to_score(curve: list[dict], threshold: float):
    """(timesteps, wall s) of the first curve point whose mean of the last 10 training
    episodes reaches ``threshold`` (at least 10 episodes seen), or (None, None)."""
    for point in curve:
        value = point.get("mean_last10")
        if value is not None and point.get("episodes", 0) >= 10 and value >= threshold:
            return point["timesteps"], point["wall_s"]
    return None, None


# ---- the runs ------------------------------------------------------------------------------
def load_runs(root: Path = LEARNING) -> dict:
    """{task: {lib: [run, ...]}} of every ``<lib>/<task>/seed<k>.json`` under ``root``."""
    runs: dict = {}
    for path in sorted(Path(root).glob("*/*/seed*.json")):
        lib, task = path.parent.parent.name, path.parent.name
        runs.setdefault(task, {}).setdefault(lib, []).append(json.loads(path.read_text()))
    for by_lib in runs.values():
        for lib_runs in by_lib.values():
            lib_runs.sort(key=lambda run: run["seed"])
    return runs


def _task_key(task: str):
    return (TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER), task)


def compute(runs: dict, **bootstrap) -> dict:
    """Per task and library: seeds, steps, the summaries of both evaluations, learn time and
    time to the zoo score; per fasttrpo variant the IQM overlap verdicts against sb3-contrib
    (when both ran)."""
    out: dict = {}
    for task in sorted(runs, key=_task_key):
        entry: dict = {"zoo_score": ZOO_SCORES.get(task), "libs": {}}
        for lib in ordered_libs(runs[task]):
            lib_runs = runs[task][lib]
            row = {"seeds": [r["seed"] for r in lib_runs],
                   "steps": sorted({r["timesteps"] for r in lib_runs}),
                   "learn_s": [r["learn_s"] for r in lib_runs]}
            for mode in MODES:
                row[mode] = summarize([r["eval"][mode]["mean"] for r in lib_runs], **bootstrap)
                row[mode]["per_seed"] = [r["eval"][mode]["mean"] for r in lib_runs]
            if entry["zoo_score"] is not None:
                reached = [time_to_score(r["curve"], entry["zoo_score"]) for r in lib_runs]
                row["to_zoo_score"] = {"reached": sum(t is not None for t, _ in reached),
                                       "steps": [t for t, _ in reached if t is not None],
                                       "wall_s": [w for _, w in reached if w is not None]}
            entry["libs"][lib] = row
        reference = entry["libs"].get(REFERENCE)
        for lib, row in entry["libs"].items():
            if reference is not None and lib.startswith("fasttrpo"):
                row["verdict"] = {mode: overlap_verdict(row[mode]["iqm"]["ci"],
                                                        reference[mode]["iqm"]["ci"])
                                  for mode in MODES}
        out[task] = entry
    return out


# ---- report --------------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"


def _cell(summary: dict) -> str:
    lo, hi = summary["ci"]
    return f"{_num(summary['value'])} [{_num(lo)}, {_num(hi)}]"


def markdown_table(stats: dict) -> str:
    """The table of BENCHMARKS.md's "Learning quality (many seeds)" section."""
    head = ("| task | library | seeds | steps | det. mean [95% CI] | det. median [95% CI] | "
            "det. IQM [95% CI] | stoch. mean [95% CI] | stoch. median [95% CI] | "
            "stoch. IQM [95% CI] | IQM CIs vs sb3-contrib, det. / stoch. | learn s (median) | "
            "to zoo score: reached, wall s (median) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for task, entry in stats.items():
        for lib, row in entry["libs"].items():
            verdict = row.get("verdict")
            verdict_text = (f"{verdict['det']} / {verdict['stoch']}" if verdict
                            else "(reference)" if lib == REFERENCE else "—")
            steps = "/".join(f"{s:,}" for s in row["steps"])
            zoo = "—"
            if "to_zoo_score" in row:
                z = row["to_zoo_score"]
                zoo = f"{z['reached']}/{len(row['seeds'])}"
                if z["wall_s"]:
                    zoo += f", {np.median(z['wall_s']):.1f} s"
            cells = [task, label(lib), str(len(row["seeds"])), steps]
            cells += [_cell(row[mode][stat]) for mode in MODES for stat in STATS]
            cells += [verdict_text, f"{np.median(row['learn_s']):.1f}", zoo]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _band(curves: list, xkey: str, grid: np.ndarray):
    """Median and 25-75 % band over seeds of mean_last10, interpolated on ``grid``."""
    stacked = []
    for curve in curves:
        points = [(p[xkey], p["mean_last10"]) for p in curve
                  if p.get("mean_last10") is not None and p.get("episodes", 0) >= 1]
        if len(points) < 2:
            continue
        xs, ys = map(np.asarray, zip(*points, strict=True))
        row = np.interp(grid, xs, ys)
        row[(grid < xs[0]) | (grid > xs[-1])] = np.nan
        stacked.append(row)
    if not stacked:
        return None
    stacked = np.asarray(stacked)
    enough = np.sum(~np.isnan(stacked), axis=0) >= max(1, (len(stacked) + 1) // 2)
    with warnings.catch_warnings():  # all-NaN columns: masked below
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, q50, q75 = np.nanpercentile(stacked, [25, 50, 75], axis=0)
    q25[~enough] = q50[~enough] = q75[~enough] = np.nan
    return q25, q50, q75


def plot(runs: dict, stats: dict, path: Path, xkey: str = "timesteps",
         machine_line: str | None = None) -> None:
    """Per task: median and IQR band over seeds of the training return (mean of the last 10
    episodes) against ``xkey`` ("timesteps" or "wall_s"), both libraries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(stats)
    ncols = min(4, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows + 0.4), dpi=100,
                             squeeze=False)
    colors = {"fasttrpo": "tab:blue", f"fasttrpo-{_OLD_DEFAULTS}": "tab:gray",
              "fasttrpo-kl_per_action_dim-False": "tab:purple",
              "fasttrpo-nogsde": "tab:green", f"fasttrpo-nogsde-{_OLD_DEFAULTS}": "tab:olive",
              "sb3": "tab:orange", "sb3-nogsde": "tab:red"}
    for ax, task in zip(axes.flat, tasks, strict=False):
        top = max((p[xkey] for lib in runs[task].values() for r in lib for p in r["curve"]),
                  default=1.0)
        if xkey == "wall_s":  # log axis: from the earliest first point on
            first = min((r["curve"][0][xkey] for lib in runs[task].values() for r in lib
                         if r["curve"]), default=top / 100)
            grid = np.geomspace(max(first, 1e-3), top, 200)
        else:
            grid = np.linspace(0, top, 200)
        for k, lib in enumerate(ordered_libs(runs[task])):
            lib_runs = runs[task][lib]
            color = colors.get(lib, f"C{4 + k}")
            band = _band([r["curve"] for r in lib_runs], xkey, grid)
            if band is None:
                continue
            q25, q50, q75 = band
            iqm_det = stats[task]["libs"][lib]["det"]["iqm"]["value"]
            ax.plot(grid, q50, color=color, lw=1.6,
                    label=f"{label(lib)} ({len(lib_runs)} seeds; det. IQM {_num(iqm_det)})")
            ax.fill_between(grid, q25, q75, color=color, alpha=0.25, lw=0)
        zoo = ZOO_SCORES.get(task)
        reduced = any(r.get("steps_requested") for lib in runs[task].values() for r in lib)
        if zoo is not None and not reduced:  # the zoo's score is for its own budget
            ax.axhline(zoo, color="gray", ls=":", lw=1)
        ax.set_title(task + (" (reduced budget)" if reduced else ""), fontsize=10)
        ax.set_xlabel("environment steps" if xkey == "timesteps" else "wall seconds of learn()",
                      fontsize=8)
        if xkey == "wall_s":
            ax.set_xscale("log")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="best")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle("training return (last 10 episodes, stochastic policy):\nmedian and "
                 "25-75 % band over seeds; dotted: zoo score (at the zoo's budget)", fontsize=9)
    if machine_line:
        fig.text(0.01, 0.005, machine_line, fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.02, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def machine_line(runs: dict) -> str:
    """The machine lines of the runs (distinct nproc / CPU / OPENBLAS_CORETYPE; load range)."""
    machines = [r["machine"] for by_lib in runs.values() for lib in by_lib.values() for r in lib]
    if not machines:
        return ""
    kinds = sorted({(m["nproc"], m["cpu"], m["OPENBLAS_CORETYPE"]) for m in machines})
    loads = [m["loadavg"][0] for m in machines]
    return "; ".join(f"nproc {n}, {cpu}, OPENBLAS_CORETYPE={core}" for n, cpu, core in kinds) \
        + f"; 1-min load average at run start {min(loads):.2f}-{max(loads):.2f}"


#: the training-return checkpoints of the per-run table (fractions of the run's steps)
CHECKPOINTS = (0.1, 0.3, 0.5, 0.7, 1.0)


def _at(curve: list[dict], steps: float, key: str):
    """``key`` of the last curve point at or before ``steps`` (None without one)."""
    value = None
    for point in curve:
        if point["timesteps"] > steps:
            break
        value = point.get(key) if "." not in key else point.get("train", {}).get(
            key.split(".", 1)[1])
    return value


def _fmt(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def runs_table(runs: dict) -> str:
    """One row per run: evaluations, stoch/det, wall times, load, the training return at
    `CHECKPOINTS`, and (runs that recorded them) the policy's std and the update's KL at
    the same points: where a plateau or a wide policy shows."""
    lines = ["| task | library | seed | det. | stoch. | stoch/det | learn s | rollout s | "
             "update s | 1-min load | train ret. (last 10) at "
             + " / ".join(f"{c:g}" for c in CHECKPOINTS) + " of the steps | std at the same "
             "| KL / target at the same |", "|" + "---|" * 13]
    for task in sorted(runs, key=_task_key):
        for lib in ordered_libs(runs[task]):
            for run in runs[task][lib]:
                det, stoch = run["eval"]["det"]["mean"], run["eval"]["stoch"]["mean"]
                total = run["timesteps"]
                marks = [c * total for c in CHECKPOINTS]
                ret = " / ".join(_fmt(_at(run["curve"], m, "mean_last10")) for m in marks)
                std = " / ".join(_fmt(_at(run["curve"], m, "train.std"), 2) for m in marks)
                target = run.get("library_kwargs", {}).get("target_kl") or 0.01
                kl = " / ".join(
                    "-" if (v := _at(run["curve"], m, "train.kl_divergence_loss")) is None
                    else f"{v / target:.2f}" for m in marks)
                lines.append(
                    f"| {task} | {LIB_LABEL.get(lib, lib)} | {run['seed']} | {det:.0f} | "
                    f"{stoch:.0f} | {stoch / det if det else float('nan'):.2f} | "
                    f"{run['learn_s']:.0f} | {_fmt(run.get('rollout_s'))} | "
                    f"{_fmt(run.get('update_s'))} | {run['machine']['loadavg'][0]:.2f} | "
                    f"{ret} | {std} | {kl} |")
    return "\n".join(lines) + "\n"


def write_report(root: Path = LEARNING, out_dir: Path = RESULTS, figures: bool = True) -> str:
    """Write ``learning_stats.md`` / ``.json`` and the figures; return the markdown."""
    runs = load_runs(root)
    stats = compute(runs)
    line = machine_line(runs)
    text = markdown_table(stats) + (f"\nMachine: {line}.\n" if line else "")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "learning_stats.md").write_text(text)
    (out_dir / "learning_runs.md").write_text(runs_table(runs))
    (out_dir / "learning_stats.json").write_text(json.dumps(
        {"n_resamples": N_RESAMPLES, "bootstrap_seed": BOOTSTRAP_SEED, "level": CI_LEVEL,
         "machine": line, "tasks": stats}, indent=1))
    if figures and stats:
        plot(runs, stats, out_dir / "learning_curves_seeds.png", "timesteps", line)
        plot(runs, stats, out_dir / "learning_curves_seeds_wall.png", "wall_s", line)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning_stats",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--root", type=Path, default=None, metavar="DIR",
                        help="runs folder (default: benchmarks/results/learning)")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="where the statistics and figures go (default: benchmarks/"
                             "results, or the --root folder when one is given)")
    args = parser.parse_args(argv)
    root = args.root or LEARNING
    out_dir = args.out_dir or (RESULTS if args.root is None else args.root)
    print(write_report(root, out_dir, figures=not args.no_plot), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
