"""fasttrpo: Trust Region Policy Optimization on the CPU with compiled analytic kernels.

The public classes are imported on first use (PEP 562), so ``import fasttrpo.runtime``
loads numpy only, not numba, scipy, gymnasium or the compiled extensions.
"""

import importlib
from typing import TYPE_CHECKING, Any

from fasttrpo.foundation.numba_cache import invalidate_stale_cache

invalidate_stale_cache()  # compiled kernels never outlive a change of their sources

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load lazily
    from fasttrpo.algorithms.cpo import CPO, PCPO
    from fasttrpo.algorithms.lagrangian import TRPOLagrangian, TRPOPIDLagrangian
    from fasttrpo.algorithms.presets import TRPOEarlyTerminated, TRPOSaute
    from fasttrpo.algorithms.trpo import TRPO
    from fasttrpo.models.policies import (
        BernoulliMLPPolicy,
        CategoricalMLPPolicy,
        GaussianMLPPolicy,
        GaussianSDEMLPPolicy,
        MultiCategoricalMLPPolicy,
    )
    from fasttrpo.models.value_function import ValueFunction

__all__ = [
    "CPO",
    "PCPO",
    "TRPO",
    "TRPOLagrangian",
    "TRPOPIDLagrangian",
    "TRPOSaute",
    "TRPOEarlyTerminated",
    "BernoulliMLPPolicy",
    "CategoricalMLPPolicy",
    "GaussianMLPPolicy",
    "GaussianSDEMLPPolicy",
    "MultiCategoricalMLPPolicy",
    "ValueFunction",
]
__version__: str  # read from the installed package's metadata on first access (pyproject.toml)

# public name -> the module that defines it
_LAZY = {
    "CPO": "fasttrpo.algorithms.cpo",
    "PCPO": "fasttrpo.algorithms.cpo",
    "TRPO": "fasttrpo.algorithms.trpo",
    "TRPOLagrangian": "fasttrpo.algorithms.lagrangian",
    "TRPOPIDLagrangian": "fasttrpo.algorithms.lagrangian",
    "TRPOSaute": "fasttrpo.algorithms.presets",
    "TRPOEarlyTerminated": "fasttrpo.algorithms.presets",
    "BernoulliMLPPolicy": "fasttrpo.models.policies",
    "CategoricalMLPPolicy": "fasttrpo.models.policies",
    "GaussianMLPPolicy": "fasttrpo.models.policies",
    "GaussianSDEMLPPolicy": "fasttrpo.models.policies",
    "MultiCategoricalMLPPolicy": "fasttrpo.models.policies",
    "ValueFunction": "fasttrpo.models.value_function",
}


def __getattr__(name: str):
    """Import a public class or a submodule (``fasttrpo.models``), or read ``__version__``."""
    value: Any
    if name == "__version__":  # importlib.metadata costs ~20 ms: not paid by ``import fasttrpo``
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("fasttrpo")
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise  # the submodule exists but a dependency of it is missing
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public names and the submodules loaded so far; not this module's own imports
    # (importlib, TYPE_CHECKING, invalidate_stale_cache)
    submodules = {name for name, value in globals().items()
                  if getattr(value, "__name__", "") == f"{__name__}.{name}"}
    return sorted(set(__all__) | submodules | {"__version__"})
