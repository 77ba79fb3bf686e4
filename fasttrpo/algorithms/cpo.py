"""``CPO``: Constrained Policy Optimization (Achiam et al., 2017) on the shared core.

Only the policy step (`fasttrpo.steps.cpo.cpo_step`) is CPO's own; the cost signal and its
critic come from `fasttrpo.algorithms.constrained.ConstrainedAlgorithm`.
"""

import warnings

import numpy as np

from fasttrpo.algorithms.base import UpdateBatch
from fasttrpo.algorithms.constrained import ConstrainedAlgorithm, record_per_cost
from fasttrpo.algorithms.trpo import kl_scale, policy_sequences, trust_region_kwargs
from fasttrpo.config import (
    COST_ENV_DOC,
    CPOConfig,
    PCPOConfig,
    parameters_doc,
)
from fasttrpo.rollout.batch import REWARD
from fasttrpo.steps.cpo import cpo_step
from fasttrpo.steps.margin import RiseMargin
from fasttrpo.steps.pcpo import pcpo_step
from fasttrpo.steps.trpo import StepOutcome

__all__ = ["CPO", "PCPO", "log_constrained_step"]


class CPO(ConstrainedAlgorithm):  # noqa: D101 (the docstring is built below, from CPOConfig)
    config_class = CPOConfig
    config: CPOConfig
    algorithm_name = "CPO"


    def _setup(self, config, observation_space, action_space, initialize: bool = True) -> None:
        super()._setup(config, observation_space, action_space, initialize)
        self.margin = (RiseMargin(len(config.cost_limits))
                             if config.limit_margin == "rise" else None)

    def constraint_value(self, episode_cost: np.ndarray,
                         episode_length: float) -> np.ndarray:
        """``c`` (k,) of the linearised constraints ``B x + c <= 0`` in ``constraint_units``.

        With ``limit_margin="rise"`` each limit is lowered by its current margin.
        """
        limits = np.asarray(self.config.cost_limits)
        if self.margin is not None:
            limits = limits - self.margin.value
        violation = np.asarray(episode_cost) - limits
        if self.config.constraint_units == "per_step":
            return violation / max(episode_length, 1.0)
        return violation

    def estimate_constraint(self, data: UpdateBatch) -> tuple[np.ndarray, np.ndarray]:
        """Return this rollout's ``(J_C, c)``; the margin (if any) takes ``J_C`` first."""
        episode_cost, episode_length = self.episode_cost(data)
        if self.margin is not None:
            record_per_cost(self, "train/limit_margin", self.margin.update(episode_cost))
        return episode_cost, self.constraint_value(episode_cost, episode_length)

    def algorithm_state(self) -> dict:
        """Return the limit margin's state (none without one)."""
        return {} if self.margin is None else {"limit_margin":
                                                     self.margin.state_dict()}

    def load_algorithm_state(self, state: dict) -> None:
        """Restore the limit margin (a file without it keeps a fresh one)."""
        if self.margin is not None and state.get("limit_margin") is not None:
            self.margin.load_state_dict(state["limit_margin"])
        elif set(state) - {"limit_margin"}:
            super().load_algorithm_state(state)

    def update_policy(self, data: UpdateBatch) -> None:
        """One CPO step on the sub-sampled batch, against this rollout's episode costs."""
        episode_cost, constraint = self.estimate_constraint(data)
        info = cpo_step(
            self.policy, data.policy_obs, data.policy_actions, data.policy_advantages[REWARD],
            self.cost_advantages(data), constraint, None, masks=data.policy_masks,
            sequences=policy_sequences(data),
            **trust_region_kwargs(self.config, self.policy))
        if info.outcome is StepOutcome.BAD_CURVATURE:
            warnings.warn(f"CPO step skipped: {info.reason}", RuntimeWarning, stacklevel=4)
        self.record_constraint(episode_cost)
        log_constrained_step(self, info)
        self.logger.record("train/cpo_case", int(info.case))
        self.logger.record("train/lagrange_lambda", info.lagrange_lambda)
        record_per_cost(self, "train/lagrange_nu", info.lagrange_nu)


