"""``TRPO``: sb3-contrib's TRPO API running fasttrpo's compiled kernels.

Only the policy step is TRPO's own; everything else is
`fasttrpo.algorithms.base.OnPolicyAlgorithm`.
"""

import warnings
from typing import Any

from fasttrpo.algorithms.base import OnPolicyAlgorithm, UpdateBatch
from fasttrpo.config import TRPOConfig, config_field_docs
from fasttrpo.foundation.config_checks import LearningRate
from fasttrpo.foundation.heads import CATEGORICAL
from fasttrpo.rollout.batch import REWARD
from fasttrpo.steps.trpo import StepOutcome, TRPOStepInfo, trpo_step

__all__ = ["TRPO", "kl_scale", "policy_sequences", "take_trpo_step", "trust_region_kwargs"]


def kl_scale(config: TRPOConfig, policy) -> int:
    """Return ``d``, the joint-KL units of one unit of ``target_kl`` (1 for the joint KL).

    With ``kl_per_action_dim`` a factorised head's KL is averaged over its ``d`` action
    dimensions, as sb3-contrib's ``kl_divergence(...).mean()`` does for diagonal Gaussians
    (gSDE included) and Bernoullis; categorical heads keep d = 1 (sb3 sums a MultiDiscrete's
    categoricals).
    """
    if not config.kl_per_action_dim or policy.head == CATEGORICAL:
        return 1
    return policy.action_width


def trust_region_kwargs(config: TRPOConfig, policy) -> dict:
    """Return the trust-region and line-search keywords of `trpo_step` / `cpo_step`.

    The steps work on the joint KL. sb3-contrib's per-dimension mean KL is ``KL / d`` with
    Fisher ``F / d``, and ``(F / d + damping I) = (F + d damping I) / d``: bounding it by
    ``target_kl`` is the joint-KL step with radius ``d target_kl`` and damping
    ``d cg_damping`` (the same direction, length and line search).
    """
    d = kl_scale(config, policy)
    return dict(max_kl=config.target_kl * d, cg_max_steps=config.cg_max_steps,
                cg_damping=config.cg_damping * d,
                line_search_shrinking_factor=config.line_search_shrinking_factor,
                line_search_max_iter=config.line_search_max_iter)


def policy_sequences(data: UpdateBatch) -> tuple | None:
    """``(seq_starts, h0)`` of a recurrent policy's packed batch for the steps, else None."""
    sequences = data.policy_sequences
    return None if sequences is None else (sequences.seq_starts, sequences.h0)


def take_trpo_step(model: OnPolicyAlgorithm, data: UpdateBatch, advantages) -> TRPOStepInfo:
    """One TRPO step of ``model.policy`` on ``data``'s policy rows with ``advantages``.

    Uses the trust-region settings of ``model.config`` (a `TRPOConfig`) and logs the step
    (the KL in ``target_kl``'s units); shared by `TRPO` and the TRPO-Lagrangian, which
    differ only in the advantages.
    """
    config = model.config
    assert isinstance(config, TRPOConfig)  # TRPO's and the TRPO-Lagrangians' configs are
    info = trpo_step(model.policy, data.policy_obs, data.policy_actions, advantages, None,
                     damped_step_length=config.damped_step_length, masks=data.policy_masks,
                     sequences=policy_sequences(data),
                     **trust_region_kwargs(config, model.policy))
    if info.outcome is StepOutcome.BAD_CURVATURE:
        warnings.warn(f"TRPO step skipped: {info.reason}", RuntimeWarning, stacklevel=5)
    log = model.logger
    # sb3-contrib logs the objective at the accepted parameters (the old ones if none)
    log.record("train/policy_objective",
               info.surrogate_after if info.accepted else info.surrogate_before)
    log.record("train/kl_divergence_loss", info.kl / kl_scale(config, model.policy))
    log.record("train/is_line_search_success", float(info.accepted))
    log.record("train/cg_iterations", info.cg_iterations)
    return info


class TRPO(OnPolicyAlgorithm):  # noqa: D101 (the docstring is built below, from TRPOConfig)
    # The keyword parameters repeat TRPOConfig's fields so that IDEs and inspect.signature
    # show them; tests/test_config.py checks that names, order, defaults and types agree.
    def __init__(
        self,
        policy: str,
        env,
        *,
        learning_rate: LearningRate = 1e-3,
        n_steps: int = 2048,
        batch_size: int = 128,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        n_critic_updates: int = 10,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        normalize_advantage: bool = True,
        sub_sampling_factor: int = 1,
        stats_window_size: int = 100,
        policy_kwargs: dict | None = None,
        verbose: int = 0,
        seed: int | None = None,
        n_envs: int = 1,
        compiled: bool = False,
        dtype: str = "float32",
        vf_optimizer: str = "adam",
        normalize_obs: bool = False,
        normalize_reward: bool = False,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        log_folder: str | None = None,
        n_threads: int | None = None,
        tensorboard_log: str | None = None,
        cg_max_steps: int = 15,
        cg_damping: float = 0.1,
        line_search_shrinking_factor: float = 0.8,
        line_search_max_iter: int = 10,
        target_kl: float = 0.01,
        damped_step_length: bool = True,
        kl_per_action_dim: bool = True,
        **sb3_compat: Any,
    ) -> None:
        values = {name: value for name, value in locals().items()
                  if name in TRPOConfig.field_names()}
        super().__init__(policy, env, self.config_from_kwargs({**values, **sb3_compat}))

    config_class = TRPOConfig
    config: TRPOConfig
    algorithm_name = "TRPO"

    def update_policy(self, data: UpdateBatch) -> None:
        """One TRPO step (`fasttrpo.steps.trpo.trpo_step`) on the sub-sampled batch."""
        take_trpo_step(self, data, data.policy_advantages[REWARD])


TRPO.__doc__ = f"""Trust Region Policy Optimization (Schulman et al., 2015) with compiled kernels.

A drop-in for ``sb3_contrib.TRPO`` with an MLP policy: the same constructor names and
defaults, ``learn``, ``predict``, ``save``, ``load``. Each iteration collects ``n_steps`` steps
of every env, computes GAE advantages, takes one natural-gradient step (CG on analytic
Fisher-vector products, then a backtracking line search within ``target_kl``) and fits the
value function. The hyperparameters are `fasttrpo.config.TRPOConfig`'s fields; the model keeps
them in ``model.config``.

Parameters
----------
policy : str
    ``"MlpPolicy"``, ``"MultiInputPolicy"`` for Dict observations (flattened into one
    MLP input), or ``"MlpGruPolicy"``: an MLP encoder (``net_arch``), a GRU of
    ``policy_kwargs["gru_hidden_size"]`` (default 256) and the head; predict with
    ``state`` / ``episode_start`` as sb3-contrib's ``RecurrentPPO``.
env : str, gymnasium.Env, gymnasium.vector.VectorEnv or fasttrpo.envs.compiled.CompiledEnv
    An env id (made with ``n_envs`` copies, SAME_STEP autoreset; with ``compiled=True`` its
    compiled port), an Env, a VectorEnv in either autoreset mode, or a compiled env (run by
    ``fasttrpo.rollout.CompiledSampler``).
{config_field_docs(TRPOConfig)}
**sb3_compat
    sb3 arguments accepted and ignored, with a warning (once per name) when their value
    asks for something fasttrpo does not do: {", ".join(sorted(TRPOConfig.SB3_IGNORED))}.

Notes
-----
``export(path, format=...)`` writes the policy for deployment without the training stack:
``"npz"`` for the numpy-only ``fasttrpo.runtime``, ``"onnx"`` or ``"c"``.
"""
