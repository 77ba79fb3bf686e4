"""A rollout as packed sequences, for the update of a recurrent policy.

The rollout buffer is time-major, (T, E). A GRU policy's batch (`fasttrpo.models.recurrent`)
is a set of sequences packed without padding: each env's segment in time order, split at its
episode starts. A sequence's initial hidden state ``h0`` is the state the env carried into
the rollout (``RolloutBatch.initial_state``) for the env's first piece, and zero for a piece
that starts an episode (the sampler zeroes the state after every done, truncations
included). Only valid rows (`RolloutBatch.flat`) take part: a NEXT_STEP autoreset row is
dropped, and the row after it starts an episode (the reset row is marked done).

``order`` maps the packed rows to the valid rows in the buffer's time-major order, so every
per-row array the update uses (observations, actions, GAE advantages computed on the
time-major buffer, old log-likelihoods) is permuted the same way: ``flat[order]``.
Sub-sampling (``sub_sampling_factor = k``) keeps every k-th whole sequence.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Sequences", "split_sequences", "sub_sample"]


class Sequences(NamedTuple):
    """Packed sequences over a rollout's valid rows.

    ``order`` (M,) int64: index into the valid rows (time-major) of each packed row;
    ``seq_starts`` (S+1,) int64: row offsets, 0 to M; ``h0`` (S, H): initial states.
    """

    order: np.ndarray
    seq_starts: np.ndarray
    h0: np.ndarray

    @property
    def n_sequences(self) -> int:
        """S, the number of sequences."""
        return self.seq_starts.shape[0] - 1


def split_sequences(valid: np.ndarray, dones: np.ndarray, initial_state: np.ndarray
                    ) -> Sequences:
    """Each env's valid rows in time order, split at episode starts.

    Parameters
    ----------
    valid : (T, E) bool, the rows that are transitions.
    dones : (T, E), nonzero where an episode ended (row ``t + 1`` then starts one).
    initial_state : (E, H), each env's hidden state at the rollout's start.

    Returns
    -------
    Sequences
        Env-major: env 0's sequences, then env 1's, ...; ``h0`` is ``initial_state[e]`` for
        a sequence that continues the episode running at the rollout's start, else zero.
    """
    valid = np.asarray(valid, dtype=bool)
    n_steps, n_envs = valid.shape
    # position of each valid row among the valid rows, time-major (RolloutBatch.flat's order)
    position = (np.cumsum(valid.reshape(-1)) - 1).reshape(n_steps, n_envs)
    episode_start = np.zeros((n_steps, n_envs), dtype=bool)
    episode_start[1:] = np.asarray(dones[:-1]).astype(bool)
    orders, starts, carried = [], [], []  # carried: whether a sequence starts from the state
    offset = 0
    for env in range(n_envs):
        rows = np.flatnonzero(valid[:, env])
        if rows.size == 0:
            continue
        cut = episode_start[rows, env]
        # the first piece continues the carried state unless an episode began before it
        first_carries = not episode_start[: rows[0] + 1, env].any()
        cut[0] = True
        pieces = np.flatnonzero(cut)
        orders.append(position[rows, env])
        starts.append(offset + pieces)
        carried.append(np.zeros(pieces.size, dtype=bool))
        carried[-1][0] = first_carries
        offset += rows.size
    hidden = initial_state.shape[1]
    if not orders:
        return Sequences(np.zeros(0, np.int64), np.zeros(1, np.int64),
                         np.zeros((0, hidden), initial_state.dtype))
    seq_starts = np.append(np.concatenate(starts), offset).astype(np.int64)
    is_carried = np.concatenate(carried)
    h0 = np.zeros((is_carried.size, hidden), dtype=initial_state.dtype)
    owners = np.concatenate([np.full(s.size, env) for env, s in
                             zip(np.flatnonzero(valid.any(axis=0)), starts, strict=True)])
    h0[is_carried] = initial_state[owners[is_carried]]
    return Sequences(np.concatenate(orders).astype(np.int64), seq_starts, h0)


def sub_sample(sequences: Sequences, factor: int) -> Sequences:
    """Keep every ``factor``-th whole sequence (0, k, 2k, ...), repacked."""
    if factor == 1:
        return sequences
    order, seq_starts, h0 = sequences
    kept = np.arange(0, sequences.n_sequences, factor)
    lengths = np.diff(seq_starts)[kept]
    new_starts = np.zeros(kept.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_starts[1:])
    # row j of kept sequence i: seq_starts[kept[i]] + j
    rows = np.repeat(seq_starts[kept] - new_starts[:-1], lengths) + np.arange(new_starts[-1])
    return Sequences(order[rows], new_starts, h0[kept])
