"""TRPO on a transformed constrained MDP: presets that wrap every env they make.

`TRPOSaute` trains TRPO on the Sauté MDP (`fasttrpo.envs.SauteEnv`: the remaining safety
budget in the state, the reward replaced once it is spent); `TRPOEarlyTerminated` on the
early-terminated MDP (`fasttrpo.envs.EarlyTerminated`: the episode ends once its cost
exceeds the limit). Each is TRPO with a config holding the wrapper's settings and an
`env_wrappers` that returns the wrapper: the step, the samplers and the file are TRPO's. An
env id or a gymnasium Env is wrapped (each of the ``n_envs`` copies); a VectorEnv, an sb3
VecEnv or a Ray sampler holds envs already made, so wrap those yourself (the same classes)
and use plain `fasttrpo.TRPO`.
"""

from __future__ import annotations

import functools

from fasttrpo.algorithms.trpo import TRPO
from fasttrpo.config import (
    EarlyTerminatedConfig,
    OnPolicyConfig,
    SauteConfig,
    parameters_doc,
)
from fasttrpo.envs.safe_wrappers import EarlyTerminated, SauteEnv

__all__ = ["TRPOEarlyTerminated", "TRPOSaute"]


class TRPOSaute(TRPO):  # noqa: D101 (built below, from the config)
    config_class = SauteConfig
    algorithm_name = "TRPOSaute"


    @classmethod
    def env_wrappers(cls, config: OnPolicyConfig) -> tuple:
        """Return `SauteEnv` with the config's budget, discount and unsafe reward."""
        assert isinstance(config, SauteConfig)  # an instance of cls.config_class
        return (functools.partial(SauteEnv, cost_limit=config.cost_limit,
                                  saute_gamma=config.saute_gamma,
                                  unsafe_reward=config.unsafe_reward),)


class TRPOEarlyTerminated(TRPO):  # noqa: D101 (built below, from the config)
    config_class = EarlyTerminatedConfig
    algorithm_name = "TRPOEarlyTerminated"


    @classmethod
    def env_wrappers(cls, config: OnPolicyConfig) -> tuple:
        """Return `EarlyTerminated` with the config's cost limit."""
        assert isinstance(config, EarlyTerminatedConfig)  # an instance of cls.config_class
        return (functools.partial(EarlyTerminated, cost_limit=config.cost_limit),)


_ENV = """env : str or gymnasium.Env
    An env id (``n_envs`` copies) or an Env that reports ``info["cost"]``; each is wrapped."""
_POLICY = ('``"MlpPolicy"`` (or ``"MultiInputPolicy"`` for Dict observations), or '
           '``"MlpGruPolicy"`` (a GRU policy).')

TRPOSaute.__doc__ = f"""Sauté TRPO (Sootla et al., 2022): TRPO on the safety-augmented MDP.

Every env gets `fasttrpo.envs.SauteEnv`: its observation carries the remaining budget ``z``
(1 at the start of an episode, less each cost), and the reward of a step after which the
budget is spent becomes ``unsafe_reward``; the policy learns to keep the episode cost under
``cost_limit``. ``predict`` takes the augmented observation (the env's, then ``z``).

{parameters_doc(SauteConfig, _ENV, _POLICY)}"""

TRPOEarlyTerminated.__doc__ = f"""Early-terminated TRPO (Sun et al., 2021).

Every env gets `fasttrpo.envs.EarlyTerminated`: an episode ends (terminated, no bootstrap)
at the step where its cost exceeds ``cost_limit``, so the rewards a violation would have
earned later are lost and the policy learns to stay under the limit.

{parameters_doc(EarlyTerminatedConfig, _ENV, _POLICY)}"""
