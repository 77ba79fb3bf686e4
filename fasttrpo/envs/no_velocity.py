"""rl-baselines3-zoo's velocity-masked tasks: classic control made partially observable.

``fasttrpo/CartPoleNoVel-v1`` and the others are gymnasium's env with its velocity entries
set to zero in every observation (rl-baselines3-zoo's ``MaskVelocityWrapper`` convention: the
observation space is unchanged, the entries carry no information). A memoryless policy cannot
tell how fast the state moves; a recurrent one can infer it from the positions it has seen.
The ids are registered by ``import fasttrpo.envs``; `register_if_fasttrpo_id` does it for
every ``fasttrpo/`` id a constructor or the CLI is given.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

__all__ = ["NO_VELOCITY_TASKS", "VELOCITY_INDICES", "MaskVelocity", "make_no_velocity_env"]

#: gymnasium id -> the observation entries that are velocities (rl-baselines3-zoo's table)
VELOCITY_INDICES: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (1, 3),                 # cart velocity, pole angular velocity
    "MountainCar-v0": (1,),                # car velocity
    "MountainCarContinuous-v0": (1,),
    "Pendulum-v1": (2,),                   # angular velocity
    "LunarLander-v3": (2, 3, 5),           # x, y and angular velocity
    "LunarLanderContinuous-v3": (2, 3, 5),
}

#: fasttrpo id -> the gymnasium id it masks
NO_VELOCITY_TASKS: dict[str, str] = {
    "fasttrpo/CartPoleNoVel-v1": "CartPole-v1",
    "fasttrpo/MountainCarNoVel-v0": "MountainCar-v0",
    "fasttrpo/MountainCarContinuousNoVel-v0": "MountainCarContinuous-v0",
    "fasttrpo/PendulumNoVel-v1": "Pendulum-v1",
    "fasttrpo/LunarLanderNoVel-v3": "LunarLander-v3",
    "fasttrpo/LunarLanderContinuousNoVel-v3": "LunarLanderContinuous-v3",
}


class MaskVelocity(gym.ObservationWrapper):
    """Set the observation entries ``indices`` to zero (the space is unchanged).

    Parameters
    ----------
    env : gymnasium.Env
        An env with a flat Box observation.
    indices : sequence of int
        The entries to hide; each must lie inside the observation.
    """

    def __init__(self, env: gym.Env, indices) -> None:
        super().__init__(env)
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
            raise ValueError(f"env: MaskVelocity takes a flat Box observation, got {space}")
        hidden = np.asarray(indices, dtype=np.int64).reshape(-1)
        if hidden.size == 0 or (hidden < 0).any() or (hidden >= space.shape[0]).any():
            raise ValueError(f"indices: expected entries of the {space.shape[0]}-value "
                             f"observation, got {list(indices)}")
        # a multiplicative mask, as rl-baselines3-zoo applies it (a -0.0 stays a zero)
        self.mask = np.ones(space.shape[0], dtype=space.dtype)
        self.mask[hidden] = 0

    def observation(self, observation):
        """Return ``observation`` with the hidden entries zeroed."""
        return observation * self.mask


def make_no_velocity_env(base_id: str, **kwargs) -> gym.Env:
    """Make ``base_id`` (a key of `VELOCITY_INDICES`) with its velocities hidden.

    ``kwargs`` go to ``gymnasium.make`` (``render_mode``, ...); ValueError for an id whose
    velocities are not known.
    """
    if base_id not in VELOCITY_INDICES:
        raise ValueError(f"base_id: no velocity table for {base_id!r}; known: "
                         f"{', '.join(VELOCITY_INDICES)}")
    return MaskVelocity(gym.make(base_id, **kwargs), VELOCITY_INDICES[base_id])
