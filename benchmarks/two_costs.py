"""Several constraints at once: the two-cost point task (issue 25, item 5).

``fasttrpo/SafetyPointTwoCosts-v0`` (`fasttrpo.envs.PointTwoCostsEnv`) reports two named
costs, ``cost_speed`` (speed above 1) and ``cost_effort`` (a force above 0.3), both binding
with the limits used here, 10 and 70 per 100-step episode. Each constrained algorithm trains
with ``cost_limit=[10, 70]`` and ``cost_keys=["cost_speed", "cost_effort"]`` (one critic,
advantage and constraint per cost); plain TRPO is the unconstrained reference. Per run: the
mean return and the two costs of the last 20 training episodes (the stochastic policy) and a
deterministic evaluation of 10 episodes (envs seeded 10000..10009), by a plain loop.

Run (a few seconds a run)::

    python -m benchmarks.two_costs                     # seeds 0-4, 3e4 steps
    python -m benchmarks.two_costs --timesteps 100000

Writes ``benchmarks/results/two_costs.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "two_costs.json"
TASK = "fasttrpo/SafetyPointTwoCosts-v0"
KEYS = ("cost_speed", "cost_effort")
LIMITS = (10.0, 70.0)
SETTINGS = dict(n_envs=2, n_steps=500, batch_size=100, policy_kwargs=dict(net_arch=[16]))
VARIANTS = {
    "TRPO": ("TRPO", {}),
    "CPO": ("CPO", {}),
    "PCPO (kl)": ("PCPO", {}),
    "PCPO (l2)": ("PCPO", {"projection": "l2"}),
    "TRPOLagrangian": ("TRPOLagrangian", {}),
    "TRPOPIDLagrangian": ("TRPOPIDLagrangian", {}),
}


def evaluate(model, episodes: int = 10) -> tuple[float, list[float]]:
    """Mean return and per-cost episode sums of the deterministic policy, by a plain loop."""
    returns, costs = [], []
    env = gym.make(TASK)
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        total, summed, done = 0.0, np.zeros(len(KEYS)), False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            summed += [info[key] for key in KEYS]
            done = terminated or truncated
        returns.append(total)
        costs.append(summed)
    return float(np.mean(returns)), np.mean(costs, axis=0).tolist()


def run(variant: str, seed: int, timesteps: int) -> dict:
    """Train one variant with one seed; returns its record."""
    import fasttrpo

    name, extra = VARIANTS[variant]
    kwargs = {**SETTINGS, **extra, "seed": seed}
    if name != "TRPO":
        kwargs.update(cost_limit=list(LIMITS), cost_keys=list(KEYS))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(fasttrpo, name)("MlpPolicy", TASK, **kwargs).learn(timesteps)
    seconds = time.perf_counter() - start
    last = list(model.ep_info_buffer)[-20:]
    if name == "TRPO":  # no cost signals: the speed and effort sums from a plain evaluation
        train_costs = None
    else:
        train_costs = np.mean([e["costs"] for e in last], axis=0).tolist()
    eval_return, eval_costs = evaluate(model)
    return {"variant": variant, "seed": seed, "timesteps": timesteps, "seconds": seconds,
            "train_return": float(np.mean([e["r"] for e in last])),
            "train_total_cost": float(np.mean([e["c"] for e in last])),
            "train_costs": train_costs, "eval_return": eval_return, "eval_costs": eval_costs}


def table(records: list[dict]) -> str:
    """Markdown: per variant, the ranges over seeds."""
    lines = ["| algorithm | return (train) | cost_speed (train) | cost_effort (train) | "
             "eval return | eval cost_speed / cost_effort |", "|---|---|---|---|---|---|"]

    def span(values):
        return f"{min(values):.1f}-{max(values):.1f}"

    for variant in VARIANTS:
        rows = [r for r in records if r["variant"] == variant]
        if not rows:
            continue
        if rows[0]["train_costs"] is None:
            speed = effort = f"total {span([r['train_total_cost'] for r in rows])}"
        else:
            speed = span([r["train_costs"][0] for r in rows])
            effort = span([r["train_costs"][1] for r in rows])
        lines.append(f"| {variant} | {span([r['train_return'] for r in rows])} | {speed} | "
                     f"{effort} | {span([r['eval_return'] for r in rows])} | "
                     f"{span([r['eval_costs'][0] for r in rows])} / "
                     f"{span([r['eval_costs'][1] for r in rows])} |")
    return "\n".join(lines)


def main() -> None:
    """Run every variant on every seed, write the JSON and print the table."""
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--timesteps", type=int, default=30_000)
    args = parser.parse_args()
    records = []
    with threadpool_limits(1):
        for variant in VARIANTS:
            for seed in args.seeds:
                records.append(run(variant, seed, args.timesteps))
                print(json.dumps(records[-1]), flush=True)
    RESULTS.write_text(json.dumps({"task": TASK, "limits": LIMITS, "keys": KEYS,
                                   "settings": SETTINGS, "runs": records}, indent=1) + "\n")
    print(table(records))


if __name__ == "__main__":
    main()
