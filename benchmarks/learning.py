"""Learning quality on many seeds (issue 16): zoo-hyperparameter runs of fasttrpo or
sb3-contrib, one JSON per run; on demand, not in CI.

Usage::

    python -m benchmarks.learning --lib fasttrpo --tasks CartPole-v1 Pendulum-v1 --seeds 100-107
    python -m benchmarks.learning --lib sb3 --tasks Hopper-v5 --seeds 100-104 --steps 100000
    python -m benchmarks.learning_stats      # the table and the figures

One run: ``benchmarks.e2e.run_fasttrpo`` / ``run_sb3`` with the task's entry of
``hyperparams/trpo.yml`` (gymnasium's registered env for both; sb3-contrib exactly as the zoo
says, gSDE and VecNormalize included, and fasttrpo with the same entry, gSDE included since it
has gSDE), torch and BLAS on one thread, a warm-up run first per task and process (outside the
timing). ``--no-sde`` drops the zoo's gSDE keys (Pendulum-v1, MountainCarContinuous-v0) and
stores the runs as ``<lib>-nogsde`` (fasttrpo's runs from before it had gSDE are there). Then
the final policy is evaluated on a fresh gymnasium env, 20 episodes seeded 10000..10019,
deterministically and stochastically (observation normalisation frozen at its training
statistics). For gSDE policies (both libraries) the stochastic evaluation draws a new
exploration matrix every ``sde_sample_freq`` steps and holds it in between, as in training
(fasttrpo's ``predict`` alone would draw one per call).

Writes ``benchmarks/results/learning/<lib>/<task>/seed<k>.json`` (``--out DIR``:
``DIR/<lib>/<task>/seed<k>.json``): settings (zoo entry,
arguments given to the library, steps, versions, commit, machine line), the learning curve
(one point per rollout: timesteps, wall seconds, mean training return of the last 10 and 100
episodes), ``learn()`` wall time and the evaluation returns. A run whose file exists is
skipped, so an interrupted sweep resumes. Seeds 100.. are used here (no other benchmark of this
repository used them).

The zoo's full MuJoCo budget (1e6 steps, issue 30) is stored apart, in
``benchmarks/results/learning-1e6`` with seeds 200..; ``benchmarks/learning_1e6.sh SEED...``
runs both libraries on the five MuJoCo tasks, seed by seed, one run per process on one core::

    benchmarks/learning_1e6.sh 205           # one more seed, both libraries, all five tasks
    python -m benchmarks.learning_stats --root benchmarks/results/learning-1e6
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import e2e
from benchmarks.compiled import format_machine, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "learning"
CLASSIC = ("CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0",
           "MountainCarContinuous-v0", "LunarLander-v3", "LunarLanderContinuous-v3")
MUJOCO = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5")
TASKS = CLASSIC + MUJOCO
EVAL_EPISODES = 20
LIBS = ("fasttrpo", "sb3")
NO_SDE_SUFFIX = "-nogsde"
_PACKAGES = ("numpy", "numba", "scipy", "gymnasium", "torch", "stable-baselines3",
             "sb3-contrib", "mujoco", "box2d", "fasttrpo")


def parse_seeds(text: str) -> list[int]:
    """'100-107' -> [100, ..., 107]; '1,3,5' and mixtures ('0-2,9') too."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part[1:]:
            lo, hi = part.split("-", 1) if not part.startswith("-") else part.rsplit("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"--seeds: no seed in {text!r}")
    return seeds


def run_path(lib: str, task: str, seed: int, root: Path = RESULTS) -> Path:
    return root / lib / task / f"seed{seed}.json"


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "fasttrpo"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _evaluation(predict, task: str, obs_transform=None) -> dict:
    t0 = time.perf_counter()
    returns = e2e.evaluate(predict, task, obs_transform, episodes=EVAL_EPISODES)
    return {"returns": returns, "mean": float(np.mean(returns)),
            "seconds": time.perf_counter() - t0}


def _sb3_stochastic(model):
    """predict(obs) sampling the policy; gSDE's exploration matrix resampled every
    sde_sample_freq calls (as sb3's collect_rollouts does), else fixed."""
    calls = [0]
    freq = getattr(model, "sde_sample_freq", -1)

    def predict(obs):
        if model.use_sde and freq > 0 and calls[0] % freq == 0:
            model.policy.reset_noise()
        calls[0] += 1
        return model.predict(obs, deterministic=False)[0]

    if model.use_sde:
        model.policy.reset_noise()
    return predict


def _fasttrpo_stochastic(model):
    """predict(obs) sampling the policy; for gSDE the exploration matrix is drawn every
    sde_sample_freq calls and held in between, as fasttrpo's samplers do (``predict`` alone
    would draw a new one at every call)."""
    policy = model.policy
    freq = getattr(policy, "sde_sample_freq", None)  # only gSDE policies have one
    if freq is None:
        return lambda obs: model.predict(obs, deterministic=False)[0]
    noise = np.empty((1, policy.noise_width), dtype=policy.dtype)
    calls = [0]

    def predict(obs):  # model.predict's path, with the held noise
        if calls[0] == 0 or (freq > 0 and calls[0] % freq == 0):
            policy.draw_noise(model.rng, noise)
        calls[0] += 1
        rows, _ = model.encoder.observation_rows(obs)
        if model.obs_normalizer is not None:
            rows = model.obs_normalizer.normalize(rows)
        rows = np.ascontiguousarray(rows, dtype=policy.dtype)
        out = np.empty((1, policy.action_width), dtype=policy.dtype)
        out = policy.act_into(rows, False, model.rng, out, noise=noise)
        return model.codec.to_env(out)[0]

    return predict


def variant(lib: str, task: str, use_sde: bool = True, overrides: dict | None = None) -> str:
    """The results folder of a run: ``lib``, ``lib-nogsde`` when the zoo's gSDE is dropped,
    ``lib-<key>`` (``-<key>-<value>`` unless True) per override of the zoo entry."""
    name = lib if use_sde or not e2e.zoo_entry(task).get("use_sde") else lib + NO_SDE_SUFFIX
    for key, value in sorted((overrides or {}).items()):
        name += f"-{key}" + ("" if value is True else f"-{value}")
    return name


def parse_overrides(items) -> dict:
    """['damped_step_length=true', 'cg_damping=0.01'] -> {'damped_step_length': True, ...}."""
    from fasttrpo.zoo.hyperparams import parse_cli_overrides

    tokens = []
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        tokens.append("--" + item)
    return parse_cli_overrides(tokens)


def run_one(lib: str, task: str, seed: int, steps: int | None = None,
            use_sde: bool = True, overrides: dict | None = None) -> dict:
    """Train ``lib`` on ``task`` with ``seed`` and evaluate; the record stored per run."""
    entry = e2e.zoo_entry(task)
    start_machine = machine()
    with threadpool_limits(1):
        if lib == "fasttrpo":
            result = e2e.run_fasttrpo(task, seed, steps, evaluation=False, keep_model=True,
                                      use_sde=use_sde, overrides=overrides)
            model, transform = result.pop("model"), None
            stochastic = _fasttrpo_stochastic(model)
        else:
            if overrides:
                raise ValueError("--set: fasttrpo runs only")
            import torch

            result = e2e.run_sb3(task, seed, steps, use_sde=use_sde, evaluation=False,
                                 keep_model=True)
            model, transform = result.pop("model"), result.pop("obs_transform")
            result.pop("normalize")
            torch.manual_seed(seed)
            stochastic = _sb3_stochastic(model)
        deterministic = lambda obs: model.predict(obs, deterministic=True)[0]  # noqa: E731
        evaluation = {"det": _evaluation(deterministic, task, transform),
                      "stoch": _evaluation(stochastic, task, transform)}
    curve = [{k: p[k] for k in ("timesteps", "wall_s", "episodes", "mean_last10",
                                "mean_last100", "train") if k in p} for p in result["curve"]]
    return _jsonable({
        "lib": variant(lib, task, use_sde, overrides), "task": task, "seed": seed,
        "steps_requested": steps, "overrides": overrides or {},
        "zoo_n_timesteps": entry.get("n_timesteps"), "timesteps": result["timesteps"],
        "zoo_entry": entry, "library_kwargs": result["hyperparams"],
        "n_envs": result["n_envs"], "learn_s": result["learn_s"],
        "setup_s": result["setup_s"], "rollout_s": result.get("rollout_s"),
        "update_s": result.get("update_s"), "curve": curve,
        "eval": evaluation, "eval_seeds": [e2e.EVAL_SEED, e2e.EVAL_SEED + EVAL_EPISODES - 1],
        "machine": start_machine, "machine_end": machine(), "versions": versions(),
        "commit": commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python -m benchmarks.learning"] + sys.argv[1:]),
    })


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--lib", required=True, choices=LIBS)
    parser.add_argument("--tasks", nargs="+", required=True, metavar="ENV_ID",
                        help=f"any of {', '.join(TASKS)}; 'classic' / 'mujoco' for the groups")
    parser.add_argument("--seeds", default="100-107", help="e.g. 100-107 (default) or 1,2,5")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per run (default: the zoo's n_timesteps)")
    parser.add_argument("--no-sde", action="store_true",
                        help="drop the zoo's gSDE keys; runs stored as <lib>-nogsde")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="fasttrpo only: override a zoo-entry key (e.g. "
                             "damped_step_length=true); runs stored as <lib>-<key>")
    parser.add_argument("--out", "--root", dest="root", type=Path, default=RESULTS,
                        metavar="DIR", help="results folder (default: benchmarks/results/"
                        "learning); e.g. benchmarks/results/learning-1e6 for the zoo's "
                        "full-budget runs, kept apart from the reduced-budget ones")
    args = parser.parse_args(argv)
    tasks: list[str] = []
    for task in args.tasks:
        group = {"classic": CLASSIC, "mujoco": MUJOCO}.get(task.lower())
        tasks.extend(group or [task])
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    seeds = parse_seeds(args.seeds)
    overrides = parse_overrides(args.set)
    if overrides and args.lib != "fasttrpo":
        parser.error("--set: fasttrpo runs only")
    warnings.filterwarnings("ignore", message=".*gSDE.*")
    for task in tasks:
        for seed in seeds:
            path = run_path(variant(args.lib, task, not args.no_sde, overrides), task, seed,
                            args.root)
            if path.exists():
                print(f"skip {path.relative_to(args.root)} (exists)", flush=True)
                continue
            t0 = time.perf_counter()
            record = run_one(args.lib, task, seed, args.steps, use_sde=not args.no_sde,
                             overrides=overrides)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, path)  # complete files only: a resumed sweep trusts what exists
            ev = record["eval"]
            print(f"{record['lib']} {task} seed {seed}: {record['timesteps']} steps, learn "
                  f"{record['learn_s']:.1f} s, eval det {ev['det']['mean']:.1f} / stoch "
                  f"{ev['stoch']['mean']:.1f} ({time.perf_counter() - t0:.0f} s in all; "
                  f"{format_machine(record['machine'])})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
