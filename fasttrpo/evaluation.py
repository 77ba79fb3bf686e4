"""Run a trained model for a number of episodes and report the returns (sb3's evaluate_policy)."""

import inspect
import math
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from fasttrpo.envs.ids import register_if_fasttrpo_id
from fasttrpo.foundation.masking import MASK_INFO_KEY, MASK_METHOD
from fasttrpo.rollout.batch import cost_source

#: where each per-episode cost is read: (info key, column or None for the sum of a vector)
CostSources = tuple[tuple[str, int | None], ...]


def evaluate_policy(model, env, n_eval_episodes: int = 10, deterministic: bool = True,
                    return_episode_rewards: bool = False, *, seed: int | None = None,
                    render: bool = False, callback: Callable | None = None,
                    reward_threshold: float | None = None, return_episode_costs: bool = False,
                    warn: bool = True, cost_keys: Sequence[str] | None = None,
                    use_masking: bool = True):
    """Play ``n_eval_episodes`` episodes of ``model`` in ``env`` (sb3's ``evaluate_policy``).

    Each episode sums the (unnormalised) env rewards until ``terminated`` or ``truncated``.
    With several envs the episodes are divided over them as sb3 does: env ``i`` plays
    ``(n_eval_episodes + i) // n_envs`` of them, all envs stepped together, and the episodes
    are listed in the order they end.

    Parameters
    ----------
    model : object with ``predict(obs, deterministic=...) -> (action, state)``.
    env : str, gymnasium.Env, gymnasium.vector.VectorEnv, sb3 VecEnv, CompiledEnv
        An id (made with ``gymnasium.make`` and closed afterwards), a single env, a vector env
        in either autoreset mode (``CompiledVectorEnv`` too), an sb3 ``VecEnv`` or the view
        ``model.get_env()`` returns, or a ``CompiledEnv`` (one copy).
    n_eval_episodes : int, default 10
    deterministic : bool, default True
    return_episode_rewards : bool, default False
    seed : int, optional
        Passed to the first reset only; later episodes continue the env's random stream.
    render : bool, default False
        Call ``env.render()`` after every step.
    callback : callable, optional
        ``callback(locals_, globals_)`` after every step (as sb3).
    reward_threshold : float, optional
        Raise ValueError when the mean reward is below it.
    warn : bool, default True
        Accepted for sb3 compatibility (sb3 warns about envs without a Monitor wrapper;
        episodes here are summed from the env's own rewards, so there is nothing to warn
        about).
    return_episode_costs : bool, default False
        Also return each episode's summed ``info["cost"]`` (a vector cost: its total; NaN for
        an episode that reported none), as a third list when ``return_episode_rewards`` is
        set and a third value (the mean cost) otherwise.
    cost_keys : sequence of str, optional
        Report one cost per name instead of the summed ``info["cost"]``: a name is an info
        key (``"cost_hazards"``) or ``"cost[i]"``, column ``i`` of a vector ``info["cost"]``,
        as the constrained algorithms' ``cost_keys`` (``model.cost_signals`` names a model's
        own constraints). Each episode's cost is then a list of one float per name (NaN
        where the env reported none), and the mean cost an array of them.
    use_masking : bool, default True
        As sb3-contrib's ``evaluate_policy`` for ``MaskablePPO``: for an env with
        ``action_masks()`` (or ``info["action_mask"]``), pass each state's mask to
        ``model.predict(..., action_masks=...)`` (a model whose ``predict`` takes no
        ``action_masks``, sb3's ``PPO`` say, gets none); False ignores the masks.

    Returns
    -------
    (mean_reward, std_reward) : floats
        Or, with ``return_episode_rewards``, ``(episode_rewards, episode_lengths)``: lists of
        ``n_eval_episodes`` floats and ints.
    """
    if isinstance(n_eval_episodes, bool) or not isinstance(n_eval_episodes, (int, np.integer)) \
            or n_eval_episodes < 1:
        raise ValueError(f"n_eval_episodes: expected a positive integer, got {n_eval_episodes!r}")
    sources = _cost_sources(cost_keys)
    env, owned = _as_env(env)
    play = _play_vector if isinstance(env, VectorEnv) else _play_single
    try:
        takes_masks = "action_masks" in inspect.signature(model.predict).parameters
    except (TypeError, ValueError):  # no signature to read
        takes_masks = False
    try:
        rewards, lengths, cost_rows = play(model, env, int(n_eval_episodes), deterministic,
                                           seed, render, callback, sources,
                                           bool(use_masking) and takes_masks)
    finally:
        if owned:
            env.close()
    mean_reward = float(np.mean(rewards))
    std_reward = float(np.std(rewards))
    if reward_threshold is not None and mean_reward < reward_threshold:
        raise ValueError(
            f"reward_threshold: mean reward {mean_reward:.2f} is below {reward_threshold:.2f}"
        )
    costs: list = [row.tolist() for row in cost_rows] if cost_keys is not None else \
        [float(row[0]) for row in cost_rows]
    if return_episode_rewards:
        if return_episode_costs:
            return rewards, lengths, costs
        return rewards, lengths
    if return_episode_costs:
        mean_costs = np.mean(np.array(cost_rows, dtype=np.float64).reshape(-1, len(sources)),
                             axis=0)
        return mean_reward, std_reward, mean_costs if cost_keys is not None else \
            float(mean_costs[0])
    return mean_reward, std_reward


