"""``TRPOLagrangian``: TRPO on a Lagrangian-penalised advantage, the standard CPO baseline.

The multiplier ``lambda >= 0`` ascends ``lambda * (J_C - cost_limit)`` by Adam once per
rollout (as OmniSafe's ``Lagrange``), then a plain TRPO step maximises the surrogate of
``(A_r - lambda A_c) / (1 + lambda)`` (Ray et al., 2019, "Benchmarking Safe Exploration").
"""

from typing import Any

from fasttrpo.algorithms.base import UpdateBatch
from fasttrpo.algorithms.constrained import ConstrainedAlgorithm
from fasttrpo.algorithms.trpo import take_trpo_step
from fasttrpo.config import (
    TRPOLagrangianConfig,
    TRPOPIDLagrangianConfig,
    parameters_doc,
)
from fasttrpo.rollout.batch import COST, REWARD
from fasttrpo.steps.multiplier import LagrangeMultiplier, PIDLagrangeMultiplier

__all__ = ["TRPOLagrangian", "TRPOPIDLagrangian"]


class TRPOLagrangian(ConstrainedAlgorithm):  # noqa: D101 (built below, from the config)
    config_class = TRPOLagrangianConfig
    algorithm_name = "TRPOLagrangian"


    def _setup(self, config, observation_space, action_space, initialize: bool = True) -> None:
        super()._setup(config, observation_space, action_space, initialize)
        self.multiplier = self.make_multiplier(config)

    @staticmethod
    def make_multiplier(config) -> LagrangeMultiplier | PIDLagrangeMultiplier:
        """Return the multiplier this algorithm plugs in: Adam ascent (`LagrangeMultiplier`)."""
        return LagrangeMultiplier(config.lagrangian_multiplier_init,
                                  config.lagrangian_multiplier_lr, config.cost_limit)

    @property
    def lagrange_multiplier(self) -> float:
        """The current ``lambda`` (``self.multiplier.value``)."""
        return self.multiplier.value

    def update_multiplier(self, episode_cost: float) -> float:
        """One update of ``lambda`` from the rollout's episode cost; returns it."""
        return self.multiplier.update(episode_cost)

    def update_policy(self, data: UpdateBatch) -> None:
        """Update ``lambda`` from this rollout's episode cost, then one TRPO step."""
        episode_cost, _ = self.episode_cost(data)
        lam = self.update_multiplier(episode_cost)
        advantages = ((data.policy_advantages[REWARD] - lam * data.policy_advantages[COST])
                      / (1.0 + lam))
        take_trpo_step(self, data, advantages)
        self.record_constraint(episode_cost)
        self.logger.record("train/lagrange_multiplier", lam)

    def algorithm_state(self) -> dict[str, Any]:
        """Return the multiplier and its Adam moments."""
        return self.multiplier.state_dict()

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restore the multiplier (a file without one keeps the initial value)."""
        if state:
            self.multiplier.load_state_dict(state)


TRPOLagrangian.__doc__ = f"""TRPO-Lagrangian: TRPO with a learned penalty on the cost advantage.

The standard baseline of constrained RL, with TRPO's API. Each iteration the multiplier
``lambda`` (``model.lagrange_multiplier``) rises while the rollout's episode cost exceeds
``cost_limit`` and falls otherwise (Adam, clamped at 0); the policy takes a TRPO step on
the advantage ``(A_r - lambda A_c) / (1 + lambda)``.

{parameters_doc(TRPOLagrangianConfig)}"""


class TRPOPIDLagrangian(TRPOLagrangian):  # noqa: D101 (built below, from the config)
    config_class = TRPOPIDLagrangianConfig
    algorithm_name = "TRPOPIDLagrangian"


    @staticmethod
    def make_multiplier(config) -> PIDLagrangeMultiplier:
        """Return the multiplier this algorithm plugs in: a PID controller."""
        return PIDLagrangeMultiplier(
            config.pid_kp, config.pid_ki, config.pid_kd, config.cost_limit,
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
