"""Rollouts: the batch every algorithm reads, the sampler protocol, and the samplers."""

from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.gym_sampler import VectorEnvSampler, make_vector_env
from fasttrpo.rollout.sampler import Sampler

__all__ = ["RolloutBatch", "Sampler", "VectorEnvSampler", "make_vector_env"]
