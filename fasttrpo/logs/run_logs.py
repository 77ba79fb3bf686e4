"""What ``learn`` writes and tells callbacks besides the update: step locals, episodes, runs.

`RunLogs` is driven by `fasttrpo.algorithms.base.OnPolicyAlgorithm.learn`: ``on_rollout_start``
before each rollout, ``on_step`` after each vector step (before the callback's ``on_step``),
``close`` at the end. Per step it

- hands the callback Stable-Baselines3's rollout locals through ``update_locals``:
  ``new_obs``, ``rewards``, ``dones``, ``infos`` (one dict per env, with sb3's
  ``"episode"`` (``r``, ``l``, ``t``), ``"terminal_observation"`` and
  ``"TimeLimit.truncated"`` entries for the envs whose episode ended), ``actions`` and
  ``n_steps``;
- writes the episodes that ended to the Monitor files of ``log_folder``
  (`fasttrpo.logs.monitor.MonitorWriter`).

Where they come from depends on the sampler. `fasttrpo.rollout.VectorEnvSampler` reports
each step as the env returned it (``last_step``): raw observations and rewards, the env's
infos. A sampler without ``last_step`` (`fasttrpo.rollout.CompiledSampler`, which calls
``on_step`` ``n_steps`` times after its compiled rollout) is read from the batch: ``new_obs``
are the policy's input rows (normalised with ``normalize_obs``), ``rewards`` the batch's
(scaled with ``normalize_reward``), ``infos`` hold only the entries above (no
``terminal_observation``), and an episode's end time is interpolated over the rollout.
"""

import time
from functools import partial
from typing import Any

import numpy as np

from fasttrpo.foundation.compat import warn_once
from fasttrpo.logs.monitor import MonitorWriter
from fasttrpo.logs.tensorboard import tensorboard_run_dir
from fasttrpo.rollout.sb3_vec_env import split_vector_info

__all__ = ["RunLogs", "env_id_of", "explained_variance", "split_vector_info"]


def env_id_of(env) -> str | None:
    """Return the gymnasium id of ``env`` (Env, VectorEnv, CompiledEnv or sampler), or None."""
    for candidate in (env, getattr(env, "env", None)):
        if candidate is None:
            continue
        spec_id = getattr(getattr(candidate, "spec", None), "id", None)
        if spec_id:
            return str(spec_id)
        envs = getattr(candidate, "envs", None)
        if envs:
            spec_id = getattr(getattr(envs[0], "spec", None), "id", None)
            if spec_id:
                return str(spec_id)
        compiled_id = getattr(candidate, "id", None)
        if isinstance(compiled_id, str):
            return compiled_id
    return None


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """``1 - Var[y_true - y_pred] / Var[y_true]`` (sb3's; NaN when ``y_true`` is constant).

    Logged as ``train/explained_variance`` with the critic's values before the fit as
    ``y_pred`` and the value targets as ``y_true``: 1 is a perfect critic, 0 no better than
    the mean, negative worse.
    """
    var_y = float(np.var(y_true))
    return float("nan") if var_y == 0 else float(1.0 - np.var(y_true - y_pred) / var_y)


def record_progress(log, episodes, successes, iteration: int, elapsed: float, steps: int,
                    num_timesteps: int) -> None:
    """Record and dump sb3's ``rollout/`` and ``time/`` keys after an iteration.

    ``episodes``: the recent episodes' ``{"r", "l"[, "c"]}`` (``ep_info_buffer``);
    ``successes``: their ``is_success`` flags; ``steps``: env steps in ``elapsed`` seconds.
    """
    if episodes:
        log.record("rollout/ep_rew_mean", float(np.mean([e["r"] for e in episodes])))
        log.record("rollout/ep_len_mean", float(np.mean([e["l"] for e in episodes])))
        if successes:
            log.record("rollout/success_rate", float(np.mean(successes)))
        costs = [e["c"] for e in episodes if "c" in e]
        if costs:
            log.record("rollout/ep_cost_mean", float(np.mean(costs)))
    log.record("time/fps", int(steps / max(elapsed, 1e-9)))
    log.record("time/iterations", iteration)
    log.record("time/time_elapsed", elapsed)
    log.record("time/total_timesteps", num_timesteps)
    log.dump(num_timesteps)


def record_value_losses(log, losses: dict[str, float]) -> None:
    """Record the critic fits' losses: ``train/value_loss`` (reward), ``.._<signal>``."""
    for signal, loss in losses.items():
        log.record("train/value_loss" if signal == "reward" else f"train/value_loss_{signal}",
                   loss)


