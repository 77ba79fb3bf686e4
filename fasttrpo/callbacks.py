"""Training callbacks with Stable-Baselines3's names and hooks.

The model calls, in this order: ``init_callback(model)``, ``on_training_start(locals_,
globals_)``, then per rollout ``on_rollout_start()``, ``on_step()`` after every vector-env
step (``update_locals`` first hands over the step's locals) and ``on_rollout_end()`` before
the update, and finally ``on_training_end()``. ``on_step`` / ``on_rollout_end`` returning
False stops training. Unlike sb3, a hook that returns None (forgot ``return True``) means
"continue".

``locals`` holds, after each step, sb3's rollout variables: ``new_obs``, ``rewards``,
``dones``, ``infos`` (one dict per env; an env whose episode ended has ``"episode"``
(``r``, ``l``, ``t``), ``"terminal_observation"`` and ``"TimeLimit.truncated"``),
``actions`` and ``n_steps`` (`fasttrpo.logs.run_logs` builds them; with compiled rollouts they
are read from the finished batch, see there).

Stable-Baselines3's own callback objects (``stable_baselines3.common.callbacks``:
``BaseCallback`` subclasses, ``CallbackList``, ``CheckpointCallback``, ...) are accepted by
duck typing (`is_callback`): fasttrpo never imports sb3.
"""

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from fasttrpo.envs.ids import register_if_fasttrpo_id
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.foundation.compat import warn_once

__all__ = [
    "BaseCallback",
    "CallbackList",
    "CheckpointCallback",
    "EvalCallback",
    "EventCallback",
    "EveryNTimesteps",
    "FunctionCallback",
    "StopTrainingOnMaxEpisodes",
    "StopTrainingOnNoModelImprovement",
    "StopTrainingOnRewardThreshold",
    "is_callback",
    "make_callback",
]

#: the methods the model calls: what makes an object a callback (sb3's ones included)
CALLBACK_METHODS = ("init_callback", "on_training_start", "on_rollout_start", "on_step",
                    "on_rollout_end", "on_training_end", "update_locals")


def is_callback(obj) -> bool:
    """Whether ``obj`` has every method of `CALLBACK_METHODS` (fasttrpo's or sb3's callbacks)."""
    return all(callable(getattr(obj, name, None)) for name in CALLBACK_METHODS)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: expected {wanted}, got {value!r}")
    return int(value)


def _check_child(name: str, callback):
    if callback is not None and not is_callback(callback):
        raise ValueError(f"{name}: expected a callback (fasttrpo's or sb3's BaseCallback) or "
                         f"None, got {type(callback).__name__}")
    return callback


class BaseCallback:
    """Base class: override ``_on_step`` (and optionally the other ``_on_*`` hooks).

    Parameters
    ----------
    verbose : int, default 0

    Attributes
    ----------
    model : the model, set by ``init_callback``.
    n_calls : int
        Number of ``on_step`` calls so far.
    num_timesteps : int
        ``model.num_timesteps`` at the last hook call.
    locals, globals : dict
        The model's local variables, refreshed through ``update_locals``.
    parent : BaseCallback or None
        The callback that owns this one (e.g. the EvalCallback of a ``callback_on_new_best``).
    """

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        #: the model (an `OnPolicyAlgorithm`) once `init_callback` ran
        self.model: Any = None
        self.parent: BaseCallback | None = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict = {}
        self.globals: dict = {}

    @property
    def logger(self):
        """The model's logger (``model.logger``)."""
        return self.model.logger

    @property
    def training_env(self):
        """The model's (vector) training environment, or None before ``init_callback``."""
        get_env = getattr(self.model, "get_env", None)
        return get_env() if get_env is not None else getattr(self.model, "env", None)

    # ---- called by the model -------------------------------------------------------------
    def init_callback(self, model) -> None:
        """Attach the callback to ``model``, before training starts."""
        self.model = model
        self._init_callback()

    def on_training_start(self, locals_: dict, globals_: dict | None = None) -> None:
        """Record the model's variables at the start of ``learn``, then run the hook."""
        self.locals = dict(locals_)
        self.globals = dict(globals_ or {})
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def on_rollout_start(self) -> None:
        """Run the hook before each rollout."""
        self._on_rollout_start()

    def on_step(self) -> bool:
        """After every vector-env step; False stops training."""
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return self._on_step() is not False

    def on_rollout_end(self) -> bool:
        """After each rollout, before the update; False stops training."""
        self.num_timesteps = self.model.num_timesteps
        return self._on_rollout_end() is not False

    def on_training_end(self) -> None:
        """Run the hook at the end of ``learn``."""
        self._on_training_end()

    def update_locals(self, locals_: dict) -> None:
        """Refresh ``locals`` with the model's current variables (and the children's)."""
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_: dict) -> None:
        """Pass ``locals_`` on to child callbacks (none here)."""

    # ---- hooks for subclasses ------------------------------------------------------------
    def _init_callback(self) -> None:
        pass

    def _on_training_start(self) -> None:
        pass

    def _on_rollout_start(self) -> None:
        pass

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        pass


