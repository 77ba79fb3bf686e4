"""Hyperparameters: one frozen dataclass per algorithm, the single source of truth.

Each field carries its default, its type, a docstring (``doc``), a check that normalises what
users pass (numpy scalars become plain numbers, so the saved JSON holds plain numbers) and
whether it shapes the networks (``network``: such fields cannot be overridden when a saved
model is loaded). From these fields come the algorithm's keyword parameters (a test checks
``inspect.signature(TRPO)`` against them), its docstring, the validation, the zoo YAML reader's
number parsing, the CLI's ``--key value`` overrides and ``fasttrpo train --help``, and the
metadata ``save`` writes.

This module imports only the standard library and numpy, so the CLI can read it cheaply.
"""

import dataclasses
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from fasttrpo.foundation import step_defaults as defaults
from fasttrpo.foundation.config_checks import (
    MAX_TARGET_KL,
    CostLimit,
    LearningRate,
    boolean,
    choice,
    config_field,
    cost_keys,
    cost_limits,
    dtype_name,
    integer,
    learning_rate,
    optional,
    path_text,
    policy_kwargs,
    real,
)
from fasttrpo.foundation.schedules import LinearSchedule

__all__ = [
    "constructor_signature",
    "ALGORITHM_CONFIGS",
    "CPOConfig",
    "PCPOConfig",
    "ConstrainedConfig",
    "OnPolicyConfig",
    "TRPOConfig",
    "TRPOLagrangianConfig",
    "TRPOPIDLagrangianConfig",
    "SauteConfig",
    "EarlyTerminatedConfig",
    "config_field_docs",
    "parameters_doc",
]


