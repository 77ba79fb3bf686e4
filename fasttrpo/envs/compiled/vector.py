"""Running compiled envs: one env step with time limit and autoreset, and a gymnasium view.

`step_autoreset` is the one place where a compiled env is stepped: the compiled sampler's
rollout kernel (``fasttrpo.rollout.compiled``) and `CompiledVectorEnv` both call it, so the
two cannot disagree on time limits, autoreset or final observations.

`CompiledVectorEnv` shows ``num_envs`` copies of a `CompiledEnv` as a gymnasium
``VectorEnv`` with SAME_STEP autoreset (the final observation of an ended episode is in
``info["final_obs"]``), one compiled call per vector step, so any library that speaks
gymnasium can use the ports.
"""

from typing import Any

import numba
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from fasttrpo.envs.compiled.contract import (
    OBSERVE_TYPE,
    RESET_TYPE,
    STEP_TYPE,
    CompiledEnv,
    check_env,
)
from fasttrpo.envs.compiled.rng import seed_streams
from fasttrpo.kernels import kernel

__all__ = ["CompiledVectorEnv", "first_class_entry", "step_autoreset"]


def first_class_entry(kernel, signature: tuple):
    """Return the compiled entry point of ``kernel`` for the argument types ``signature``.

    Kernels that take env functions are compiled (and cached on disk) for the first-class
    function types of the contract; calling the dispatcher with the env's own functions would
    compile a new, uncacheable specialisation for each of them, so callers use this entry
    point, which converts them to function pointers.
    """
    kernel.compile(signature)
    return kernel.overloads[signature].entry_point


@intrinsic
def _void_pointer(typingctx, address):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.uintp), codegen


@kernel(error_model="python")
def row_view(array, index):
    """Row ``index`` of the C-contiguous 2-D ``array`` as a view that holds no reference.

    Env functions are called through function pointers, which Numba cannot see into, so a
    row view passed to one (``states[e]``) is reference-counted with atomic operations on
    every call: measured ~18 ns per array argument, 70 ns for a ``step`` call. The rows
    here wrap the parent's memory with ``numba.carray`` (~1 ns per argument); they are
    valid while the parent array lives, i.e. during the kernel that makes them, and are
    never returned from it.
    """
    address = array.ctypes.data + index * array.strides[0]
    return numba.carray(_void_pointer(address), (array.shape[1],), array.dtype)


@kernel(inline="always")
def step_autoreset(reset, step, observe, params, time_limit, rngs, states, elapsed, e, action,
                   obs, final_obs):
    """Step env ``e`` of a batch; on an episode end keep its final observation and reset it.

    Parameters
    ----------
    reset, step, observe : the env's functions (`fasttrpo.envs.compiled.contract`).
    params : (n_params,) float64.
    time_limit : int, truncate after this many steps (0: never).
    rngs : (E, 1) uint64; states : (E, state_dim) float64; elapsed : (E,) int64 steps so far.
    e : int, the env to step (its row of the batch arrays, passed to the env functions as
        `row_view` rows).
    action : (action_dim,) float64.
    obs : (E, obs_dim) float64, row ``e`` written: the next observation (of the new episode
        after an end).
    final_obs : (E, obs_dim) float64, row ``e`` written on an episode end: its last
        observation.

    Returns
    -------
    (reward, cost, terminated, truncated, finite)
        ``finite`` is False when the observation, the reward or the cost is NaN / inf.
    """
    rng, state, row = row_view(rngs, e), row_view(states, e), row_view(obs, e)
    reward, cost, terminated, truncated = step(params, rng, state, action)
    elapsed[e] += 1
    if time_limit > 0 and elapsed[e] >= time_limit:  # gymnasium's TimeLimit
        truncated = True
    observe(params, state, row)
    finite = np.isfinite(reward) and np.isfinite(cost)
    for i in range(row.shape[0]):
        finite = finite and np.isfinite(row[i])
    if terminated or truncated:
        final_obs[e] = row
        reset(params, rng, state)
        elapsed[e] = 0
        observe(params, state, row)
    return reward, cost, terminated, truncated, finite


@kernel
def _vector_step(reset, step, observe, params, time_limit, rngs, states, elapsed, actions,
                 obs, final_obs, rewards, costs, flags):
    # every env once; flags[0] terminated, [1] truncated, [2] not finite (per env)
    for e in range(states.shape[0]):
        reward, cost, terminated, truncated, finite = step_autoreset(
            reset, step, observe, params, time_limit, rngs, states, elapsed, e,
            row_view(actions, e), obs, final_obs)
        rewards[e], costs[e] = reward, cost
        flags[0, e], flags[1, e], flags[2, e] = terminated, truncated, not finite


@kernel
def _vector_reset(reset, observe, params, rngs, states, elapsed, obs):
    for e in range(states.shape[0]):
        reset(params, row_view(rngs, e), row_view(states, e))
        elapsed[e] = 0
        observe(params, row_view(states, e), row_view(obs, e))


_F64_1D = types.Array(types.float64, 1, "C")
_F64_2D = types.Array(types.float64, 2, "C")
_U64_2D = types.Array(types.uint64, 2, "C")
_I64_1D = types.Array(types.int64, 1, "C")
_VECTOR_STEP_ARGS = (RESET_TYPE, STEP_TYPE, OBSERVE_TYPE, _F64_1D, types.int64, _U64_2D,
                     _F64_2D, _I64_1D, _F64_2D, _F64_2D, _F64_2D, _F64_1D, _F64_1D,
                     types.Array(types.boolean, 2, "C"))
