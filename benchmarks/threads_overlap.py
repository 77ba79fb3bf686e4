"""``n_threads`` 2 against 1 on a zoo run with gymnasium envs (issue 29, item 2).

The zoo's hyperparameters (``hyperparams/trpo.yml``: Pendulum-v1 with gSDE, or CartPole-v1),
gymnasium's envs (``compiled=False``), ``learn(1e5)`` timed, 1 and 2 threads interleaved in
each round; the final parameters of every run must be identical. Run on two cores::

    taskset -c 0,1 python -m benchmarks.threads_overlap [--env Pendulum-v1] [--rounds 3]
"""

import argparse
import os
import statistics
import time

import numpy as np

from fasttrpo import TRPO

ZOO = {"CartPole-v1": dict(n_envs=2, n_steps=512, batch_size=512, cg_damping=1e-3,
                           gae_lambda=0.98, gamma=0.99, learning_rate=1e-3,
                           n_critic_updates=20),
       "Pendulum-v1": dict(n_envs=2, n_steps=1024, gamma=0.9, n_critic_updates=15,
                           use_sde=True, sde_sample_freq=4)}


def run(env_id: str, n_threads: int, steps: int) -> tuple[float, np.ndarray]:
    """Seconds of ``learn(steps)`` and the final policy and critic parameters."""
    model = TRPO("MlpPolicy", env_id, seed=0, n_threads=n_threads, **ZOO[env_id])
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    return seconds, np.concatenate([model.policy.get_params(),
                                    model.value_function.get_params()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Pendulum-v1", choices=list(ZOO))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000)
    args = parser.parse_args()
    run(args.env, 2, 4096)  # compile, start the worker pools
    times: dict[int, list[float]] = {1: [], 2: []}
    reference = None
    for _ in range(args.rounds):
        for n_threads in (1, 2):
            seconds, params = run(args.env, n_threads, args.steps)
            times[n_threads].append(seconds)
            if reference is None:
                reference = params
            assert np.array_equal(params, reference), "parameters differ between runs"
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"{args.env} {args.steps} steps, gymnasium envs, load {os.getloadavg()[0]:.2f}")
    print(f"  1 thread  {one:6.2f} s  ({', '.join(f'{t:.2f}' for t in times[1])})")
    print(f"  2 threads {two:6.2f} s  ({', '.join(f'{t:.2f}' for t in times[2])})")
    print(f"  ratio {one / two:.2f}x, identical parameters in all {2 * args.rounds} runs")


if __name__ == "__main__":
    main()
