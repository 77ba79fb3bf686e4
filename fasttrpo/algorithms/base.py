"""``OnPolicyAlgorithm``: everything an on-policy algorithm shares except its policy step.

Set-up from a config, ``set_env`` / ``set_sampler``, the ``learn`` loop (rollouts, callbacks,
logging, progress bar), batch preparation (GAE per signal, validity mask, sub-sampling,
advantage normalisation), the critic fits, ``predict``, ``export``, ``save`` and ``load``.
An algorithm subclasses it with its config class and overrides `update_policy` only, as
Stable-Baselines3's ``TRPO`` overrides ``train``.
"""

import math
import time
import warnings
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import gymnasium as gym
import numpy as np

from fasttrpo.algorithms import environments, networks, persistence, recurrent, update
from fasttrpo.algorithms.update import UpdateBatch
from fasttrpo.callbacks import BaseCallback, make_callback
from fasttrpo.config import OnPolicyConfig, constructor_signature
from fasttrpo.foundation.compat import warn_ignored_sb3_kwargs
from fasttrpo.foundation.schedules import schedule_value
from fasttrpo.foundation.threads import (
    effective_n_threads,
    gemm_may_thread,
    learn_threads,
    limit_threads,
)
from fasttrpo.logs.logger import Logger
from fasttrpo.logs.run_logs import RunLogs, env_id_of, record_update, record_value_losses
from fasttrpo.logs.serialization import save_archive
from fasttrpo.models.normalize import ObservationNormalizer, RewardScaler, VecNormalizeView
from fasttrpo.models.recurrent import GRUPolicy
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.models.value_function import ValueFunction
from fasttrpo.rollout import NoiseStreams, RolloutBatch, Sampler
from fasttrpo.rollout.batch import REWARD
from fasttrpo.rollout.sb3_vec_env import Sb3VecEnvView
from fasttrpo.steps.value_fit import AdamValueFitter, LBFGSValueFitter

__all__ = ["OnPolicyAlgorithm", "UpdateBatch"]


def _read_only(name: str) -> property:
    def get(self):
        return getattr(self.config, name)

    return property(get, doc=f"The ``{name}`` hyperparameter (``self.config.{name}``).")