def record_update(log, n_updates: int, rate: float, returns: np.ndarray,
                  advantages: np.ndarray, log_std: np.ndarray) -> None:
    """Record sb3's ``train/`` keys of an update beyond the step's and the fits' own."""
    log.record("train/n_updates", n_updates)
    log.record("train/learning_rate", rate)
    log.record("train/explained_variance", explained_variance(returns - advantages, returns))
    if log_std.size:
        log.record("train/std", float(np.exp(log_std).mean()))


class RunLogs:
    """Per-learn-call bookkeeping of step locals, Monitor files and the TensorBoard run.

    Parameters
    ----------
    model : OnPolicyAlgorithm
        Its ``config`` (``log_folder``, ``tensorboard_log``), ``logger``, ``env_id``.
    sampler : fasttrpo.rollout.Sampler
    batch : RolloutBatch
        The batch ``sampler`` fills.
    callback : the learn call's callback
        Receives the step locals (``update_locals``) when ``wants_locals``.
    tb_log_name : str
        The TensorBoard run name (``<tensorboard_log>/<tb_log_name>_<k>``).
    reset_num_timesteps : bool
        False continues the latest TensorBoard run and appends to the Monitor files.
    wants_locals : bool, default True
        False for the empty default callback: the step locals are not built for it.
    """

    @staticmethod
    def progress_bar(total: int):
        """Return a tqdm bar of ``total`` steps (``learn(progress_bar=True)``, needs tqdm)."""
        try:
            from tqdm import tqdm
        except ImportError as err:
            raise ImportError("progress_bar=True needs tqdm: pip install tqdm") from err
        return tqdm(total=total, unit="step")

    def __init__(self, model, sampler, batch, callback, tb_log_name: str,
                 reset_num_timesteps: bool, wants_locals: bool = True,
                 progress_total: int | None = None) -> None:
        self.model, self.sampler, self.batch, self.callback = model, sampler, batch, callback
        self.bar = None if progress_total is None else _progress_bar(progress_total)
        self.start, self.start_steps = time.perf_counter(), model.num_timesteps
        self.n_envs = sampler.num_envs
        self.wants_locals = wants_locals
        config = model.config
        if config.tensorboard_log is not None:
            set_dir = getattr(model.logger, "set_tensorboard_dir", None)
            if set_dir is None:  # a logger given to set_logger (sb3's) has its own outputs
                warn_once("tensorboard_log:set_logger", "tensorboard_log is ignored: the "
                          "logger given to set_logger writes its own outputs (sb3's "
                          "configure(folder, ['tensorboard']) gives it TensorBoard)",
                          stacklevel=4)
            else:
                set_dir(tensorboard_run_dir(config.tensorboard_log, tb_log_name,
                                            reset_num_timesteps))
        self.monitor = None
        if config.log_folder is not None:
            self.monitor = MonitorWriter(config.log_folder, self.n_envs,
                                         getattr(model, "env_id", None),
                                         append=not reset_num_timesteps)
        self._t = 0
        self._seen = 0
        self._rollout_start = time.time()
        self._rollout_end: float | None = None

    def on_rollout_start(self) -> None:
        """Before each rollout."""
        self._t = 0
        self._seen = 0
        self._rollout_start = time.time()
        self._rollout_end = None

    @property
    def per_step(self) -> bool:
        """Whether `on_step` has anything to do (a progress bar, Monitor files, locals)."""
        return self.bar is not None or self.monitor is not None or self.wants_locals

    def step(self) -> bool:
        """``learn``'s per-step hook: count the steps, `on_step`, the callback's ``on_step``."""
        self.model.num_timesteps += self.n_envs
        self.on_step()
        return self.callback.on_step()

    def end_iteration(self, iteration: int, rollout_s: float, update_s: float,
                      log_interval: int, pending_fit=None) -> None:
        """Record an iteration's times; every ``log_interval`` iterations its log row.

        The row is dumped once it holds the critic fits' losses: at once, or when
        ``pending_fit`` (`fasttrpo.algorithms.update.PendingFit`) is waited for.
        """
        model = self.model
        log = model.logger
        log.record("time/rollout_s", rollout_s)
        log.record("time/update_s", update_s)
        # a sampler's own split of the rollout time (RaySampler: workers, transfer)
        for name, seconds in getattr(self.sampler, "timings", {}).items():
            log.record(f"time/{name}", seconds)
        if not log_interval or iteration % log_interval:
            return
        dump = partial(record_progress, log, list(model.ep_info_buffer),
                       list(model.ep_success_buffer), iteration,
                       time.perf_counter() - self.start, model.num_timesteps - self.start_steps,
                       model.num_timesteps)
        if pending_fit is None:
            dump()
        else:
            pending_fit.then(lambda _: dump())

    def on_step(self) -> None:
        """After each vector step: write ended episodes, give the callback the step's locals."""
        if self.bar is not None:
            self.bar.update(self.n_envs)
        if self.monitor is None and not self.wants_locals:
            return
        t = self._t
        self._t += 1
        step = getattr(self.sampler, "last_step", None)
        if step is None:  # reported after the rollout: read the batch
            if not self.wants_locals and not self.batch.dones[t].any():
                return
            new_obs, rewards, terminated, truncated, info = self._batch_step(t)
            now = self._interpolated_time(t)
        else:
            if not self.wants_locals and len(self.batch.finished_episodes) == self._seen:
                return
            new_obs, rewards, terminated, truncated, info = step
            terminated = np.asarray(terminated, dtype=bool)
            truncated = np.asarray(truncated, dtype=bool)
            now = time.time()
        dones = terminated | truncated
        ended_envs = np.flatnonzero(dones)
        # samplers list the episodes that ended in a step in env order
        ended = self.batch.finished_episodes[self._seen:self._seen + len(ended_envs)]
        self._seen += len(ended)
        rows = self._episode_rows(ended_envs, ended, now)
        if self.wants_locals:
            infos = self._infos(info, new_obs, terminated, truncated, rows)
            self.callback.update_locals({
                "new_obs": new_obs, "rewards": rewards, "dones": dones, "infos": infos,
                "actions": self.batch.actions[t], "n_steps": t + 1, "self": self.model})

    def _batch_step(self, t: int) -> tuple:
        batch = self.batch
        new_obs = batch.obs[t + 1] if t + 1 < batch.n_steps else batch.last_obs
        dones = batch.dones[t].astype(bool) & batch.valid[t]  # NEXT_STEP reset rows: no step
        terminated = batch.terminated[t].astype(bool) & dones
        return new_obs, batch.rewards[t], terminated, dones & ~terminated, None

    def _interpolated_time(self, t: int) -> float:
        """End time of step ``t`` of a rollout reported after the fact (linear in ``t``)."""
        if self._rollout_end is None:
            self._rollout_end = time.time()
        span = self._rollout_end - self._rollout_start
        return self._rollout_start + span * (t + 1) / self.batch.n_steps

    def _episode_rows(self, ended_envs: np.ndarray, episodes: list[dict],
                      now: float) -> dict[int, dict]:
        """sb3 ``info["episode"]`` rows by env (written to the Monitor files when kept)."""
        rows = {}
        for env, episode in zip(ended_envs.tolist(), episodes, strict=False):
            if self.monitor is not None:
                rows[env] = self.monitor.write(env, episode, now)
            else:
                row = {"r": float(episode["r"]), "l": int(episode["l"]),
                       "t": round(now - self._rollout_start, 6)}
                if "c" in episode:
                    row["c"] = float(episode["c"])
                rows[env] = row
        return rows

    def _infos(self, info: dict | None, new_obs, terminated: np.ndarray,
               truncated: np.ndarray, rows: dict[int, dict]) -> list[dict]:
        n = self.n_envs
        infos = split_vector_info(info, n) if info else [{} for _ in range(n)]
        final_obs: Any = None
        final_infos: list[dict] | None = None
        if info and "final_obs" in info:  # SAME_STEP autoreset: the ended episode's last step
            final_obs = info["final_obs"]
            final_infos = split_vector_info(info.get("final_info", {}), n)
        for env in np.flatnonzero(terminated | truncated).tolist():
            entry = infos[env]
            entry.pop("final_obs", None)
            entry.pop("final_info", None)
            if final_infos is not None:
                entry.update(final_infos[env])
                entry["terminal_observation"] = final_obs[env]
            elif info is not None:  # NEXT_STEP: new_obs is the final observation
                entry["terminal_observation"] = new_obs[env]
            entry["TimeLimit.truncated"] = bool(truncated[env] and not terminated[env])
            if env in rows:
                entry["episode"] = rows[env]
        return infos

    def close(self) -> None:
        """At the end of ``learn``: close the Monitor files and the progress bar."""
        if self.monitor is not None:
            self.monitor.close()
        if self.bar is not None:
            self.bar.close()


def _progress_bar(total: int):
    try:
        from tqdm import tqdm
    except ImportError as err:
        raise ImportError("progress_bar=True needs tqdm: pip install tqdm") from err
    return tqdm(total=total, unit="step")

