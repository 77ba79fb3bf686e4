"""End-to-end training runs of fasttrpo and sb3-contrib with the rl-baselines3-zoo TRPO
hyperparameters (``hyperparams/trpo.yml``), recording learning curves.

Both libraries get the same entry of the same file, the same seed, gymnasium's registered env
(default wrappers: TimeLimit, OrderEnforcing, PassiveEnvChecker), ``n_envs`` copies stepped in
turn in one process, and one thread (torch.set_num_threads(1); fasttrpo is single-threaded).
The stacks differ only where each library's own vector env differs: fasttrpo takes
``gymnasium.make_vec(..., "sync")`` (SAME_STEP autoreset); sb3 its ``DummyVecEnv`` with
``Monitor`` (``make_vec_env``), plus ``VecNormalize`` when the zoo says ``normalize``.

A curve point is taken at the end of every rollout (before the update): timesteps, wall
seconds since ``learn`` started and the mean return of the last 10 and 100 training episodes
(stochastic policy). The final score is a deterministic evaluation of 10 episodes on a fresh
env seeded 10000..10009, the same for both libraries.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

HYPERPARAMS = Path(__file__).resolve().parent.parent / "hyperparams" / "trpo.yml"
EVAL_EPISODES = 10
EVAL_SEED = 10_000
# The zoo's published score per env (benchmark.md, single run, 1e5 / 1e6 steps)
ZOO_SCORE = {"CartPole-v1": 500.0, "Pendulum-v1": -175.0, "Hopper-v5": 3618.0}
_warm: set = set()


def zoo_entry(env_id: str) -> dict:
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams

    return dict(load_zoo_hyperparams(HYPERPARAMS, env_id))


#: the per-iteration training diagnostics kept with each curve point (issue 30: policy width,
#: trust-region step, critic), under the names both libraries log
TRAIN_KEYS = ("train/std", "train/kl_divergence_loss", "train/is_line_search_success",
              "train/explained_variance", "train/value_loss", "train/policy_objective")


def _train_values(values: dict) -> dict:
    """The `TRAIN_KEYS` of a logger's last values, as floats (those present)."""
    return {key.split("/", 1)[1]: float(values[key]) for key in TRAIN_KEYS if key in values}


def _curve_point(timesteps: int, wall: float, returns) -> dict:
    returns = list(returns)
    return {"timesteps": int(timesteps), "wall_s": float(wall), "episodes": len(returns),
            "mean_last10": float(np.mean(returns[-10:])) if returns else None,
            "mean_last100": float(np.mean(returns[-100:])) if returns else None}


class _UpdateClock:
    """Time spent in updates: from each rollout's end to the next env step (or the end)."""

    def __init__(self) -> None:
        self.update_s = 0.0
        self._since: float | None = None

    def rollout_end(self) -> None:
        self._since = time.perf_counter()

    def step(self) -> None:
        if self._since is not None:
            self.update_s += time.perf_counter() - self._since
            self._since = None

    def rollout_end_to(self, end: float) -> None:
        if self._since is not None:
            self.update_s += end - self._since
            self._since = None


def evaluate(predict, env_id: str, obs_transform=None,
             episodes: int = EVAL_EPISODES) -> list[float]:
    """Returns of ``predict(obs) -> action`` over ``episodes`` episodes seeded from EVAL_SEED."""
    env = gym.make(env_id)
    returns = []
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=EVAL_SEED + episode)
            total, done = 0.0, False
            while not done:
                action = predict(obs if obs_transform is None else obs_transform(obs))
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return returns


def run_fasttrpo(env_id: str, seed: int, timesteps: int | None = None,
                 n_steps: int | None = None, compiled: bool = False,
                 evaluation: bool = True, keep_model: bool = False,
                 use_sde: bool = True, overrides: dict | None = None,
                 curve: bool = True) -> dict:
    """One zoo-hyperparameter ``learn()`` of fasttrpo, on gymnasium envs or ``compiled``.

    ``curve=False`` trains with no callback (``learn`` as a user without one runs it: no
    per-step hook, the critic fit free to run on into the next rollout) and records no curve.

    ``use_sde=False`` drops the zoo's gSDE keys (``use_sde``, ``sde_sample_freq``);
    ``overrides`` updates the zoo entry (e.g. ``{"damped_step_length": True}``).

    Returns the wall times (``learn_s``, ``setup_s``, ``eval_s``), the sums of the model's
    ``time/rollout_s`` and ``time/update_s`` over the iterations, the curve (one point per
    rollout: timesteps, wall seconds, the mean return of the episodes that ended in that
    rollout and of the last 10 / 100) and the evaluation returns; ``keep_model`` adds the
    trained ``model``.
    """
    from fasttrpo import TRPO
    from fasttrpo.callbacks import BaseCallback
    from fasttrpo.zoo.hyperparams import zoo_to_trpo_kwargs

    entry = zoo_entry(env_id)
    if n_steps is not None:
        entry["n_steps"] = n_steps
    if not use_sde:
        entry.pop("use_sde", None)
        entry.pop("sde_sample_freq", None)
    entry.update(overrides or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs, run = zoo_to_trpo_kwargs(entry)
    kwargs["compiled"] = compiled
    total = int(timesteps or run["n_timesteps"])
    points: list[dict] = []
    split: list[dict] = []

    def read_split(model) -> None:  # the last dumped iteration's time/ values, once each
        log = model.logger
        if log.last_step is not None and (not split or split[-1]["step"] != log.last_step):
            values = log.last_values
            if "time/rollout_s" in values:
                split.append({"step": log.last_step, "rollout_s": values["time/rollout_s"],
                              "update_s": values["time/update_s"]})

    class Curve(BaseCallback):
        def _on_rollout_end(self):
            read_split(self.model)
            returns = [e["r"] for e in self.locals["batch"].finished_episodes]
            point = _curve_point(self.model.num_timesteps, time.perf_counter() - start,
                                     [e["r"] for e in self.model.ep_info_buffer])
            point["rollout_episodes"] = len(returns)
            point["rollout_mean"] = float(np.mean(returns)) if returns else None
            point["train"] = _train_values(self.model.logger.last_values)  # last update's
            points.append(point)
            return True

    warm_key = (env_id, compiled)
    if warm_key not in _warm:  # Numba cache loads / first-call costs outside the timing
        TRPO(run["policy"], env_id, n_envs=run["n_envs"], seed=seed,
             **{**kwargs, "n_steps": 64}).learn(128 * run["n_envs"])
        _warm.add(warm_key)
    setup_start = time.perf_counter()
    model = TRPO(run["policy"], env_id, n_envs=run["n_envs"], seed=seed, **kwargs)
    setup_s = time.perf_counter() - setup_start
    start = time.perf_counter()
    model.learn(total, callback=Curve() if curve else None)
    learn_s = time.perf_counter() - start
    read_split(model)
    result = {"learn_s": learn_s, "setup_s": setup_s, "timesteps": int(model.num_timesteps),
              "rollout_s": float(sum(s["rollout_s"] for s in split)),
              "update_s": float(sum(s["update_s"] for s in split)),
              "iterations": len(split), "curve": points, "n_envs": run["n_envs"],
              "sampler": type(model.sampler).__name__,
              "hyperparams": {k: v for k, v in kwargs.items() if k != "policy_kwargs"}}
    if evaluation:
        t0 = time.perf_counter()
        scores = evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env_id)
        result.update(eval_s=time.perf_counter() - t0, eval_returns=scores,
                      eval_mean=float(np.mean(scores)))
    if keep_model:
        result["model"] = model
    return result


