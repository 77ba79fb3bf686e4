"""``TRPO``: the agent, with the constructor, ``learn``, ``predict``, ``save`` and ``load`` of
sb3-contrib's TRPO, running fasttrpo's compiled kernels."""

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from fasttrpo import spaces as space_utils
from fasttrpo.spaces import space_from_json, space_to_json
from fasttrpo._threads import (
    check_n_threads,
    effective_n_threads,
    gemm_may_thread,
    limit_threads,
)
from fasttrpo._validation import check_dtype
from fasttrpo.callbacks import make_callback
from fasttrpo.logger import Logger
from fasttrpo.normalize import ObservationNormalizer, RewardScaler
from fasttrpo.policies import (
    BernoulliMLPPolicy,
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    MLPPolicy,
    MultiCategoricalMLPPolicy,
)
from fasttrpo.rollout import RolloutBuffer, RolloutCollector
from fasttrpo.serialization import load_archive, save_archive
from fasttrpo.trpo_step import StepOutcome, trpo_step
from fasttrpo.value_fit import AdamValueFitter, LBFGSValueFitter
from fasttrpo.value_function import ValueFunction

# sb3-contrib TRPO's constructor arguments and defaults, then fasttrpo's own
DEFAULTS: dict[str, Any] = dict(
    learning_rate=1e-3, n_steps=2048, batch_size=128, gamma=0.99, cg_max_steps=15,
    cg_damping=0.1, line_search_shrinking_factor=0.8, line_search_max_iter=10,
    n_critic_updates=10, gae_lambda=0.95, normalize_advantage=True, target_kl=0.01,
    sub_sampling_factor=1, stats_window_size=100, policy_kwargs=None, verbose=0, seed=None,
    # fasttrpo extras
    n_envs=1, dtype="float32", vf_optimizer="adam", normalize_obs=False,
    normalize_reward=False, clip_obs=10.0, clip_reward=10.0, log_folder=None, n_threads=None,
)
# sb3 arguments accepted for compatibility that change nothing here
_IGNORED = {"device", "tensorboard_log", "_init_setup_model", "rollout_buffer_class",
            "rollout_buffer_kwargs"}
_POLICY_KWARGS = {"net_arch", "activation_fn", "log_std_init", "ortho_init"}
FORMAT_NAME = "TRPO"


