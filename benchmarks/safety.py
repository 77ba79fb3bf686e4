"""Constrained learning benchmark: CPO, TRPO-Lagrangian and TRPO on a velocity-limited task.

One run trains one algorithm with one seed on ``fasttrpo/Safety<Robot>Velocity-v1`` (the
cost is 1 per step above safety-gymnasium's v1 speed threshold; limit 25 per episode) with
the rl-baselines3-zoo MuJoCo TRPO entry of ``hyperparams/trpo.yml`` (2 envs, 1024 steps
each per rollout, observation and reward normalisation), one thread, and writes
``benchmarks/results/safety/<task>_<variant>_<seed>.json``: the settings, the CPU, the wall
time, a learning curve (return and cost of the last 10 training episodes at every rollout)
and the final figures: the mean return and cost of the last 20 training episodes (the
stochastic policy, as OmniSafe's tables report them) and a deterministic evaluation of 10
episodes on envs seeded 10000..10009.

Variants: ``trpo``, ``trpo_lagrangian``, ``cpo`` (the default ``constraint_units="episode"``,
OmniSafe's convention), ``cpo_per_step`` (``constraint_units="per_step"``, Achiam's),
``pcpo`` (its defaults: KL projection, per-step units), ``trpo_pid_lagrangian`` (the PID
gains of OmniSafe's TRPOPID), ``cpo_margin`` (episode units, ``limit_margin="rise"``),
``trpo_saute`` and ``trpo_early_terminated``. For those two the training episodes are the
transformed MDP's: Sauté's training return counts ``unsafe_reward`` (0) after the budget is
spent and early-terminated episodes stop at the violation, so their training figures are
lower bounds; the deterministic evaluation plays the task itself (its own rewards, no early
end), and is the figure to compare.

Run (about 3-5 min a run on one core; two at a time on this 2-core machine)::

    python -m benchmarks.safety run --variant cpo --seed 0
    python -m benchmarks.safety report      # table (markdown) and plot from the JSON files
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.cpu import cpu_model

RESULTS = Path(__file__).resolve().parent / "results" / "safety"
HYPERPARAMS = Path(__file__).resolve().parent.parent / "hyperparams" / "trpo.yml"
VARIANTS = {
    "trpo": ("trpo", {}),
    "trpo_lagrangian": ("trpo_lagrangian", {}),
    "cpo": ("cpo", {"constraint_units": "episode"}),
    "cpo_per_step": ("cpo", {"constraint_units": "per_step"}),
    "pcpo": ("pcpo", {}),
    "trpo_pid_lagrangian": ("trpo_pid_lagrangian", {}),
    "cpo_margin": ("cpo", {"constraint_units": "episode", "limit_margin": "rise"}),
    "trpo_saute": ("trpo_saute", {}),
    "trpo_early_terminated": ("trpo_early_terminated", {}),
}
COST_LIMIT = 25.0
EVAL_SEED, EVAL_EPISODES, FINAL_EPISODES = 10_000, 10, 20
# OmniSafe's published figures (its benchmark tables, 1e7 steps, cost limit 25): (return, cost)
OMNISAFE_1E7 = {
    "Hopper": {"cpo": (1714.0, 13.4), "trpo_lagrangian": (1392.0, 11.2),
               "trpo": (2047.0, 448.0), "pcpo": (1551.0, 15.5),
               "trpo_pid_lagrangian": (1179.0, 18.8), "trpo_early_terminated": (1646.0, 0.42)},
    "HalfCheetah": {"cpo": (2786.0, 4.7), "trpo_lagrangian": (2885.0, 9.0),
                    "trpo": (6491.0, 734.0), "pcpo": (1678.0, 19.1),
                    "trpo_pid_lagrangian": (2797.0, 11.2),
                    "trpo_early_terminated": (2556.0, 0.06)},
}




def _eval_env(algo: str, env_id: str):
    """The env a variant is evaluated on: the task itself, with every step's own reward.

    Sauté's policy reads the remaining budget, so it plays the Sauté env, whose reward after
    the budget is spent is ``unsafe_reward``: the evaluation sums ``info["true_reward"]``
    instead. Early-terminated TRPO is evaluated on the task without early termination.
    """
    if algo != "trpo_saute":
        return env_id
    import gymnasium as gym

    from fasttrpo.envs import SauteEnv

    class TrueReward(gym.Wrapper):
        def step(self, action):
            obs, _, terminated, truncated, info = self.env.step(action)
            return obs, info["true_reward"], terminated, truncated, info

    return TrueReward(SauteEnv(gym.make(env_id), cost_limit=COST_LIMIT))


def run(variant: str, seed: int, robot: str = "Hopper", timesteps: int = 1_000_000) -> dict:
    """Train one variant with one seed; returns (and writes) the result record."""
    from threadpoolctl import threadpool_limits

    from fasttrpo.algorithms import ALGORITHMS
    from fasttrpo.callbacks import BaseCallback
    from fasttrpo.config import ALGORITHM_CONFIGS
    from fasttrpo.evaluation import evaluate_policy
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

    algo, extra = VARIANTS[variant]
    env_id = f"fasttrpo/Safety{robot}Velocity-v1"
    kwargs, settings = zoo_to_trpo_kwargs(load_zoo_hyperparams(HYPERPARAMS, f"{robot}-v5"),
                                          ALGORITHM_CONFIGS[algo])
    if algo != "trpo":
        kwargs.update(cost_limit=COST_LIMIT, **extra)
    curve: list[dict] = []

    class Curve(BaseCallback):
        def _on_rollout_end(self) -> bool:
            recent = list(self.model.ep_info_buffer)[-10:]
            if recent:
                curve.append({"timesteps": self.model.num_timesteps,
                              "wall_s": time.perf_counter() - start,
                              "return": float(np.mean([e["r"] for e in recent])),
                              "cost": float(np.mean([e["c"] for e in recent]))})
            return True

    with threadpool_limits(1):
        model = ALGORITHMS[algo]("MlpPolicy", env_id, n_envs=settings["n_envs"], seed=seed,
                                 **kwargs)
        start = time.perf_counter()
        model.learn(timesteps, callback=Curve())
        wall = time.perf_counter() - start
        final = list(model.ep_info_buffer)[-FINAL_EPISODES:]
        rewards, _, costs = evaluate_policy(model, _eval_env(algo, env_id), EVAL_EPISODES,
                                            deterministic=True,
                                            return_episode_rewards=True,
                                            return_episode_costs=True, seed=EVAL_SEED)
    record = {
        "task": env_id, "variant": variant, "algorithm": algo, "seed": seed,
        "timesteps": timesteps, "cost_limit": COST_LIMIT if algo != "trpo" else None,
        "hyperparameters": {k: v for k, v in model.config.to_dict().items()
                            if k not in ("verbose", "log_folder")},
        "cpu": cpu_model(), "learn_wall_s": wall,
        "final_train_return": float(np.mean([e["r"] for e in final])),
        "final_train_cost": float(np.mean([e["c"] for e in final])),
        "eval_return": float(np.mean(rewards)), "eval_cost": float(np.mean(costs)),
        "curve": curve,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{robot.lower()}_{variant}_{seed}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"{variant} seed {seed}: learn {wall:.0f} s, final train return "
          f"{record['final_train_return']:.0f} cost {record['final_train_cost']:.1f}, eval "
          f"{record['eval_return']:.0f} cost {record['eval_cost']:.1f} -> {path}")
    return record


def report(robot: str = "Hopper", plot: Path | None = None) -> str:
    """Markdown table of every result file of ``robot`` (and a return/cost plot)."""
    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"{robot.lower()}_*.json"))]
    lines = ["| variant | seed | final return | final cost | eval return (det.) | eval cost | "
             "learn s | OmniSafe 1e7 return / cost |", "|---|---|---|---|---|---|---|---|"]
    by_variant: dict[str, list[dict]] = {}
    for rec in records:
        by_variant.setdefault(rec["variant"], []).append(rec)
    for variant in VARIANTS:
        for rec in sorted(by_variant.get(variant, []), key=lambda r: r["seed"]):
            lines.append(f"| {variant} | {rec['seed']} | {rec['final_train_return']:.0f} | "
                         f"{rec['final_train_cost']:.1f} | {rec['eval_return']:.0f} | "
                         f"{rec['eval_cost']:.1f} | {rec['learn_wall_s']:.0f} | |")
        runs = by_variant.get(variant, [])
        if runs:
            ret = np.mean([r["final_train_return"] for r in runs])
            cost = np.mean([r["final_train_cost"] for r in runs])
            reference = OMNISAFE_1E7.get(robot, {}).get(variant)
            ref = f"{reference[0]:.0f} / {reference[1]:.1f}" if reference else "–"
            lines.append(f"| **{variant} mean** | | **{ret:.0f}** | **{cost:.1f}** | | | | "
                         f"{ref} |")
    if records:
        lines.append(f"\nCPU: {records[0]['cpu']}; {records[0]['timesteps']:.0e} steps a run.")
    if plot is not None and records:
        _plot(by_variant, plot)
    return "\n".join(lines)


def _plot(by_variant: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ret, ax_cost) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(VARIANTS, ("tab:gray", "tab:blue", "tab:red", "tab:orange",
                                  "tab:green", "tab:purple", "tab:brown", "tab:pink",
                                  "tab:olive"), strict=True))
    for variant, runs in by_variant.items():
        for i, rec in enumerate(runs):
            steps = [p["timesteps"] for p in rec["curve"]]
            label = variant if i == 0 else None
            ax_ret.plot(steps, [p["return"] for p in rec["curve"]], color=colours[variant],
                        alpha=0.7, label=label)
            ax_cost.plot(steps, [p["cost"] for p in rec["curve"]], color=colours[variant],
                         alpha=0.7, label=label)
    ax_cost.axhline(COST_LIMIT, color="black", linestyle="--", label="cost limit")
    ax_cost.set_yscale("symlog", linthresh=30)
    ax_cost.set_ylim(bottom=0)
    for ax, name in ((ax_ret, "episode return"), (ax_cost, "episode cost")):
        ax.set_xlabel("environment steps")
        ax.set_ylabel(name)
        ax.legend()
    fig.suptitle("SafetyHopperVelocity-v1 (fasttrpo), last 10 training episodes, one line a seed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Command line: ``run`` one variant and seed, or ``report`` the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--variant", choices=tuple(VARIANTS), required=True)
    one.add_argument("--seed", type=int, required=True)
    one.add_argument("--robot", default="Hopper")
    one.add_argument("--timesteps", type=float, default=1e6)
    rep = sub.add_parser("report")
    rep.add_argument("--robot", default="Hopper")
    rep.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "run":
        run(args.variant, args.seed, args.robot, int(args.timesteps))
    else:
        print(report(args.robot, args.plot))


if __name__ == "__main__":
    main()
