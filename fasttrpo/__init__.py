"""fasttrpo: Trust Region Policy Optimization on the CPU with compiled analytic kernels."""

from fasttrpo.policies import (
    BernoulliMLPPolicy,
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    MultiCategoricalMLPPolicy,
)
from fasttrpo.trpo import TRPO
from fasttrpo.value_function import ValueFunction

__all__ = [
    "TRPO",
    "BernoulliMLPPolicy",
    "CategoricalMLPPolicy",
    "GaussianMLPPolicy",
    "MultiCategoricalMLPPolicy",
    "ValueFunction",
]
__version__ = "0.1.0"