class CallbackList(BaseCallback):
    """Several callbacks as one; every child is called, training stops if any says so."""

    def __init__(self, callbacks: Iterable[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = [make_callback(cb) for cb in callbacks]

    def _init_callback(self) -> None:
        for cb in self.callbacks:
            if self.parent is not None:  # e.g. a list used as callback_on_new_best
                cb.parent = self.parent
            cb.init_callback(self.model)

    def _on_training_start(self) -> None:
        for cb in self.callbacks:
            cb.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for cb in self.callbacks:
            cb.on_rollout_start()

    def _on_step(self) -> bool:
        results = [cb.on_step() for cb in self.callbacks]  # call all, then combine
        return all(results)

    def _on_rollout_end(self) -> bool:
        results = [cb.on_rollout_end() for cb in self.callbacks]
        return all(results)

    def _on_training_end(self) -> None:
        for cb in self.callbacks:
            cb.on_training_end()

    def update_child_locals(self, locals_: dict) -> None:
        """Pass ``locals_`` on to every callback of the list."""
        for cb in self.callbacks:
            cb.update_locals(locals_)


class FunctionCallback(BaseCallback):
    """Calls ``fn(locals_, globals_)`` at every step; False stops, None or True continue."""

    def __init__(self, fn: Callable, verbose: int = 0) -> None:
        super().__init__(verbose)
        if not callable(fn):
            raise ValueError(f"callback: expected a callable, got {fn!r}")  # noqa: TRY004
        self.fn = fn

    def _on_step(self) -> bool:
        return self.fn(self.locals, self.globals) is not False


def make_callback(callback) -> BaseCallback:
    """One callback from what ``learn`` accepts.

    ``None`` (an empty `BaseCallback`), a callback object (fasttrpo's, or sb3's by duck
    typing, `is_callback`; returned as it is), a list / tuple of them (a `CallbackList`) or
    a function ``f(locals_, globals_) -> bool`` (a `FunctionCallback`).
    """
    if callback is None:
        return BaseCallback()
    if isinstance(callback, BaseCallback) or is_callback(callback):
        return callback
    if isinstance(callback, (list, tuple)):
        return CallbackList(callback)
    if callable(callback):
        return FunctionCallback(callback)
    raise ValueError(
        "callback: expected None, a callback object (fasttrpo.callbacks.BaseCallback or "
        "Stable-Baselines3's), a list of them or a function f(locals_, globals_) -> bool, "
        f"got {type(callback).__name__}"
    )


def _parent_best(callback: BaseCallback, use: str) -> float:
    """``best_mean_reward`` of the callback's parent EvalCallback (ValueError without one)."""
    parent = callback.parent
    if parent is None or not hasattr(parent, "best_mean_reward"):
        raise ValueError(f"{type(callback).__name__}: use it as an EvalCallback's {use}")
    return float(parent.best_mean_reward)


class StopTrainingOnRewardThreshold(BaseCallback):
    """Stop once the parent EvalCallback's ``best_mean_reward`` reaches ``reward_threshold``.

    Use as ``EvalCallback(..., callback_on_new_best=StopTrainingOnRewardThreshold(200))``.
    """

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.reward_threshold = float(reward_threshold)

    def _on_step(self) -> bool:
        best = _parent_best(self, "callback_on_new_best")
        if best >= self.reward_threshold and self.verbose >= 1:
            print(f"Stopping training: best mean reward {best:.2f} >= threshold "
                  f"{self.reward_threshold:.2f}")
        return best < self.reward_threshold


class EventCallback(BaseCallback):
    """Base of callbacks that run a child callback on an event (sb3's ``EventCallback``).

    Parameters
    ----------
    callback : callback, optional
        Its ``on_step`` runs at each event (`_on_event`); its ``parent`` is this callback.
    verbose : int, default 0
    """

    def __init__(self, callback=None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.callback = _check_child("callback", callback)
        if callback is not None:
            callback.parent = self

    def _init_callback(self) -> None:
        if self.callback is not None:
            self.callback.init_callback(self.model)

    def _on_training_start(self) -> None:
        if self.callback is not None:
            self.callback.on_training_start(self.locals, self.globals)

    def _on_event(self) -> bool:
        return self.callback is None or self.callback.on_step() is not False

    def update_child_locals(self, locals_: dict) -> None:
        """Pass ``locals_`` on to the child callback."""
        if self.callback is not None:
            self.callback.update_locals(locals_)


class EvalCallback(EventCallback):
    """Evaluate the model every ``eval_freq`` calls of ``on_step``; keep and save the best.

    Parameters
    ----------
    eval_env : gymnasium.Env or env id
        A single (non-vector) environment; an id is made with ``gymnasium.make``.
    n_eval_episodes : int, default 5
    eval_freq : int, default 10000
        In ``on_step`` calls, i.e. vector-env steps (``n_envs`` transitions each), as sb3.
    best_model_save_path : str, optional
        Folder for ``best_model`` (``model.save(path/best_model)``) on each new best.
    deterministic : bool, default True
    verbose : int, default 0
    callback_on_new_best : callback, optional
        Its ``on_step`` runs on each new best; returning False stops training.
    log_path : str, optional
        Folder for ``evaluations.npz``, rewritten after each evaluation as sb3 writes it
        (``timesteps`` (n,), ``results`` and ``ep_lengths`` (n, n_eval_episodes); ``costs``
        too when the env reports ``info["cost"]``): rl-zoo3's ``all_plots`` reads it.
    callback_after_eval : callback, optional
        Its ``on_step`` runs after every evaluation (e.g. `StopTrainingOnNoModelImprovement`);
        returning False stops training.
    render : bool, default False
        Render the evaluation episodes.
    warn : bool, default True
        Accepted for sb3 compatibility (sb3 warns about envs without a Monitor wrapper;
        fasttrpo has nothing to warn about).

    Attributes
    ----------
    best_mean_reward, last_mean_reward : float (-inf before the first evaluation).
    evaluations_timesteps, evaluations_results, evaluations_length : lists, one entry per
        evaluation (the episode rewards / lengths).

    The mean reward and episode length are recorded as ``eval/mean_reward`` and
    ``eval/mean_ep_length`` in ``model.logger`` and appear in the next dump.
    """

    def __init__(self, eval_env, n_eval_episodes: int = 5, eval_freq: int = 10000,
                 best_model_save_path: str | None = None, deterministic: bool = True,
                 verbose: int = 0, callback_on_new_best=None, *, log_path: str | None = None,
                 callback_after_eval=None, render: bool = False, warn: bool = True) -> None:
        super().__init__(_check_child("callback_after_eval", callback_after_eval), verbose)
        if not isinstance(n_eval_episodes, (int, np.integer)) or n_eval_episodes < 1:
            raise ValueError("n_eval_episodes: expected a positive integer, "
                             f"got {n_eval_episodes!r}")
        if not isinstance(eval_freq, (int, np.integer)):
            raise ValueError(f"eval_freq: expected an integer, got {eval_freq!r}")  # noqa: TRY004
        _check_child("callback_on_new_best", callback_on_new_best)
        if log_path is not None and not isinstance(log_path, (str, os.PathLike)):
            raise ValueError(f"log_path: expected a folder path, got {log_path!r}")
        if isinstance(eval_env, str):
            import gymnasium as gym

            register_if_fasttrpo_id(eval_env)
            eval_env = gym.make(eval_env)
        self.eval_env = eval_env
        self.n_eval_episodes = int(n_eval_episodes)
        self.eval_freq = int(eval_freq)
        self.best_model_save_path = best_model_save_path
        self.log_path = None if log_path is None else os.path.join(log_path, "evaluations.npz")
        self.deterministic = deterministic
        self.render = bool(render)
        self.warn = warn
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []
        self.evaluations_costs: list[list[float]] = []

    def _init_callback(self) -> None:
        super()._init_callback()
        for folder in (self.best_model_save_path,
                       None if self.log_path is None else os.path.dirname(self.log_path)):
            if folder:
                os.makedirs(folder, exist_ok=True)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _write_evaluations(self, path: str) -> None:
        arrays: dict[str, Any] = dict(
            timesteps=self.evaluations_timesteps, results=self.evaluations_results,
            ep_lengths=self.evaluations_length)
        if not np.isnan(self.evaluations_costs).all():
            arrays["costs"] = self.evaluations_costs
        np.savez(path, **arrays)

    def _on_step(self) -> bool:
        if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
            return True
        rewards, lengths, costs = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic, return_episode_rewards=True,
            return_episode_costs=True, render=self.render,
        )
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(list(rewards))
        self.evaluations_length.append(list(lengths))
        self.evaluations_costs.append(list(costs))
        if self.log_path is not None:
            self._write_evaluations(self.log_path)
        mean_reward, std_reward = float(np.mean(rewards)), float(np.std(rewards))
        mean_length = float(np.mean(lengths))
        self.last_mean_reward = mean_reward
        self.model.logger.record("eval/mean_reward", mean_reward)
        self.model.logger.record("eval/mean_ep_length", mean_length)
        if not np.isnan(costs).all():
            self.model.logger.record("eval/mean_ep_cost", float(np.nanmean(costs)))
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, "
                  f"episode_reward={mean_reward:.2f} +/- {std_reward:.2f}, "
                  f"episode_length={mean_length:.2f}")
        keep_going = True
        if mean_reward > self.best_mean_reward:
            self.best_mean_reward = mean_reward
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model"))
            if self.callback_on_new_best is not None:
                keep_going = self.callback_on_new_best.on_step() is not False
        return self._on_event() and keep_going

    def update_child_locals(self, locals_: dict) -> None:
        """Pass ``locals_`` on to ``callback_on_new_best`` and ``callback_after_eval``."""
        super().update_child_locals(locals_)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.update_locals(locals_)


class StopTrainingOnNoModelImprovement(BaseCallback):
    """Stop when the parent EvalCallback finds no new best in too many evaluations in a row.

    Use as ``EvalCallback(..., callback_after_eval=StopTrainingOnNoModelImprovement(3))``.

    Parameters
    ----------
    max_no_improvement_evals : int
        Training stops after more than this many consecutive evaluations without a new best.
    min_evals : int, default 0
        Evaluations before counting starts.
    verbose : int, default 0
    """

    def __init__(self, max_no_improvement_evals: int, min_evals: int = 0,
                 verbose: int = 0) -> None:
        super().__init__(verbose)
        self.max_no_improvement_evals = _check_int("max_no_improvement_evals",
                                                   max_no_improvement_evals, 0)
        self.min_evals = _check_int("min_evals", min_evals, 0)
        self.last_best_mean_reward = -np.inf
        self.no_improvement_evals = 0

    def _on_step(self) -> bool:
        best = _parent_best(self, "callback_after_eval")
        keep_going = True
        if self.n_calls > self.min_evals:
            if best > self.last_best_mean_reward:
                self.no_improvement_evals = 0
            else:
                self.no_improvement_evals += 1
                keep_going = self.no_improvement_evals <= self.max_no_improvement_evals
        self.last_best_mean_reward = best
        if not keep_going and self.verbose >= 1:
            print(f"Stopping training: no new best model in the last "
                  f"{self.no_improvement_evals} evaluations")
        return keep_going


class StopTrainingOnMaxEpisodes(BaseCallback):
    """Stop once every env has played ``max_episodes`` episodes on average.

    As sb3: training stops after ``max_episodes * n_envs`` episodes in all, counted from
    the ``dones`` of each step.

    Parameters
    ----------
    max_episodes : int
    verbose : int, default 0
    """

    def __init__(self, max_episodes: int, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.max_episodes = _check_int("max_episodes", max_episodes, 1)
        self._total_max_episodes = self.max_episodes
        self.n_episodes = 0

    def _init_callback(self) -> None:
        self._total_max_episodes = self.max_episodes * int(getattr(self.model, "n_envs", 1))

    def _on_step(self) -> bool:
        if "dones" not in self.locals:
            raise ValueError("StopTrainingOnMaxEpisodes: the step's 'dones' are not in the "
                             "callback's locals (call update_locals before on_step)")
        self.n_episodes += int(np.sum(self.locals["dones"]))
        keep_going = self.n_episodes < self._total_max_episodes
        if not keep_going and self.verbose >= 1:
            print(f"Stopping training after {self.num_timesteps} steps: "
                  f"{self.n_episodes} episodes played (max_episodes={self.max_episodes})")
        return keep_going


class EveryNTimesteps(EventCallback):
    """Run ``callback`` every ``n_steps`` environment steps (summed over envs).

    Parameters
    ----------
    n_steps : int
    callback : callback
        Its ``on_step`` runs at each trigger; returning False stops training.
    """

    def __init__(self, n_steps: int, callback) -> None:
        if callback is None:
            raise ValueError("callback: EveryNTimesteps needs a callback to run")
        super().__init__(callback)
        self.n_steps = _check_int("n_steps", n_steps, 1)
        self.last_time_trigger = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_time_trigger >= self.n_steps:
            self.last_time_trigger = self.num_timesteps
            return self._on_event()
        return True


class CheckpointCallback(BaseCallback):
    """Save the model every ``save_freq`` calls of ``on_step`` (vector-env steps), as sb3.

    Files: ``<save_path>/<name_prefix>_<num_timesteps>_steps.zip``.

    Parameters
    ----------
    save_freq : int
        In ``on_step`` calls; with ``n_envs`` envs use ``max(save_freq // n_envs, 1)`` for
        a period in env steps.
    save_path : str or os.PathLike
        Folder, created when missing.
    name_prefix : str, default "rl_model"
    save_replay_buffer, save_vecnormalize : bool, default False
        Accepted for sb3 compatibility: an on-policy model has no replay buffer, and the
        normalisation statistics are in the model file; True warns once.
    verbose : int, default 0
        ``>= 2`` prints each path saved.
    """

    def __init__(self, save_freq: int, save_path: str | os.PathLike,
                 name_prefix: str = "rl_model", save_replay_buffer: bool = False,
                 save_vecnormalize: bool = False, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.save_freq = _check_int("save_freq", save_freq, 1)
        if not isinstance(save_path, (str, os.PathLike)):
            raise ValueError(f"save_path: expected a folder path, got {save_path!r}")
        if not isinstance(name_prefix, str) or not name_prefix or os.sep in name_prefix:
            raise ValueError(f"name_prefix: expected a file-name prefix, got {name_prefix!r}")
        self.save_path = os.fspath(save_path)
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.save_vecnormalize = save_vecnormalize
        if save_replay_buffer:
            warn_once("CheckpointCallback.save_replay_buffer", "CheckpointCallback: "
                      "save_replay_buffer=True is ignored (TRPO has no replay buffer)")
        if save_vecnormalize:
            warn_once("CheckpointCallback.save_vecnormalize", "CheckpointCallback: "
                      "save_vecnormalize=True is ignored (the normalisation statistics are "
                      "saved in each checkpoint's model file)")

    def _init_callback(self) -> None:
        os.makedirs(self.save_path, exist_ok=True)

    def _checkpoint_path(self) -> str:
        return os.path.join(self.save_path, f"{self.name_prefix}_{self.num_timesteps}_steps.zip")

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            path = self.model.save(self._checkpoint_path())
            if self.verbose >= 2:
                print(f"Saving model checkpoint to {path}")
        return True