def _cost_sources(cost_keys: Sequence[str] | None) -> CostSources:
    """Where each reported cost is read; ValueError for names that are not strings."""
    if cost_keys is None:
        return (("cost", None),)
    if isinstance(cost_keys, str) or not all(isinstance(k, str) for k in cost_keys) \
            or not cost_keys:
        raise ValueError(f"cost_keys: expected a non-empty list of info keys or 'cost[i]' "
                         f"names, got {cost_keys!r}")
    return tuple(cost_source(key) for key in cost_keys)


def _as_env(env) -> tuple[gym.Env | VectorEnv, bool]:
    """Return a single env or a vector env stepping ``env``, and whether it was made here."""
    from fasttrpo.rollout.sb3_vec_env import Sb3VecEnv, Sb3VecEnvView, is_sb3_vec_env

    if isinstance(env, str):
        register_if_fasttrpo_id(env)
        return gym.make(env), True
    if isinstance(env, Sb3VecEnvView):
        return env.venv, False
    if isinstance(env, (VectorEnv, gym.Env)):
        return env, False
    if is_sb3_vec_env(env):
        return Sb3VecEnv(env), False
    if type(env).__name__ == "CompiledEnv":  # the compiled envs import numba: only if used
        from fasttrpo.envs.compiled import CompiledEnv, CompiledVectorEnv

        if isinstance(env, CompiledEnv):
            return CompiledVectorEnv(env, num_envs=1), True
    raise ValueError(f"env: expected an env id, a gymnasium Env or VectorEnv, an sb3 VecEnv or "
                     f"a CompiledEnv, got {type(env).__name__}")


def _predict(model, obs, deterministic: bool, masks, state=None, episode_start=None):
    """``model.predict``, with ``action_masks`` only when there are masks (any sb3 model).

    ``state`` and ``episode_start`` are passed (as sb3-contrib's ``evaluate_policy`` does)
    when the model is recurrent (``model.policy.recurrent``): it carries its GRU state.
    """
    extra = {}
    if getattr(getattr(model, "policy", None), "recurrent", False):
        extra = {"state": state, "episode_start": episode_start}
    if masks is not None:
        extra["action_masks"] = masks
    return model.predict(obs, deterministic=deterministic, **extra)


def _play_single(model, env: gym.Env, n_episodes: int, deterministic: bool, seed, render,
                 callback, sources: CostSources, use_masking: bool,
                 ) -> tuple[list[float], list[int], list[np.ndarray]]:
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    episode_costs: list[np.ndarray] = []
    for episode in range(n_episodes):
        obs, info = env.reset(seed=seed) if episode == 0 and seed is not None else env.reset()
        total, length, done = 0.0, 0, False
        state, start = None, np.ones(1, dtype=bool)  # a recurrent model's state
        cost = np.full(len(sources), math.nan)
        while not done:
            masks = None
            if use_masking and env.has_wrapper_attr(MASK_METHOD):
                masks = env.get_wrapper_attr(MASK_METHOD)()
            elif use_masking:
                masks = info.get(MASK_INFO_KEY)
            action, state = _predict(model, obs, deterministic, masks, state, start)
            start = np.zeros(1, dtype=bool)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            _add_costs(cost, _step_costs(info, sources))
            length += 1
            done = bool(terminated or truncated)
            if callback is not None:
                callback(locals(), globals())
            if render:
                env.render()
        episode_rewards.append(total)
        episode_lengths.append(length)
        episode_costs.append(cost)
    return episode_rewards, episode_lengths, episode_costs


