"""Constrained on-policy algorithms: the cost signal, its critic and the episode-cost estimate.

A constrained MDP maximises the expected return subject to ``J_C <= cost_limit``, ``J_C``
the expected episode cost (the sum of the per-step ``info["cost"]``). The algorithms here
(`fasttrpo.algorithms.cpo.CPO`, `fasttrpo.algorithms.lagrangian.TRPOLagrangian`) add the
``"cost"`` signal to every batch, so each gets a cost critic (its own MLP and fitter, saved
as ``value_cost`` and ``vf_optimizer_cost``) and cost advantages from GAE with
``cost_gamma`` and ``cost_gae_lambda``, centred but not scaled. They differ only in their
policy step. With several constraints (a list of ``cost_limit`` values) each cost is a
signal of its own (``cost[0]``, ``cost[1]``, ... or the names of ``cost_keys``), with its
critic, advantages and episode-cost estimate.
"""

from typing import Any, ClassVar

import numpy as np

from fasttrpo.algorithms.base import OnPolicyAlgorithm, UpdateBatch
from fasttrpo.config import ConstrainedConfig, OnPolicyConfig
from fasttrpo.rollout.batch import REWARD

__all__ = ["ConstrainedAlgorithm", "record_per_cost"]


class ConstrainedAlgorithm(OnPolicyAlgorithm):
    """Base of the constrained algorithms: hyperparameters as keywords, the cost signals.

    Parameters
    ----------
    policy : str
        ``"MlpPolicy"``, or ``"MlpGruPolicy"`` (a GRU policy).
    env : str, gymnasium.Env or gymnasium.vector.VectorEnv
        Must report a per-step ``info["cost"]`` (a ValueError at the first step otherwise),
        or the keys of ``cost_keys``.
    **hyperparams
        The fields of ``config_class`` (and sb3's no-op arguments).
    """

    config_class: ClassVar[type[ConstrainedConfig]] = ConstrainedConfig
    config: ConstrainedConfig

    def __init__(self, policy: str, env, **hyperparams: Any) -> None:
        super().__init__(policy, env, self.config_from_kwargs(hyperparams))

    @classmethod
    def signals_for(cls, config: OnPolicyConfig) -> tuple[str, ...]:
        """``"reward"`` and one signal per cost (``config.cost_signals``), each with a critic."""
        assert isinstance(config, ConstrainedConfig)  # an instance of cls.config_class
        return (REWARD, *config.cost_signals)

    @property
    def cost_signals(self) -> tuple[str, ...]:
        """The cost signals, one per constraint (``config.cost_signals``)."""
        return self.config.cost_signals

    def cost_advantages(self, data: UpdateBatch) -> np.ndarray:
        """Return the policy rows' cost advantages: (N,) for one cost, (k, N) for several."""
        rows = [data.policy_advantages[signal] for signal in self.cost_signals]
        return rows[0] if len(rows) == 1 else np.stack(rows)

    def episode_cost(self, data: UpdateBatch) -> tuple[np.ndarray, float]:
        """``(J_C (k,), mean episode length)``: the estimates the constraints are checked against.

        The mean cost (per cost signal) and length of the episodes that ended in this rollout;
        if none ended, of the last ``stats_window_size`` episodes; before any episode has
        ended, the mean per-step cost times ``n_steps`` over ``n_steps`` steps.
        """
        k = len(self.cost_signals)
        episodes = [e for e in data.episodes if len(e.get("costs", ())) == k]
        if not episodes:
            episodes = [e for e in self.ep_info_buffer if len(e.get("costs", ())) == k]
        if episodes:
            return (np.array([np.mean([e["costs"][i] for e in episodes]) for i in range(k)]),
                    float(np.mean([e["l"] for e in episodes])))
        steps = float(self.config.n_steps)
        return (np.array([data.signal_means[signal] for signal in self.cost_signals]) * steps,
                steps)

    def record_constraint(self, episode_cost: np.ndarray) -> None:
        """Log the episode-cost estimates and their margins to the limits."""
        record_per_cost(self, "train/episode_cost", episode_cost)
        record_per_cost(self, "train/cost_limit_margin",
                        np.asarray(self.config.cost_limits) - episode_cost)


def record_per_cost(model: ConstrainedAlgorithm, key: str, values) -> None:
    """Log one value per cost: under ``key`` for one cost, ``key/<signal>`` for several."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    signals = model.cost_signals
    if len(signals) == 1:
        model.logger.record(key, float(values[0]))
        return
    for signal, value in zip(signals, values, strict=True):
        model.logger.record(f"{key}/{signal}", float(value))
