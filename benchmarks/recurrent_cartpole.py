"""Recurrent TRPO on CartPole without velocities (issue 26): a GRU policy against an MLP one.

``fasttrpo/CartPoleNoVel-v1`` (CartPole-v1 with the velocities zeroed: the MLP cannot tell
which way the pole moves). Same hyperparameters for both: 4 envs x 512 steps, batch 256,
``target_kl`` 0.02, one hidden layer of 32 (the GRU: encoder 32, GRU 32). Reported per seed:
the mean return of ``--episodes`` deterministic evaluation episodes (`evaluate_policy`, which
carries the GRU state) before and after ``--steps`` steps, and the wall time of ``learn``::

    python -m benchmarks.recurrent_cartpole [--steps 100000] [--seeds 0 1 2 3 4]
"""

import argparse
import time

import numpy as np

from fasttrpo import TRPO
from fasttrpo.evaluation import evaluate_policy

ENV = "fasttrpo/CartPoleNoVel-v1"
COMMON = dict(n_envs=4, n_steps=512, batch_size=256, target_kl=0.02)
POLICIES = {"MlpGruPolicy": dict(gru_hidden_size=32, net_arch=[32]),
            "MlpPolicy": dict(net_arch=[32])}


def run(policy: str, seed: int, steps: int, episodes: int) -> tuple[float, float, float]:
    """``(return before, return after, learn seconds)`` of one seed."""
    model = TRPO(policy, ENV, seed=seed, policy_kwargs=POLICIES[policy], **COMMON)
    before, _ = evaluate_policy(model, ENV, n_eval_episodes=episodes, seed=1000 + seed)
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    after, _ = evaluate_policy(model, ENV, n_eval_episodes=episodes, seed=1000 + seed)
    return before, after, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    print(f"| policy | seed | return before | return after {args.steps:.0e} steps | learn s |")
    print("|---|---|---|---|---|")
    for policy in POLICIES:
        afters = []
        for seed in args.seeds:
            before, after, seconds = run(policy, seed, args.steps, args.episodes)
            afters.append(after)
            print(f"| {policy} | {seed} | {before:.1f} | {after:.1f} | {seconds:.1f} |",
                  flush=True)
        print(f"| {policy} | mean | | {np.mean(afters):.1f} +/- {np.std(afters):.1f} | |",
              flush=True)


if __name__ == "__main__":
    main()
