"""``RolloutWorker``: the Ray actor of `fasttrpo.rollout.ray_sampler.RaySampler`.

One worker holds ``envs_per_worker`` copies of the env and a copy of the policy, steps them
with its own sampler (`VectorEnvSampler` over gymnasium envs, `CompiledSampler` over compiled
envs) and returns its arrays; the learner assembles them. The errors it reports
(`WorkerError`, and `WorkerTimeoutError` raised by the learner for a late worker) name the
worker and, where known, the run-wide env. Ray imports this module in every worker process,
so it imports ray nowhere itself.
"""

import copy
import time
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.streams import NoiseStreams

if TYPE_CHECKING:  # imported where used: a worker loads only its sampler's module
    from fasttrpo.rollout.compiled import CompiledSampler
    from fasttrpo.rollout.gym_sampler import VectorEnvSampler

__all__ = ["RolloutWorker", "WorkerError", "WorkerTimeoutError", "is_compiled_env",
           "make_env"]


class WorkerError(RuntimeError):
    """An env of a Ray worker raised (or produced a value the sampler refuses).

    Attributes
    ----------
    worker : int
        The worker's index.
    env : int or None
        The run-wide number of the env (None when the sampler could not tell which).
    """

    def __init__(self, message: str, worker: int, env: int | None = None) -> None:
        super().__init__(message)
        self.worker, self.env = worker, env

    def __reduce__(self):
        """Rebuild with the same fields (sent from the actor to the learner)."""
        return type(self), (self.args[0], self.worker, self.env)


class WorkerTimeoutError(WorkerError):
    """A Ray worker did not start, or did not answer a call, within the sampler's timeout.

    ``worker`` is the first late worker (the message names all of them); ``env`` is None.
    """


def is_compiled_env(env) -> bool:
    """Whether ``env`` is a `fasttrpo.envs.compiled.CompiledEnv` (imports Numba only then)."""
    from fasttrpo.envs.compiled import CompiledEnv  # numba: only for compiled envs

    return isinstance(env, CompiledEnv)


def make_env(source, compiled: bool):
    """Return one env of ``source`` (id string, factory or CompiledEnv), gymnasium or compiled."""
    if isinstance(source, str):
        if compiled:
            from fasttrpo.envs.compiled import make_port

            return make_port(source)
        from fasttrpo.envs.ids import register_if_fasttrpo_id

        register_if_fasttrpo_id(source)
        return gym.make(source)
    return source() if callable(source) and not is_compiled_env(source) else source


class _ReportingEnv(gym.Wrapper):
    """Notes its index in ``failures`` when ``step`` or ``reset`` raises (which env did)."""

    def __init__(self, env: gym.Env, index: int, failures: list[int]) -> None:
        super().__init__(env)
        self.index, self.failures = index, failures

    def step(self, action):
        """Step the env; on an exception, note this env's index and re-raise."""
        try:
            return self.env.step(action)
        except Exception:
            self.failures.append(self.index)
            raise

    def reset(self, **kwargs):
        """Reset the env; on an exception, note this env's index and re-raise."""
        try:
            return self.env.reset(**kwargs)
        except Exception:
            self.failures.append(self.index)
            raise


