"""Compiled environments: envs as Numba functions, run without Python in the loop.

- `CompiledEnv` and `check_env` (``contract``): the contract a user's env is written against.
- `make_port` / `PORTS` (``classic``): ports of gymnasium's classic-control tasks
  (CartPole-v1, Pendulum-v1, Acrobot-v1, MountainCar-v0, MountainCarContinuous-v0), checked
  against gymnasium's implementations.
- `CompiledVectorEnv` (``vector``): any compiled env as a gymnasium ``VectorEnv``.
- `uniform`, `seed_streams` (``rng``): the per-env random streams.

The compiled sampler that runs a whole rollout in one call is
``fasttrpo.rollout.CompiledSampler``; ``TRPO(..., compiled=True)`` (every algorithm) uses it.
"""

from fasttrpo.envs.compiled.classic import PORTS, make_port
from fasttrpo.envs.compiled.contract import CompiledEnv, check_env
from fasttrpo.envs.compiled.rng import seed_streams, uniform
from fasttrpo.envs.compiled.vector import CompiledVectorEnv

__all__ = ["PORTS", "CompiledEnv", "CompiledVectorEnv", "check_env", "make_port",
           "seed_streams", "uniform"]
