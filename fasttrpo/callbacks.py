"""Training callbacks with Stable-Baselines3's names and hooks.

The model calls, in this order: ``init_callback(model)``, ``on_training_start(locals_)``,
then per rollout ``on_step()`` after every vector-env step and ``on_rollout_end()`` before the
update, and finally ``on_training_end()``. ``on_step`` / ``on_rollout_end`` returning False
stops training. Unlike sb3, a hook that returns None (forgot ``return True``) means "continue".
"""

import os
from collections.abc import Callable, Iterable

import numpy as np

from fasttrpo.evaluation import evaluate_policy
from fasttrpo.rollout.gym_sampler import register_if_fasttrpo_id


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
        self.model = None
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
    """``None``, a BaseCallback, a list/tuple of them or a function -> one BaseCallback."""
    if callback is None:
        return BaseCallback()
    if isinstance(callback, BaseCallback):
        return callback
    if isinstance(callback, (list, tuple)):
        return CallbackList(callback)
    if callable(callback):
        return FunctionCallback(callback)
    raise ValueError(
        "callback: expected None, a fasttrpo.callbacks.BaseCallback, a list of them or a "
        f"function f(locals_, globals_) -> bool, got {type(callback).__name__}"
    )


class StopTrainingOnRewardThreshold(BaseCallback):
    """Stop once the parent EvalCallback's ``best_mean_reward`` reaches ``reward_threshold``.

    Use as ``EvalCallback(..., callback_on_new_best=StopTrainingOnRewardThreshold(200))``.
    """

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.reward_threshold = float(reward_threshold)

    def _on_step(self) -> bool:
        if self.parent is None or not hasattr(self.parent, "best_mean_reward"):
            raise ValueError(
                "StopTrainingOnRewardThreshold: use it as EvalCallback's callback_on_new_best"
            )
        keep_going = bool(self.parent.best_mean_reward < self.reward_threshold)
        if not keep_going and self.verbose >= 1:
            print(f"Stopping training: best mean reward {self.parent.best_mean_reward:.2f} "
                  f">= threshold {self.reward_threshold:.2f}")
        return keep_going


class EvalCallback(BaseCallback):
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
    callback_on_new_best : BaseCallback, optional
        Its ``on_step`` runs on each new best; returning False stops training.

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
                 verbose: int = 0, callback_on_new_best: BaseCallback | None = None) -> None:
        super().__init__(verbose)
        if not isinstance(n_eval_episodes, (int, np.integer)) or n_eval_episodes < 1:
            raise ValueError("n_eval_episodes: expected a positive integer, "
                             f"got {n_eval_episodes!r}")
        if not isinstance(eval_freq, (int, np.integer)):
            raise ValueError(f"eval_freq: expected an integer, got {eval_freq!r}")  # noqa: TRY004
        if callback_on_new_best is not None and not isinstance(callback_on_new_best, BaseCallback):
            raise ValueError("callback_on_new_best: expected a BaseCallback or None")
        if isinstance(eval_env, str):
            import gymnasium as gym

            register_if_fasttrpo_id(eval_env)
            eval_env = gym.make(eval_env)
        self.eval_env = eval_env
        self.n_eval_episodes = int(n_eval_episodes)
        self.eval_freq = int(eval_freq)
        self.best_model_save_path = best_model_save_path
        self.deterministic = deterministic
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []

    def _init_callback(self) -> None:
        if self.best_model_save_path is not None:
            os.makedirs(self.best_model_save_path, exist_ok=True)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _on_step(self) -> bool:
        if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
            return True
        rewards, lengths = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic, return_episode_rewards=True,
        )
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(list(rewards))
        self.evaluations_length.append(list(lengths))
        mean_reward, std_reward = float(np.mean(rewards)), float(np.std(rewards))
        mean_length = float(np.mean(lengths))
        self.last_mean_reward = mean_reward
        self.model.logger.record("eval/mean_reward", mean_reward)
        self.model.logger.record("eval/mean_ep_length", mean_length)
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, "
                  f"episode_reward={mean_reward:.2f} +/- {std_reward:.2f}, "
                  f"episode_length={mean_length:.2f}")
        if mean_reward > self.best_mean_reward:
            self.best_mean_reward = mean_reward
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model"))
            if self.callback_on_new_best is not None:
                return self.callback_on_new_best.on_step()
        return True

    def update_child_locals(self, locals_: dict) -> None:
        """Pass ``locals_`` on to ``callback_on_new_best``."""
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.update_locals(locals_)
