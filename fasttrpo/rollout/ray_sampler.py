"""``RaySampler``: rollouts collected by Ray actors, one `RolloutBatch` at the learner.

Each worker is a Ray actor holding ``envs_per_worker`` copies of the env and a copy of the
policy (the Cython forward pass, no Numba compile; the compiled rollout kernel for compiled
envs). Per iteration the learner puts the flat policy parameters and the observation
statistics in the object store once; each worker steps its envs with its own sampler
(`VectorEnvSampler` or `CompiledSampler`) and returns its arrays; the learner writes them
into one batch, env axis worker-major, and runs the unchanged update.

Same seed, same result: worker ``w`` holds the run's envs ``w * m .. (w + 1) * m - 1``;
env ``i`` is seeded with ``seed + i`` (compiled envs: stream ``i`` of ``seed_streams``) and
acts with noise from the model's noise stream ``i`` (`NoiseStreams`; the learner sends the
states and keeps the advanced ones the worker returns), and the acting forward pass is
row-invariant. So k workers of m envs give the bit-identical batches, and parameters, of
one `VectorEnvSampler` over k * m envs (same BLAS kernels on every machine), with and
without reward scaling: the learner scales the raw rewards step by step as that sampler
does. Observation normalisation is the exception: workers normalise with the statistics
frozen at the start of the iteration (they cannot share VecNormalize's per-step updates)
and return the raw rows; the learner then folds them into the statistics step by step, in
the order one sampler would. The statistics follow the same rule, but the policy saw
slightly older statistics, so those runs are not bit-identical to one process.

Faults: a worker that dies (its process killed, the node lost) is replaced by a new actor
whose envs are reset (seeds derived from the run's seed, the worker and its restart count)
and its share is collected again from the same noise-stream states and parameters; the
iteration gets exactly ``n_steps`` x ``num_envs`` transitions and each episode that ended
in them once. The episodes its envs were in are lost (they never finish), nothing else. An
env that raises is reported as a `WorkerError` naming the worker, the env (run-wide number)
and the original exception; nothing of the model changed, it stays savable, and the worker
is replaced at the next ``collect``.

Resources and waits: before starting its workers the sampler checks that they fit the Ray
cluster: each asks Ray for ``cpus_per_worker`` CPUs and runs on one node, so the nodes must
hold ``n_workers`` of them (a static cluster never starts the rest: they would wait forever).
A shortage raises `ResourceShortageError` at once, naming the numbers and the fixes; left at
its default (None), ``cpus_per_worker`` is 1 when the workers fit, else the largest share
that fits (four workers on two CPUs: 0.5 each). With ``autoscaling=True`` the check is
skipped (the cluster adds nodes for the waiting workers) and ``cpus_per_worker`` defaults to
1. Every wait on a worker is bounded: its start (scheduled, envs built) by
``startup_timeout``, every call (reset, policy, rollout) by ``worker_timeout``; a worker
late raises `WorkerTimeoutError` naming it and what to check, nothing of the model changed,
and it is replaced at the next ``collect``.
"""

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.ray_worker import (
    RolloutWorker,
    WorkerError,
    WorkerTimeoutError,
    is_compiled_env,
    make_env,
)
from fasttrpo.rollout.streams import NoiseStreams, check_noise_streams

__all__ = ["RaySampler", "ResourceShortageError", "RolloutWorker", "WorkerError",
           "WorkerTimeoutError"]


class ResourceShortageError(ValueError):
    """The Ray cluster cannot hold the sampler's workers (raised before any is started)."""


#: Ray holds resource quantities in fixed point: units of 1e-4, a request truncated to them
_UNITS = 10_000
#: default ``startup_timeout`` (s): on a fixed cluster, and with ``autoscaling=True``
STARTUP_TIMEOUT, STARTUP_TIMEOUT_AUTOSCALING = 60.0, 600.0


_MEMORY = ("memory", "object_store_memory")  # left out of the resources a message lists


def _units(quantity: float) -> int:
    """Return ``quantity`` of a resource in Ray's units, truncated as Ray does."""
    return int(quantity * _UNITS)


