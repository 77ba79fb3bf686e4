"""Constrained on-policy algorithms: the cost signal, its critic and the episode-cost estimate.

A constrained MDP maximises the expected return subject to ``J_C <= cost_limit``, ``J_C``
the expected episode cost (the sum of the per-step ``info["cost"]``). The algorithms here
(`fasttrpo.algorithms.cpo.CPO`, `fasttrpo.algorithms.lagrangian.TRPOLagrangian`) add the
``"cost"`` signal to every batch, so each gets a cost critic (its own MLP and fitter, saved
as ``value_cost`` and ``vf_optimizer_cost``) and cost advantages from GAE with
``cost_gamma`` and ``cost_gae_lambda``, centred but not scaled. They differ only in their
policy step.
"""

from typing import Any, ClassVar

import numpy as np

from fasttrpo.algorithms.base import OnPolicyAlgorithm, UpdateBatch
from fasttrpo.config import ConstrainedConfig
from fasttrpo.rollout.batch import COST, REWARD

__all__ = ["ConstrainedAlgorithm"]


class ConstrainedAlgorithm(OnPolicyAlgorithm):
    """Base of the constrained algorithms: hyperparameters as keywords, the cost signal.

    Parameters
    ----------
    policy : str
        ``"MlpPolicy"``.
    env : str, gymnasium.Env or gymnasium.vector.VectorEnv
        Must report a per-step ``info["cost"]`` (a ValueError at the first step otherwise).
    **hyperparams
        The fields of ``config_class`` (and sb3's no-op arguments).
    """

    config_class: ClassVar[type[ConstrainedConfig]] = ConstrainedConfig
    signals: ClassVar[tuple[str, ...]] = (REWARD, COST)

    def __init__(self, policy: str, env, **hyperparams: Any) -> None:
        super().__init__(policy, env, self.config_from_kwargs(hyperparams))

    def episode_cost(self, data: UpdateBatch) -> tuple[float, float]:
        """``(J_C, mean episode length)``: the estimate the constraint is checked against.

        The mean cost and length of the episodes that ended in this rollout; if none ended,
        of the last ``stats_window_size`` episodes; before any episode has ended, the mean
        per-step cost times ``n_steps`` over ``n_steps`` steps.
        """
        episodes = [e for e in data.episodes if "c" in e]
        if not episodes:
            episodes = [e for e in self.ep_info_buffer if "c" in e]
        if episodes:
            return (float(np.mean([e["c"] for e in episodes])),
                    float(np.mean([e["l"] for e in episodes])))
        steps = float(self.config.n_steps)
        return data.signal_means[COST] * steps, steps

    def record_constraint(self, episode_cost: float) -> None:
        """Log the episode-cost estimate and its margin to the limit."""
        log = self.logger
        log.record("train/episode_cost", episode_cost)
        log.record("train/cost_limit_margin", self.config.cost_limit - episode_cost)
