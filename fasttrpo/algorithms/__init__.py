"""On-policy algorithms: a shared base and each algorithm's own policy step."""

from fasttrpo.algorithms.base import OnPolicyAlgorithm, UpdateBatch
from fasttrpo.algorithms.constrained import ConstrainedAlgorithm
from fasttrpo.algorithms.cpo import CPO, PCPO
from fasttrpo.algorithms.lagrangian import TRPOLagrangian, TRPOPIDLagrangian
from fasttrpo.algorithms.presets import TRPOEarlyTerminated, TRPOSaute
from fasttrpo.algorithms.trpo import TRPO
from fasttrpo.config import ALGORITHM_CONFIGS
from fasttrpo.logs.serialization import load_archive

__all__ = ["ALGORITHMS", "CPO", "PCPO", "TRPO", "ConstrainedAlgorithm", "OnPolicyAlgorithm",
           "TRPOEarlyTerminated", "TRPOLagrangian", "TRPOPIDLagrangian", "TRPOSaute",
           "UpdateBatch", "load_model"]

#: the CLI's ``--algo`` names: those of `fasttrpo.config.ALGORITHM_CONFIGS` (the one registry),
#: each with the algorithm built on that config
ALGORITHMS: dict[str, type[OnPolicyAlgorithm]] = {
    name: next(cls for cls in (TRPO, CPO, PCPO, TRPOLagrangian, TRPOPIDLagrangian, TRPOSaute,
                                TRPOEarlyTerminated)
               if cls.config_class is config)
    for name, config in ALGORITHM_CONFIGS.items()}


def load_model(path, env=None, **overrides) -> OnPolicyAlgorithm:
    """Load a saved model of any fasttrpo algorithm (the file names its algorithm).

    Parameters are those of `OnPolicyAlgorithm.load`.
    """
    meta, _ = load_archive(path)
    name = meta.get("algorithm")
    by_name = {cls.algorithm_name: cls for cls in ALGORITHMS.values()}
    if name not in by_name:
        raise ValueError(f"{path}: not a fasttrpo model of a known algorithm "
                         f"(algorithm={name!r}; known: {', '.join(by_name)})")
    return by_name[name].load(path, env=env, **overrides)
