"""fasttrpo: Trust Region Policy Optimization on the CPU with compiled analytic kernels."""

from fasttrpo.policies import (
    BernoulliMLPPolicy,
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    MultiCategoricalMLPPolicy,
)

__all__ = [
    "BernoulliMLPPolicy",
    "CategoricalMLPPolicy",
    "GaussianMLPPolicy",
    "MultiCategoricalMLPPolicy",
]
__version__ = "0.1.0"