_VECTOR_RESET_ARGS = (RESET_TYPE, OBSERVE_TYPE, _F64_1D, _U64_2D, _F64_2D, _I64_1D, _F64_2D)


def action_rows(space: spaces.Space, actions, num_envs: int) -> np.ndarray:
    """Env actions for a batch as the (num_envs, action_dim) float64 rows env functions read.

    Box actions are clipped to the bounds and rounded to the space's dtype (as a gymnasium
    env receives them); discrete actions must be whole and inside the space.
    """
    values = np.asarray(actions)
    width = 1 if isinstance(space, spaces.Discrete) else int((space.shape or (1,))[0])
    if values.dtype.kind not in "biuf" or values.size != num_envs * width:
        raise ValueError(f"actions: expected {num_envs} actions of {space}, got "
                         f"{values.dtype} array of shape {values.shape}")
    rows = values.astype(np.float64).reshape(num_envs, width)
    if not np.isfinite(rows).all():
        raise ValueError(f"actions: contain NaN or infinite values: {values.tolist()}")
    if isinstance(space, spaces.Box):
        return np.ascontiguousarray(
            np.clip(rows, space.low, space.high).astype(space.dtype).astype(np.float64))
    low: int | np.ndarray
    high: int | np.ndarray
    if isinstance(space, spaces.Discrete):
        low, high = int(space.start), int(space.start) + int(space.n) - 1
    elif isinstance(space, spaces.MultiDiscrete):
        low, high = space.start, space.start + space.nvec - 1
    else:  # MultiBinary
        low, high = 0, 1
    if not (np.array_equal(rows, np.round(rows)) and (rows >= low).all()
            and (rows <= high).all()):
        raise ValueError(f"actions: {values.tolist()} are not all in {space}")
    return np.ascontiguousarray(rows)


class CompiledVectorEnv(VectorEnv):
    """``num_envs`` copies of a `CompiledEnv` as a gymnasium ``VectorEnv`` (SAME_STEP autoreset).

    Parameters
    ----------
    env : CompiledEnv
        Checked with `check_env` first.
    num_envs : int, default 1

    Notes
    -----
    ``reset(seed=s)`` gives env ``i`` the stream ``seed_streams(s, num_envs)[i]``, as the
    compiled sampler does, so both produce the same episodes from the same seed.
    Observations have the observation space's dtype. ``info`` holds ``final_obs`` /
    ``_final_obs`` (and empty ``final_info`` / ``_final_info``) for ended episodes, and
    ``cost`` for envs with ``has_cost``.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env: CompiledEnv, num_envs: int = 1) -> None:
        check_env(env)
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) \
                or num_envs < 1:
            raise ValueError(f"num_envs: expected a positive integer, got {num_envs!r}")
        self.compiled_env = env
        self.num_envs = int(num_envs)
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, self.num_envs)
        self.action_space = batch_space(env.action_space, self.num_envs)
        self.metadata = dict(self.metadata)
        self._step_kernel = first_class_entry(_vector_step, _VECTOR_STEP_ARGS)
        self._reset_kernel = first_class_entry(_vector_reset, _VECTOR_RESET_ARGS)
        n = self.num_envs
        self._rngs = seed_streams(None, n)
        self._states = np.zeros((n, env.state_dim))
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._obs = np.zeros((n, env.obs_dim))
        self._final_obs = np.zeros((n, env.obs_dim))
        self._rewards, self._costs = np.zeros(n), np.zeros(n)
        self._flags = np.zeros((3, n), dtype=bool)
        self._needs_reset = True

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset every env; ``seed`` (int) seeds the per-env streams. Returns ``(obs, {})``."""
        if seed is not None:
            if isinstance(seed, (list, tuple)):
                raise ValueError("seed: one int seeds all envs (per-env streams are spawned "
                                 "from it); a list of seeds is not supported")
            self._rngs = seed_streams(int(seed), self.num_envs)
        env = self.compiled_env
        self._reset_kernel(env.reset, env.observe, env.params, self._rngs, self._states,
                           self._elapsed, self._obs)
        self._needs_reset = False
        return self._observations(self._obs), {}

    def step(self, actions):
        """Step every env; returns ``(obs, rewards, terminated, truncated, info)``."""
        if self._needs_reset:
            raise ValueError("reset() must be called before step()")
        env = self.compiled_env
        rows = action_rows(env.action_space, actions, self.num_envs)
        self._step_kernel(env.reset, env.step, env.observe, env.params, env.time_limit,
                          self._rngs, self._states, self._elapsed, rows, self._obs,
                          self._final_obs, self._rewards, self._costs, self._flags)
        terminated, truncated, broken = self._flags
        if broken.any():
            bad = int(np.flatnonzero(broken)[0])
            raise ValueError(f"{env.id}: env {bad} produced a non-finite observation, reward "
                             "or cost")
        info: dict[str, Any] = {}
        if env.has_cost:
            info["cost"], info["_cost"] = self._costs.copy(), np.ones(self.num_envs, bool)
        ended = terminated | truncated
        if ended.any():
            final = np.full(self.num_envs, None, dtype=object)
            for e in np.flatnonzero(ended):
                final[e] = self._observations(self._final_obs[e])
            info["final_obs"], info["_final_obs"] = final, ended.copy()
            info["final_info"], info["_final_info"] = {}, ended.copy()
        return (self._observations(self._obs), self._rewards.copy(), terminated.copy(),
                truncated.copy(), info)

    def _observations(self, rows: np.ndarray) -> np.ndarray:
        return rows.astype(self.single_observation_space.dtype)

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: the envs are arrays."""