def log_constrained_step(model, info) -> None:
    """Record what every constrained trust-region step reports (CPO's and PCPO's info)."""
    log = model.logger
    # sb3-contrib logs the objective at the accepted parameters (the old ones if none)
    log.record("train/policy_objective",
               info.surrogate_after if info.accepted else info.surrogate_before)
    log.record("train/kl_divergence_loss", info.kl / kl_scale(model.config, model.policy))
    log.record("train/is_line_search_success", float(info.accepted))
    log.record("train/cg_iterations", sum(info.cg_iterations))
    log.record("train/step_fraction", info.step_fraction)
    record_per_cost(model, "train/constraint_c", info.constraint)
    record_per_cost(model, "train/cost_surrogate_change", info.cost_surrogate_change)

_CPO_ENV_DOC = COST_ENV_DOC[:-1] + (" (`fasttrpo.envs` has safety tasks;\n    "
                                    "`fasttrpo.envs.CostInInfo` adapts six-value ``step`` "
                                    "envs).")

CPO.__doc__ = f"""Constrained Policy Optimization (Achiam et al., 2017) with compiled kernels.

TRPO's API (`fasttrpo.TRPO`: the same names, ``learn``, ``predict``, ``save``, ``load``,
``export``) for a constrained MDP: maximise the return subject to an expected episode cost
``J_C <= cost_limit``, the cost being the env's per-step ``info["cost"]``. Each iteration
takes one step that solves the trust-region problem with the linearised cost constraint (the
five cases of the paper's appendix, `fasttrpo.steps.cpo`), from the reward and cost gradients
of one linearisation and two CG solves, then a line search that keeps the KL bound and the
cost constraint. A cost critic is fitted next to the value function. A list of
``cost_limit`` values constrains several costs at once: the step's small dual problem is
then solved exactly (`fasttrpo.steps.cpo.solve_cpo_constraints`).

{parameters_doc(CPOConfig, _CPO_ENV_DOC)}
Examples
--------
>>> from fasttrpo import CPO
>>> model = CPO("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", cost_limit=10.0, seed=0)
>>> model = model.learn(20_000)  # doctest: +SKIP
"""


class PCPO(CPO):  # noqa: D101 (the docstring is built below, from PCPOConfig)
    config_class = PCPOConfig
    config: PCPOConfig
    algorithm_name = "PCPO"


    def update_policy(self, data: UpdateBatch) -> None:
        """One PCPO step on the sub-sampled batch, against this rollout's episode cost."""
        episode_cost, constraint = self.estimate_constraint(data)
        info = pcpo_step(
            self.policy, data.policy_obs, data.policy_actions, data.policy_advantages[REWARD],
            self.cost_advantages(data), constraint, self.config.projection, None,
            masks=data.policy_masks, sequences=policy_sequences(data),
            **trust_region_kwargs(self.config, self.policy))
        if info.outcome is StepOutcome.BAD_CURVATURE:
            warnings.warn(f"PCPO step skipped: {info.reason}", RuntimeWarning, stacklevel=4)
        self.record_constraint(episode_cost)
        log_constrained_step(self, info)
        record_per_cost(self, "train/projection_coefficient", info.projection_coefficient)


PCPO.__doc__ = f"""Projection-Based Constrained Policy Optimization (Yang et al., 2020).

CPO's API and cost critic; each iteration takes TRPO's natural-gradient reward step to the
trust region's boundary, then projects it onto the linearised cost constraint in the KL
(``projection="kl"``) or the Euclidean (``"l2"``) norm (`fasttrpo.steps.pcpo`), from one
linearisation and two CG solves. With several costs (a list of ``cost_limit`` values) the
projection is onto the intersection of their linearised constraints.

{parameters_doc(PCPOConfig)}"""
