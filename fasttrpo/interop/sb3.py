"""Convert a fasttrpo TRPO model to and from an sb3-contrib ``TRPO`` model.

Weights (``get_parameters`` already speaks sb3's ``state_dict`` names and layouts: see
`fasttrpo.models.parameters`), the network shapes and activation, the hyperparameters both libraries
share (sb3-contrib's trust region is fasttrpo's default, ``damped_step_length=True`` and
``kl_per_action_dim=True``, which ``from_sb3`` sets; ``to_sb3`` warns for a model with
either False, whose steps sb3-contrib cannot take), and the normalisation statistics
(fasttrpo's normalisers <-> sb3's ``VecNormalize``) carry over; the optimiser states do not
(the critics' Adam moments restart). Needs torch and sb3-contrib
(``pip install "fasttrpo[bench]"``); fasttrpo never imports them otherwise.

>>> sb3_model = to_sb3(model, env)             # sb3_contrib.TRPO, env wrapped as needed
>>> model = from_sb3(sb3_model)                # fasttrpo.TRPO with the same weights
"""

import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from fasttrpo.foundation.heads import TANH, activation_code

__all__ = ["from_sb3", "to_sb3"]

#: hyperparameters with the same name and meaning in both libraries
SHARED_HYPERPARAMS = ("learning_rate", "n_steps", "batch_size", "gamma", "gae_lambda",
                      "cg_max_steps", "cg_damping", "line_search_shrinking_factor",
                      "line_search_max_iter", "n_critic_updates", "normalize_advantage",
                      "target_kl", "sub_sampling_factor", "use_sde", "sde_sample_freq")


