"""Rollouts: the batch every algorithm reads, the sampler protocol, and the samplers."""

from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.gym_sampler import VectorEnvSampler, make_vector_env
from fasttrpo.rollout.sampler import Sampler

__all__ = ["CompiledSampler", "RolloutBatch", "Sampler", "VectorEnvSampler", "make_vector_env"]


def __getattr__(name: str):
    # the compiled sampler (and the compiled envs it imports) load on first use only
    if name == "CompiledSampler":
        from fasttrpo.rollout.compiled import CompiledSampler

        return CompiledSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