def _room(nodes: list[int], units: int) -> int:
    """Return how many workers of ``units`` each fit on ``nodes`` (their CPUs, in units)."""
    return sum(node // units for node in nodes)


def _fit(nodes: list[int], n_workers: int) -> int:
    """Return the largest share (units, at most one CPU) of which ``n_workers`` fit, or 0."""
    low, high = 0, _UNITS  # room(low) >= n_workers (low = 0: none), search the largest
    if _room(nodes, high) >= n_workers:
        return high
    while high - low > 1:
        middle = (low + high) // 2
        if _room(nodes, middle) >= n_workers:
            low = middle
        else:
            high = middle
    return low


def _seconds(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive, finite number of seconds, got "
                         f"{value!r}")
    return float(value)


def _workers(indices: list[int]) -> str:
    return (f"Ray worker {indices[0]}" if len(indices) == 1 else
            "Ray workers " + ", ".join(map(str, indices)))


class RaySampler:
    """The `fasttrpo.rollout.Sampler` of Ray actors (see the module docstring).

    Use it as a model's env or attach it: ``TRPO("MlpPolicy", RaySampler("Hopper-v5",
    n_workers=4, envs_per_worker=2))`` or ``model.set_sampler(RaySampler(...))``.

    Parameters
    ----------
    env : str, callable or CompiledEnv
        A gymnasium id (each worker makes ``envs_per_worker`` copies, SAME_STEP autoreset, as
        ``TRPO("MlpPolicy", env_id)`` does), a picklable function returning a gymnasium Env
        or a `fasttrpo.envs.compiled.CompiledEnv`, or a CompiledEnv.
    n_workers : int, default 2
        Ray actors.
    envs_per_worker : int, default 1
        Envs per actor; the batch holds ``n_steps`` x ``n_workers * envs_per_worker`` rows.
    compiled : bool, default False
        With an id string: run its compiled port (`fasttrpo.envs.compiled.make_port`).
    address : str, optional
        Connect to this Ray cluster (``ray.init(address=...)``); without it a local Ray is
        started with ``num_cpus`` CPUs, unless Ray is initialised already (then it is used).
    num_cpus : int, optional
        CPUs of the local Ray started here (default: all).
    cpus_per_worker : float, optional
        Ray's ``num_cpus`` of each actor. A given value is kept: when the cluster's nodes
        cannot hold ``n_workers`` such actors, starting them raises `ResourceShortageError`
        (unless ``autoscaling``). None (default): 1 when the workers fit, else the largest
        share that fits (multiple of 1e-4; e.g. 4 workers on 2 CPUs: 0.5 each, the workers
        share the CPUs); 1 with ``autoscaling``. The value used is `worker_cpus`.
    max_restarts : int, default 3
        Replacements of dead workers allowed per ``collect`` before it gives up.
    autoscaling : bool, default False
        The Ray cluster adds nodes on demand. Then no shortage is an error at start: the
        workers wait for the nodes their requests make the autoscaler add, up to
        ``startup_timeout``. Without it the cluster is taken as it is now (its alive nodes).
    startup_timeout : float, optional
        Seconds a worker may take to start (be scheduled on a node and build its envs),
        default 60, or 600 with ``autoscaling`` (nodes boot); past it `WorkerTimeoutError`
        (e.g. a worker waiting for resources no node has). Raise it for envs slow to build
        or nodes slow to boot.
    worker_timeout : float, default 300
        Seconds a worker may take to answer one call: reset its envs, take the policy,
        collect its share of a rollout (``n_steps`` x ``envs_per_worker`` steps); past it
        `WorkerTimeoutError` (a hung or much slower env). Raise it for long rollouts of slow
        simulators.

    Attributes
    ----------
    timings : dict of str to float
        Of the last ``collect``, logged by ``learn`` as ``time/<name>``:
        ``worker_rollout_max_s`` and ``worker_rollout_median_s`` (each worker's time
        stepping its envs), ``transfer_s`` (the rest of ``collect``: putting the
        parameters, scheduling, returning and assembling the arrays).
    restarts : int
        Workers replaced so far.
    worker_cpus : float or None
        The CPUs each worker asks Ray for (``cpus_per_worker`` resolved when the workers
        start; None before).
    """

    def __init__(self, env, n_workers: int = 2, envs_per_worker: int = 1, *,
                 compiled: bool = False, address: str | None = None,
                 num_cpus: int | None = None, cpus_per_worker: float | None = None,
                 max_restarts: int = 3, autoscaling: bool = False,
                 startup_timeout: float | None = None,
                 worker_timeout: float = 300.0) -> None:
        for name, value in (("n_workers", n_workers), ("envs_per_worker", envs_per_worker)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, (int, np.integer)) \
                or max_restarts < 0:
            raise ValueError(f"max_restarts: expected a non-negative integer, got "
                             f"{max_restarts!r}")
        if cpus_per_worker is not None and (
                isinstance(cpus_per_worker, bool)
                or not isinstance(cpus_per_worker, (int, float, np.integer, np.floating))
                or not math.isfinite(cpus_per_worker) or _units(cpus_per_worker) < 1):
            raise ValueError(f"cpus_per_worker: expected None or a number >= 0.0001 (Ray's "
                             f"resource unit), got {cpus_per_worker!r}")
        self.autoscaling = bool(autoscaling)
        self.startup_timeout = _seconds("startup_timeout", startup_timeout) \
            if startup_timeout is not None else \
            STARTUP_TIMEOUT_AUTOSCALING if self.autoscaling else STARTUP_TIMEOUT
        self.worker_timeout = _seconds("worker_timeout", worker_timeout)
        if not (isinstance(env, str) or callable(env) or is_compiled_env(env)):
            raise ValueError(f"env: expected an env id string, a function returning an env, "
                             f"or a CompiledEnv, got {env!r}")
        self.source, self.compiled = env, bool(compiled)
        self.n_workers, self.envs_per_worker = int(n_workers), int(envs_per_worker)
        self.num_envs = self.n_workers * self.envs_per_worker
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_worker = None if cpus_per_worker is None else float(cpus_per_worker)
        self.max_restarts = int(max_restarts)
        self.worker_cpus: float | None = None
        probe = make_env(env, self.compiled)  # the spaces, read here without Ray
        self.is_compiled = is_compiled_env(probe)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        #: the env's id (saved with the model), when it has one
        self.id = env if isinstance(env, str) else getattr(probe, "id", None) or getattr(
            getattr(probe, "spec", None), "id", None)
        if not self.is_compiled:
            probe.close()
        self.obs_normalizer = self.reward_scaler = None
        self.dtype = np.dtype(np.float32)
        self.timings: dict[str, float] = {}
        self.restarts = 0
        self.actors: list = []
        self._seed: int | None = None
        self._policy: Any = None  # the policy object the workers hold a copy of
        self._broken: set[int] = set()  # workers to replace before the next collect
        self.needs_reset = True

    # ---- set-up --------------------------------------------------------------------------
    def attach(self, encoder, codec, obs_normalizer, reward_scaler, dtype) -> None:
        """Take the model's normalisers and dtype (called by ``set_sampler``)."""
        if obs_normalizer is not None and self.is_compiled:
            raise ValueError("normalize_obs: not supported with compiled envs in Ray workers "
                             "(the compiled rollout does not return its raw observations); "
                             "use gymnasium envs or normalize_obs=False")
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.dtype = np.dtype(dtype)
        self._stop_actors()  # workers hold copies of the old normaliser: build new ones
        self.needs_reset = True

    def _ray(self):
        try:
            import ray
        except ImportError as err:
            raise ImportError('RaySampler needs Ray: pip install "fasttrpo[ray]"') from err
        if not ray.is_initialized():
            if self.address is not None:
                ray.init(address=self.address)
            else:
                ray.init(num_cpus=self.num_cpus)
        return ray

    def _worker_cpus(self, ray) -> float:
        """Return the CPUs each worker asks for; raise `ResourceShortageError` if none fit.

        The check (skipped with ``autoscaling``) counts the alive nodes' CPUs, not the free
        ones: CPUs held by other actors are released in time, a shortage of the whole
        cluster never is; a wait for busy CPUs ends at ``startup_timeout``.
        """
        wanted, n = self.cpus_per_worker, self.n_workers
        if self.autoscaling:
            return 1.0 if wanted is None else wanted
        nodes = [round(node["Resources"].get("CPU", 0.0) * _UNITS)
                 for node in ray.nodes() if node.get("Alive")]
        fitted = _fit(nodes, n)
        if wanted is None and fitted:
            return fitted / _UNITS
        asked = 1.0 if wanted is None else wanted
        room = _room(nodes, _units(asked))
        if room >= n:
            return asked
        total = sum(nodes) / _UNITS
        where = f" on {len(nodes)} nodes ({', '.join(f'{c / _UNITS:g}' for c in nodes)}; a " \
            f"worker runs on one node: room for {room})" if len(nodes) > 1 else ""
        fixes = [f"n_workers={room}"] if room else []
        if fitted:
            fixes.append(f"cpus_per_worker={fitted / _UNITS:g} (workers share CPUs)")
        fixes.append("start Ray with more CPUs (RaySampler's num_cpus=, or "
                     "ray.init(num_cpus=...) before it) or add nodes")
        raise ResourceShortageError(
            f"RaySampler: {n} workers x {asked:g} CPU need {n * asked:g} CPUs, the Ray cluster "
            f"has {total:g}{where}; use {', or '.join(fixes)}. A cluster that adds nodes on "
            "demand: pass autoscaling=True")

    def _actor_options(self) -> dict:
        """Return the Ray options of a worker actor (its resources)."""
        return {"num_cpus": self.worker_cpus, "max_restarts": 0}

    def _start_actor(self, index: int):
        ray = self._ray()
        worker_class = ray.remote(RolloutWorker)
        actor = worker_class.options(**self._actor_options()).remote(
            index, self.source, self.compiled, self.is_compiled, self.envs_per_worker,
            index * self.envs_per_worker, self.observation_space, self.action_space,
            self.obs_normalizer, self.dtype)
        if self._policy is not None:
            actor.set_policy.remote(self._policy_ref)
        return actor

    def _wait_started(self, ray, indices: list[int]) -> None:
        """Wait up to ``startup_timeout`` for workers ``indices`` to be up.

        Late ones are stopped (and marked for replacement) and named in a `WorkerTimeoutError`.
        """
        refs = {self.actors[index].ready.remote(): index for index in indices}
        self._wait(ray, refs, self.startup_timeout, "startup_timeout", "start")

    def _wait(self, ray, refs: dict, timeout: float, name: str, what: str) -> list:
        """Return the results of ``refs`` (ref to worker index), waiting ``timeout`` s at most.

        Raise the `WorkerError` of a worker that failed first, then a `WorkerTimeoutError`
        naming the workers late (they are stopped and replaced at the next ``collect``).
        """
        ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        if late:
            self._get(ray, ready)  # a worker's own error says more than the others' delay
            self._late(ray, sorted(refs[ref] for ref in late), timeout, name, what)
        return self._get(ray, list(refs))

    def _late(self, ray, indices: list[int], timeout: float, name: str, what: str) -> None:
        """Stop workers ``indices`` (replaced at the next ``collect``); raise the timeout."""
        for index in indices:
            self._broken.add(index)
            try:
                ray.kill(self.actors[index], no_restart=True)
            except Exception:  # noqa: BLE001 (already gone: nothing to stop)
                pass
        if what == "start":
            try:
                free = ", ".join(f"{k} {v:g}" for k, v in sorted(
                    ray.available_resources().items()) if k not in _MEMORY and ":" not in k)
            except Exception:  # noqa: BLE001 (only for the message)
                free = "?"
            options = {k: v for k, v in self._actor_options().items() if k != "max_restarts"}
            free = free or "no CPU or other resource"
            detail = (f"did not start within {name}={timeout:g} s. Each asks Ray for "
                      f"{options}; the cluster has {free} free. A worker waits while no node "
                      "has what it asks for (`ray status` lists the pending demands): use "
                      "fewer workers or smaller requests, or add nodes; or it builds its "
                      f"envs slowly (see its log): raise {name}")
        else:
            they = "it is" if len(indices) == 1 else "they are"
            detail = (f"did not {what} within {name}={timeout:g} s: an env hangs or is much "
                      f"slower than expected (see the worker's log, `ray logs`), or raise "
                      f"{name}; {they} replaced at the next collect")
        raise WorkerTimeoutError(f"RaySampler: {_workers(indices)} {detail}", indices[0])

    def _stop_actors(self) -> None:
        if self.actors:
            import ray

            if ray.is_initialized():  # after ray.shutdown() the actors are gone already
                for actor in self.actors:
                    ray.kill(actor, no_restart=True)
        self.actors = []

    def _restart_actor(self, ray, index: int) -> None:
        """Stop worker ``index``'s actor (if it still runs) and start a new one in its place."""
        try:
            ray.kill(self.actors[index], no_restart=True)
        except Exception:  # noqa: BLE001 (already gone: nothing to stop)
            pass
        self.restarts += 1
        self.actors[index] = self._start_actor(index)

    def _replace(self, index: int) -> np.ndarray:
        """Start a new actor for worker ``index`` and reset its envs; returns their raw rows."""
        ray = self._ray()
        self._restart_actor(ray, index)
        self._wait_started(ray, [index])
        seed = None if self._seed is None else int(np.random.SeedSequence(
            [self._seed, index, self.restarts]).generate_state(1)[0] % 2**31)
        return self._wait(ray, {self.actors[index].reset.remote(seed): index},
                          self.worker_timeout, "worker_timeout", "reset its envs")[0]

    # ---- the Sampler protocol ------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Start the workers if needed and reset every env (env ``i`` seeded ``seed + i``)."""
        ray = self._ray()
        if not self.actors:
            self.worker_cpus = self._worker_cpus(ray)  # a shortage: the error, no actor
            self.actors = [self._start_actor(w) for w in range(self.n_workers)]
            try:
                self._wait_started(ray, list(range(self.n_workers)))
            except BaseException:
                self._stop_actors()  # none left waiting for resources; all new next time
                self._broken.clear()
                raise
        elif self._broken:  # workers that failed or were late: new actors (all envs reset)
            broken = sorted(self._broken)
            for index in broken:
                self._restart_actor(ray, index)
            self._broken.clear()
            self._wait_started(ray, broken)
        if seed is not None:
            self._seed = int(seed)
        rows = self._wait(ray, {actor.reset.remote(seed): w
                                for w, actor in enumerate(self.actors)},
                          self.worker_timeout, "worker_timeout", "reset its envs")
        if self.obs_normalizer is not None:
            self.obs_normalizer.update(np.concatenate(rows))
        self._broken.clear()
        self.needs_reset = False

    def _get(self, ray, refs: list) -> list:
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, WorkerError):
                self._broken.add(cause.worker)
                raise WorkerError(str(cause), cause.worker, cause.env) from cause
            raise

    @property
    def supports_recurrent(self) -> bool:
        """Whether a recurrent policy can act here: with gymnasium envs, not compiled ones.

        Each worker's `VectorEnvSampler` carries its envs' hidden states across rollouts.
        """
        return not self.is_compiled

    def _sync_policy(self, ray, policy) -> None:
        """Give the workers a copy of ``policy`` when it is not the one they hold."""
        if policy is self._policy:
            return
        self._policy, self._policy_ref = policy, ray.put(policy)
        self._wait(ray, {actor.set_policy.remote(self._policy_ref): w
                         for w, actor in enumerate(self.actors)},
                   self.worker_timeout, "worker_timeout", "take the policy")

    def collect(self, policy, batch: RolloutBatch, streams: NoiseStreams,
                on_step: Callable[[], bool] | None = None) -> bool:
        """Collect one batch over the workers (see the module docstring).

        ``on_step`` is called ``n_steps`` times after the batch is complete (as
        `CompiledSampler` does).
        """
        ray = self._ray()
        check_noise_streams(streams)
        if batch.n_envs != self.num_envs:
            raise ValueError(f"batch: holds {batch.n_envs} envs, the sampler {self.num_envs}")
        if self.needs_reset:
            self.reset()
        start = time.perf_counter()
        for index in sorted(self._broken):
            self._replace(index)
        self._broken.clear()
        self._sync_policy(ray, policy)
        normalizer = self.obs_normalizer
        obs_state = normalizer.state_dict() if normalizer is not None else None
        shared = ray.put((policy.get_params(), obs_state))  # once for every worker
        m, signals = self.envs_per_worker, tuple(batch.signals)
        states = [streams.states(w * m, (w + 1) * m) for w in range(self.n_workers)]

        deadlines: dict = {}  # ref: when its worker is late

        def submit(index: int, due: float):
            ref = self.actors[index].collect.remote(shared, states[index], batch.n_steps,
                                                    signals, normalizer is not None)
            deadlines[ref] = due
            return ref

        due = time.monotonic() + self.worker_timeout  # one deadline: all late are named
        pending = {submit(w, due): w for w in range(self.n_workers)}
        results: dict[int, dict] = {}
        restarts = 0
        while pending:
            wait = min(deadlines[ref] for ref in pending) - time.monotonic()
            done, _ = ray.wait(list(pending), num_returns=1, timeout=max(wait, 0.0))
            if not done:
                now = time.monotonic()
                late = sorted(w for ref, w in pending.items() if deadlines[ref] <= now)
                if late:
                    self._late(ray, late, self.worker_timeout, "worker_timeout",
                               f"return a rollout ({batch.n_steps} steps x {m} "
                               f"env{'s' if m > 1 else ''})")
                continue
            (ref,) = done
            index = pending.pop(ref)
            try:
                results[index] = self._get(ray, [ref])[0]
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
                restarts += 1
                if restarts > self.max_restarts:
                    self._broken.add(index)
                    raise RuntimeError(f"Ray worker {index} died and {self.max_restarts} "
                                       "replacements were used up in this collect") from err
                self._replace(index)  # new envs, same parameters and noise streams
                pending[submit(index, time.monotonic() + self.worker_timeout)] = index
        self._assemble(batch, results)
        for index, result in results.items():
            streams.set_states(index * m, result["stream_states"])
        seconds = [results[w]["seconds"] for w in range(self.n_workers)]
        self.timings = {"worker_rollout_max_s": max(seconds),
                        "worker_rollout_median_s": statistics.median(seconds),
                        "transfer_s": max(time.perf_counter() - start - max(seconds), 0.0)}
        if on_step is not None:
            for _ in range(batch.n_steps):
                if on_step() is False:
                    return False
        return True

    def _assemble(self, batch: RolloutBatch, results: dict[int, dict]) -> None:
        """Write the workers' arrays into ``batch`` (worker-major env axis).

        Then scale the raw rewards and fold the raw observations into the statistics, step
        by step as `VectorEnvSampler` does.
        """
        batch.clear()
        m = self.envs_per_worker
        # (step, env, episode): one sampler lists them in step, then env order
        ended: list[tuple[int, int, dict]] = []
        for index in range(self.n_workers):
            result, envs = results[index], slice(index * m, (index + 1) * m)
            batch.obs[:, envs] = result["obs"]
            batch.actions[:, envs] = result["actions"]
            batch.flags[:, :, envs] = result["flags"]
            batch.last_obs[envs] = result["last_obs"]
            for name, values in result["signals"].items():
                batch.signals[name][:, envs] = values
            for (t, e), row in result["final_obs"]:
                batch.final_obs[(t, index * m + e)] = row
            flags = result["flags"]
            positions = np.argwhere(flags[1].astype(bool) & flags[2].view(bool))
            if len(positions) != len(result["episodes"]):
                raise RuntimeError(f"Ray worker {index}: {len(result['episodes'])} finished "
                                   f"episodes for {len(positions)} episode ends")
            ended.extend((int(t), index * m + int(e), episode)
                         for (t, e), episode in zip(positions, result["episodes"], strict=True))
        ended.sort(key=lambda item: item[:2])
        batch.finished_episodes = [episode for _, _, episode in ended]
        self._assemble_masks(batch, [results[w]["action_masks"] for w in range(self.n_workers)])
        # a recurrent policy's states at the rollout's start, carried by each worker's sampler
        states = [results[w].get("initial_state") for w in range(self.n_workers)]
        batch.initial_state = None if any(state is None for state in states) else \
            np.concatenate([state for state in states if state is not None])
        for result in results.values():
            missing = set(batch.signals) - set(result["signals"])
            if missing:
                raise RuntimeError(f"Ray workers returned no {', '.join(sorted(missing))} "
                                   "signal")
        scaler = self.reward_scaler
        if scaler is not None:  # the raw rewards, scaled in step order over all envs
            for t in range(batch.n_steps):
                batch.rewards[t] = scaler.scale(batch.rewards[t], batch.dones[t].astype(bool))
        if self.obs_normalizer is not None:
            raw = np.concatenate([results[w]["raw_obs"] for w in range(self.n_workers)], axis=1)
            for t in range(batch.n_steps):
                self.obs_normalizer.update(raw[t])

    def _assemble_masks(self, batch: RolloutBatch, masks: list) -> None:
        """Write the workers' action masks ((T, m, D) each, or None each) into ``batch``."""
        if all(mask is None for mask in masks):
            batch.use_action_masks(None)
            return
        if any(mask is None for mask in masks):
            raise RuntimeError("Ray workers: some envs give action masks and some do not; "
                               "give every env the same action_masks() (or info['action_mask'])")
        out = batch.use_action_masks(masks[0].shape[2])
        assert out is not None  # allocated for a width
        m = self.envs_per_worker
        for index, mask in enumerate(masks):
            out[:, index * m:(index + 1) * m] = mask

    def close(self) -> None:
        """Stop the workers (Ray itself keeps running: ``ray.shutdown()`` stops it)."""
        self._stop_actors()
        self.needs_reset = True