@dataclass(frozen=True)
class OnPolicyConfig:
    """Hyperparameters shared by the on-policy algorithms (sb3 names and defaults first).

    Build with keyword arguments; every value is validated and normalised in
    ``__post_init__`` (a ValueError names the field). ``to_dict`` / ``from_dict`` convert to
    and from the JSON kept in saved models.
    """

    learning_rate: LearningRate = config_field(
        1e-3, "Adam step size of the value function: a number, or a schedule of the remaining "
        "progress p (1 -> 0) as sb3: a callable p -> rate, or 'lin_<rate>' (the zoo's "
        "linear decay to 0, fasttrpo.foundation.schedules.LinearSchedule; the only kind a "
        "saved model keeps).", learning_rate)
    n_steps: int = config_field(
        2048, "Environment steps per env per rollout (the batch is n_steps * n_envs).", integer(1))
    batch_size: int = config_field(128, "Minibatch size of the value-function fit.", integer(1))
    gamma: float = config_field(0.99, "Discount factor.", real(0.0, 1.0))
    gae_lambda: float = config_field(
        0.95, "GAE lambda: bias-variance trade-off of the advantage estimate.",
        real(0.0, 1.0))
    n_critic_updates: int = config_field(
        10, "Value-function epochs per rollout (Adam) over the whole batch.", integer(1))
    use_sde: bool = config_field(
        False, "Generalized state-dependent exploration (gSDE, Box actions only): the action "
        "is mu(s) + z(s) @ E, z(s) the policy's last hidden layer and E ~ N(0, exp(log_std)^2) "
        "an exploration matrix held for sde_sample_freq steps (see policy_kwargs' full_std).",
        boolean, network=True)
    sde_sample_freq: int = config_field(
        -1, "With use_sde: steps between two exploration matrices in a rollout (-1 or 0: one "
        "per rollout).", integer(-1))
    normalize_advantage: bool = config_field(
        True, "Normalise the advantages of the policy step to zero mean, unit std.", boolean)
    sub_sampling_factor: int = config_field(
        1, "Use every k-th sample of the batch for the policy step.", integer(1))
    stats_window_size: int = config_field(
        100, "Finished episodes averaged for rollout/ep_rew_mean and ep_len_mean.", integer(1))
    policy_kwargs: dict | None = config_field(  # noqa: RUF009 (None, made {} by the check)
        None, "Network options: net_arch (list, or dict(pi=[...], vf=[...])), activation_fn "
        "('tanh', 'relu', 'nn.Tanh', 'nn.ReLU', or a class named Tanh / ReLU), log_std_init "
        "(Gaussian heads, in [-20, 20]), ortho_init (True: orthogonal weights with sb3's "
        "gains; False: torch's default Linear init, as sb3), full_std (gSDE: one log_std per "
        "latent unit and action, default True, or per latent unit), gru_hidden_size (set by "
        "policy='MlpGruPolicy', default 256: the GRU's hidden size; net_arch's pi is then "
        "its encoder). sb3's extractor keys "
        "are accepted: features_extractor_class FlattenExtractor or CombinedExtractor "
        "(what fasttrpo's flattening computes), share_features_extractor (no effect: a "
        "flattening has no parameters); features_extractor_kwargs and normalize_images "
        "act on images in sb3 and are ignored with a warning.",
        policy_kwargs, network=True)
    verbose: int = config_field(0, "0: silent; 1: a progress table per iteration.", integer(0))
    seed: int | None = config_field(
        None, "Seeds initialisation, sampling, minibatches and the first env reset.",
        optional(integer(0, 2**63 - 1)))
    n_envs: int = config_field(
        1, "Copies of the environment when env is an id string (fasttrpo extra).", integer(1))
    compiled: bool = config_field(
        False, "Run the env id's compiled port (fasttrpo.envs.compiled: CartPole-v1, "
        "Pendulum-v1, Acrobot-v1, MountainCar-v0, MountainCarContinuous-v0), the whole "
        "rollout in one compiled call (fasttrpo extra; a CompiledEnv given as env is always "
        "run compiled).", boolean)
    dtype: str = config_field(
        "float32", "Precision of the networks and kernels: 'float32' or 'float64'.", dtype_name,
        network=True)
    vf_optimizer: str = config_field(
        "adam", "Value-function fit: 'adam' (n_critic_updates minibatch epochs, as "
        "sb3-contrib) or 'lbfgs' (scipy L-BFGS, 25 iterations on the full batch, as "
        "Schulman's modular_rl).", choice("adam", "lbfgs"), network=True)
    normalize_obs: bool = config_field(
        False, "Running observation normalisation (VecNormalize semantics).", boolean,
        network=True)
    normalize_reward: bool = config_field(
        False, "Scale rewards by the running std of the discounted return (VecNormalize).",
        boolean)
    clip_obs: float = config_field(
        10.0, "Clip normalised observations to [-clip_obs, clip_obs].",
        real(0.0, low_open=True))
    clip_reward: float = config_field(
        10.0, "Clip scaled rewards to [-clip_reward, clip_reward].",
        real(0.0, low_open=True))
    log_folder: str | None = config_field(
        None, "Folder for progress.csv and the Monitor-format episode files "
        "<rank>.monitor.csv (None: no files).", optional(path_text))
    n_threads: int | None = config_field(
        None, "Threads: learn keeps BLAS on one thread and, with 2 or more, fits the critics "
        "on a worker thread while the policy step and the next rollout run, the step's "
        "row-block kernels using the threads left (the same results for any value); predict "
        "caps BLAS at this many. None: learn uses the free physical cores (affinity, container "
        "quota, minus the load average; fasttrpo.foundation.threads.default_n_threads) for the "
        "critic worker and keeps the row-block kernels serial; predict and BLAS use 1, or the "
        "environment's OMP_NUM_THREADS etc. when set.", optional(integer(1)))
    tensorboard_log: str | None = config_field(
        None, "Folder for TensorBoard event files (sb3's): each learn call logs its scalars "
        "to <tensorboard_log>/<tb_log_name>_<k> (None: no TensorBoard logs).",
        optional(path_text))

    #: sb3 keyword arguments accepted for compatibility that change nothing here
    SB3_IGNORED: ClassVar[frozenset[str]] = frozenset({
        "device", "_init_setup_model", "rollout_buffer_class",
        "rollout_buffer_kwargs"})

    def __post_init__(self) -> None:
        """Validate and normalise every field (ValueError naming the field)."""
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            object.__setattr__(self, item.name, item.metadata["check"](item.name, value))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Return the hyperparameter names, in signature order."""
        return tuple(item.name for item in dataclasses.fields(cls))

    @classmethod
    def field_docs(cls) -> list[tuple[str, str, Any, str]]:
        """Return ``(name, type, default, doc)`` of every field, in signature order."""
        out = []
        for item in dataclasses.fields(cls):
            kind = getattr(item.type, "__name__", None) or str(item.type)
            out.append((item.name, kind, item.default, item.metadata["doc"]))
        return out

    @classmethod
    def network_fields(cls) -> frozenset[str]:
        """Fields that shape the networks or their saved state (fixed once a model exists)."""
        return frozenset(item.name for item in dataclasses.fields(cls)
                         if item.metadata["network"])

    @classmethod
    def check_value(cls, name: str, value: Any, label: str | None = None) -> Any:
        """Validate and normalise one field's value, as the constructor does.

        ``label`` replaces the field name in the ValueError (e.g. ``"normalize.clip_obs"``
        for a value given under another key).
        """
        check = {item.name: item.metadata["check"] for item in dataclasses.fields(cls)}[name]
        return check(label or name, value)

    @classmethod
    def field_type(cls, name: str) -> type | None:
        """``int``, ``float``, ``bool`` or ``str`` for a scalar field (None for others)."""
        annotation = {item.name: item.type for item in dataclasses.fields(cls)}[name]
        if annotation is LearningRate or annotation is CostLimit:  # numbers in YAML files
            return float
        for kind in (bool, int, float, str):
            if annotation in (kind, kind | None, kind.__name__, f"{kind.__name__} | None"):
                return kind
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, by field name.

        A `LinearSchedule` becomes its ``to_json()`` dict; another callable learning rate
        stays a callable (it has no JSON form: ``save`` stores its current value instead,
        with a warning).
        """
        values = {name: getattr(self, name) for name in self.field_names()}
        if isinstance(values["learning_rate"], LinearSchedule):
            values["learning_rate"] = values["learning_rate"].to_json()
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "hyperparameters"):
        """Build from ``values``; unknown keys raise a ValueError naming ``source``."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"{source}: unknown hyperparameter(s) {unknown}; "
                             f"known: {', '.join(cls.field_names())}")
        return cls(**values)

    def replace(self, **changes: Any):
        """Return a copy with ``changes`` applied (validated like the constructor's)."""
        return dataclasses.replace(self, **changes)

    def discount(self, signal: str) -> tuple[float, float]:
        """``(gamma, gae_lambda)`` of a per-step signal's GAE ("reward", "cost", ...)."""
        if signal != "reward":
            raise ValueError(f"signal: {type(self).__name__} has no discount for {signal!r}")
        return self.gamma, self.gae_lambda


@dataclass(frozen=True)
class TRPOConfig(OnPolicyConfig):
    """TRPO's hyperparameters: the on-policy ones plus the trust-region step's.

    Names and defaults are sb3-contrib's TRPO, so rl-baselines3-zoo's ``trpo.yml`` entries
    work unchanged.
    """

    cg_max_steps: int = config_field(
        defaults.CG_MAX_STEPS, "Conjugate-gradient iterations for the natural-gradient "
        "direction.", integer(1))
    cg_damping: float = config_field(
        defaults.CG_DAMPING, "Damping added to the Fisher matrix in CG: (F + damping I) x = g.",
        real(0.0))
    line_search_shrinking_factor: float = config_field(
        defaults.LINE_SEARCH_SHRINKING_FACTOR, "Backtracking factor of the line search.",
        real(0.0, 1.0, low_open=True, high_open=True))
    line_search_max_iter: int = config_field(defaults.LINE_SEARCH_MAX_ITER,
                                       "Line-search candidates tried.", integer(1))
    target_kl: float = config_field(
        defaults.MAX_KL, "Trust-region radius max_kl: mean KL(pi_old || pi) of an accepted step (at"
        " "
        "most 10 nats: beyond, the quadratic model of the KL is no trust region and the full "
        "step overflows).", real(0.0, MAX_TARGET_KL, low_open=True))
    damped_step_length: bool = config_field(
        defaults.DAMPED_STEP_LENGTH, "Step length sqrt(2 target_kl / x^T (F + cg_damping I) x), "
        "as sb3-contrib, "
        "Schulman's modular_rl, baselines, Spinning Up and OmniSafe; False: sqrt(2 target_kl "
        "/ x^T F x), the quadratic KL model at target_kl exactly (longer steps where the "
        "direction has low-curvature components). Measured on 8 seeds (benchmarks/"
        "step_length.py, joint KL): LunarLander-v3 53 (False) -> 129 (True), "
        "MountainCarContinuous-v0 solved 8/8 -> 5/8, Acrobot and Pendulum unchanged.", boolean)
    kl_per_action_dim: bool = config_field(
        True, "target_kl bounds the KL averaged over the action dimensions of a factorised "
        "action distribution (diagonal Gaussian, gSDE, MultiBinary), as sb3-contrib, whose "
        "kl_divergence(...).mean() averages the per-dimension terms: the joint KL may reach "
        "target_kl * d and the Fisher matrix is F / d, so cg_damping acts d times more "
        "strongly (d action dimensions; categorical heads: d = 1, sb3 sums those). False: "
        "the joint KL of the action distribution, as the TRPO paper, modular_rl, baselines, "
        "Spinning Up and OmniSafe. On Hopper-v5 and Walker2d-v5 (zoo settings) True is what "
        "matches sb3-contrib's learning (BENCHMARKS.md, Learning quality).", boolean)


@dataclass(frozen=True)
class ConstrainedConfig(TRPOConfig):
    """Hyperparameters of the constrained algorithms: TRPO's plus the cost constraint's.

    The constrained MDP: maximise the expected return subject to ``J_C <= cost_limit``, where
    ``J_C`` is the expected episode cost, the undiscounted sum of the per-step
    ``info["cost"]`` over an episode (safety-gymnasium's convention).
    """

    cost_limit: CostLimit = config_field(
        25.0, "Limit d on the expected episode cost J_C (the sum of info['cost'] over an "
        "episode); a list of k limits constrains k costs at once, each with its own critic "
        f"(at most {defaults.MAX_CONSTRAINTS}): the columns of a vector info['cost'], or the "
        "info keys of cost_keys.", cost_limits)
    cost_keys: list[str] | None = config_field(
        None, "Where each constrained cost is read, one per cost_limit: info keys such as "
        "['cost_hazards', 'cost_vases'] (safety-gymnasium's named costs) or 'key[i]' for "
        "column i of a vector. None: info['cost'] (one limit) or its columns cost[0], "
        "cost[1], ... (a list of limits).", cost_keys, network=True)
    cost_gamma: float = config_field(0.99, "Discount factor of the cost critics and cost GAE.",
                               real(0.0, 1.0))
    cost_gae_lambda: float = config_field(0.95, "GAE lambda of the cost advantages.",
                                    real(0.0, 1.0))
    kl_per_action_dim: bool = config_field(
        False, "As TRPO's, but False by default: the constrained algorithms bound the joint "
        "KL of the action distribution, as OmniSafe's CPO and TRPO-Lagrangian do.", boolean)

    def __post_init__(self) -> None:
        """Validate every field, then that ``cost_keys`` names one cost per limit."""
        super().__post_init__()
        if self.cost_keys is not None and len(self.cost_keys) != len(self.cost_limits):
            raise ValueError(f"cost_keys: {len(self.cost_keys)} keys for "
                             f"{len(self.cost_limits)} cost_limit values; give one per cost")

    @property
    def cost_limits(self) -> tuple[float, ...]:
        """``cost_limit`` as one limit per cost."""
        limit = self.cost_limit
        return tuple(limit) if isinstance(limit, list) else (limit,)

    @property
    def cost_signals(self) -> tuple[str, ...]:
        """The batch signal of each cost (`fasttrpo.rollout.batch.cost_source` reads them)."""
        if self.cost_keys is not None:
            return tuple(self.cost_keys)
        n_costs = len(self.cost_limits)
        return ("cost",) if n_costs == 1 else tuple(f"cost[{i}]" for i in range(n_costs))

    def discount(self, signal: str) -> tuple[float, float]:
        """``(gamma, gae_lambda)`` of "reward" or a cost signal."""
        if signal in self.cost_signals:
            return self.cost_gamma, self.cost_gae_lambda
        return super().discount(signal)


def _only_true(name: str, value: Any) -> bool:
    if boolean(name, value) is not True:
        raise ValueError(f"{name}: CPO's step is always damped (Achiam et al.); only True")
    return True


@dataclass(frozen=True)
class CPOConfig(ConstrainedConfig):
    """CPO's hyperparameters (Achiam et al., 2017): the constrained ones plus the units of c."""

    damped_step_length: bool = config_field(
        True, "CPO's trust-region step always divides by the damped quadratic x^T (F + "
        "cg_damping I) x (Achiam et al.); False is refused.", _only_true)
    constraint_units: str = config_field(
        "episode", "Units of c = J_C - cost_limit in the linearised constraint b.x + c <= 0, "
        "b the gradient of the per-step cost surrogate: 'episode' uses c as it is (OmniSafe; "
        "the default: on SafetyHopperVelocity-v1 it kept the cost near the limit with a "
        "higher return, see BENCHMARKS.md), 'per_step' divides it by the mean episode "
        "length (Achiam's code; first-order consistent units, but the cost settled at 1.4-2.5x "
        "the limit there).", choice("episode", "per_step"))
    limit_margin: str = config_field(
        "none", "'none': the step is checked against cost_limit. 'rise': against cost_limit "
        "minus a margin, the exponential average (decay 0.9) of the rises of the episode-cost "
        "estimate between successive updates (fasttrpo.steps.margin.RiseMargin): with "
        "episode units CPO switches between TRPO and recovery steps at the limit, so its "
        "cost averages at the limit; the margin moves the switch under it by about half a "
        "swing. SafetyHopperVelocity-v1, 1e6 steps, seeds 0-4: final training cost "
        "17.3-25.7 (without: 24.6-30.6), return 1333-1689 (1561-1668); BENCHMARKS.md.",
        choice("none", "rise"))


@dataclass(frozen=True)
class PCPOConfig(CPOConfig):
    """PCPO's hyperparameters (Yang et al., 2020): CPO's plus the projection's norm."""

    constraint_units: str = config_field(
        "per_step", "Units of c = J_C - cost_limit in the linearised constraint b.x + c <= 0, "
        "b the gradient of the per-step cost surrogate: 'per_step' (the default for PCPO) "
        "divides it by the mean episode length, first-order consistent with b; 'episode' "
        "uses it as it is, so a violating iteration's projection leaves the trust region and "
        "is scaled back to its boundary (a recovery step). Point-velocity task, limit 10, "
        "seeds 0-4: training cost 9.0-11.4 and return 77-80 per_step, 8.3-10.6 and 62-67 "
        "episode. On SafetyHopperVelocity-v1, where the linearised cost model is poorly "
        "calibrated, per_step does not keep the limit (cost 44-143 for 25, BENCHMARKS.md).",
        choice("episode", "per_step"))

    projection: str = config_field(
        "kl", "Norm of the projection onto the linearised constraint: 'kl' (the Fisher "
        "metric, H^-1 b by CG) or 'l2' (Euclidean, along b).", choice("kl", "l2"))


@dataclass(frozen=True)
class TRPOLagrangianConfig(ConstrainedConfig):
    """TRPO-Lagrangian's hyperparameters: the constrained ones plus the multiplier's."""

    lagrangian_multiplier_init: float = config_field(
        0.001, "Initial Lagrange multiplier lambda of the cost constraint.", real(0.0))
    lagrangian_multiplier_lr: float = config_field(
        0.035, "Adam step size of lambda, which ascends lambda * (J_C - cost_limit) once per "
        "rollout and stays >= 0.", real(0.0, low_open=True))


@dataclass(frozen=True)
class TRPOPIDLagrangianConfig(ConstrainedConfig):
    """PID-Lagrangian TRPO's hyperparameters: the constrained ones plus the controller's."""

    lagrangian_multiplier_init: float = config_field(
        0.001, "Initial Lagrange multiplier lambda (the integral term's start).", real(0.0))
    pid_kp: float = config_field(
        0.1, "Proportional gain, on the smoothed error J_C - cost_limit.", real(0.0))
    pid_ki: float = config_field(
        0.01, "Integral gain: the integral term adds pid_ki * (J_C - cost_limit) per rollout "
        "and stays >= 0 (alone, the classic Lagrangian ascent).", real(0.0))
    pid_kd: float = config_field(
        0.01, "Derivative gain, on the rise of the smoothed episode cost over pid_d_delay "
        "rollouts (only rises count).", real(0.0))
    pid_d_delay: int = config_field(
        10, "Rollouts over which the derivative term measures the cost's rise.", integer(1))
    pid_delta_p_ema_alpha: float = config_field(
        0.95, "Smoothing of the error the proportional term reads (0: none).",
        real(0.0, 1.0, high_open=True))
    pid_delta_d_ema_alpha: float = config_field(
        0.95, "Smoothing of the cost the derivative term reads (0: none).",
        real(0.0, 1.0, high_open=True))
    penalty_max: float = config_field(
        100.0, "The largest lambda.", real(0.0, low_open=True))


@dataclass(frozen=True)
class SauteConfig(TRPOConfig):
    """Sauté TRPO's hyperparameters: TRPO's plus the safety budget's (`fasttrpo.envs.SauteEnv`)."""

    cost_limit: float = config_field(
        25.0, "d: the episode cost the budget allows (info['cost'] summed over an episode).",
        real(0.0, low_open=True))
    saute_gamma: float = config_field(
        1.0, "The budget's discount gamma_c in (0, 1] (below 1 the budget is rescaled by the "
        "episode's time limit, as in the paper).", real(0.0, 1.0, low_open=True))
    unsafe_reward: float = config_field(
        0.0, "The reward of every step after which the budget is spent (<= 0).",
        real(-math.inf, 0.0))


@dataclass(frozen=True)
class EarlyTerminatedConfig(TRPOConfig):
    """Early-terminated TRPO's hyperparameters: TRPO's plus the episode's cost limit."""

    cost_limit: float = config_field(
        25.0, "The episode ends at the step where its cost (info['cost'] summed) exceeds this.",
        real(0.0))


#: the CLI's ``--algo`` names and the configs of their algorithms
ALGORITHM_CONFIGS: dict[str, type[OnPolicyConfig]] = {
    "trpo": TRPOConfig, "cpo": CPOConfig, "pcpo": PCPOConfig,
    "trpo_lagrangian": TRPOLagrangianConfig,
    "trpo_pid_lagrangian": TRPOPIDLagrangianConfig, "trpo_saute": SauteConfig,
    "trpo_early_terminated": EarlyTerminatedConfig}


def config_field_docs(config_class: type[OnPolicyConfig]) -> str:
    """Return the numpydoc ``Parameters`` entries of ``config_class``'s fields."""
    lines = []
    for name, kind, default, doc in config_class.field_docs():
        lines.append(f"{name} : {kind}, default {default!r}")
        lines.append(f"    {doc}")
    return "\n".join(lines)


#: the ``env`` entry of the constrained algorithms' docstrings
COST_ENV_DOC = ("env : str, gymnasium.Env or gymnasium.vector.VectorEnv\n"
                "    Must report ``info[\"cost\"]`` every step.")


def parameters_doc(config_class: type[OnPolicyConfig], env_doc: str = COST_ENV_DOC,
                   policy_doc: str = "``\"MlpPolicy\"``, or ``\"MlpGruPolicy\"`` (a GRU "
                                     "policy, ``policy_kwargs[\"gru_hidden_size\"]``).") -> str:
    """Return an algorithm's numpydoc ``Parameters`` section: policy, env, every field, sb3's.

    Parameters
    ----------
    config_class : the algorithm's config.
    env_doc : the ``env`` entry (name line and indented description).
    policy_doc : the description of ``policy``.
    """
    ignored = ", ".join(sorted(config_class.SB3_IGNORED))
    return (f"Parameters\n----------\npolicy : str\n    {policy_doc}\n{env_doc}\n"
            f"{config_field_docs(config_class)}\n**sb3_compat\n"
            f"    sb3 arguments accepted and ignored: {ignored}.\n")


def constructor_signature(config_class: type[OnPolicyConfig]) -> inspect.Signature:
    """``(self, policy, env, *, <config fields with defaults>, **sb3_compat)``.

    The constructor signature of an algorithm that takes its hyperparameters as keywords,
    generated from its config so that ``help()`` and ``inspect.signature`` show every one.
    """
    keyword = inspect.Parameter.KEYWORD_ONLY
    hints = {item.name: item.type for item in dataclasses.fields(config_class)}
    return inspect.Signature([
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("policy", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
        inspect.Parameter("env", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *(inspect.Parameter(name, keyword, default=default, annotation=hints[name])
          for name, _, default, _ in config_class.field_docs()),
        inspect.Parameter("sb3_compat", inspect.Parameter.VAR_KEYWORD, annotation=Any),
    ], return_annotation=None)