def run_sb3(env_id: str, seed: int, timesteps: int | None = None, n_steps: int | None = None,
            use_sde: bool = True, evaluation: bool = True, keep_model: bool = False) -> dict:
    """sb3-contrib TRPO with the zoo entry; ``use_sde=False`` drops the zoo's gSDE keys.

    ``evaluation=False`` skips the deterministic evaluation; ``keep_model`` adds the trained
    ``model``, ``normalize`` and ``obs_transform`` (the frozen VecNormalize's ``normalize_obs``,
    or None).
    """
    import torch
    from sb3_contrib import TRPO as SB3TRPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    entry = zoo_entry(env_id)
    if n_steps is not None:
        entry["n_steps"] = n_steps
    total = int(timesteps or entry.pop("n_timesteps"))
    entry.pop("n_timesteps", None)
    n_envs = int(entry.pop("n_envs", 1))
    policy = entry.pop("policy", "MlpPolicy")
    normalize = entry.pop("normalize", False)
    if not use_sde:
        entry.pop("use_sde", None)
        entry.pop("sde_sample_freq", None)
    if isinstance(entry.get("policy_kwargs"), str):
        raise TypeError("policy_kwargs strings are not used by the benchmarked entries")
    curve: list[dict] = []
    split = _UpdateClock()

    class Curve(BaseCallback):
        def _on_step(self):
            split.step()
            return True

        def _on_rollout_end(self):
            split.rollout_end()
            point = _curve_point(self.model.num_timesteps, time.perf_counter() - start,
                                 [info["r"] for info in self.model.ep_info_buffer])
            # sb3 dumps its logs after the rollout, before train(): the last update's values
            # are still there
            point["train"] = _train_values(dict(self.model.logger.name_to_value))
            curve.append(point)

    if ("sb3", env_id) not in _warm:  # torch's first-call costs outside the timing
        SB3TRPO(policy, make_vec_env(env_id, n_envs=n_envs, seed=seed), seed=seed, device="cpu",
                **{**entry, "n_steps": 64, "batch_size": 64}).learn(128 * n_envs)
        _warm.add(("sb3", env_id))
    setup_start = time.perf_counter()
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if normalize:  # the zoo: VecNormalize with the algorithm's gamma
        env = VecNormalize(env, gamma=entry.get("gamma", 0.99))
    model = SB3TRPO(policy, env, seed=seed, device="cpu", verbose=0, **entry)
    setup_s = time.perf_counter() - setup_start
    start = time.perf_counter()
    model.learn(total, callback=Curve() if curve else None)
    learn_s = time.perf_counter() - start
    split.rollout_end_to(start + learn_s)
    curve.append(_curve_point(model.num_timesteps, learn_s,
                              [info["r"] for info in model.ep_info_buffer]))
    transform = None
    if normalize:
        env.training = False
        transform = env.normalize_obs
    result = {"learn_s": learn_s, "setup_s": setup_s, "timesteps": int(model.num_timesteps),
              "update_s": split.update_s, "rollout_s": learn_s - split.update_s,
              "curve": curve, "hyperparams": entry, "n_envs": n_envs}
    if evaluation:
        scores = evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env_id,
                          transform)
        result.update(eval_returns=scores, eval_mean=float(np.mean(scores)))
    if keep_model:
        result.update(model=model, normalize=normalize, obs_transform=transform)
    return result


def time_to_score(curve: list[dict], threshold: float, key: str = "mean_last10"):
    """(timesteps, wall seconds) of the first curve point whose ``key`` >= threshold."""
    for point in curve:
        value = point.get(key)
        if value is not None and point["episodes"] >= 10 and value >= threshold:
            return point["timesteps"], point["wall_s"]
    return None, None
