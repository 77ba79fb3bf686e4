"""Every core (issue 12): the update and zoo runs with ``n_threads`` 1 and 2, side by side.

- ``test_update``: one full update (``model.train`` on a fixed rollout: GAE, the policy step,
  the critic fit) of a Gaussian 11-64-64-3 policy, float32, at N = 2048 and 16384 rows, with
  1 and 2 threads (2: the critic fit on a worker thread while the policy step runs).
- ``test_zoo_run``: CartPole-v1 and Pendulum-v1, 1e5 steps with the zoo hyperparameters
  (``compiled=True``), 1 and 2 threads; the final parameters must be identical.

A second thread only pays when the other core is free: read the figures with the load
average recorded in ``extra_info``. Run: ``python -m pytest benchmarks/test_bench_threads.py
--benchmark-only``.
"""

import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from benchmarks import _config
from fasttrpo import TRPO
from fasttrpo.rollout import NoiseStreams, RolloutBatch

_final_params: dict = {}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _update_cases():
    if _config.MODE == "smoke":
        return [(256, 1), (256, 2)]
    return [(n, threads) for n in (2048, 16384) for threads in (1, 2)]


class _Box11:
    """What a Box(11) -> Box(3) task looks like to the sampler: random observations."""

    def __new__(cls):
        class Box11(gym.Env):
            observation_space = spaces.Box(-np.inf, np.inf, (11,), np.float32)
            action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                return self.np_random.standard_normal(11).astype(np.float32), {}

            def step(self, action):
                obs = self.np_random.standard_normal(11).astype(np.float32)
                truncated = self.np_random.random() < 0.01
                return obs, float(-np.square(action).sum()), False, truncated, {}

        return Box11()


@pytest.mark.parametrize(("n_rows", "n_threads"), _update_cases())
def test_update(benchmark, n_rows, n_threads):
    n_envs = 8
    model = TRPO("MlpPolicy", _Box11(), n_steps=n_rows // n_envs, batch_size=128, seed=0,
                 n_threads=n_threads, n_critic_updates=10,
                 policy_kwargs=dict(net_arch=[64, 64]))
    model.set_env(gym.vector.SyncVectorEnv([_Box11] * n_envs))
    batch = RolloutBatch(n_rows // n_envs, n_envs, 11, 3, np.float32)
    model.sampler.reset(seed=0)
    assert model.sampler.collect(model.policy, batch, NoiseStreams(0))
    from fasttrpo._threads import limit_threads

    with limit_threads(1):  # as learn: BLAS on one thread, n_threads the workers
        model.train(batch)  # warm-up (compilation, buffers)
        benchmark.group = f"update 11-64-64-3 float32 N={n_rows}"
        benchmark.extra_info.update(suite="threads", n_rows=n_rows, n_threads=n_threads,
                                    load=_load())
        benchmark.pedantic(model.train, args=(batch,), rounds=3 if _config.MODE == "smoke"
                           else 15, iterations=1, warmup_rounds=1)


ZOO = {"CartPole-v1": dict(n_envs=2, n_steps=512, batch_size=512, gae_lambda=0.98,
                           cg_damping=1e-3, n_critic_updates=20),
       "Pendulum-v1": dict(n_envs=2, n_steps=1024, gamma=0.9, n_critic_updates=15)}


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("env_id", list(ZOO))
def test_zoo_run(benchmark, env_id, n_threads):
    steps = 2048 if _config.MODE == "smoke" else 100_000

    def run():
        model = TRPO("MlpPolicy", env_id, seed=0, compiled=True, n_threads=n_threads,
                     **ZOO[env_id])
        model.learn(steps)
        return model.policy.get_params()

    run()  # warm-up: compilation
    benchmark.group = f"zoo {env_id} 1e5 compiled"
    benchmark.extra_info.update(suite="threads", env_id=env_id, n_threads=n_threads,
                                load=_load())
    params = benchmark.pedantic(run, rounds=1 if _config.MODE == "smoke" else 3, iterations=1)
    _final_params[(env_id, n_threads)] = params
    other = _final_params.get((env_id, 3 - n_threads))
    if other is not None:  # the same seed gives the same parameters with 1 and 2 threads
        np.testing.assert_array_equal(params, other)
