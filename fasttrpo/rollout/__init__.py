"""Rollouts: the batch every algorithm reads, the sampler protocol, and the samplers."""

from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.gym_sampler import VectorEnvSampler, make_vector_env
from fasttrpo.rollout.sampler import Sampler
from fasttrpo.rollout.sb3_vec_env import Sb3VecEnvView
from fasttrpo.rollout.streams import NoiseStreams

__all__ = ["CompiledSampler", "NoiseStreams", "RaySampler", "ResourceShortageError",
           "RolloutBatch", "Sampler", "Sb3VecEnvView", "VectorEnvSampler", "WorkerError",
           "WorkerTimeoutError", "make_vector_env"]

_RAY_NAMES = ("RaySampler", "ResourceShortageError", "WorkerError", "WorkerTimeoutError")


def __getattr__(name: str):
    # the compiled sampler (and the compiled envs it imports) and the Ray sampler load on
    # first use only (importing fasttrpo never imports ray)
    if name == "CompiledSampler":
        from fasttrpo.rollout.compiled import CompiledSampler

        return CompiledSampler
    if name in _RAY_NAMES:  # the module imports ray only when a sampler starts its workers
        from fasttrpo.rollout import ray_sampler

        return getattr(ray_sampler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
