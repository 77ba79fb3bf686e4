"""``TRPOLagrangian``: TRPO on a Lagrangian-penalised advantage, the standard CPO baseline.

The multiplier ``lambda >= 0`` ascends ``lambda * (J_C - cost_limit)`` by Adam once per
rollout (as OmniSafe's ``Lagrange``), then a plain TRPO step maximises the surrogate of
``(A_r - lambda A_c) / (1 + lambda)`` (Ray et al., 2019, "Benchmarking Safe Exploration").
Several costs: one multiplier each, ``(A_r - sum_i lambda_i A_ci) / (1 + sum_i lambda_i)``.
"""

from typing import Any, ClassVar

import numpy as np

from fasttrpo.algorithms.base import UpdateBatch
from fasttrpo.algorithms.constrained import ConstrainedAlgorithm, record_per_cost
from fasttrpo.algorithms.trpo import take_trpo_step
from fasttrpo.config import (
    ConstrainedConfig,
    TRPOLagrangianConfig,
    TRPOPIDLagrangianConfig,
    parameters_doc,
)
from fasttrpo.rollout.batch import REWARD
from fasttrpo.steps.multiplier import LagrangeMultiplier, PIDLagrangeMultiplier

__all__ = ["TRPOLagrangian", "TRPOPIDLagrangian"]


class TRPOLagrangian(ConstrainedAlgorithm):  # noqa: D101 (built below, from the config)
    config_class: ClassVar[type[ConstrainedConfig]] = TRPOLagrangianConfig
    algorithm_name = "TRPOLagrangian"


    def _setup(self, config, observation_space, action_space, initialize: bool = True) -> None:
        super()._setup(config, observation_space, action_space, initialize)
        # one multiplier per cost constraint, each on its own limit
        self.multipliers = [self.make_multiplier(config, limit)
                            for limit in config.cost_limits]

    @staticmethod
    def make_multiplier(config, cost_limit: float) -> LagrangeMultiplier | PIDLagrangeMultiplier:
        """Return the multiplier plugged in for one cost: Adam ascent (`LagrangeMultiplier`)."""
        return LagrangeMultiplier(config.lagrangian_multiplier_init,
                                  config.lagrangian_multiplier_lr, cost_limit)

    @property
    def multiplier(self) -> LagrangeMultiplier | PIDLagrangeMultiplier:
        """The multiplier of a single-cost model (the first of ``multipliers``)."""
        return self.multipliers[0]

    @property
    def lagrange_multiplier(self) -> float | tuple[float, ...]:
        """The current ``lambda``: a float for one cost, a tuple (one per cost) for several."""
        values = tuple(m.value for m in self.multipliers)
        return values[0] if len(values) == 1 else values

    def update_multiplier(self, episode_cost) -> np.ndarray:
        """One update of each ``lambda_i`` from the rollout's episode costs; returns them."""
        costs = np.atleast_1d(np.asarray(episode_cost, dtype=np.float64))
        return np.array([m.update(float(cost))
                         for m, cost in zip(self.multipliers, costs, strict=True)])

    def update_policy(self, data: UpdateBatch) -> None:
        """Update each ``lambda_i`` from this rollout's episode costs, then one TRPO step."""
        episode_cost, _ = self.episode_cost(data)
        lams = self.update_multiplier(episode_cost)
        # (A_r - sum_i lambda_i A_ci) / (1 + sum_i lambda_i)
        penalty, total = 0.0, 0.0
        for lam, signal in zip(lams.tolist(), self.cost_signals, strict=True):
            penalty = penalty + lam * data.policy_advantages[signal]
            total += lam
        advantages = (data.policy_advantages[REWARD] - penalty) / (1.0 + total)
        take_trpo_step(self, data, advantages)
        self.record_constraint(episode_cost)
        record_per_cost(self, "train/lagrange_multiplier", lams)

    def algorithm_state(self) -> dict[str, Any]:
        """Return the multipliers' states (one cost: the multiplier's own, as before)."""
        if len(self.multipliers) == 1:
            return self.multiplier.state_dict()
        return {"multipliers": [m.state_dict() for m in self.multipliers]}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restore the multipliers (a file without their state keeps the initial values)."""
        if not state:
            return
        states = state.get("multipliers", [state]) if isinstance(state, dict) else None
        if not isinstance(states, list) or len(states) != len(self.multipliers):
            raise ValueError(f"algorithm_state: expected the state of {len(self.multipliers)} "
                             "Lagrange multiplier(s), one per cost")
        for multiplier, one in zip(self.multipliers, states, strict=True):
            if not isinstance(one, dict):
                raise ValueError("algorithm_state: a multiplier state must be a JSON object")
            multiplier.load_state_dict(one)


TRPOLagrangian.__doc__ = f"""TRPO-Lagrangian: TRPO with a learned penalty on the cost advantage.

The standard baseline of constrained RL, with TRPO's API. Each iteration the multiplier
``lambda`` (``model.lagrange_multiplier``) rises while the rollout's episode cost exceeds
``cost_limit`` and falls otherwise (Adam, clamped at 0); the policy takes a TRPO step on
the advantage ``(A_r - lambda A_c) / (1 + lambda)``. With several costs (a list of
``cost_limit`` values) each has its own multiplier and the advantage is
``(A_r - sum_i lambda_i A_ci) / (1 + sum_i lambda_i)``.

{parameters_doc(TRPOLagrangianConfig)}"""


class TRPOPIDLagrangian(TRPOLagrangian):  # noqa: D101 (built below, from the config)
    config_class = TRPOPIDLagrangianConfig
    algorithm_name = "TRPOPIDLagrangian"


    @staticmethod
    def make_multiplier(config, cost_limit: float) -> PIDLagrangeMultiplier:
        """Return the multiplier plugged in for one cost: a PID controller."""
        return PIDLagrangeMultiplier(
            config.pid_kp, config.pid_ki, config.pid_kd, cost_limit,
            init=config.lagrangian_multiplier_init, d_delay=config.pid_d_delay,
            delta_p_ema_alpha=config.pid_delta_p_ema_alpha,
            delta_d_ema_alpha=config.pid_delta_d_ema_alpha, penalty_max=config.penalty_max)


TRPOPIDLagrangian.__doc__ = f"""PID-Lagrangian TRPO (Stooke, Achiam and Abbeel, 2020).

TRPO-Lagrangian whose multiplier ``lambda`` (``model.lagrange_multiplier``) is set each
iteration by a PID controller on the episode-cost error ``J_C - cost_limit``
(`fasttrpo.steps.multiplier.PIDLagrangeMultiplier`): the integral term is the classic
Lagrangian update, the proportional term reacts to the current violation and the derivative
term to a rising cost, which damps the oscillation and the overshoot of the integral-only
multiplier. The policy takes a TRPO step on ``(A_r - lambda A_c) / (1 + lambda)``.

{parameters_doc(TRPOPIDLagrangianConfig)}"""