class OnPolicyAlgorithm:
    """Base of fasttrpo's on-policy algorithms (see the module docstring).

    Subclasses set ``config_class`` and ``algorithm_name`` and implement `update_policy`.
    Every hyperparameter is read from ``self.config`` (a frozen ``config_class``); each one
    is also a read-only attribute (``model.n_steps``), so the two cannot drift apart.

    Parameters
    ----------
    policy : str
        ``"MlpPolicy"``, ``"MultiInputPolicy"`` for Dict observations (flattened), or
        ``"MlpGruPolicy"`` (a GRU policy, `fasttrpo.algorithms.recurrent`).
    env : str, gymnasium.Env, gymnasium.vector.VectorEnv or fasttrpo.rollout.Sampler
        An id string (made with ``config.n_envs`` copies), an Env, a VectorEnv in either
        autoreset mode, or a sampler (as `set_sampler`; e.g. a `fasttrpo.rollout.RaySampler`).
    config : OnPolicyConfig
        The algorithm's hyperparameters.
    """

    config_class: ClassVar[type[OnPolicyConfig]] = OnPolicyConfig
    #: name stored in saved models; ``load`` refuses a file of another algorithm
    algorithm_name: ClassVar[str] = ""
    #: per-step signals the batches hold, each with its own critic (`signals_for`)
    signals: tuple[str, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give the subclass its hyperparameters as read-only attributes, and a constructor.

        Every field of its config becomes a read-only attribute; a subclass that declares a
        config of its own but no ``__init__`` gets one taking the config's fields as
        keywords, its signature generated from the config (`constructor_signature`).
        """
        super().__init_subclass__(**kwargs)
        for name in cls.config_class.field_names():
            if not any(name in vars(klass) for klass in cls.__mro__):
                setattr(cls, name, _read_only(name))
        if "config_class" in vars(cls) and "__init__" not in vars(cls):
            def __init__(self, policy: str, env, **hyperparams: Any) -> None:
                OnPolicyAlgorithm.__init__(self, policy, env,
                                           type(self).config_from_kwargs(hyperparams))

            __init__.__signature__ = constructor_signature(  # type: ignore[attr-defined]
                cls.config_class)
            __init__.__qualname__ = f"{cls.__qualname__}.__init__"
            cls.__init__ = __init__  # type: ignore[method-assign,assignment]

    def __init__(self, policy: str, env, config: OnPolicyConfig) -> None:
        networks.check_policy_name(policy)  # before the env is made
        if env is None:
            raise ValueError(f"env: {type(self).__name__} needs an environment "
                             f"(use {type(self).__name__}.load to predict without one)")
        sampler = env if environments.is_sampler(env) else None
        if sampler is None:
            env = environments.make_env(env, config, self.env_wrappers(config))
        vector = isinstance(env, gym.vector.VectorEnv)
        observation_space = env.single_observation_space if vector else env.observation_space
        config = networks.resolve_policy(policy, config, observation_space)
        self._setup(config, observation_space,
                    env.single_action_space if vector else env.action_space)
        if sampler is not None:
            self.set_sampler(sampler)
        else:
            self._attach_env(env, ())  # wrapped above

    @classmethod
    def for_spaces(cls, observation_space: gym.Space, action_space: gym.Space,
                   **hyperparams: Any):
        """Build a model for these spaces without an environment.

        It predicts, saves, exports and takes parameters (`set_parameters`) like any other;
        attach an env with `set_env` (or a sampler with `set_sampler`) to train. The
        hyperparameters are the constructor's keywords.
        """
        model = cls.__new__(cls)
        model._setup(cls.config_from_kwargs(hyperparams), observation_space, action_space)
        return model

    @classmethod
    def config_from_kwargs(cls, hyperparams: dict[str, Any]) -> OnPolicyConfig:
        """Build ``config_class`` from constructor keywords.

        sb3 arguments that change nothing here (``config_class.SB3_IGNORED``) are dropped;
        unknown names raise a ValueError.
        """
        names = set(cls.config_class.field_names())
        unknown = sorted(set(hyperparams) - names - cls.config_class.SB3_IGNORED)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keyword argument(s) {unknown}")
        warn_ignored_sb3_kwargs({k: v for k, v in hyperparams.items() if k not in names})
        return cls.config_class(**{k: v for k, v in hyperparams.items() if k in names})

    @classmethod
    def env_wrappers(cls, config: OnPolicyConfig) -> tuple:
        """Return the wrappers this algorithm puts around each env it makes (none here).

        A preset that trains on a transformed MDP (`fasttrpo.algorithms.presets`) returns
        them; they apply to env ids and gymnasium Envs, not to envs already vectorised.
        """
        return ()

    @classmethod
    def signals_for(cls, config: OnPolicyConfig) -> tuple[str, ...]:
        """Return the per-step signals this algorithm's batches hold: ``("reward",)`` here.

        Each signal gets a critic (saved under its name); constrained algorithms add one per
        cost (`fasttrpo.algorithms.constrained.ConstrainedAlgorithm`).
        """
        return (REWARD,)

    # ---- construction: the one path shared by __init__ and load -------------------------
    def _setup(self, config: OnPolicyConfig, observation_space: gym.Space,
               action_space: gym.Space, initialize: bool = True) -> None:
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config
        self.num_timesteps = 0
        self._n_updates = 0
        self._critic_worker: ThreadPoolExecutor | None = None  # fits critics, n_threads >= 2
        # fasttrpo's own threads in train and the row-block kernels' (`learn_threads`, read
        # at each learn call; for None: the free cores and serial kernels)
        self._threads = (config.n_threads or 1, config.n_threads or 1)
        self._pending_fit: update.PendingFit | None = None  # the fits of the last update
        self._total_timesteps = 0
        self.rng = np.random.default_rng(config.seed)
        #: the action noise's per-env streams (the samplers draw env i's from stream i)
        self.noise_streams = NoiseStreams(config.seed)
        self.logger = Logger(verbose=config.verbose, folder=config.log_folder)
        self.ep_info_buffer: deque[dict[str, Any]] = deque(maxlen=config.stats_window_size)
        #: sb3's: the ``is_success`` flag of the last episodes that reported one
        self.ep_success_buffer: deque[bool] = deque(maxlen=config.stats_window_size)
        self._episode_num = 0  # sb3's counter of finished episodes
        self.env: gym.vector.VectorEnv | None = None
        self._env_view: Sb3VecEnvView | None = None  # get_env's view of self.env
        self.env_id: str | None = None  # the env's gymnasium id (saved; `fasttrpo eval` reads it)
        self.sampler: Sampler | None = None
        self._needs_reset = True
        self._reset_seed = config.seed

        self.observation_space, self.action_space = observation_space, action_space
        self.encoder = ObsEncoder.for_space(observation_space)
        self.codec = ActionCodec.for_space(action_space)
        self.policy = networks.make_policy(config, self.encoder, self.codec, action_space,
                                           initialize)
        self.value_functions: dict[str, ValueFunction]
        self.vf_fitters: dict[str, AdamValueFitter | LBFGSValueFitter]
        self.signals = self.signals_for(config)
        self.value_functions, self.vf_fitters = networks.make_critics(
            config, self.signals, self.encoder.obs_dim, self.current_learning_rate(), initialize)
        if initialize and not (config.policy_kwargs or {}).get("ortho_init", True):
            networks.torch_default_init(self.policy, list(self.value_functions.values()),
                                        config.seed)
        self.obs_normalizer = (ObservationNormalizer(self.encoder.obs_dim,
                                                     clip_obs=config.clip_obs)
                               if config.normalize_obs else None)
        self.reward_scaler = (RewardScaler(config.n_envs, config.gamma,
                                           clip_reward=config.clip_reward)
                              if config.normalize_reward else None)

    @property
    def value_function(self) -> ValueFunction:
        """The reward critic ``V(s)``."""
        return self.value_functions[REWARD]

    @property
    def vf_fitter(self) -> AdamValueFitter | LBFGSValueFitter:
        """The optimiser that fits the reward critic."""
        return self.vf_fitters[REWARD]

    @property
    def dtype(self) -> np.dtype:
        """The networks' float dtype (``config.dtype`` as a numpy dtype)."""
        return np.dtype(self.config.dtype)

    @property
    def n_envs(self) -> int:
        """Environments stepped in parallel by the sampler (``config.n_envs`` before one)."""
        return self.sampler.num_envs if self.sampler is not None else self.config.n_envs

    # ---- environments --------------------------------------------------------------------
    def set_env(self, env) -> None:
        """Attach an environment (id string, Env, VectorEnv or CompiledEnv) with the model's spaces.

        Builds a `fasttrpo.rollout.VectorEnvSampler` over a gymnasium env, or a
        `fasttrpo.rollout.CompiledSampler` of ``n_envs`` copies over a compiled env (an id
        string with ``compiled=True`` gives its port); the model keeps its normalisation
        statistics.
        """
        self._attach_env(env, self.env_wrappers(self.config))

    def _attach_env(self, env, wrappers: tuple) -> None:
        sampler, venv, self.reward_scaler = environments.sampler_for_env(
            env, self.config, (self.observation_space, self.action_space), self.encoder,
            self.codec, self.obs_normalizer, self.reward_scaler, self.dtype, wrappers)
        self.set_sampler(sampler)
        self.env = venv

    def set_sampler(self, sampler: Sampler) -> None:
        """Collect rollouts with ``sampler``, any `fasttrpo.rollout.Sampler`.

        The next ``learn`` resets it with the config's seed.
        """
        environments.check_sampler(sampler, self.config,
                                   (self.observation_space, self.action_space))
        attach = getattr(sampler, "attach", None)  # the protocol's optional hook
        if callable(attach):
            self.reward_scaler = environments.resized_reward_scaler(self.reward_scaler,
                                                                    sampler.num_envs)
            attach(encoder=self.encoder, codec=self.codec, obs_normalizer=self.obs_normalizer,
                   reward_scaler=self.reward_scaler, dtype=self.dtype)
        self.sampler = sampler
        self.env_id = env_id_of(sampler) or self.env_id
        self.env = None
        self._needs_reset = True
        self._reset_seed = self.config.seed

    @property
    def _current_progress_remaining(self) -> float:
        """sb3's name of `progress_remaining` (read by sb3 callbacks and schedules)."""
        return self.progress_remaining

    def get_env(self):
        """Return the model's envs as an sb3 ``VecEnv`` (`fasttrpo.rollout.Sb3VecEnvView`).

        sb3's loop runs on it unchanged: ``obs = env.reset()``, ``env.step(actions) -> (obs,
        rewards, dones, infos)`` with ``terminal_observation`` and ``TimeLimit.truncated``.
        It steps the very envs ``learn`` trains on (as sb3's does). A vector env given in
        NEXT_STEP autoreset mode is returned as it is (sb3's contract needs SAME_STEP); None
        with a sampler of another kind (compiled, Ray) or without envs.
        """
        if self.env is None:
            return None
        if self.env.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP:
            return self.env
        if self._env_view is None or self._env_view.venv is not self.env:
            self._env_view = Sb3VecEnvView(self.env)
        return self._env_view

    def get_vec_normalize_env(self) -> VecNormalizeView | None:
        """Return the normalisation statistics as sb3 VecNormalize attributes, or None.

        The view shares the model's running statistics (``obs_rms``, ``ret_rms``), it does not
        copy them; None when the model normalises neither observations nor rewards.
        """
        if self.obs_normalizer is None and self.reward_scaler is None:
            return None
        return VecNormalizeView(self.obs_normalizer, self.reward_scaler)

    # ---- parameters, seeds and loggers, as sb3 -------------------------------------------
    def get_parameters(self) -> dict[str, dict[str, np.ndarray]]:
        """Every network's parameters as named arrays, in sb3's ``state_dict`` layout.

        Returns ``{"policy": {name: array}}`` with sb3's names and shapes
        (``mlp_extractor.policy_net.0.weight`` of shape (fan_out, fan_in), ``action_net.bias``,
        ``value_net.weight``, ``log_std``, ...; `fasttrpo.models.parameters`); copies.
        """
        return {"policy": persistence.named_parameters(self.policy, self.value_functions)}

    def set_parameters(self, load_path_or_dict, exact_match: bool = True) -> None:
        """Set parameters from `get_parameters`' dict, or from a saved model's file.

        sb3's semantics: ``exact_match=True`` needs every array and no other (torch's
        ``strict=True``); False sets the arrays given and leaves the others. sb3's own dict
        (with ``"policy.optimizer"``, ignored with a warning) is accepted. Everything is
        checked (names, shapes, finite values) before anything changes: a ValueError names
        the array (`fasttrpo.algorithms.persistence.set_named_parameters`).
        """
        if isinstance(load_path_or_dict, Mapping):
            params = load_path_or_dict
        else:
            params = type(self).load(load_path_or_dict).get_parameters()
        persistence.set_named_parameters(self.policy, self.value_functions, params,
                                         exact_match)

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed the model's generator, the action space and the next env reset (sb3's).

        ``None`` does nothing, as in sb3.
        """
        if seed is None:
            return
        seed = self.config_class.check_value("seed", seed)
        self.rng = np.random.default_rng(seed)
        self.noise_streams = NoiseStreams(seed)
        self.action_space.seed(seed)
        self._reset_seed, self._needs_reset = seed, True

    def set_logger(self, logger) -> None:
        """Log through ``logger``, a `fasttrpo.logs.logger.Logger` or an sb3 ``Logger``.

        Any object with ``record(key, value)`` and ``dump(step)`` works.
        """
        if not (callable(getattr(logger, "record", None))
                and callable(getattr(logger, "dump", None))):
            raise ValueError(f"logger: expected an object with record(key, value) and "
                             f"dump(step), got {type(logger).__name__}")
        self.logger = logger

    # ---- training ------------------------------------------------------------------------
    def learn(self, total_timesteps: int, callback=None, progress_bar: bool = False,
              reset_num_timesteps: bool = True, log_interval: int = 1,
              tb_log_name: str | None = None):
        """Train for ``total_timesteps`` env steps (summed over envs).

        Parameters
        ----------
        total_timesteps : int
        callback : fasttrpo.callbacks.BaseCallback, list of them, or callable, optional
            A function ``f(locals_, globals_) -> bool`` is called every step; False stops.
            Stable-Baselines3 callback objects (``BaseCallback`` subclasses,
            ``CallbackList``) work too (duck typing).
        progress_bar : bool, default False
            Show a tqdm bar (the ``progress`` extra).
        reset_num_timesteps : bool, default True
            Restart the step count (and the envs); False continues a previous ``learn``.
        log_interval : int, default 1
            Iterations between two log dumps.
        tb_log_name : str, optional
            TensorBoard run name with ``tensorboard_log`` (default: the algorithm's name,
            ``"TRPO"``): scalars go to ``<tensorboard_log>/<tb_log_name>_<k>``, as sb3.

        Returns
        -------
        self
        """
        if (isinstance(total_timesteps, (bool, np.bool_))
                or not isinstance(total_timesteps, (int, np.integer, float))
                or not math.isfinite(total_timesteps) or total_timesteps < 1):
            raise ValueError(
                f"total_timesteps: must be a positive integer, got {total_timesteps!r}")
        if self.sampler is None:
            raise ValueError("env: no environment attached; pass env= to load or call set_env")
        # BLAS on one thread whatever n_threads is (a GEMM split over k threads rounds
        # differently for each k): n_threads is the number of fasttrpo's own workers, so the
        # results do not depend on it. None with a thread count in the environment: its BLAS.
        blas_threads = None if effective_n_threads(self.config.n_threads) is None else 1
        self._threads = learn_threads(self.config.n_threads)
        with limit_threads(blas_threads, refresh=True):
            return self._learn(int(total_timesteps), callback, progress_bar,
                               reset_num_timesteps, log_interval,
                               tb_log_name or self.algorithm_name)

    def _learn(self, total_timesteps: int, callback, progress_bar: bool,
               reset_num_timesteps: bool, log_interval: int, tb_log_name: str):
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._needs_reset = True
        target = self.num_timesteps + total_timesteps
        self._total_timesteps = target  # progress_remaining = 1 - num_timesteps / target
        callback = make_callback(callback)
        callback.init_callback(self)
        sampler = self.sampler
        assert sampler is not None  # checked by learn
        if self._needs_reset:
            sampler.reset(seed=self._reset_seed)
            self._reset_seed = None  # seed the first reset only; later resets continue the stream
            self._needs_reset = False
        n_envs = sampler.num_envs
        environments.check_rollout_fits(self.config.n_steps, n_envs, self.encoder.obs_dim,
                                        self.policy.action_width, self.dtype,
                                        len(self.signals))
        batch = RolloutBatch(self.config.n_steps, n_envs, self.encoder.obs_dim,
                             self.policy.action_width, self.dtype, self.signals)
        run_logs = RunLogs(self, sampler, batch, callback, tb_log_name, reset_num_timesteps,
                           wants_locals=type(callback) is not BaseCallback,
                           progress_total=total_timesteps if progress_bar else None)
        callback.on_training_start({**locals(), "total_timesteps": target}, globals())

        # nothing to call per step: the rollout runs without Python between env steps
        per_step = run_logs.per_step
        iteration = 0
        try:
            while self.num_timesteps < target:
                if type(callback) is not BaseCallback:
                    self.finish_update()  # callbacks see the model as with one thread
                t0 = time.perf_counter()
                self._set_training(True)
                callback.on_rollout_start()
                run_logs.on_rollout_start()
                keep_going = sampler.collect(self.policy, batch, self.noise_streams,
                                             run_logs.step if per_step else None)
                if not per_step:
                    self.num_timesteps += n_envs * batch.n_steps
                self.ep_info_buffer.extend(batch.finished_episodes)
                self.ep_success_buffer.extend(bool(episode["is_success"]) for episode in
                                              batch.finished_episodes if "is_success" in episode)
                self._episode_num += len(batch.finished_episodes)
                if not keep_going:
                    break
                rollout_s = time.perf_counter() - t0
                callback.update_locals(locals())
                if callback.on_rollout_end() is False:
                    break
                t1 = time.perf_counter()
                self.start_update(batch)  # the critic fits may run on into the next rollout
                iteration += 1
                run_logs.end_iteration(iteration, rollout_s, time.perf_counter() - t1,
                                       log_interval, self._pending_fit)
                if self._pending_fit is not None and self._pending_fit.done():
                    self.finish_update()
            self.finish_update()
        except BaseException:
            with suppress(ValueError):  # rolled back; the first error is the one to see
                self.finish_update()  # the worker must not change the critics behind it
            raise
        callback.on_training_end()
        run_logs.close()
        return self

    def _set_training(self, training: bool) -> None:
        """Let the running statistics advance only while training (frozen for predict)."""
        for normalizer in (self.obs_normalizer, self.reward_scaler):
            if normalizer is not None:
                normalizer.training = training

    def train(self, batch: RolloutBatch) -> None:
        """Update from a full rollout: `prepare_batch`, `update_policy`, the critic fits.

        A batch that `check_batch` refuses, or a step or critic fit that fails, raises
        ValueError and leaves the policy, the critics, their optimisers and the algorithm state
        as they were. A rollout without a valid transition updates nothing.
        """
        self.start_update(batch)
        self.finish_update()

    def start_update(self, batch: RolloutBatch) -> None:
        """`train`, the critic fits (``n_threads >= 2``) left running for `finish_update`."""
        self.finish_update()
        data = self.prepare_batch(batch)
        if len(data.obs) == 0:  # every step was an autoreset step (NEXT_STEP mode, n_steps=1)
            return
        self.check_batch(data)  # before anything changes: a refused batch changes nothing
        rate = self.current_learning_rate()
        for fitter in self.vf_fitters.values():
            if isinstance(fitter, AdamValueFitter):
                fitter.learning_rate = rate
        n_threads, kernel_threads = self._threads
        if n_threads >= 2 and self._critic_worker is None:
            self._critic_worker = ThreadPoolExecutor(max_workers=1,
                                                     thread_name_prefix="fasttrpo-critic")
        with update.rollback(self.policy, self.value_functions, self.vf_fitters,
                             self.algorithm_state, self.load_algorithm_state) as restore:
            self._pending_fit = update.step_and_fit(
                lambda: self.update_policy(data), lambda: self.fit_critics(data), n_threads,
                self._critic_worker, restore, kernel_threads)
        self._pending_fit.then(partial(record_value_losses, self.logger))
        self._n_updates += 1
        record_update(self.logger, self._n_updates, rate, data.returns[REWARD],
                      data.advantages[REWARD], self.policy.log_std)

    def finish_update(self) -> None:
        """Wait for the critic fits of the last update, if still running, and log their losses.

        A fit that failed restores the policy, the critics, their optimisers and the
        algorithm state to before that update and raises its ValueError.
        """
        pending, self._pending_fit = self._pending_fit, None
        if pending is not None:
            pending.wait()

    @property
    def progress_remaining(self) -> float:
        """sb3's remaining progress of the current ``learn`` call: 1 at its start, 0 at its end."""
        if self._total_timesteps <= 0:
            return 1.0
        return min(max(1.0 - self.num_timesteps / self._total_timesteps, 0.0), 1.0)

    def current_learning_rate(self) -> float:
        """Return the critic's rate now: ``learning_rate`` or its value at `progress_remaining`."""
        rate = self.config.learning_rate
        if callable(rate):
            return schedule_value("learning_rate", rate, self.progress_remaining)
        return float(rate)

    def prepare_batch(self, batch: RolloutBatch) -> UpdateBatch:
        """Prepare a rollout for an update (`fasttrpo.algorithms.update.prepare_batch`)."""
        return update.prepare_batch(batch, self.config, self.value_functions)

    def check_batch(self, data: UpdateBatch) -> None:
        """Refuse values the networks cannot learn from (`update.check_batch`)."""
        update.check_batch(data, self.dtype)

    def update_policy(self, data: UpdateBatch) -> None:
        """Take the algorithm's policy step on a prepared batch (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_policy")

    def algorithm_state(self) -> dict[str, Any]:
        """JSON-ready state of the algorithm's own beyond networks and config (saved).

        The base has none; an algorithm with such state (a Lagrange multiplier) overrides
        this and `load_algorithm_state`.
        """
        return {}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restore what `algorithm_state` returned (ValueError if it is invalid)."""
        if state:
            raise ValueError(f"algorithm_state: {self.algorithm_name} keeps none, got "
                             f"{sorted(state)}")

    def fit_critics(self, data: UpdateBatch) -> dict[str, float]:
        """Fit each signal's critic to its value targets (`update.fit_critics`); the losses."""
        return update.fit_critics(data, self.value_functions, self.vf_fitters, self.rng)

    # ---- acting --------------------------------------------------------------------------
    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False,
                action_masks=None):
        """Action(s) for one observation or a batch.

        Observation normalisation uses the frozen running statistics; Box actions are clipped
        to the bounds. ``state``, ``episode_start``: a recurrent policy's hidden states (N, H)
        and the rows starting an episode, as sb3-contrib's ``RecurrentPPO`` (None: zeros;
        `fasttrpo.algorithms.recurrent.predict_rows`); else ``state`` is returned as given.
        ``action_masks`` (Discrete / MultiDiscrete actions, as sb3-contrib's ``MaskablePPO``):
        booleans, one row per observation (``sum(nvec)`` columns: the sub-actions' masks
        concatenated; one row for one observation), False for an invalid action, which is
        then never returned; None: no masking.

        Returns
        -------
        (action, state)
            ``action`` in the env's format, one or a batch as ``observation`` was.
        """
        rows, single = self.encoder.observation_rows(observation)
        if self.obs_normalizer is not None:
            rows = self.obs_normalizer.normalize(rows)
        with np.errstate(over="ignore"):
            rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if self.obs_normalizer is None and not np.isfinite(rows).all():
            # finite float64 values beyond float32's range (1e300) become inf here
            raise ValueError(f"observation: values beyond the range of the {self.dtype} "
                             "network")
        if isinstance(self.policy, GRUPolicy):  # sb3-contrib's RecurrentPPO.predict
            out, state = recurrent.predict_rows(self.policy, rows, state, episode_start,
                                                deterministic, self.rng, action_masks)
        else:
            masks = self.policy.as_masks(action_masks, rows.shape[0])
            out = np.empty((rows.shape[0], self.policy.action_width), dtype=self.dtype)
            # the forward pass runs no Numba code; a limit costs ~10 us, so it is set only
            # when the batch is large enough for BLAS to use threads at all
            n_threads = effective_n_threads(self.config.n_threads)
            if n_threads is not None and not gemm_may_thread(len(rows),
                                                             self.policy.layout.layer_sizes):
                n_threads = None
            with limit_threads(n_threads):
                out = self.policy.act_into(rows, deterministic, self.rng, out, masks=masks)
        actions = self.codec.to_env(out)
        return (actions[0] if single else actions), state

    # ---- deployment ----------------------------------------------------------------------
    def export(self, path, format: str | None = None, name: str | None = None) -> list[Path]:
        """Write the policy for deployment (the deterministic action of ``predict``).

        Parameters
        ----------
        path : str or os.PathLike
            Destination; without a suffix the format's is appended (``"c"`` writes
            ``<path>.c`` and ``<path>.h``).
        format : {"npz", "onnx", "c"}, optional
            ``"npz"``: for the numpy-only ``fasttrpo.runtime.load`` (which also samples);
            ``"onnx"``: an ONNX graph (needs ``pip install "fasttrpo[export]"``);
            ``"c"``: a self-contained C99 source and header with ``<name>_act``.
            Default: from the suffix of ``path``, else ``"npz"``.
        name : str, optional
            ONNX graph name or C symbol prefix (default: the file stem).

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        from fasttrpo.export import export

        return export(self, path, format=format, name=name)

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path, exclude=None, include=None) -> "Path | BinaryIO":
        """Write the model to one file, atomically; returns the path written.

        ``path`` may also be an open binary file object (``io.BytesIO``, a file opened "wb"),
        as in sb3: the archive is written to it (not atomically) and it is returned.

        The file holds the config, the spaces, every network's parameters, the optimiser
        state, the normalisation statistics, the step counters and the RNG state. A model
        whose state is not finite raises ValueError and writes nothing (``load`` would refuse
        the file).

        ``exclude`` / ``include`` are sb3's lists of attribute names. The file's contents are
        fixed (it must load): excluding what it never holds (``env``, ``logger``,
        ``replay_buffer``, ...) changes nothing, excluding what it holds (`SAVED_ATTRIBUTES`)
        or including what it cannot hold (an env, a callable) raises ValueError.
        """
        persistence.check_save_lists(exclude, include)
        config = self.config.to_dict()
        if callable(config["learning_rate"]):  # a custom schedule has no JSON form (no pickle)
            config["learning_rate"] = self.current_learning_rate()
            warnings.warn(f"learning_rate: a custom schedule cannot be stored in the file; "
                          f"saved its current value {config['learning_rate']:.3g} (pass "
                          "learning_rate= to load, or use "
                          "fasttrpo.foundation.schedules.LinearSchedule, which is stored)",
                          UserWarning, stacklevel=2)
        meta = persistence.model_meta(
            self.algorithm_name, config, (self.observation_space, self.action_space),
            self.num_timesteps, self._n_updates, self.env_id, self.rng, self.noise_streams,
            self.algorithm_state())
        arrays = persistence.model_arrays(self.policy, self.value_functions, self.vf_fitters,
                                          (self.obs_normalizer, self.reward_scaler))
        return save_archive(path, meta, arrays)

    @classmethod
    def load(cls, path, env=None, **overrides):
        """Load a model written by ``save``.

        Parameters
        ----------
        path : str, os.PathLike or binary file-like object
            The file, with or without ".zip", or an open binary file object (read from its
            start, left open).
        env : optional
            Attached for further training (as ``set_env``); not needed to predict.
        **overrides
            Hyperparameters to replace, among those that do not shape the saved networks
            (e.g. ``verbose``, ``n_envs``, ``log_folder``, ``n_threads``, ``target_kl``).

        Returns
        -------
        The model, built through the same set-up as the constructor.
        """
        meta, arrays, config, obs_space, act_space = persistence.read_model_file(
            path, cls.algorithm_name, cls.config_class, cls.signals_for, overrides)
        model = cls.__new__(cls)
        model._setup(config, obs_space, act_space, initialize=False)  # the file sets them
        model._load_state(meta, arrays, path)
        if env is not None:
            model.set_env(env)
        model._set_training(False)
        return model

    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray], path) -> None:
        try:
            saved = persistence.read_saved_state(meta, arrays, self.signals)
            self.num_timesteps, self._n_updates = saved.num_timesteps, saved.n_updates
            self.env_id = saved.env_id
            if saved.rng_state is not None:
                persistence.set_rng_state(self.rng, saved.rng_state)
            if saved.noise_streams is not None:
                self.noise_streams = saved.noise_streams
            self.load_algorithm_state(saved.algorithm_state)
            persistence.restore_networks(saved, self.policy, self.value_functions,
                                         self.vf_fitters,
                                         (self.obs_normalizer, self.reward_scaler))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
