"""Compiled rollouts (issue 11): what ``CompiledSampler`` / ``compiled=True`` buys.

- `RolloutPair`: one 64x64 tanh float32 policy (a ``TRPO`` model's, seed 0) and the two
  samplers on the same task with the same number of envs: `VectorEnvSampler` over
  ``gym.make_vec(id, n, "sync", SAME_STEP)`` (``fasttrpo.rollout.make_vector_env``) and
  `CompiledSampler` over the port (``fasttrpo.envs.compiled.make_port``). One ``collect`` of
  ``n_steps`` vector steps is the timed unit; each sampler continues its own episodes from
  call to call (steady state, autoresets included).
- `run_variant`: a zoo-hyperparameter run (``hyperparams/trpo.yml``) of fasttrpo with
  ``compiled`` on or off (`benchmarks.e2e.run_fasttrpo`: the learning curve per rollout, the
  model's own ``time/rollout_s`` and ``time/update_s``, the deterministic evaluation on
  gymnasium's env, seeds 10000..10009) or of sb3-contrib (`benchmarks.e2e.run_sb3`, torch on
  one thread).
- `machine`: the figures' machine line (nproc, CPU model, load average, OPENBLAS_CORETYPE).

Used by ``test_bench_compiled.py`` and ``compiled_seeds.py``.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache

from benchmarks import e2e

ENV_IDS = ("CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0",
           "MountainCarContinuous-v0")
IMPLS = ("gym", "compiled")
E2E_VARIANTS = ("fasttrpo compiled", "fasttrpo gym", "sb3-contrib")
POLICY_KWARGS = dict(net_arch=[64, 64], activation_fn="tanh")
_warm: set = set()


# ---- the machine line ----------------------------------------------------------------------
@lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "?"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "?"


def machine() -> dict:
    """nproc, CPU model, load average (1/5/15 min) now and OPENBLAS_CORETYPE."""
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        nproc = os.cpu_count()
    return {"nproc": nproc, "cpu": _cpu_model(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset")}


def format_machine(info: dict, load_end: dict | None = None) -> str:
    load = " ".join(f"{x:.2f}" for x in info["loadavg"])
    if load_end is not None:
        load += " -> " + " ".join(f"{x:.2f}" for x in load_end["loadavg"])
    return (f"nproc {info['nproc']}, {info['cpu']}, load average {load}, "
            f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}")


# ---- rollout throughput --------------------------------------------------------------------
class RolloutPair:
    """The same policy, task and env count under the gymnasium and the compiled sampler."""

    def __init__(self, env_id: str, n_envs: int, n_steps: int, seed: int = 0) -> None:
        from fasttrpo import TRPO
        from fasttrpo.envs.compiled import make_port
        from fasttrpo.rollout import (
            CompiledSampler,
            NoiseStreams,
            RolloutBatch,
            VectorEnvSampler,
            make_vector_env,
        )

        self.env_id, self.n_envs, self.n_steps = env_id, n_envs, n_steps
        model = TRPO("MlpPolicy", env_id, n_envs=n_envs, n_steps=n_steps, dtype="float32",
                     seed=seed, policy_kwargs=POLICY_KWARGS)
        self.policy = model.policy
        encoder, codec, dtype = model.encoder, model.codec, self.policy.dtype
        self.samplers = {
            "gym": VectorEnvSampler(make_vector_env(env_id, n_envs), encoder, codec,
                                    dtype=dtype),
            "compiled": CompiledSampler(make_port(env_id), n_envs, encoder, codec,
                                        dtype=dtype),
        }
        self.batches, self.rngs = {}, {}
        for impl, sampler in self.samplers.items():
            sampler.reset(seed=seed)
            self.batches[impl] = RolloutBatch(n_steps, n_envs, encoder.obs_dim,
                                              self.policy.action_width, dtype)
            self.rngs[impl] = NoiseStreams(seed)

    @property
    def steps(self) -> int:
        """Env steps per ``collect`` (vector steps x envs)."""
        return self.n_steps * self.n_envs

    def collector(self, impl: str):
        """A no-argument function doing one ``collect`` with sampler ``impl``."""
        sampler, batch, rng = self.samplers[impl], self.batches[impl], self.rngs[impl]
        policy = self.policy

        def collect():
            if not sampler.collect(policy, batch, rng):
                raise RuntimeError("collect stopped early")
            return batch

        return collect


# ---- end to end ----------------------------------------------------------------------------
def run_variant(variant: str, env_id: str, seed: int, timesteps: int | None = None,
                n_steps: int | None = None) -> dict:
    """Run `benchmarks.e2e.run_fasttrpo` (compiled / gym) or `benchmarks.e2e.run_sb3`.

    ``variant`` is one of ``E2E_VARIANTS``.
    """
    if variant == "sb3-contrib":
        return e2e.run_sb3(env_id, seed, timesteps, n_steps)
    return e2e.run_fasttrpo(env_id, seed, timesteps, n_steps,
                            compiled=variant == "fasttrpo compiled")
