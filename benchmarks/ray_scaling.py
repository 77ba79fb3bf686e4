"""The Ray sampler's throughput and overhead, and the scaling model of BENCHMARKS.md.

Measures, per env (Hopper-v5 and ``SpinEnv``, a step that spins ~200 us):

- samples/s of one ``collect`` with the single-process `VectorEnvSampler` (E envs) and with
  `RaySampler` on 1 and 2 workers (E envs in all), median of ``repeats`` collects;
- the Ray path's overhead per iteration (``RaySampler.timings["transfer_s"]``: putting the
  parameters, scheduling, returning and assembling the arrays) at 2048 and 16384 samples,
  and the update time of a TRPO iteration on that batch.

Run: ``python -m benchmarks.ray_scaling [--smoke] [--out results/ray.json]``; it starts a
local Ray with 2 CPUs. Prints one JSON record per measurement and the fitted model constants.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np


class SpinEnv(gym.Env):
    """A slow simulator: every step spins ``step_us`` microseconds (Hopper-like spaces)."""

    def __init__(self, step_us: float = 200.0, horizon: int = 1000):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (11,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.step_s, self.horizon = step_us * 1e-6, horizon
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self.np_random.standard_normal(11), {}

    def step(self, action):
        end = time.perf_counter() + self.step_s
        while time.perf_counter() < end:
            pass
        self._t += 1
        obs = self.np_random.standard_normal(11)
        return obs, float(-np.square(action).sum()), False, self._t >= self.horizon, {}


def _env(name: str):
    return SpinEnv if name == "spin" else name


def _model(name: str, n_envs: int, n_steps: int, sampler=None):
    from fasttrpo import TRPO

    return TRPO("MlpPolicy", sampler if sampler is not None else _env(name)() if name == "spin"
                else name, n_envs=n_envs, n_steps=n_steps, batch_size=min(n_steps * n_envs, 128),
                seed=0, n_critic_updates=10)


def _collects(model, repeats: int) -> list[float]:
    from fasttrpo.rollout import RolloutBatch

    batch = RolloutBatch(model.n_steps, model.n_envs, model.encoder.obs_dim,
                         model.policy.action_width, model.dtype)
    model.sampler.reset(seed=0)
    times, split = [], []
    for _ in range(repeats + 1):  # the first warms the workers up
        start = time.perf_counter()
        assert model.sampler.collect(model.policy, batch, model.noise_streams)
        times.append(time.perf_counter() - start)
        split.append(dict(getattr(model.sampler, "timings", {})))
    return times[1:], split[1:], batch


def _update_s(model, batch, repeats: int = 3) -> float:
    """Median seconds of ``model.train(batch)`` with BLAS on one thread, as ``learn`` runs it
    (several BLAS threads spin against the other jobs of a shared machine)."""
    from threadpoolctl import threadpool_limits

    times = []
    with threadpool_limits(1):
        for _ in range(repeats + 1):  # the first loads the kernels
            start = time.perf_counter()
            model.train(batch)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def _single(name: str, n_envs: int, n_steps: int):
    if name == "spin":
        from gymnasium.vector import AutoresetMode, SyncVectorEnv

        from fasttrpo import TRPO

        venv = SyncVectorEnv([SpinEnv] * n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
        return TRPO("MlpPolicy", venv, n_steps=n_steps, batch_size=128, seed=0,
                    n_critic_updates=10)
    return _model(name, n_envs, n_steps)


def measure(envs, n_envs: int, n_steps_list, workers_list, repeats: int):
    """Yield one record per (env, sampler, batch size)."""
    from fasttrpo.rollout import RaySampler

    for name in envs:
        for n_steps in n_steps_list:
            samples = n_steps * n_envs
            model = _single(name, n_envs, n_steps)
            times, _, batch = _collects(model, repeats)
            yield dict(env=name, sampler="single", workers=0, samples=samples,
                       median_s=statistics.median(times), update_s=_update_s(model, batch),
                       samples_per_s=samples / statistics.median(times))
            for workers in workers_list:
                sampler = RaySampler(_env(name), n_workers=workers,
                                     envs_per_worker=n_envs // workers)
                model = _model(name, n_envs, n_steps, sampler)
                times, split, _ = _collects(model, repeats)
                yield dict(env=name, sampler="ray", workers=workers, samples=samples,
                           median_s=statistics.median(times),
                           samples_per_s=samples / statistics.median(times),
                           worker_rollout_max_s=statistics.median(
                               s["worker_rollout_max_s"] for s in split),
                           transfer_s=statistics.median(s["transfer_s"] for s in split))
                sampler.close()


def machine() -> dict:
    import platform
    import subprocess

    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if line.startswith("Model name")), platform.processor())
    return dict(cpu=cpu, nproc=os.cpu_count(), loadavg=os.getloadavg(),
                openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a check)")
    parser.add_argument("--out", type=Path, help="write the records as JSON")
    args = parser.parse_args(argv)
    import ray

    root = str(Path(__file__).resolve().parent.parent)  # workers import benchmarks.SpinEnv
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root,
                                                             os.environ.get("PYTHONPATH")]))
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    if args.smoke:
        runs = measure(["spin"], 2, [16], [2], 1)
    else:
        runs = measure(["spin", "Hopper-v5"], 4, [512, 4096], [1, 2], 5)
    records = []
    for record in runs:
        record["machine"] = machine()
        print(json.dumps(record))
        records.append(record)
    if started:
        ray.shutdown()
    if args.out:
        args.out.write_text(json.dumps(records, indent=1))
    return records


if __name__ == "__main__":
    main()
