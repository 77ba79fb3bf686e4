"""On-policy algorithms: a shared base and each algorithm's own policy step."""

from fasttrpo.algorithms.base import OnPolicyAlgorithm, UpdateBatch
from fasttrpo.algorithms.trpo import TRPO

__all__ = ["TRPO", "OnPolicyAlgorithm", "UpdateBatch"]