def _play_vector(model, venv: VectorEnv, n_episodes: int, deterministic: bool, seed, render,
                 callback, sources: CostSources, use_masking: bool,
                 ) -> tuple[list[float], list[int], list[np.ndarray]]:
    from fasttrpo.rollout.gym_sampler import action_mask_source, vector_action_masks

    n_envs = venv.num_envs
    mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    targets = np.array([(n_episodes + i) // n_envs for i in range(n_envs)])
    counts = np.zeros(n_envs, dtype=np.int64)
    totals, lengths = np.zeros(n_envs), np.zeros(n_envs, dtype=np.int64)
    costs = np.full((n_envs, len(sources)), math.nan)
    resetting = np.zeros(n_envs, dtype=bool)  # NEXT_STEP: this step only resets these envs
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    episode_costs: list[np.ndarray] = []
    obs, info = venv.reset(seed=seed)
    masking = action_mask_source(venv, info) if use_masking else None
    state, starts = None, np.ones(n_envs, dtype=bool)  # a recurrent model's states
    while (counts < targets).any():
        masks = vector_action_masks(venv, masking, info)
        actions, state = _predict(model, obs, deterministic, masks, state, starts)
        obs, rewards, terminated, truncated, info = venv.step(actions)
        dones = np.logical_or(terminated, truncated)
        # an episode starts after a done (NEXT_STEP: after the reset step too)
        starts = dones | resetting
        step_info = info.get("final_info", {}) if mode == AutoresetMode.SAME_STEP else info
        step_costs = _per_env(info, sources, n_envs)
        if mode == AutoresetMode.SAME_STEP and dones.any():  # the ending step's info
            final_costs = _per_env(step_info, sources, n_envs)
            step_costs = np.where(dones[:, None], final_costs, step_costs)
        counted = ~resetting
        totals[counted] += np.asarray(rewards, dtype=np.float64)[counted]
        lengths[counted] += 1
        for e in np.flatnonzero(counted):
            _add_costs(costs[e], step_costs[e])
        for e in np.flatnonzero(dones & counted):
            if counts[e] < targets[e]:
                episode_rewards.append(float(totals[e]))
                episode_lengths.append(int(lengths[e]))
                episode_costs.append(costs[e].copy())
                counts[e] += 1
            totals[e], lengths[e] = 0.0, 0
            costs[e] = math.nan
        # NEXT_STEP: the envs that ended now only reset on the next step (not counted)
        resetting = dones & counted if mode == AutoresetMode.NEXT_STEP else \
            np.zeros(n_envs, dtype=bool)
        if callback is not None:
            callback(locals(), globals())
        if render:
            venv.render()
    return episode_rewards, episode_lengths, episode_costs


def _add_costs(episode: np.ndarray, step: np.ndarray) -> None:
    """Add a step's costs (k,) to an episode's running sums (k,), where the step has one.

    A sum starts at NaN (no cost reported yet) and becomes a number at the first report.
    """
    reported = ~np.isnan(step)
    episode[reported] = np.where(np.isnan(episode[reported]), 0.0, episode[reported]) \
        + step[reported]


def _step_costs(info: dict, sources: CostSources) -> np.ndarray:
    """Return one env's step costs (k,) from its ``info``, NaN where it reported none."""
    return np.array([_cost_value(info[key], column) if key in info else math.nan
                     for key, column in sources])


def _per_env(info: dict, sources: CostSources, n_envs: int) -> np.ndarray:
    """Return a vector env's step costs as (n_envs, k) floats, NaN where a mask is unset."""
    out = np.full((n_envs, len(sources)), math.nan)
    for index, (key, column) in enumerate(sources):
        if key not in info:
            continue
        mask = np.asarray(info.get("_" + key, np.ones(n_envs, dtype=bool)), dtype=bool)
        values = np.asarray(info[key], dtype=object) if column is None else \
            np.asarray(info[key], dtype=np.float64)
        for e in np.flatnonzero(mask):
            out[e, index] = _cost_value(values[e] if values.ndim else values, column)
    return out


def _cost_value(value, column: int | None) -> float:
    """Return one env's step cost: a number or a vector's sum (``column`` None), or a column.

    ValueError when the column is not in the vector.
    """
    costs = np.asarray(value, dtype=np.float64)
    if column is None:
        return float(np.sum(costs))
    if costs.ndim != 1 or not 0 <= column < costs.shape[0]:
        raise ValueError(f"cost_keys: column {column} of info['cost'] asked for, but the env "
                         f"reports {costs.tolist()!r}")
    return float(costs[column])