def _vector_env(env, n_envs: int, seed: int | None) -> VectorEnv:
    """A VectorEnv from an id string (SAME_STEP autoreset), an Env or a VectorEnv."""
    if isinstance(env, str):
        return gym.make_vec(env, num_envs=n_envs, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    if isinstance(env, VectorEnv):
        return env
    if isinstance(env, gym.Env):
        return SyncVectorEnv([lambda: env], autoreset_mode=AutoresetMode.SAME_STEP)
    raise ValueError(f"env: expected an env id string, a gymnasium.Env or a VectorEnv, got {env!r}")


def _net_arch(policy_kwargs: dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
    arch = policy_kwargs.get("net_arch", [64, 64])
    if isinstance(arch, dict):
        unknown = set(arch) - {"pi", "vf"}
        if unknown:
            raise ValueError(f"policy_kwargs: net_arch keys {sorted(unknown)} unknown; use pi, vf")
        return tuple(arch.get("pi", [64, 64])), tuple(arch.get("vf", [64, 64]))
    if isinstance(arch, (list, tuple)) and all(isinstance(a, (int, np.integer)) for a in arch):
        return tuple(arch), tuple(arch)
    raise ValueError(f"policy_kwargs: net_arch must be a list of ints or dict(pi=..., vf=...), got {arch!r}")


class TRPO:
    """Trust Region Policy Optimization (Schulman et al., 2015) with compiled analytic kernels.

    A drop-in for ``sb3_contrib.TRPO`` with an MLP policy: the same constructor names and
    defaults, ``learn``, ``predict``, ``save``, ``load``.

    Parameters
    ----------
    policy : "MlpPolicy" (the only policy).
    env : env id string (made with ``n_envs`` copies), ``gymnasium.Env``, ``VectorEnv``, or
        None (a loaded model that only predicts).
    learning_rate : float, Adam step size of the value function (default 1e-3).
    n_steps : int, steps per env per rollout (2048).
    batch_size : int, value-function minibatch size (128).
    gamma, gae_lambda : float, discount and GAE lambda (0.99, 0.95).
    cg_max_steps, cg_damping : conjugate-gradient iterations (15) and damping (0.1).
    line_search_shrinking_factor, line_search_max_iter : backtracking (0.8, 10).
    n_critic_updates : int, value-function epochs per rollout (10).
    normalize_advantage : bool (True).
    target_kl : float, the trust-region radius ``max_kl`` (0.01).
    sub_sampling_factor : int, use every k-th sample for the policy step (1).
    stats_window_size : int, episodes averaged for ``rollout/ep_rew_mean`` (100).
    policy_kwargs : dict with ``net_arch`` (list, or ``dict(pi=[...], vf=[...])``),
        ``activation_fn`` ("tanh", "relu", "nn.Tanh", "nn.ReLU"), ``log_std_init`` (0.0).
    verbose : int, 1 prints a table per iteration.
    seed : int or None, seeds initialisation, sampling, minibatches and env resets.
    n_envs : int, copies of the env when ``env`` is an id string (1).
    dtype : "float32" (default) or "float64", precision of the networks and kernels.
    vf_optimizer : "adam" (sb3-contrib: ``n_critic_updates`` epochs of minibatch Adam) or
        "lbfgs" (scipy L-BFGS on the full batch, 25 iterations, as Schulman's modular_rl).
    normalize_obs, normalize_reward : bool, VecNormalize-style running normalisation (False).
    clip_obs, clip_reward : float, clipping after normalisation (10.0).
    log_folder : str or None, where ``progress.csv`` is written.
    n_threads : int or None, the most threads ``learn`` and ``predict`` use: BLAS and OpenMP
        pools (set through threadpoolctl for the duration of the call) and, once it has been
        started, Numba's parallel layer (``numba.set_num_threads``; fasttrpo's own kernels
        are serial); the previous limits are restored afterwards.
        None (default) leaves the environment in charge when it states a thread count
        (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``,
        ``BLIS_NUM_THREADS``), and otherwise uses 1: RL-sized products gain little from BLAS
        threads, and on a busy machine a threaded GEMM waits for its workers (a 2048-row
        forward: 16 ms with 2 OpenBLAS threads and the other core busy, 0.23 ms with 1). ``predict`` sets the limit only for batches large enough for BLAS to use
        threads (it costs ~10 us), so single-observation calls pay nothing.

    Notes
    -----
    ``export(path, format=...)`` writes the policy for deployment without this package's
    training stack: ``"npz"`` for the numpy-only ``fasttrpo.runtime``, ``"onnx"`` or ``"c"``
    (see ``fasttrpo.export``).
    """

    def __init__(self, policy: str, env, **kwargs) -> None:
        if policy != "MlpPolicy":
            raise ValueError(f"policy: only 'MlpPolicy' is supported, got {policy!r}")
        unknown = set(kwargs) - set(DEFAULTS) - _IGNORED - {"use_sde", "sde_sample_freq"}
        if unknown:
            raise ValueError(f"TRPO: unknown keyword argument(s) {sorted(unknown)}")
        if kwargs.get("use_sde"):
            raise ValueError("use_sde: generalized state-dependent exploration is not supported")
        self.hyperparams = {k: kwargs.get(k, v) for k, v in DEFAULTS.items()}
        self._check_hyperparams()
        hp = self.hyperparams
        for key, value in hp.items():
            setattr(self, key, value)
        self.dtype = check_dtype(hp["dtype"])
        self.num_timesteps = 0
        self._n_updates = 0
        self.rng = np.random.default_rng(hp["seed"])
        self.logger = Logger(verbose=hp["verbose"], folder=hp["log_folder"])
        self.env: VectorEnv | None = None
        if env is None:
            raise ValueError("env: TRPO needs an environment (use TRPO.load to predict without one)")
        venv = _vector_env(env, int(hp["n_envs"]), hp["seed"])
        self._setup_model(venv.single_observation_space, venv.single_action_space)
        self.set_env(venv)

    # ---- construction ------------------------------------------------------------------
    def _check_hyperparams(self) -> None:
        hp = self.hyperparams
        positive_int = ["n_steps", "batch_size", "cg_max_steps", "line_search_max_iter",
                        "n_critic_updates", "sub_sampling_factor", "stats_window_size", "n_envs"]
        for key in positive_int:
            if not isinstance(hp[key], (int, np.integer)) or hp[key] < 1:
                raise ValueError(f"{key}: must be a positive integer, got {hp[key]!r}")
        for key in ("learning_rate", "target_kl", "clip_obs", "clip_reward"):
            if not isinstance(hp[key], (int, float)) or not (hp[key] > 0 and math.isfinite(hp[key])):
                raise ValueError(f"{key}: must be a positive number, got {hp[key]!r}")
        for key in ("gamma", "gae_lambda"):
            if not 0.0 <= hp[key] <= 1.0:
                raise ValueError(f"{key}: must lie in [0, 1], got {hp[key]!r}")
        if not hp["cg_damping"] >= 0.0:
            raise ValueError(f"cg_damping: must be >= 0, got {hp['cg_damping']!r}")
        if not 0.0 < hp["line_search_shrinking_factor"] < 1.0:
            raise ValueError("line_search_shrinking_factor: must lie in (0, 1)")
        hp["n_threads"] = check_n_threads(hp.get("n_threads"))
        if hp["vf_optimizer"] not in ("adam", "lbfgs"):
            raise ValueError(f"vf_optimizer: 'adam' or 'lbfgs', got {hp['vf_optimizer']!r}")
        policy_kwargs = dict(hp["policy_kwargs"] or {})
        unknown = set(policy_kwargs) - _POLICY_KWARGS
        if unknown:
            raise ValueError(f"policy_kwargs: unsupported key(s) {sorted(unknown)}; "
                             f"supported: {sorted(_POLICY_KWARGS)}")
        if policy_kwargs.get("ortho_init", True) is not True:
            raise ValueError("policy_kwargs: ortho_init=False is not supported")
        hp["policy_kwargs"] = policy_kwargs

    def _setup_model(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self.encoder = space_utils.ObsEncoder.for_space(observation_space)
        self.codec = space_utils.ActionCodec.for_space(action_space)
        hp = self.hyperparams
        pi_arch, vf_arch = _net_arch(hp["policy_kwargs"])
        activation = hp["policy_kwargs"].get("activation_fn", "tanh")
        seed = hp["seed"]
        common = dict(hidden_sizes=pi_arch, activation=activation, dtype=self.dtype, seed=seed)
        obs_dim = self.encoder.obs_dim
        kind = self.codec.kind
        if kind == "gaussian":
            self.policy: MLPPolicy = GaussianMLPPolicy(
                obs_dim, self.codec.width, log_std_init=hp["policy_kwargs"].get("log_std_init", 0.0),
                **common)
        elif kind == "categorical":
            self.policy = CategoricalMLPPolicy(obs_dim, int(action_space.n), **common)
        elif kind == "multidiscrete":
            self.policy = MultiCategoricalMLPPolicy(obs_dim, action_space.nvec.tolist(), **common)
        else:
            self.policy = BernoulliMLPPolicy(obs_dim, self.codec.width, **common)
        self.value_function = ValueFunction(
            obs_dim, vf_arch, activation, dtype=self.dtype,
            seed=None if seed is None else seed + 1,
        )
        if hp["vf_optimizer"] == "adam":
            self.vf_fitter = AdamValueFitter(
                self.value_function, learning_rate=hp["learning_rate"],
                n_epochs=hp["n_critic_updates"], batch_size=hp["batch_size"])
        else:
            self.vf_fitter = LBFGSValueFitter(self.value_function, max_iter=25)
        self.obs_normalizer = (
            ObservationNormalizer(obs_dim, clip_obs=hp["clip_obs"]) if hp["normalize_obs"] else None
        )
        self._collector: RolloutCollector | None = None

    def set_env(self, env) -> None:
        """Attach an environment (id string, Env or VectorEnv) with the model's spaces."""
        venv = _vector_env(env, int(self.hyperparams["n_envs"]), self.hyperparams["seed"])
        for name, got, want in (("observation_space", venv.single_observation_space, self.observation_space),
                                ("action_space", venv.single_action_space, self.action_space)):
            if got != want:
                raise ValueError(f"env: {name} {got} differs from the model's {want}")
        self.env = venv
        self.n_envs = venv.num_envs
        reward_scaler = (
            RewardScaler(venv.num_envs, self.gamma, clip_reward=self.clip_reward)
            if self.hyperparams["normalize_reward"] else None
        )
        if self._collector is not None and self._collector.reward_scaler is not None and reward_scaler:
            reward_scaler.load_state_dict(self._collector.reward_scaler.state_dict())
        self._collector = RolloutCollector(
            venv, self.encoder, self.codec, self.obs_normalizer, reward_scaler, self.dtype,
            stats_window_size=self.stats_window_size)
        self._reset_seed = self.hyperparams["seed"]

    def get_env(self) -> VectorEnv | None:
        return self.env

    # ---- training ----------------------------------------------------------------------
    def learn(self, total_timesteps: int, callback=None, progress_bar: bool = False,
              reset_num_timesteps: bool = True, log_interval: int = 1) -> "TRPO":
        """Train for ``total_timesteps`` env steps (summed over envs); returns ``self``.

        ``callback``: a ``fasttrpo.callbacks.BaseCallback``, a list of them, or a function
        ``f(locals_, globals_) -> bool`` (False stops training).
        """
        if not isinstance(total_timesteps, (int, np.integer, float)) or total_timesteps < 1:
            raise ValueError(f"total_timesteps: must be a positive integer, got {total_timesteps!r}")
        if self.env is None:
            raise ValueError("env: no environment attached; pass env= to TRPO.load or call set_env")
        with limit_threads(effective_n_threads(self.hyperparams["n_threads"]), refresh=True):
            return self._learn(total_timesteps, callback, progress_bar, reset_num_timesteps,
                               log_interval)

    def _learn(self, total_timesteps, callback, progress_bar, reset_num_timesteps,
               log_interval) -> "TRPO":
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._collector.needs_reset = True
        target = self.num_timesteps + int(total_timesteps)
        callback = make_callback(callback)
        callback.init_callback(self)
        bar = self._progress_bar(int(total_timesteps)) if progress_bar else None
        collector = self._collector
        if collector.needs_reset:
            collector.reset(seed=self._reset_seed)
            self._reset_seed = None  # seed the first reset only; later resets continue the stream
        buffer = RolloutBuffer(self.n_steps, self.n_envs, self.encoder.obs_dim,
                               self.policy.action_width, self.dtype)
        start = time.perf_counter()
        start_steps = self.num_timesteps
        callback.on_training_start(locals())

        def on_step() -> bool:
            self.num_timesteps += self.n_envs
            if bar is not None:
                bar.update(self.n_envs)
            return callback.on_step()

        iteration = 0
        while self.num_timesteps < target:
            t0 = time.perf_counter()
            self._set_training(True)
            _, keep_going = collector.collect(self.policy, buffer, self.rng, on_step)
            if not keep_going:
                break
            rollout_s = time.perf_counter() - t0
            callback.update_locals(locals())
            if callback.on_rollout_end() is False:
                break
            t1 = time.perf_counter()
            self.train(buffer)
            iteration += 1
            log = self.logger
            log.record("time/rollout_s", rollout_s)
            log.record("time/update_s", time.perf_counter() - t1)
            if log_interval and iteration % log_interval == 0:
                elapsed = time.perf_counter() - start
                if collector.episode_rewards:
                    log.record("rollout/ep_rew_mean", float(np.mean(collector.episode_rewards)))
                    log.record("rollout/ep_len_mean", float(np.mean(collector.episode_lengths)))
                log.record("time/fps", int((self.num_timesteps - start_steps) / max(elapsed, 1e-9)))
                log.record("time/iterations", iteration)
                log.record("time/time_elapsed", elapsed)
                log.record("time/total_timesteps", self.num_timesteps)
                log.dump(self.num_timesteps)
        callback.on_training_end()
        if bar is not None:
            bar.close()
        return self

    @staticmethod
    def _progress_bar(total: int):
        try:
            from tqdm import tqdm
        except ImportError as err:
            raise ImportError("progress_bar=True needs tqdm: pip install tqdm") from err
        return tqdm(total=total, unit="step")

    def _set_training(self, training: bool) -> None:
        if self.obs_normalizer is not None:
            self.obs_normalizer.training = training
        if self._collector is not None and self._collector.reward_scaler is not None:
            self._collector.reward_scaler.training = training

    def train(self, buffer: RolloutBuffer) -> None:
        """One update from a full rollout: GAE, one TRPO policy step, the value-function fit."""
        advantages, returns = buffer.advantages_and_returns(
            self.value_function.predict, self.gamma, self.gae_lambda)
        valid = buffer.valid.reshape(-1)
        obs = buffer.obs.reshape(-1, buffer.obs.shape[-1])
        actions = buffer.actions.reshape(-1, buffer.actions.shape[-1])
        advantages, returns = advantages.reshape(-1), returns.reshape(-1)
        if not valid.all():
            obs, actions = obs[valid], actions[valid]
            advantages, returns = advantages[valid], returns[valid]
        # policy step on every sub_sampling_factor-th sample (sb3-contrib)
        k = self.sub_sampling_factor
        pi_obs, pi_actions, pi_adv = obs[::k], actions[::k], advantages[::k]
        if self.normalize_advantage and pi_adv.size > 1:
            pi_adv = (pi_adv - pi_adv.mean()) / (pi_adv.std() + 1e-8)
        info = trpo_step(
            self.policy, pi_obs, pi_actions, pi_adv, None, max_kl=self.target_kl,
            cg_max_steps=self.cg_max_steps, cg_damping=self.cg_damping,
            line_search_shrinking_factor=self.line_search_shrinking_factor,
            line_search_max_iter=self.line_search_max_iter)
        if info.outcome is StepOutcome.BAD_CURVATURE:
            warnings.warn(f"TRPO step skipped: {info.reason}", RuntimeWarning, stacklevel=2)
        value_loss = self.vf_fitter.fit(obs, returns, self.rng)
        self._n_updates += 1
        log = self.logger
        log.record("train/policy_objective", info.surrogate_before)
        log.record("train/kl_divergence_loss", info.kl)
        log.record("train/is_line_search_success", float(info.accepted))
        log.record("train/value_loss", float(value_loss))
        log.record("train/cg_iterations", info.cg_iterations)
        log.record("train/n_updates", self._n_updates)
        if self.policy.log_std.size:
            log.record("train/std", float(np.exp(self.policy.log_std).mean()))

    # ---- acting ------------------------------------------------------------------------
    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        """Action(s) for one observation or a batch: returns ``(action, None)``.

        Observation normalisation uses the frozen running statistics; Box actions are clipped
        to the bounds. ``state`` and ``episode_start`` exist for sb3 compatibility (no RNN).
        """
        raw = np.asarray(observation)
        space_shape = self.observation_space.shape
        single = raw.shape == space_shape
        if single:
            raw = raw[None]
        rows = np.empty((raw.shape[0], self.encoder.obs_dim))
        try:
            self.encoder.encode(raw, rows)
        except ValueError as err:
            raise ValueError(
                f"observation: expected shape {space_shape} or (batch, *{space_shape}) for "
                f"{self.observation_space}; {err}") from None
        if self.obs_normalizer is not None:
            rows = self.obs_normalizer.normalize(rows)
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        out = np.empty((rows.shape[0], self.policy.action_width), dtype=self.dtype)
        # the forward pass runs no Numba code; a limit costs ~10 us, so it is set only when
        # the batch is large enough for BLAS to use threads at all
        n_threads = effective_n_threads(self.hyperparams["n_threads"])
        if n_threads is not None and not gemm_may_thread(len(rows), self.policy.layout.layer_sizes):
            n_threads = None
        with limit_threads(n_threads):
            out = self.policy.act_into(rows, deterministic, self.rng, out)
        actions = self.codec.to_env(out)
        return (actions[0] if single else actions), state

    # ---- deployment --------------------------------------------------------------------
    def export(self, path, format: str | None = None, name: str | None = None) -> list[Path]:
        """Write the policy for deployment: the deterministic action of ``predict``, with
        the observation encoding, the frozen normalisation statistics and the action
        clipping.

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

    # ---- persistence -------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the model (hyperparameters, spaces, parameters, normalisation statistics,
        optimiser state) to one file, atomically. Returns the path written."""
        hp = dict(self.hyperparams)
        hp["dtype"] = str(self.dtype)
        meta = {
            "algorithm": FORMAT_NAME,
            "hyperparams": hp,
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "num_timesteps": int(self.num_timesteps),
            "n_updates": int(self._n_updates),
            "rng_state": self.rng.bit_generator.state,
        }
        arrays = {"policy/params": self.policy.get_params(),
                  "value/params": self.value_function.get_params()}
        for key, value in self.vf_fitter.state_dict().items():
            arrays[f"vf_optimizer/{key}"] = np.asarray(value)
        if self.obs_normalizer is not None:
            for key, value in self.obs_normalizer.state_dict().items():
                arrays[f"obs_rms/{key}"] = np.asarray(value)
        scaler = self._collector.reward_scaler if self._collector is not None else None
        if scaler is not None:
            for key, value in scaler.state_dict().items():
                arrays[f"ret_rms/{key}"] = np.asarray(value)
        json.dumps(meta)  # fail here, before touching the file, if something is not JSON
        return save_archive(path, meta, arrays)

    @classmethod
    def load(cls, path, env=None, **overrides) -> "TRPO":
        """Load a model saved by ``save``; ``env`` (optional) is attached for further training.

        ``overrides`` replace saved hyperparameters that do not change the networks
        (e.g. ``verbose``, ``n_envs``, ``log_folder``).
        """
        meta, arrays = load_archive(path)
        if meta.get("algorithm") != FORMAT_NAME:
            raise ValueError(f"{path}: not a fasttrpo TRPO model (algorithm={meta.get('algorithm')!r})")
        try:
            hp = {"n_threads": None, **meta["hyperparams"]}  # files from before n_threads
            obs_space = space_from_json(meta["observation_space"])
            act_space = space_from_json(meta["action_space"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: model metadata is incomplete or invalid ({err})") from err
        hp.update(overrides)
        model = cls.__new__(cls)
        model.hyperparams = hp
        model._check_hyperparams()
        for key, value in hp.items():
            setattr(model, key, value)
        model.dtype = check_dtype(hp["dtype"])
        model.num_timesteps = int(meta.get("num_timesteps", 0))
        model._n_updates = int(meta.get("n_updates", 0))
        model.rng = np.random.default_rng()
        if "rng_state" in meta:
            model.rng.bit_generator.state = meta["rng_state"]
        model.logger = Logger(verbose=hp["verbose"], folder=hp["log_folder"])
        model.env = None
        model._setup_model(obs_space, act_space)
        try:
            model.policy.set_params(arrays["policy/params"])
            model.value_function.set_params(arrays["value/params"])
            model.vf_fitter.load_state_dict(
                {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("vf_optimizer/")})
            if model.obs_normalizer is not None:
                model.obs_normalizer.load_state_dict(
                    {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("obs_rms/")})
        except KeyError as err:
            raise ValueError(f"{path}: model file lacks array {err}") from err
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        model._saved_ret_rms = {k.split("/", 1)[1]: v for k, v in arrays.items()
                                if k.startswith("ret_rms/")}
        if env is not None:
            model.set_env(env)
            if model._collector.reward_scaler is not None and model._saved_ret_rms:
                model._collector.reward_scaler.load_state_dict(model._saved_ret_rms)
        model._set_training(False)
        return model
