"""Run a trained model for a number of episodes and report the returns (sb3's evaluate_policy)."""

import math
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from fasttrpo.env_ids import register_if_fasttrpo_id


def evaluate_policy(model, env, n_eval_episodes: int = 10, deterministic: bool = True,
                    return_episode_rewards: bool = False, *, seed: int | None = None,
                    render: bool = False, callback: Callable | None = None,
                    reward_threshold: float | None = None, return_episode_costs: bool = False,
                    warn: bool = True):
    """Play ``n_eval_episodes`` episodes of ``model`` in ``env``.

    Each episode sums the (unnormalised) env rewards until ``terminated`` or ``truncated``.

    Parameters
    ----------
    model : object with ``predict(obs, deterministic=...) -> (action, state)``.
    env : gymnasium.Env or str
        A single environment, or an id made with ``gymnasium.make`` (and closed afterwards).
    n_eval_episodes : int, default 10
    deterministic : bool, default True
    return_episode_rewards : bool, default False
    seed : int, optional
        Passed to ``env.reset`` of the first episode only; later episodes continue the env's
        random stream.
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
        Also return each episode's summed ``info["cost"]`` (NaN for an episode that reported
        none), as a third list when ``return_episode_rewards`` is set and a third value
        (the mean cost) otherwise.

    Returns
    -------
    (mean_reward, std_reward) : floats
        Or, with ``return_episode_rewards``, ``(episode_rewards, episode_lengths)``: lists of
        ``n_eval_episodes`` floats and ints.
    """
    if isinstance(env, VectorEnv):
        raise ValueError(  # noqa: TRY004 (project convention: bad arguments raise ValueError)
            "env: expected a single gymnasium.Env or an env id, got a VectorEnv")
    if not isinstance(n_eval_episodes, (int, np.integer)) or n_eval_episodes < 1:
        raise ValueError(f"n_eval_episodes: expected a positive integer, got {n_eval_episodes!r}")
    owned = isinstance(env, str)
    if owned:
        register_if_fasttrpo_id(env)
        env = gym.make(env)
    elif not hasattr(env, "reset") or not hasattr(env, "step"):
        raise ValueError(f"env: expected a gymnasium.Env or an env id, got {type(env).__name__}")
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    episode_costs: list[float] = []
    try:
        for episode in range(int(n_eval_episodes)):
            obs, _ = env.reset(seed=seed) if episode == 0 and seed is not None else env.reset()
            total, length, done, cost = 0.0, 0, False, math.nan
            while not done:
                action, _ = model.predict(obs, deterministic=deterministic)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                if "cost" in info:
                    cost = float(info["cost"]) + (0.0 if math.isnan(cost) else cost)
                length += 1
                done = bool(terminated or truncated)
                if callback is not None:
                    callback(locals(), globals())
                if render:
                    env.render()
            episode_rewards.append(total)
            episode_lengths.append(length)
            episode_costs.append(cost)
    finally:
        if owned:
            env.close()
    mean_reward = float(np.mean(episode_rewards))
    std_reward = float(np.std(episode_rewards))
    if reward_threshold is not None and mean_reward < reward_threshold:
        raise ValueError(
            f"reward_threshold: mean reward {mean_reward:.2f} is below {reward_threshold:.2f}"
        )
    if return_episode_rewards:
        if return_episode_costs:
            return episode_rewards, episode_lengths, episode_costs
        return episode_rewards, episode_lengths
    if return_episode_costs:
        return mean_reward, std_reward, float(np.mean(episode_costs))
    return mean_reward, std_reward