class _SpacesEnv(gym.Env):
    """An env that only declares spaces: what sb3 needs to build a model without a real env."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def _vec_env(env, model):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecEnv

    if env is None:
        return make_vec_env(lambda: _SpacesEnv(model.observation_space, model.action_space))
    if isinstance(env, VecEnv):
        return env
    if isinstance(env, str):
        return make_vec_env(env, n_envs=model.config.n_envs, seed=model.config.seed)
    if isinstance(env, gym.Env):
        return make_vec_env(lambda: env)
    raise ValueError(f"env: expected None, an env id, a gymnasium.Env or an sb3 VecEnv, got "
                     f"{type(env).__name__}")


def to_sb3(model, env=None):
    """Convert ``model`` to an sb3-contrib ``TRPO`` (networks, weights, hyperparameters).

    Parameters
    ----------
    model : fasttrpo.TRPO
    env : None, str, gymnasium.Env or sb3 VecEnv
        What the sb3 model trains on (None: a placeholder with the model's spaces, enough to
        predict). With normalisation the env is wrapped in a ``VecNormalize`` holding the
        model's statistics (unless it is one already, whose statistics are overwritten).

    Returns
    -------
    sb3_contrib.TRPO
    """
    if getattr(model.policy, "recurrent", False):  # sb3-contrib's TRPO has no recurrent policy
        raise ValueError("to_sb3: sb3-contrib's TRPO has no recurrent policy, so a "
                         "MlpGruPolicy model cannot be converted; save / load it, or export it "
                         "(npz, onnx, c)")
    import torch as th
    from sb3_contrib import TRPO as Sb3TRPO
    from stable_baselines3.common.vec_env import VecNormalize

    if getattr(model, "algorithm_name", None) != "TRPO":
        raise ValueError(f"model: only TRPO models have an sb3-contrib counterpart, got "
                         f"{type(model).__name__}")
    config = model.config
    differing = [name for name in ("damped_step_length", "kl_per_action_dim")
                 if not getattr(config, name)]
    if differing:
        warnings.warn(f"to_sb3: the model has {', '.join(f'{n}=False' for n in differing)}; "
                      "sb3-contrib's TRPO always steps with both True, so its updates will "
                      "differ", UserWarning, stacklevel=2)
    policy_kwargs: dict[str, Any] = {
        "net_arch": {"pi": list(model.policy.layout.hidden_sizes),
                     "vf": list(model.value_function.layout.hidden_sizes)},
        "activation_fn": th.nn.Tanh if model.policy.layout.activation == TANH else th.nn.ReLU,
        "ortho_init": config.policy_kwargs.get("ortho_init", True),
    }
    if "log_std_init" in config.policy_kwargs:
        policy_kwargs["log_std_init"] = config.policy_kwargs["log_std_init"]
    if config.use_sde:
        policy_kwargs["full_std"] = model.policy.full_std
    venv = _vec_env(env, model)
    stats = model.get_vec_normalize_env()
    if stats is not None:
        if not isinstance(venv, VecNormalize):
            venv = VecNormalize(venv, norm_obs=stats.norm_obs, norm_reward=stats.norm_reward,
                                clip_obs=stats.clip_obs, clip_reward=stats.clip_reward,
                                gamma=config.gamma, epsilon=stats.epsilon)
        for ours, theirs in ((stats.obs_rms, venv.obs_rms), (stats.ret_rms, venv.ret_rms)):
            if ours is not None:
                theirs.mean, theirs.var, theirs.count = (np.array(ours.mean, copy=True),
                                                         np.array(ours.var, copy=True),
                                                         float(ours.count))
        venv.training = stats.training
    hyperparams = {name: getattr(config, name) for name in SHARED_HYPERPARAMS}
    sb3_model = Sb3TRPO("MlpPolicy", venv, policy_kwargs=policy_kwargs, seed=config.seed,
                        verbose=config.verbose, device="cpu", **hyperparams)
    named = model.get_parameters()["policy"]
    state = {name: th.as_tensor(np.asarray(array, dtype=np.float32))
             for name, array in named.items() if not name.startswith(
                 ("mlp_extractor.cost", "cost_"))}  # sb3-contrib has no cost critic
    sb3_model.policy.load_state_dict(state, strict=True)
    return sb3_model


def from_sb3(sb3_model, env=None, **overrides: Any):
    """Convert an sb3-contrib ``TRPO`` to a fasttrpo ``TRPO`` (networks, weights, settings).

    Parameters
    ----------
    sb3_model : sb3_contrib.TRPO
        An ``MlpPolicy`` model (no shared layers; gSDE with ``use_expln=False`` and no
        ``squash_output``, as fasttrpo's).
    env : optional
        Attached for training (``set_env``); without it the model predicts and saves.
    **overrides
        fasttrpo hyperparameters to set as well (``dtype``, ``n_envs``, ...).
    """
    from fasttrpo.algorithms.trpo import TRPO

    policy = sb3_model.policy
    sde_kwargs = (getattr(policy, "dist_kwargs", None) or {}) if sb3_model.use_sde else {}
    if sde_kwargs.get("use_expln") or sde_kwargs.get("squash_output") or \
            sde_kwargs.get("learn_features"):
        raise ValueError("sb3_model: gSDE with use_expln, squash_output or learn_features "
                         "does not convert (fasttrpo's gSDE: exp(log_std), detached features)")
    arch = policy.net_arch
    if isinstance(arch, list) and arch and isinstance(arch[0], dict):  # sb3 < 1.8 layout
        arch = arch[0]
    net_arch = dict(pi=list(arch["pi"]), vf=list(arch["vf"])) if isinstance(arch, dict) \
        else list(arch)
    activation = policy.activation_fn.__name__
    activation_code(activation)  # ValueError for anything but Tanh / ReLU
    policy_kwargs = dict(net_arch=net_arch, activation_fn=activation,
                         ortho_init=bool(getattr(policy, "ortho_init", True)))
    if sb3_model.use_sde:
        policy_kwargs["full_std"] = bool(sde_kwargs.get("full_std", True))
    hyperparams = {name: getattr(sb3_model, name) for name in SHARED_HYPERPARAMS}
    vec_normalize = sb3_model.get_vec_normalize_env()
    if vec_normalize is not None:
        hyperparams.update(normalize_obs=bool(vec_normalize.norm_obs),
                           normalize_reward=bool(vec_normalize.norm_reward),
                           clip_obs=float(vec_normalize.clip_obs),
                           clip_reward=float(vec_normalize.clip_reward))
    # sb3-contrib's trust region (step length over the damped quadratic, KL averaged over
    # action dimensions): the same updates need both, whatever the defaults are
    hyperparams.update(damped_step_length=True, kl_per_action_dim=True)
    model = TRPO.for_spaces(sb3_model.observation_space, sb3_model.action_space,
                            policy_kwargs=policy_kwargs, seed=sb3_model.seed,
                            **{**hyperparams, **overrides})
    named = {name: tensor.detach().cpu().numpy()
             for name, tensor in policy.state_dict().items()}
    model.set_parameters({"policy": named})
    if vec_normalize is not None:
        for ours, theirs in ((model.obs_normalizer, vec_normalize.obs_rms),
                             (model.reward_scaler, vec_normalize.ret_rms)):
            if ours is not None:
                ours.load_state_dict({"mean": theirs.mean, "var": theirs.var,
                                      "count": theirs.count})
    if env is not None:
        model.set_env(env)
    return model
