"""Attaching environments and samplers to a model: plain functions over the config and spaces.

`OnPolicyAlgorithm.set_env` / ``set_sampler`` / ``learn`` call these: which sampler runs an env
(`sampler_for_env`: a gymnasium vector env, or the compiled sampler over a
`fasttrpo.envs.compiled.CompiledEnv`), the checks a sampler must pass before it is attached
(`check_sampler`: spaces, sb3-contrib's advantage-normalisation rule and its mini-batch
warning), the reward scaler resized to the sampler's env count (`resized_reward_scaler`), and
the memory check of a rollout (`check_rollout_fits`).
"""

from __future__ import annotations

import os
import warnings

import gymnasium as gym
import numpy as np

from fasttrpo.algorithms import networks, recurrent
from fasttrpo.config import OnPolicyConfig
from fasttrpo.foundation.compat import user_stacklevel
from fasttrpo.models.normalize import RewardScaler
from fasttrpo.rollout import Sampler, VectorEnvSampler, make_vector_env

__all__ = ["check_rollout_fits", "check_sampler", "check_spaces", "compiled_env_for",
           "is_sampler", "make_env", "resized_reward_scaler", "sampler_for_env"]


def is_sampler(env) -> bool:
    """Whether ``env`` is a `fasttrpo.rollout.Sampler` (a VectorEnv has no ``collect``)."""
    return isinstance(env, Sampler) and not isinstance(env, (gym.Env, gym.vector.VectorEnv))


def compiled_env_for(env, compiled: bool):
    """Return the `fasttrpo.envs.compiled.CompiledEnv` to run for ``env``, or None.

    ``env`` itself when it is one; the port of an id string when ``compiled`` (a ValueError
    names the ports otherwise); None for gymnasium envs.
    """
    if isinstance(env, (gym.Env, gym.vector.VectorEnv)) or (
            isinstance(env, str) and not compiled):
        return None
    from fasttrpo.envs.compiled import CompiledEnv, make_port  # imported on first use

    if isinstance(env, CompiledEnv):
        return env
    if isinstance(env, str):
        return make_port(env)
    return None


def check_spaces(observation_space: gym.Space, action_space: gym.Space,
                 model_spaces: tuple[gym.Space, gym.Space]) -> None:
    """Raise ValueError naming the space of an env that differs from the model's."""
    for name, got, want in (("observation_space", observation_space, model_spaces[0]),
                            ("action_space", action_space, model_spaces[1])):
        if got != want:
            raise ValueError(f"env: {name} {got} differs from the model's {want}")


def resized_reward_scaler(scaler: RewardScaler | None, n_envs: int) -> RewardScaler | None:
    """``scaler`` for ``n_envs`` envs: itself, or a copy of its statistics resized."""
    if scaler is None or scaler.n_envs == n_envs:
        return scaler
    resized = RewardScaler(n_envs, scaler.gamma, clip_reward=scaler.clip_reward,
                           epsilon=scaler.epsilon)
    resized.load_state_dict(scaler.state_dict())
    resized.training = scaler.training
    return resized


def make_env(env, config: OnPolicyConfig, wrappers: tuple = ()):
    """Return what runs ``env``: its `fasttrpo.envs.compiled.CompiledEnv`, or a VectorEnv.

    A compiled env (``env`` itself, or an id's port with ``compiled=True``) takes no
    gymnasium wrapper: an algorithm that wraps its envs (``wrappers``, its `env_wrappers`)
    gets a ValueError saying so. Otherwise the VectorEnv of ``config.n_envs`` copies, each
    wrapped by ``wrappers`` (a VectorEnv is returned as it is).
    """
    compiled_env = compiled_env_for(env, config.compiled)
    if compiled_env is None:
        return make_vector_env(env, config.n_envs, wrappers)
    if wrappers:
        raise ValueError("env: this algorithm wraps its envs (gymnasium wrappers, e.g. Sauté's "
                         "budget or early termination), which a compiled env cannot take; use "
                         "the gymnasium env (compiled=False)")
    return compiled_env


