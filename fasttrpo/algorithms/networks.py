"""The networks an algorithm builds from its config: the policy, one critic per signal.

Plain functions of the config, the spaces' encoder and codec, and the dtype, shared by model
construction (`fasttrpo.algorithms.base.OnPolicyAlgorithm`) and by the loader, which checks a
file's array sizes against the same spec before it builds anything
(`expected_param_sizes`). Imports models only.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from fasttrpo.config import OnPolicyConfig
from fasttrpo.foundation.heads import extra_param_count
from fasttrpo.models.nets import MLPLayout
from fasttrpo.models.policies import (
    BernoulliMLPPolicy,
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    GaussianSDEMLPPolicy,
    MLPPolicy,
    MultiCategoricalMLPPolicy,
)
from fasttrpo.models.recurrent import CategoricalGRUPolicy, GaussianGRUPolicy, GRUPolicy
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.models.value_function import ValueFunction
from fasttrpo.rollout.batch import REWARD
from fasttrpo.steps.value_fit import AdamValueFitter, LBFGSValueFitter

#: hidden sizes when ``policy_kwargs`` names none (sb3's default for MLP policies)
DEFAULT_NET_ARCH = (64, 64)
#: the GRU's hidden size of ``"MlpGruPolicy"`` when ``policy_kwargs`` names none
#: (sb3-contrib's RecurrentPPO default ``lstm_hidden_size``)
DEFAULT_GRU_HIDDEN_SIZE = 256
#: the policy names of the constructor; "MlpGruPolicy" sets ``policy_kwargs.gru_hidden_size``
POLICIES = ("MlpPolicy", "MultiInputPolicy", "MlpGruPolicy")


def check_policy_name(policy: str) -> None:
    """Refuse a policy name not in `POLICIES` (ValueError saying what is supported)."""
    if policy not in POLICIES:
        why = "; image observations (CnnPolicy) are out of scope: fasttrpo runs MLPs (a " \
              "small image as a Box entry of a Dict is flattened)" if policy == "CnnPolicy" else ""
        raise ValueError(f"policy: 'MlpPolicy', 'MultiInputPolicy' (Dict observations) or "
                         f"'MlpGruPolicy' (recurrent) are supported, got {policy!r}{why}")


def resolve_policy(policy: str, config: OnPolicyConfig, observation_space: gym.Space
                   ) -> OnPolicyConfig:
    """Check the constructor's ``policy`` name against the spaces; the config to build.

    ``"MlpGruPolicy"`` is recorded in the config (and so in saved models) as
    ``policy_kwargs["gru_hidden_size"]`` (default `DEFAULT_GRU_HIDDEN_SIZE`).
    """
    check_policy_name(policy)
    kwargs = dict(config.policy_kwargs or {})
    if policy == "MlpGruPolicy":
        kwargs.setdefault("gru_hidden_size", DEFAULT_GRU_HIDDEN_SIZE)
        config = config.replace(policy_kwargs=kwargs)
    elif "gru_hidden_size" in kwargs:
        raise ValueError(f"policy_kwargs: gru_hidden_size asks for a recurrent policy; use "
                         f"'MlpGruPolicy', not {policy!r}")
    is_dict = isinstance(observation_space, gym.spaces.Dict)
    if is_dict != (policy == "MultiInputPolicy"):
        raise ValueError(  # sb3's rule: MultiInputPolicy exactly for Dict observations
            f"policy: use 'MultiInputPolicy' for Dict observation spaces and 'MlpPolicy' "
            f"or 'MlpGruPolicy' for the others; got {policy!r} for {observation_space}")
    return config


def is_recurrent(config: OnPolicyConfig) -> bool:
    """Whether ``config`` declares a GRU policy (``policy_kwargs["gru_hidden_size"]``)."""
    return "gru_hidden_size" in (config.policy_kwargs or {})


def check_recurrent(config: OnPolicyConfig, action_space: gym.Space) -> None:
    """Refuse, naming the alternative, what a GRU policy does not support (ValueError)."""
    if config.use_sde:
        raise ValueError("use_sde: gSDE is not supported with MlpGruPolicy; use "
                         "use_sde=False (Gaussian noise) or MlpPolicy")
    if config.compiled:
        raise ValueError("compiled: the compiled sampler has no GRU; use compiled=False (the "
                         "gymnasium sampler runs MlpGruPolicy) or MlpPolicy")
    if not isinstance(action_space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise ValueError(f"action space: MlpGruPolicy supports Box and Discrete actions, got "
                         f"{action_space}; use MlpPolicy for it")


def net_arch(policy_kwargs: dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(policy hidden sizes, critic hidden sizes) from a checked ``policy_kwargs``."""
    arch = policy_kwargs.get("net_arch", DEFAULT_NET_ARCH)
    if isinstance(arch, dict):
        return (tuple(arch.get("pi", DEFAULT_NET_ARCH)),
                tuple(arch.get("vf", DEFAULT_NET_ARCH)))
    return tuple(arch), tuple(arch)


