"""One update as a transaction: batch preparation and checks, critic fits, step and rollback.

Plain functions over explicit arguments (the config, the signals, the critics and their
fitters), which `fasttrpo.algorithms.base.OnPolicyAlgorithm.train` wires:

1. `prepare_batch`: GAE per signal with its critic, the valid rows, the policy step's
   sub-sample, the advantage normalisation (sb3-contrib's order);
2. `check_batch`: refuse values the networks cannot learn from, before anything changes;
3. under `rollback`: the algorithm's policy step and `fit_critics`, at the same time with
   ``n_threads >= 2`` (`step_and_fit`), the fits running on into the next rollout
   (`PendingFit`); a ValueError from either restores the policy, the critics, their
   optimisers and the algorithm's state, when the step fails or when the fit is waited for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from fasttrpo.config import OnPolicyConfig
from fasttrpo.foundation.threads import use_threads
from fasttrpo.rollout import RolloutBatch
from fasttrpo.rollout.batch import REWARD
from fasttrpo.rollout.sequences import Sequences, split_sequences, sub_sample

__all__ = ["PendingFit", "UpdateBatch", "check_batch", "fit_critics", "prepare_batch",
           "rollback", "step_and_fit"]


@dataclass
class UpdateBatch:
    """A rollout prepared for one update; its arrays are its own (not views of the batch).

    Attributes
    ----------
    obs : (M, obs_dim)
        Every valid transition's observation (the critics fit on all of them).
    actions : (M, action_width)
    advantages, returns : dict of signal name to (M,) float64
        GAE advantages and value targets of each signal.
    policy_obs, policy_actions : every ``sub_sampling_factor``-th row of ``obs``, ``actions``
    policy_advantages : dict of signal name to float64 arrays of those rows; with
        ``normalize_advantage`` the reward's is standardised (zero mean, unit std) and every
        other signal's (the cost's) only centred, its scale kept: a constraint compares the
        cost surrogate with a limit in the cost's own units.
    episodes : list of dict
        The episodes that ended during the rollout (``RolloutBatch.finished_episodes``).
    signal_means : dict of signal name to float
        Mean per-step value of each signal over the valid transitions.
    policy_masks : (M', sum(nvec)) bool or None
        The action masks of the policy rows' states (``RolloutBatch.action_masks``), None
        when the env gives none.
    policy_sequences : Sequences or None
        Recurrent policies: the policy rows are packed sequences (`fasttrpo.rollout.sequences`:
        each env's rows split at episode starts, every k-th whole sequence), their
        ``seq_starts`` and ``h0``; None for a feed-forward policy (the rows are every k-th).
    """

    obs: np.ndarray
    actions: np.ndarray
    advantages: dict[str, np.ndarray]
    returns: dict[str, np.ndarray]
    policy_obs: np.ndarray
    policy_actions: np.ndarray
    policy_advantages: dict[str, np.ndarray]
    episodes: list[dict[str, Any]]
    signal_means: dict[str, float]
    policy_masks: np.ndarray | None = None
    policy_sequences: Sequences | None = None


def prepare_batch(batch: RolloutBatch, config: OnPolicyConfig, critics: dict) -> UpdateBatch:
    """Prepare a rollout for an update (sb3-contrib's order).

    GAE per signal with its critic (``critics``: signal -> ``ValueFunction``; each signal of
    ``critics`` must be one of the batch's), the valid rows, the policy step's sub-sample and
    the reward advantages' normalisation.
    """
    advantages, returns = {}, {}
    for signal, critic in critics.items():
        gamma, gae_lambda = config.discount(signal)
        adv, ret = batch.advantages_and_returns(signal, critic.predict, gamma, gae_lambda)
        advantages[signal], returns[signal] = batch.flat(adv), batch.flat(ret)
    # copies, never views of the batch: the critic fits read them while the next rollout
    # refills the batch (n_threads >= 2)
    obs, actions = np.array(batch.flat(batch.obs)), np.array(batch.flat(batch.actions))
    k = config.sub_sampling_factor
    # the policy rows: every k-th row, or (recurrent) every k-th whole sequence, packed
    sequences = None if batch.initial_state is None else sub_sample(
        split_sequences(batch.valid, batch.dones, batch.initial_state), k)
    rows = slice(None, None, k) if sequences is None else sequences.order
    policy_advantages = {signal: adv[rows] for signal, adv in advantages.items()}
    if config.normalize_advantage:
        for signal, adv in policy_advantages.items():
            if adv.size > 1:
                centred = adv - adv.mean()
                policy_advantages[signal] = (centred / (adv.std() + 1e-8)
                                             if signal == REWARD else centred)
    # NaN for a rollout without a valid transition (only autoreset steps; train skips it)
    signal_means = {signal: float(np.mean(flat)) if (flat := batch.flat(values)).size
                    else math.nan for signal, values in batch.signals.items()}
    masks = None if batch.action_masks is None else batch.flat(batch.action_masks)[rows]
    return UpdateBatch(obs, actions, advantages, returns, obs[rows], actions[rows],
                       policy_advantages, list(batch.finished_episodes), signal_means, masks,
                       sequences)


def check_batch(data: UpdateBatch, dtype: np.dtype) -> None:
    """Refuse a batch whose advantages or value targets the networks cannot learn from.

    Non-finite values, and magnitudes beyond ``sqrt(max float) / 1000`` of the network
    ``dtype`` (1.8e16 in float32, 1.3e151 in float64), where the squared errors and Adam's
    second moments overflow, raise a ValueError naming the signal; call it before the policy,
    the critics or their optimisers change.
    """
    dtype = np.dtype(dtype)
    bound = math.sqrt(float(np.finfo(dtype).max)) / 1e3
    for kind, arrays in (("value targets", data.returns), ("advantages", data.advantages)):
        for signal, values in arrays.items():
            peak = float(np.max(np.abs(values))) if values.size else 0.0
            if not peak <= bound:  # also catches NaN
                raise ValueError(
                    f"{signal}: {kind} reach {peak:.3g}, beyond what {dtype} networks can fit "
                    f"(|value| <= {bound:.2g}); the {signal}s of the env are too large or not "
                    "finite: scale them (normalize_reward=True for rewards) or use "
                    "dtype='float64'. Nothing was updated.")


def _critic_states(critics: dict, fitters: dict) -> dict[str, tuple[np.ndarray, dict]]:
    return {signal: (critics[signal].get_params(), fitters[signal].state_dict())
            for signal in critics}


def _restore_critics(states: dict, critics: dict, fitters: dict) -> None:
    for signal, (params, state) in states.items():
        critics[signal].set_params(params)
        fitters[signal].load_state_dict(state)


def fit_critics(data: UpdateBatch, critics: dict, fitters: dict,
                rng: np.random.Generator) -> dict[str, float]:
    """Fit each signal's critic to its value targets; returns the losses by signal.

    A fit that leaves a critic's loss, parameters or optimiser state non-finite raises a
    ValueError after every critic is restored to its state before the fits (the model stays
    savable and loadable).
    """
    before = _critic_states(critics, fitters)
    losses = {}
    for signal, critic in critics.items():
        fitter = fitters[signal]
        losses[signal] = float(fitter.fit(data.obs, data.returns[signal], rng))
        after = [critic.get_params(), *map(np.asarray, fitter.state_dict().values())]
        if not (math.isfinite(losses[signal]) and all(np.isfinite(a).all() for a in after)):
            _restore_critics(before, critics, fitters)
            raise ValueError(f"{signal}: the critic fit diverged (non-finite loss, parameters "
                             "or optimiser state; learning_rate too large?); the critics were "
                             "restored to their state before the fit")
    return losses


@contextmanager
def rollback(policy, critics: dict, fitters: dict, get_state: Callable[[], dict[str, Any]],
             load_state: Callable[[dict[str, Any]], None]) -> Iterator[Callable[[], None]]:
    """Undo the block's changes to the networks and the algorithm's state on ValueError.

    The policy's parameters, the critics', their optimisers' states and the algorithm's own
    (``get_state`` / ``load_state``) are restored; the error is re-raised. Yields the
    restoring function, for a failure found after the block (`PendingFit`).
    """
    params, state = policy.get_params(), get_state()
    critic_states = _critic_states(critics, fitters)

    def restore() -> None:
        policy.set_params(params)
        load_state(state)
        _restore_critics(critic_states, critics, fitters)

    try:
        yield restore
    except ValueError:
        restore()
        raise


class PendingFit:
    """The critic fits of an update, possibly still running on the worker thread.

    With ``n_threads >= 2`` the fits run on while the next rollout collects: the rollout
    needs the new policy, not the new critics, and only its GAE (the next update) reads
    them. `wait` returns the losses; a fit that failed (a ValueError) restores what the
    update changed, by `rollback`'s rules, then raises that error.

    Parameters
    ----------
    future : concurrent.futures.Future of the fits' ``{signal: loss}``.
    restore : callable
        Restores the policy, the critics, their optimisers and the algorithm's state to
        before the update (`rollback` yields it).
    """

    def __init__(self, future: Future, restore: Callable[[], None]) -> None:
        self._future, self._restore = future, restore
        self._then: list[Callable[[dict[str, float]], None]] = []

    @classmethod
    def completed(cls, losses: dict[str, float]) -> PendingFit:
        """Return the record of a fit that ran in the caller's thread, with its ``losses``."""
        future: Future = Future()
        future.set_result(losses)
        return cls(future, lambda: None)

    def done(self) -> bool:
        """Whether the fits have finished (`wait` would not block)."""
        return self._future.done()

    def then(self, action: Callable[[dict[str, float]], None]) -> None:
        """Run ``action(losses)`` after a successful `wait`, in the order given.

        (Logging the losses, then the iteration's log dump that waits for them.)
        """
        self._then.append(action)

    def wait(self) -> dict[str, float]:
        """Block until the fits finish, run the `then` actions; returns the losses by signal.

        Raises the fits' ValueError after the rollback (the actions are dropped).
        """
        try:
            losses = self._future.result()
        except ValueError:
            self._restore()
            raise
        for action in self._then:
            action(losses)
        return losses


def step_and_fit(policy_step: Callable[[], None], fits: Callable[[], dict[str, float]],
                 n_threads: int | None, worker: ThreadPoolExecutor | None,
                 restore: Callable[[], None], kernel_threads: int | None = None) -> PendingFit:
    """``policy_step()`` and ``fits()``; with ``n_threads >= 2`` the fits on ``worker``.

    The two are independent (the policy step uses advantages from the critics before their
    fit), so ``worker`` (one thread) runs the fits while the policy step runs, and on into
    the next rollout: the returned `PendingFit` is waited for when the critics are needed.
    The kernels release the GIL. The arithmetic is the same either way (the step draws no
    random numbers; the fits draw theirs from the model's generator, which nothing else
    draws from until they are waited for), so the results do not depend on ``n_threads``.
    ``restore`` undoes the update when a fit fails after this returned (`PendingFit.wait`).
    The step's row-block kernels use at most ``kernel_threads`` threads (default
    ``n_threads``; `fasttrpo.foundation.threads.learn_threads`).
    """
    if n_threads is None or n_threads < 2 or worker is None:
        policy_step()
        return PendingFit.completed(fits())
    future = worker.submit(fits)
    try:
        # the policy step's parallel kernels (its row blocks) get the threads the critic worker
        # leaves, all of them once the fit is done: sharing the cores with the fit lost (2
        # cores, N=2048: 19.3 ms an update against 13.4 ms; BENCHMARKS.md "Threads"); the bits
        # do not depend on it
        with use_threads(n_threads if kernel_threads is None else kernel_threads,
                         reserved=lambda: 0 if future.done() else 1):
            policy_step()
    except BaseException:
        wait([future])  # never leave the worker changing the critics behind an exception
        raise
    return PendingFit(future, restore)
