"""Issue 16's controlled experiment: TRPO's step length, undamped against damped.

fasttrpo scales the natural-gradient direction ``x = (F + damping I)^-1 g`` to
``sqrt(2 max_kl / x^T F x) x``, so that the quadratic model of the KL equals ``max_kl``.
sb3-contrib, Schulman's modular_rl, baselines' trpo_mpi and Spinning Up divide by the damped
quadratic ``x^T (F + damping I) x`` instead (as fasttrpo's own CPO step does), which shortens
steps whose direction has low-curvature components. This script trains the zoo entries with
both conventions on the same seeds (the damped one by wrapping the CG result, nothing else
changed) and evaluates deterministically, so the effect of the convention alone is measured.

Run: ``python -m benchmarks.step_length [--tasks LunarLander-v3 Acrobot-v1 ...]``; writes
``benchmarks/results/step_length.json``. LunarLander needs Box2D (the bench extra).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import gymnasium as gym
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "step_length.json"
SEEDS = tuple(range(100, 108))
EVAL_SEED, EVAL_EPISODES = 10_000, 10
TASKS = {  # zoo entries (hyperparams/trpo.yml); compiled ports where they exist
    "LunarLander-v3": (dict(n_envs=2, n_steps=512, cg_damping=0.01, gae_lambda=0.98,
                            n_critic_updates=15), 200_000),
    "Acrobot-v1": (dict(normalize_obs=True, normalize_reward=True, n_envs=2, n_steps=1024,
                        compiled=True), 100_000),
    "Pendulum-v1": (dict(n_envs=2, n_steps=1024, gamma=0.9, n_critic_updates=15, use_sde=True,
                         sde_sample_freq=4, compiled=True), 100_000),
    "MountainCarContinuous-v0": (dict(normalize_obs=True, normalize_reward=True, n_envs=2,
                                      use_sde=True, sde_sample_freq=4, compiled=True), 50_000),
}


@contextmanager
def damped_step_length():
    """Make TRPO divide by ``x^T (F + damping I) x``: the CG result's curvature, damped."""
    from fasttrpo.models.linearization import Linearization

    original = Linearization.conjugate_gradient

    def conjugate_gradient(self, grad, damping, max_iter):
        x, x_fisher_x, n_iter = original(self, grad, damping, max_iter)
        x64 = x.astype(np.float64)
        return x, x_fisher_x + damping * float(x64 @ x64), n_iter

    Linearization.conjugate_gradient = conjugate_gradient
    try:
        yield
    finally:
        Linearization.conjugate_gradient = original


def evaluate(model, env_id: str) -> float:
    """Mean deterministic return over the evaluation episodes."""
    env = gym.make(env_id)
    returns = []
    for episode in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=EVAL_SEED + episode)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def run(tasks, seeds=SEEDS) -> dict:
    """Both conventions on every task and seed; returns (and stores) the evaluation means."""
    from fasttrpo import TRPO

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for task in tasks:
        kwargs, steps = TASKS[task]
        for convention in ("undamped", "damped"):
            scores = []
            for seed in seeds:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    model = TRPO("MlpPolicy", task, seed=seed, **kwargs)
                    if convention == "damped":
                        with damped_step_length():
                            model.learn(steps)
                    else:
                        model.learn(steps)
                scores.append(evaluate(model, task))
                print(f"{task} {convention} seed {seed}: {scores[-1]:.1f} "
                      f"({time.perf_counter() - start:.1f} s)", flush=True)
            results.setdefault(task, {})[convention] = {"seeds": list(seeds), "det": scores}
            RESULTS.write_text(json.dumps(results, indent=1))
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_length",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    args = parser.parse_args(argv)
    for task, by_convention in run(args.tasks).items():
        for convention, data in by_convention.items():
            scores = np.array(data["det"])
            print(f"{task:26s} {convention:9s} mean {scores.mean():8.1f} median "
                  f"{np.median(scores):8.1f} min {scores.min():8.1f}")


if __name__ == "__main__":
    main()