class RolloutWorker:
    """One worker's envs and policy copy (run as a Ray actor by `RaySampler`).

    Parameters
    ----------
    index : int
        The worker's index; its envs are the run's ``env_offset .. env_offset + n_envs - 1``.
    source : str, callable or CompiledEnv
        As `RaySampler`'s ``env``.
    compiled : bool
        Build compiled ports of an id string.
    is_compiled : bool
        ``source`` makes CompiledEnvs (run with `CompiledSampler`), else gymnasium envs.
    n_envs, env_offset : int
    observation_space, action_space : gymnasium.Space
    obs_normalizer : ObservationNormalizer or None
        A copy of the model's; used frozen, with the statistics each ``collect`` sends.
    dtype : the policy dtype.
    """

    sampler: "CompiledSampler | VectorEnvSampler"

    def __init__(self, index: int, source, compiled: bool, is_compiled: bool, n_envs: int,
                 env_offset: int, observation_space, action_space, obs_normalizer,
                 dtype) -> None:
        from threadpoolctl import threadpool_limits

        # one BLAS thread: a worker is one CPU of the cluster, and its GEMMs round alike
        self._blas_limit = threadpool_limits(1)
        self.index, self.env_offset, self.n_envs = index, env_offset, n_envs
        encoder = ObsEncoder.for_space(observation_space)
        codec = ActionCodec.for_space(action_space)
        # a writable copy (arguments arrive as read-only views of the object store), frozen
        self.obs_normalizer = obs_normalizer = copy.deepcopy(obs_normalizer)
        if obs_normalizer is not None:
            obs_normalizer.training = False
        self.failures: list[int] = []
        if is_compiled:
            from fasttrpo.rollout.compiled import CompiledSampler

            self.sampler = CompiledSampler(make_env(source, compiled), n_envs, encoder, codec,
                                           obs_normalizer, None, dtype, env_offset=env_offset)
        else:
            from gymnasium.vector import AutoresetMode, SyncVectorEnv

            from fasttrpo.rollout.gym_sampler import VectorEnvSampler, make_vector_env

            # an id as the model makes it in one process (make_vector_env); a factory as
            # SAME_STEP copies; each env notes its run-wide number when it raises
            venv = make_vector_env(source, n_envs) if isinstance(source, str) else \
                SyncVectorEnv([source] * n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
            assert isinstance(venv, SyncVectorEnv)  # both makers give one
            venv.envs = [_ReportingEnv(env, env_offset + i, self.failures)
                         for i, env in enumerate(venv.envs)]
            self.sampler = VectorEnvSampler(venv, encoder, codec, obs_normalizer, None, dtype,
                                            env_offset=env_offset)
        self.policy: Any = None  # an MLPPolicy once set_policy ran
        self._batches: dict = {}

    def ready(self) -> int:
        """Return the worker's index (answered once the actor is up and its envs built)."""
        return self.index

    def set_policy(self, policy) -> None:
        """Act with (a copy of) ``policy``; later ``collect`` calls send its parameters."""
        # arrays from the object store are read-only views: the copy owns writable ones
        self.policy = copy.deepcopy(policy)

    def reset(self, seed: int | None) -> np.ndarray:
        """Reset the envs (env ``i`` of the run seeded ``seed + i``); returns the raw rows."""
        try:
            self.sampler.reset(seed)
        except Exception as err:
            raise self._error(err) from err
        return np.array(self.raw_obs())

    def raw_obs(self) -> np.ndarray:
        """Return the envs' current observations, encoded, not normalised (compiled: none)."""
        raw = getattr(self.sampler, "raw_obs", None)
        return raw if raw is not None else np.zeros((self.n_envs, 0))

    def _error(self, err: Exception) -> WorkerError:
        env = self.failures[-1] if self.failures else None
        where = f"env {env}" if env is not None else "one of its envs"
        return WorkerError(f"Ray worker {self.index}, {where}: {type(err).__name__}: {err}",
                           self.index, env)

    def collect(self, shared: tuple, stream_states: list[dict], n_steps: int,
                signals: tuple[str, ...], raw_obs: bool) -> dict[str, Any]:
        """Collect ``n_steps`` steps of every env; returns the batch's arrays.

        ``shared`` is ``(policy parameters, observation statistics or None)``, put in the
        object store once by the learner; ``stream_states`` the envs' noise-stream states.
        ``raw_obs``: also return the encoded raw observation after every step, (T, E, D).
        """
        params, obs_state = shared
        self.policy.set_params(params)
        if self.obs_normalizer is not None:
            self.obs_normalizer.load_state_dict(obs_state)
        streams = NoiseStreams.from_states(stream_states)
        key = (n_steps, signals)
        if key not in self._batches:
            self._batches[key] = RolloutBatch(n_steps, self.n_envs, self.policy.obs_dim,
                                              self.policy.action_width, self.policy.dtype,
                                              signals)
        batch = self._batches[key]
        raw = np.empty((n_steps, *self.raw_obs().shape)) if raw_obs else None
        step = [0]

        def on_step() -> bool:  # after each step's _set_obs: the new raw observations
            assert raw is not None  # on_step is passed with raw_obs only
            raw[step[0]] = self.raw_obs()
            step[0] += 1
            return True

        start = time.perf_counter()
        try:
            self.sampler.collect(self.policy, batch, streams, on_step if raw_obs else None)
        except Exception as err:
            raise self._error(err) from err
        return {
            "obs": batch.obs, "actions": batch.actions, "signals": batch.signals,
            "flags": batch.flags, "last_obs": batch.last_obs, "raw_obs": raw,
            "action_masks": batch.action_masks, "initial_state": batch.initial_state,
            "final_obs": list(batch.final_obs.items()),
            "episodes": batch.finished_episodes, "stream_states": streams.states(),
            "seconds": time.perf_counter() - start,
        }