def sampler_for_env(env, config: OnPolicyConfig, model_spaces: tuple[gym.Space, gym.Space],
                    encoder, codec, obs_normalizer, reward_scaler: RewardScaler | None,
                    dtype: np.dtype, wrappers: tuple = ()):
    """Build the sampler that runs ``env`` (id string, Env, VectorEnv or CompiledEnv).

    Returns ``(sampler, venv, reward_scaler)``: a `fasttrpo.rollout.CompiledSampler` of
    ``config.n_envs`` copies over a compiled env (an id string with ``compiled=True`` gives
    its port; ``venv`` None), else a `fasttrpo.rollout.VectorEnvSampler` over the gymnasium
    vector env ``venv``, each env wrapped by ``wrappers`` (the algorithm's `env_wrappers`;
    `make_env`); ``reward_scaler`` resized to the sampler's env count.
    """
    made = make_env(env, config, wrappers)
    if not isinstance(made, gym.vector.VectorEnv):
        from fasttrpo.rollout.compiled import CompiledSampler

        check_spaces(made.observation_space, made.action_space, model_spaces)
        scaler = resized_reward_scaler(reward_scaler, config.n_envs)
        return (CompiledSampler(made, config.n_envs, encoder, codec, obs_normalizer,
                                scaler, dtype), None, scaler)
    check_spaces(made.single_observation_space, made.single_action_space, model_spaces)
    scaler = resized_reward_scaler(reward_scaler, made.num_envs)
    return (VectorEnvSampler(made, encoder, codec, obs_normalizer, scaler, dtype), made,
            scaler)


def check_sampler(sampler, config: OnPolicyConfig,
                  model_spaces: tuple[gym.Space, gym.Space]) -> None:
    """Check a sampler before it is attached: the protocol, its spaces, sb3-contrib's rules.

    sb3-contrib refuses a one-row rollout with advantage normalisation at set-up, and warns
    when ``batch_size`` does not divide ``n_steps * n_envs``; both are repeated here.
    """
    if not isinstance(sampler, Sampler):
        raise TypeError(f"sampler: {type(sampler).__name__} does not implement "
                        "fasttrpo.rollout.Sampler (num_envs, observation_space, "
                        "action_space, reset, collect, close)")
    check_spaces(sampler.observation_space, sampler.action_space, model_spaces)
    if networks.is_recurrent(config):
        recurrent.check_sampler(sampler)
    n_envs = sampler.num_envs
    rows = config.n_steps * n_envs
    if config.normalize_advantage and rows <= 1:
        raise ValueError(f"n_steps, n_envs: `n_steps * n_envs` must be greater than 1 to "
                         f"normalize the advantages (normalize_advantage=True). Currently "
                         f"n_steps={config.n_steps} and n_envs={n_envs}")
    if config.vf_optimizer == "adam" and rows % config.batch_size:
        warnings.warn(
            f"You have specified a mini-batch size of {config.batch_size}, but because the "
            f"rollout is of size `n_steps * n_envs` = {rows}, after every "
            f"{rows // config.batch_size} untruncated mini-batches, there will be a truncated "
            f"mini-batch of size {rows % config.batch_size}\nWe recommend using a "
            f"`batch_size` that is a factor of `n_steps * n_envs`.\nInfo: (n_steps="
            f"{config.n_steps} and n_envs={n_envs})", UserWarning, stacklevel=user_stacklevel())


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_rollout_fits(n_steps: int, n_envs: int, obs_dim: int, action_width: int,
                       dtype: np.dtype, n_signals: int) -> None:
    """Refuse a rollout whose batch and update arrays cannot fit in physical memory.

    Zeroed arrays are allocated lazily, so a batch far beyond the memory would only fail (or
    be killed) mid-rollout; this estimate (the batch, and per signal the float64 values,
    advantages and returns the update adds) fails first, naming the settings.
    """
    rows = n_steps * n_envs
    estimate = rows * ((obs_dim + action_width) * np.dtype(dtype).itemsize
                       + 8 * 4 * n_signals + 3)
    memory = physical_memory()
    if memory is not None and estimate > memory:
        raise ValueError(f"n_steps, n_envs: a rollout of n_steps * n_envs = {rows} steps of "
                         f"{obs_dim} observation values needs about {estimate / 2**30:.1f} GiB, "
                         f"more than this machine's {memory / 2**30:.1f} GiB of memory")
