"""One GRU Fisher-vector product against one surrogate gradient (issue 26), one thread.

obs 4 -> encoder 64 (tanh) -> GRU 64 -> Gaussian (1 action), 2048 steps in 16 sequences of
128. Medians of ``--repeats`` timed calls after a warm-up::

    python -m benchmarks.gru_fvp [--repeats 30]
"""

import argparse
import time

import numpy as np

from fasttrpo.foundation.threads import limit_threads
from fasttrpo.models.recurrent import GaussianGRUPolicy


def timed_ms(func, repeats: int) -> tuple[float, float]:
    """Median and minimum wall time (ms) of ``func()`` over ``repeats`` calls, after a warm-up.

    The minimum too: on a shared machine the median takes in other jobs' time slices.
    """
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times)), 1e3 * float(np.min(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_rows, n_seq, obs_dim = 2048, 16, 4
    starts = np.linspace(0, n_rows, n_seq + 1).astype(np.int64)
    for dtype in (np.float32, np.float64):
        policy = GaussianGRUPolicy(obs_dim, 1, hidden_size=64, encoder_sizes=(64,),
                                   dtype=dtype, seed=0)
        obs = rng.standard_normal((n_rows, obs_dim)).astype(dtype)
        h0 = np.zeros((n_seq, 64), dtype=dtype)
        actions = rng.standard_normal((n_rows, 1)).astype(dtype)
        advantages = rng.standard_normal(n_rows).astype(dtype)
        old_log_prob = policy.log_prob(obs, starts, h0, actions)
        vector = rng.standard_normal(policy.num_params).astype(dtype)
        with limit_threads(1):
            lin = policy.linearize(obs, starts, h0)
            result = np.empty_like(vector)
            forward = timed_ms(lambda: policy.linearize(obs, starts, h0), args.repeats)
            lin = policy.linearize(obs, starts, h0)
            grad = timed_ms(lambda: lin.surrogate_grad(actions, advantages, old_log_prob),
                            args.repeats)
            fvp = timed_ms(lambda: lin.fvp_into(vector, result), args.repeats)
        print(f"{np.dtype(dtype).name}: P={policy.num_params}; median (min) ms: linearize "
              f"{forward[0]:.2f} ({forward[1]:.2f}), surrogate_grad {grad[0]:.2f} "
              f"({grad[1]:.2f}), fvp {fvp[0]:.2f} ({fvp[1]:.2f}); fvp / grad "
              f"{fvp[0] / grad[0]:.2f} ({fvp[1] / grad[1]:.2f})")


if __name__ == "__main__":
    main()
