"""Rollouts: the batch every algorithm reads, the sampler protocol, and the samplers."""

from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.gym_sampler import VectorEnvSampler, make_vector_env
from fasttrpo.rollout.sampler import Sampler
from fasttrpo.rollout.streams import NoiseStreams

__all__ = ["CompiledSampler", "NoiseStreams", "RaySampler", "RolloutBatch", "Sampler",
           "VectorEnvSampler", "make_vector_env"]


def __getattr__(name: str):
    # the compiled sampler (and the compiled envs it imports) and the Ray sampler load on
    # first use only (importing fasttrpo never imports ray)
    if name == "CompiledSampler":
        from fasttrpo.rollout.compiled import CompiledSampler

        return CompiledSampler
    if name == "RaySampler":
        from fasttrpo.rollout.ray_sampler import RaySampler

        return RaySampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
