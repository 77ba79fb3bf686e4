"""The compiled-environment contract: an env as three Numba functions over plain arrays.

An environment that the compiled sampler (``fasttrpo.rollout.CompiledSampler``) and the
gymnasium view (`CompiledVectorEnv`) can run is a `CompiledEnv`: its gymnasium spaces, a
float64 parameter vector, a state size, an optional time limit, and three functions compiled
with ``numba.njit`` (``cache=True`` recommended), all over C-contiguous 1-D arrays:

``reset(params, rng, state) -> None``
    Write a new initial state into ``state`` (state_dim,) float64, drawing randomness from
    ``rng`` ((1,) uint64, a `fasttrpo.envs.compiled.rng` stream, advanced in place).
``step(params, rng, state, action) -> (reward, cost, terminated, truncated)``
    Advance ``state`` in place under ``action`` (action_dim,) float64 and return the reward
    and the cost (float; the cost is read only when ``has_cost``) and the termination and
    truncation flags (bool). ``action`` holds a Box action clipped to the bounds (rounded to
    the space's float dtype), or class indices (``start`` added) / 0-1 values as floats.
``observe(params, state, obs) -> None``
    Write the observation of ``state`` into ``obs`` (obs_dim,) float64.

The time limit (``max_episode_steps``, gymnasium's ``TimeLimit``) is applied by the runner,
which also resets an env when its episode ends (autoreset), keeping the final observation for
the value bootstrap of truncated episodes. ``params`` holds the env's constants, so one
compiled function serves every variant of an env (e.g. Pendulum's gravity).

The functions are called through first-class function pointers (`RESET_TYPE`, ...), so the
compiled runners are cached on disk once and serve every env, the user's included.
`check_env` compiles the three functions for the contract's signatures and runs them once,
raising a ValueError that names the function and the broken rule.
"""

from collections.abc import Callable

import numpy as np
from gymnasium import spaces
from numba import types
from numba.core import config as numba_config
from numba.core.dispatcher import Dispatcher
from numba.core.errors import NumbaError

from fasttrpo.envs.compiled.rng import seed_streams

__all__ = ["CompiledEnv", "OBSERVE_TYPE", "RESET_TYPE", "STEP_TYPE", "check_env"]

_VECTOR = types.Array(types.float64, 1, "C")
_RNG = types.Array(types.uint64, 1, "C")
_STEP_RESULT = types.Tuple((types.float64, types.float64, types.boolean, types.boolean))

#: ``reset(params, rng, state) -> None``
RESET_SIGNATURE = types.void(_VECTOR, _RNG, _VECTOR)
#: ``step(params, rng, state, action) -> (reward, cost, terminated, truncated)``
STEP_SIGNATURE = _STEP_RESULT(_VECTOR, _RNG, _VECTOR, _VECTOR)
#: ``observe(params, state, obs) -> None``
OBSERVE_SIGNATURE = types.void(_VECTOR, _VECTOR, _VECTOR)

#: the first-class function types compiled runners take the three functions as
RESET_TYPE = types.FunctionType(RESET_SIGNATURE)
STEP_TYPE = types.FunctionType(STEP_SIGNATURE)
OBSERVE_TYPE = types.FunctionType(OBSERVE_SIGNATURE)

_ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class CompiledEnv:
    """An environment as compiled functions (the contract in the module docstring).

    Parameters
    ----------
    id : str
        A name for messages and ``repr`` (the gymnasium id for the ports).
    reset, step, observe : numba ``njit`` functions
        The three functions of the contract.
    observation_space : gymnasium.spaces.Box
        A flat (1-D) Box of the observations (their dtype is what the gymnasium view returns).
    action_space : gymnasium.spaces.Box, Discrete, MultiDiscrete or MultiBinary
        Flat (1-D) spaces only.
    state_dim : int
        Length of the state vector.
    params : array-like of float, optional
        The env's constants, passed to every call (default: none).
    max_episode_steps : int, optional
        Episodes are truncated after this many steps (None: no limit).
    has_cost : bool, default False
        ``step`` returns a meaningful cost (constrained algorithms need one).

    Raises
    ------
    ValueError
        When an argument breaks the contract, naming it (see also `check_env`).
    """

    def __init__(self, id: str, reset: Callable, step: Callable, observe: Callable,
                 observation_space: spaces.Box, action_space: spaces.Space, state_dim: int,
                 params=(), max_episode_steps: int | None = None,
                 has_cost: bool = False) -> None:
        if numba_config.DISABLE_JIT:
            raise ValueError(
                f"{id}: compiled envs need Numba's compiler, and NUMBA_DISABLE_JIT=1 is set: "
                "unset it, or train on the gymnasium env (compiled=False)")
        for name, function in (("reset", reset), ("step", step), ("observe", observe)):
            if not isinstance(function, Dispatcher):
                raise ValueError(
                    f"{name}: expected a function compiled with numba.njit, got "
                    f"{type(function).__name__} {function!r}; decorate it with @numba.njit")
        if not (isinstance(observation_space, spaces.Box)
                and len(observation_space.shape or ()) == 1):
            raise ValueError(f"observation_space: compiled envs need a 1-D Box, got "
                             f"{observation_space}")
        if not (isinstance(action_space, _ACTION_SPACES)
                and len(action_space.shape or ()) <= 1):
            raise ValueError(f"action_space: compiled envs support flat Box, Discrete, "
                             f"MultiDiscrete and MultiBinary spaces, got {action_space}")
        if isinstance(state_dim, bool) or not isinstance(state_dim, (int, np.integer)) \
                or state_dim < 1:
            raise ValueError(f"state_dim: expected a positive integer, got {state_dim!r}")
        try:
            params = np.array(params, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise ValueError(f"params: expected a sequence of numbers ({err})") from None
        if not np.isfinite(params).all():
            raise ValueError(f"params: contains NaN or infinite values: {params}")
        if max_episode_steps is not None and (
                isinstance(max_episode_steps, bool)
                or not isinstance(max_episode_steps, (int, np.integer))
                or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps: expected a positive integer or None, got "
                             f"{max_episode_steps!r}")
        self.id = str(id)
        self.reset, self.step, self.observe = reset, step, observe
        self.observation_space, self.action_space = observation_space, action_space
        self.state_dim = int(state_dim)
        self.obs_dim = int(observation_space.shape[0])
        self.action_dim = 1 if isinstance(action_space, spaces.Discrete) \
            else int(action_space.shape[0])
        self.params = params
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.has_cost = bool(has_cost)

    @property
    def time_limit(self) -> int:
        """``max_episode_steps`` as the runners read it (0: no limit)."""
        return self.max_episode_steps or 0

    def __repr__(self) -> str:
        """Name, spaces and time limit."""
        return (f"CompiledEnv({self.id!r}, observation_space={self.observation_space}, "
                f"action_space={self.action_space}, "
                f"max_episode_steps={self.max_episode_steps})")


def _compile(env: CompiledEnv, name: str, signature) -> None:
    function = getattr(env, name)
    try:
        function.compile(signature)
    except NumbaError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = " | ".join(lines[:6])  # numba's own account: what failed to type, where
        raise ValueError(f"{env.id}: {name} does not compile for the contract signature "
                         f"{name}{signature.args} -> {signature.return_type}: "
                         f"{detail}") from err


def _sentinel(length: int, extra: int = 4) -> np.ndarray:
    return np.full(length + extra, np.nan)


def _check_written(env: CompiledEnv, name: str, what: str, array: np.ndarray,
                   length: int) -> None:
    head, tail = array[:length], array[length:]
    if not np.isnan(tail).all():
        raise ValueError(f"{env.id}: {name} wrote past the end of {what} (length {length}); "
                         f"check the {what} size the env declares")
    if not np.isfinite(head).all():
        unset = np.flatnonzero(~np.isfinite(head)).tolist()
        raise ValueError(f"{env.id}: {name} left {what} entries {unset} unwritten or not "
                         f"finite: {head}")


def check_env(env: CompiledEnv, n_steps: int = 64, seed: int = 0) -> None:
    """Check ``env`` against the contract (module docstring): compile and run it.

    Compiles ``reset``, ``step`` and ``observe`` for the contract's signatures (float64
    vectors, a (1,) uint64 rng, step returning ``(float, float, bool, bool)``), then resets
    and steps one env ``n_steps`` times with random actions, checking that every state and
    observation entry is written, none past the declared sizes, and that states,
    observations, rewards and costs stay finite.

    Raises
    ------
    ValueError
        Naming the env, the function and the broken rule.
    """
    if not isinstance(env, CompiledEnv):
        raise ValueError(f"env: expected a fasttrpo.envs.compiled.CompiledEnv, got "
                         f"{type(env).__name__}")
    _compile(env, "reset", RESET_SIGNATURE)
    _compile(env, "step", STEP_SIGNATURE)
    _compile(env, "observe", OBSERVE_SIGNATURE)
    rng = seed_streams(seed, 1)[0]
    state = _sentinel(env.state_dim)
    env.reset(env.params, rng, state)
    _check_written(env, "reset", "state", state, env.state_dim)
    obs = _sentinel(env.obs_dim)
    env.observe(env.params, state, obs)
    _check_written(env, "observe", "obs", obs, env.obs_dim)
    env.action_space.seed(seed)
    for t in range(n_steps):
        action = np.asarray(env.action_space.sample(), dtype=np.float64).reshape(-1)
        if isinstance(env.action_space, spaces.Box):
            action = np.clip(action, env.action_space.low, env.action_space.high)
        result = env.step(env.params, rng, state, np.ascontiguousarray(action))
        _check_written(env, f"step {t}", "state", state, env.state_dim)
        reward, cost = result[0], result[1]
        if not (np.isfinite(reward) and np.isfinite(cost)):
            raise ValueError(f"{env.id}: step {t} returned a non-finite reward or cost "
                             f"({reward}, {cost})")
        obs[:] = np.nan
        env.observe(env.params, state, obs)
        _check_written(env, f"observe after step {t}", "obs", obs, env.obs_dim)
        if result[2] or result[3]:
            env.reset(env.params, rng, state)
