"""Why CPO's training cost sits at or above its limit on SafetyHopperVelocity-v1 (issue 25.6).

One CPO run with the safety benchmark's settings (`benchmarks.safety`: the zoo's Hopper
entry, limit 25, one thread) that records, at every update: the episode-cost estimate ``J_C``
the step is checked against (and how many episodes it averages), ``c``, the CPO case, the step
fraction, and the cost surrogate's change of the accepted step, the first-order prediction of
the per-step cost change. The prediction of the episode cost's change is that times the mean
episode length; the next rollout's ``J_C`` shows what happened.

    python -m benchmarks.cpo_diagnostics --units episode --seed 0 --timesteps 300000

Writes ``benchmarks/results/safety/diagnostics_<units>_<seed>.json`` and prints a summary:
how often each case ran, the mean realised change of ``J_C`` after feasible and after
recovery steps, and the predicted change of feasible steps.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.safety import COST_LIMIT, HYPERPARAMS, RESULTS


def run(units: str, seed: int, timesteps: int, cost_gae_lambda: float | None = None) -> dict:
    """Train CPO once, recording each update (module docstring)."""
    from threadpoolctl import threadpool_limits

    from fasttrpo import CPO
    from fasttrpo.config import ALGORITHM_CONFIGS
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

    records: list[dict] = []

    class Recorded(CPO):
        def update_policy(self, data):
            estimate, length = self.episode_cost(data)
            ended = [e for e in data.episodes if "costs" in e]
            super().update_policy(data)
            values = self.logger.name_to_value
            records.append({
                "timesteps": self.num_timesteps, "estimate": float(estimate[0]),
                "episodes_in_estimate": len(ended), "episode_length": float(length),
                "constraint_c": float(values["train/constraint_c"]),
                "case": int(values["train/cpo_case"]),
                "step_fraction": float(values["train/step_fraction"]),
                "cost_surrogate_change": float(values["train/cost_surrogate_change"])})

    kwargs, settings = zoo_to_trpo_kwargs(load_zoo_hyperparams(HYPERPARAMS, "Hopper-v5"),
                                          ALGORITHM_CONFIGS["cpo"])
    kwargs.update(cost_limit=COST_LIMIT, constraint_units=units)
    if cost_gae_lambda is not None:
        kwargs["cost_gae_lambda"] = cost_gae_lambda
    start = time.perf_counter()
    with threadpool_limits(1):
        model = Recorded("MlpPolicy", "fasttrpo/SafetyHopperVelocity-v1",
                         n_envs=settings["n_envs"], seed=seed, **kwargs)
        model.learn(timesteps)
    out = {"units": units, "seed": seed, "timesteps": timesteps, "cost_limit": COST_LIMIT,
           "cost_gae_lambda": model.config.cost_gae_lambda,
           "seconds": time.perf_counter() - start, "updates": records}
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = "" if cost_gae_lambda is None else f"_lambda{cost_gae_lambda:g}"
    (RESULTS / f"diagnostics_{units}{tag}_{seed}.json").write_text(json.dumps(out, indent=1))
    return out


def summary(out: dict, skip: int = 50) -> str:
    """Cases, and realised against predicted changes of the estimate, after ``skip`` updates."""
    rows = out["updates"][skip:]
    lines = [f"units={out['units']} cost_gae_lambda={out['cost_gae_lambda']} seed={out['seed']}: "
             f"{len(rows)} updates after the first "
             f"{skip}; estimate mean {np.mean([r['estimate'] for r in rows]):.1f} "
             f"(limit {out['cost_limit']}), above the limit in "
             f"{np.mean([r['estimate'] > out['cost_limit'] for r in rows]):.0%}"]
    for case in sorted({r["case"] for r in rows}):
        picked = [i for i, r in enumerate(rows[:-1]) if r["case"] == case]
        realised = [rows[i + 1]["estimate"] - rows[i]["estimate"] for i in picked]
        predicted = [rows[i]["cost_surrogate_change"] * rows[i]["episode_length"]
                     for i in picked]
        lines.append(f"  case {case}: {len(picked)} updates, next estimate change "
                     f"{np.mean(realised):+.2f} (median {np.median(realised):+.2f}), "
                     f"predicted episode-cost change {np.mean(predicted):+.2f}, "
                     f"mean c {np.mean([rows[i]['constraint_c'] for i in picked]):+.3f}")
    return "\n".join(lines)


def main() -> None:
    """Command line: one run, then its summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", choices=("episode", "per_step"), default="episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--cost-gae-lambda", type=float, default=None,
                        help="the cost advantages' GAE lambda (default: the config's, 0.95)")
    args = parser.parse_args()
    print(summary(run(args.units, args.seed, args.timesteps, args.cost_gae_lambda)))


if __name__ == "__main__":
    main()
