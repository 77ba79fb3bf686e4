"""Stable-Baselines3's ``VecEnv`` contract and gymnasium's vector envs, both ways, by duck typing.

`Sb3VecEnv` shows an sb3 ``VecEnv`` as a gymnasium vector env (to train on it);
`Sb3VecEnvView` shows a gymnasium vector env as an sb3 ``VecEnv`` (what ``model.get_env()``
returns, so that sb3's own loops run unchanged).

sb3's vector envs (``DummyVecEnv``, ``SubprocVecEnv``, ``VecNormalize`` and the other
wrappers, ``Monitor``-wrapped envs inside) step all envs with ``step(actions) -> (obs,
rewards, dones, infos)`` and reset an env as soon as its episode ends: the returned ``obs``
row is then the next episode's first observation, ``infos[i]["terminal_observation"]`` the
last one, and ``infos[i]["TimeLimit.truncated"]`` says the episode was cut by a time limit
rather than terminated. `Sb3VecEnv` turns that into gymnasium's SAME_STEP autoreset
(``terminated``, ``truncated``, ``info["final_obs"]``, ``info["final_info"]``), which
`fasttrpo.rollout.VectorEnvSampler` handles exactly: a truncated episode bootstraps
``V(terminal_observation)``. fasttrpo never imports sb3: anything with sb3's ``VecEnv``
methods is accepted.

A ``VecNormalize`` env returns normalised observations and rewards; train such a model with
fasttrpo's own normalisation off (the default), as the sb3 model would be.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

__all__ = ["Sb3VecEnv", "Sb3VecEnvView", "is_sb3_vec_env", "split_vector_info"]

_VEC_ENV_METHODS = ("reset", "step_async", "step_wait", "close", "seed")


def is_sb3_vec_env(env: Any) -> bool:
    """Whether ``env`` looks like an sb3 ``VecEnv`` (its methods and ``num_envs``)."""
    return (not isinstance(env, VectorEnv) and isinstance(getattr(env, "num_envs", None), int)
            and all(callable(getattr(env, name, None)) for name in _VEC_ENV_METHODS)
            and hasattr(env, "observation_space") and hasattr(env, "action_space"))


class Sb3VecEnv(VectorEnv):
    """An sb3 ``VecEnv`` seen as a gymnasium ``VectorEnv`` with SAME_STEP autoreset.

    Parameters
    ----------
    venv : sb3 VecEnv (duck-typed; see the module docstring)

    Notes
    -----
    ``info`` of a step holds, per key that any env's info dict has (``cost``,
    ``is_success``, ...), an array over the envs with the ``_<key>`` mask of the envs that
    reported it, as gymnasium's vector envs do; the infos of ending steps go to
    ``info["final_info"]`` the same way, with ``final_obs`` from ``terminal_observation``.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, venv) -> None:
        if not is_sb3_vec_env(venv):
            raise ValueError(f"env: {type(venv).__name__} is not an sb3 VecEnv (it needs "
                             f"num_envs, observation_space, action_space and "
                             f"{', '.join(_VEC_ENV_METHODS)})")
        self.venv = venv
        self.num_envs = int(venv.num_envs)
        self.single_observation_space = venv.observation_space
        self.single_action_space = venv.action_space
        self.observation_space = batch_space(venv.observation_space, self.num_envs)
        self.action_space = batch_space(venv.action_space, self.num_envs)
        self.metadata = dict(self.metadata)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """``venv.seed(seed)`` (when given), then ``venv.reset()``; returns ``(obs, {})``."""
        if seed is not None:
            self.venv.seed(int(seed))
        return _observations(self.venv.reset()), {}

    def step(self, actions):
        """One sb3 step, returned as gymnasium's ``(obs, rewards, terminated, truncated, info)``."""
        obs, rewards, dones, infos = self.venv.step(actions)
        dones = np.asarray(dones, dtype=bool).reshape(self.num_envs)
        truncated = dones & np.array([bool(i.get("TimeLimit.truncated", False))
                                      for i in infos])
        terminated = dones & ~truncated
        info = _stack([{k: v for k, v in i.items() if k != "terminal_observation"}
                       if not done else {} for i, done in zip(infos, dones, strict=True)],
                      self.num_envs)
        if dones.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for e in np.flatnonzero(dones):
                if "terminal_observation" not in infos[e]:
                    raise ValueError(f"env: sb3 VecEnv env {e} ended an episode without "
                                     "info['terminal_observation']")
                final_obs[e] = _observations(infos[e]["terminal_observation"])
            info["final_obs"], info["_final_obs"] = final_obs, dones.copy()
            info["final_info"] = _stack(
                [{k: v for k, v in i.items() if k != "terminal_observation"} if done else {}
                 for i, done in zip(infos, dones, strict=True)], self.num_envs)
            info["_final_info"] = dones.copy()
        return (_observations(obs), np.asarray(rewards, dtype=np.float64), terminated,
                truncated, info)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """sb3's ``env_method(name, *args, **kwargs)``: one result per env, as ``VectorEnv.call``.

        What `fasttrpo.rollout.gym_sampler` reads action masks through (sb3-contrib's
        ``get_action_masks`` calls ``env_method("action_masks")`` the same way).
        """
        return tuple(self.venv.env_method(name, *args, **kwargs))

    def close_extras(self, **kwargs: Any) -> None:
        """Close the sb3 env."""
        self.venv.close()