def activation(policy_kwargs: dict) -> str:
    """Return the hidden layers' activation named by ``policy_kwargs`` (tanh by default)."""
    return policy_kwargs.get("activation_fn", "tanh")


def critic_seed(seed: int | None, index: int) -> int | None:
    """Seed of the critic of the ``index``-th signal: ``seed + 1 + index`` (the policy: seed)."""
    return None if seed is None else seed + 1 + index


def critic_prefix(signal: str) -> str:
    """Array-name prefix of a signal's critic in saved models ("value" for the reward)."""
    return "value" if signal == REWARD else f"value_{signal}"


def make_gru_policy(config: OnPolicyConfig, encoder: ObsEncoder, codec: ActionCodec,
                    action_space: gym.Space) -> GRUPolicy:
    """Build ``MlpGruPolicy``: the encoder ``net_arch`` (pi), a GRU, the head of the space."""
    check_recurrent(config, action_space)
    kwargs = config.policy_kwargs or {}
    common: dict[str, Any] = dict(hidden_size=kwargs["gru_hidden_size"],
                                  encoder_sizes=net_arch(kwargs)[0],
                                  activation=activation(kwargs), dtype=np.dtype(config.dtype),
                                  seed=config.seed)
    if codec.kind == "gaussian":
        return GaussianGRUPolicy(encoder.obs_dim, codec.width,
                                 log_std_init=kwargs.get("log_std_init", 0.0), **common)
    return CategoricalGRUPolicy(encoder.obs_dim, int(codec.space.n), **common)


def make_policy(config: OnPolicyConfig, encoder: ObsEncoder, codec: ActionCodec,
                action_space: gym.Space, initialize: bool = True) -> MLPPolicy | GRUPolicy:
    """Build the policy for these spaces: its head from the action codec (gSDE: ``use_sde``)."""
    kwargs = config.policy_kwargs or {}
    pi_arch, _ = net_arch(kwargs)
    if is_recurrent(config):
        return make_gru_policy(config, encoder, codec, action_space)
    common: dict[str, Any] = dict(hidden_sizes=pi_arch, activation=activation(kwargs),
                                  dtype=np.dtype(config.dtype), seed=config.seed,
                                  initialize=initialize)
    obs_dim = encoder.obs_dim
    if config.use_sde:
        if codec.kind != "gaussian":
            raise ValueError(f"use_sde: gSDE needs a Box action space, got {action_space}")
        return GaussianSDEMLPPolicy(
            obs_dim, codec.width, log_std_init=kwargs.get("log_std_init", 0.0),
            full_std=kwargs.get("full_std", True), sde_sample_freq=config.sde_sample_freq,
            **common)
    if codec.kind == "gaussian":
        return GaussianMLPPolicy(obs_dim, codec.width,
                                 log_std_init=kwargs.get("log_std_init", 0.0), **common)
    if codec.kind == "categorical":
        return CategoricalMLPPolicy(obs_dim, int(codec.space.n), **common)
    if codec.kind == "multidiscrete":
        return MultiCategoricalMLPPolicy(obs_dim, codec.space.nvec.tolist(), **common)
    return BernoulliMLPPolicy(obs_dim, codec.width, **common)