def _observations(obs):
    """sb3's observations as arrays: a Dict space's (an OrderedDict of batches) key by key."""
    if isinstance(obs, Mapping):
        return {key: np.asarray(value) for key, value in obs.items()}
    return np.asarray(obs)


def _stack(infos: list[dict], num_envs: int) -> dict[str, Any]:
    """Per-env info dicts as gymnasium's vector info: ``{key: values, "_key": mask}``."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for i in infos for k in i):
        mask = np.array([key in i for i in infos])
        values = [i.get(key) for i in infos]
        try:
            array = np.array([v if m else 0 for v, m in zip(values, mask, strict=True)])
            if array.dtype == object or array.shape[:1] != (num_envs,):
                raise ValueError
        except (ValueError, TypeError):
            array = np.array(values + [None], dtype=object)[:num_envs]
        out[key], out[f"_{key}"] = array, mask
    return out


def split_vector_info(info: dict, n_envs: int) -> list[dict]:
    """Split a gymnasium vector-env ``info`` dict into one dict per env (sb3's ``infos``).

    An entry ``key`` goes to the envs its mask ``_key`` marks (every env without a mask);
    nested dicts are split the same way.
    """
    out: list[dict] = [{} for _ in range(n_envs)]
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get("_" + key)
        parts = split_vector_info(value, n_envs) if isinstance(value, dict) else None
        for env in range(n_envs):
            if mask is not None and not mask[env]:
                continue
            if parts is not None:
                out[env][key] = parts[env]
            else:
                try:
                    out[env][key] = value[env]
                except (TypeError, IndexError, KeyError):
                    out[env][key] = value
    return out


class Sb3VecEnvView:
    """A gymnasium vector env with SAME_STEP autoreset seen as an sb3 ``VecEnv``.

    ``reset() -> obs``; ``step(actions) -> (obs, rewards, dones, infos)`` where a finished
    env's row of ``obs`` is already its next episode's first observation, its info holds
    ``terminal_observation`` (the last one) and ``TimeLimit.truncated`` (cut by a time limit,
    not terminated), as sb3's ``DummyVecEnv`` does; ``step_async`` / ``step_wait``, ``seed``
    (applied at the next ``reset``), ``num_envs``, the single-env ``observation_space`` and
    ``action_space``, ``env_method`` / ``get_attr`` (what sb3-contrib's ``get_action_masks``
    and ``is_masking_supported`` call), ``render``, ``close``. ``venv`` is the vector env
    itself.

    Parameters
    ----------
    venv : gymnasium.vector.VectorEnv
        In SAME_STEP autoreset mode (what fasttrpo makes from an env id); other modes are
        refused with a ValueError.
    """

    def __init__(self, venv: VectorEnv) -> None:
        mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"env: sb3's VecEnv view needs a vector env with SAME_STEP "
                             f"autoreset (sb3 resets an env in the step that ends its "
                             f"episode), got {mode}")
        self.venv = venv
        self.num_envs = int(venv.num_envs)
        self.observation_space = venv.single_observation_space
        self.action_space = venv.single_action_space
        self._seed: int | None = None
        self._actions = None

    def reset(self):
        """Reset every env (with the `seed` given before, once); returns the observations."""
        obs, _ = self.venv.reset(seed=self._seed)
        self._seed = None
        return obs

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the next `reset` (env ``i`` gets ``seed + i``); returns those seeds."""
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [int(indices)] if np.ndim(indices) == 0 else [int(i) for i in indices]

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list:
        """Call ``method_name`` of the envs ``indices`` (all if None), as sb3's ``VecEnv``."""
        results = self.venv.call(  # type: ignore[attr-defined]  # Sync/Async/wrappers have it
            method_name, *method_args, **method_kwargs)
        return [results[i] for i in self._indices(indices)]

    def get_attr(self, attr_name: str, indices=None) -> list:
        """Return attribute ``attr_name`` of the envs ``indices``, as sb3's ``VecEnv``."""
        values = self.venv.get_attr(attr_name)  # type: ignore[attr-defined]  # as call
        return [values[i] for i in self._indices(indices)]

    def step_async(self, actions) -> None:
        """Store the actions of the next `step_wait`."""
        self._actions = actions

    def step_wait(self):
        """Step with the stored actions; see `step`."""
        actions, self._actions = self._actions, None
        return self.step(actions)

    def step(self, actions):
        """Step every env: ``(obs, rewards, dones, infos)`` as sb3's ``VecEnv.step``."""
        actions = np.asarray(actions)
        if self.action_space.shape == () and actions.shape == (self.num_envs, 1):
            actions = actions.reshape(self.num_envs)  # sb3 users pass (n_envs, 1) Discrete
        obs, rewards, terminated, truncated, info = self.venv.step(actions)
        dones = np.logical_or(terminated, truncated)
        infos = split_vector_info({k: v for k, v in info.items()
                                   if k not in ("final_obs", "_final_obs", "final_info",
                                                "_final_info")}, self.num_envs)
        if dones.any():
            final_infos = split_vector_info(info.get("final_info", {}), self.num_envs)
            for env in np.flatnonzero(dones):
                infos[env] = {**final_infos[env],
                              "terminal_observation": info["final_obs"][env],
                              "TimeLimit.truncated": bool(truncated[env]
                                                          and not terminated[env])}
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def render(self, mode: str | None = None):
        """Render through the vector env (its ``render_mode``)."""
        return self.venv.render()

    def close(self) -> None:
        """Close the vector env."""
        self.venv.close()