def make_critics(config: OnPolicyConfig, signals: tuple[str, ...], obs_dim: int,
                 learning_rate: float, initialize: bool = True,
                 ) -> tuple[dict[str, ValueFunction],
                            dict[str, AdamValueFitter | LBFGSValueFitter]]:
    """One critic and its fitter per signal (``vf_optimizer``: Adam or L-BFGS)."""
    policy_kwargs = config.policy_kwargs or {}
    _, vf_arch = net_arch(policy_kwargs)
    critics: dict[str, ValueFunction] = {}
    fitters: dict[str, AdamValueFitter | LBFGSValueFitter] = {}
    for index, signal in enumerate(signals):
        critic = ValueFunction(obs_dim, vf_arch, activation(policy_kwargs),
                               dtype=np.dtype(config.dtype),
                               seed=critic_seed(config.seed, index), initialize=initialize)
        critics[signal] = critic
        if config.vf_optimizer == "adam":
            fitters[signal] = AdamValueFitter(critic, learning_rate=learning_rate,
                                              n_epochs=config.n_critic_updates,
                                              batch_size=config.batch_size)
        else:
            fitters[signal] = LBFGSValueFitter(critic, max_iter=25)
    return critics, fitters


def torch_default_init(policy: MLPPolicy | GRUPolicy, critics: list[ValueFunction],
                       seed: int | None) -> None:
    """Re-draw every network's MLP weights with torch's default init (``ortho_init=False``).

    The policy uses ``seed`` and critic ``k`` `critic_seed`, as the orthogonal init does; the
    Gaussian ``log_std`` keeps ``log_std_init``.
    """
    # a GRU policy keeps its init (torch's nn.GRU already; ``ortho_init`` acts on MLPs)
    networks: list[tuple[Any, int | None]] = [] if isinstance(policy, GRUPolicy) else [
        (policy, seed)]
    networks += [(critic, critic_seed(seed, index)) for index, critic in enumerate(critics)]
    for network, network_seed in networks:
        params = network.get_params()
        n_mlp = network.layout.num_params
        params[:n_mlp] = network.layout.init_params(
            0.0, np.random.default_rng(network_seed), orthogonal_init=False)
        network.set_params(params)


def expected_param_sizes(config: OnPolicyConfig, observation_space: gym.Space,
                         action_space: gym.Space, signals: tuple[str, ...]) -> dict[str, int]:
    """Map each saved array name to its length, for the networks ``config`` and spaces declare.

    The same spec as `make_policy` / `make_critics`, computed without building a network (a
    file declaring huge networks costs nothing to refuse). ValueError for invalid spaces.
    """
    encoder = ObsEncoder.for_space(observation_space)
    out_dim, n_extra = ActionCodec.for_space(action_space).policy_outputs()
    policy_kwargs = config.policy_kwargs or {}
    pi_arch, vf_arch = net_arch(policy_kwargs)
    if config.use_sde:  # gSDE's log_std: per (latent unit, action), or per latent unit
        n_extra = extra_param_count("gsde", out_dim,
                                    pi_arch[-1] if pi_arch else encoder.obs_dim,
                                    policy_kwargs.get("full_std", True))
    act = activation(policy_kwargs)
    if is_recurrent(config):  # encoder to 3H (W_ih), W_hh and b_hh, the head (H -> out)
        hid = policy_kwargs["gru_hidden_size"]
        n_policy = (MLPLayout(encoder.obs_dim, pi_arch, 3 * hid, act, config.dtype).num_params
                    + 3 * hid * hid + 3 * hid + hid * out_dim + out_dim)
    else:
        n_policy = MLPLayout(encoder.obs_dim, pi_arch, out_dim, act, config.dtype).num_params
    sizes = {"policy/params": n_policy + n_extra}
    critic = MLPLayout(encoder.obs_dim, vf_arch, 1, act, config.dtype).num_params
    sizes.update({f"{critic_prefix(signal)}/params": critic for signal in signals})
    return sizes
