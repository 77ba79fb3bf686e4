"""``NoiseStreams``: one random stream of action noise per env, indexed by the env's number.

A sampler draws env ``i``'s action noise (``policy.draw_noise``: Gaussian noise, the uniform
numbers of the discrete heads, gSDE's exploration matrices) from stream ``i`` only. Stream
``i`` is ``numpy.random.SeedSequence(seed).spawn(n)[i]`` for any ``n > i``, so it depends on
the seed and ``i`` alone: a run whose envs are split over several samplers (Ray workers) draws
the same noise for each env as one sampler holding them all, and adding envs does not change
the noise of the others. The model owns its streams (saved with it, so a loaded model
continues them) and hands them to its sampler on every ``collect``; a remote worker gets the
states of its envs' streams and returns them advanced.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["NoiseStreams", "RolloutNoise", "check_noise_streams"]

#: at most this many noise values are drawn ahead per block of a rollout (`RolloutNoise`)
_BLOCK_VALUES = 1 << 16
#: saved models hold at most this many streams (a crafted file cannot ask for more)
_MAX_STREAMS = 1 << 20


def _generator(state: dict) -> np.random.Generator:
    bit_generator = np.random.PCG64()
    try:
        bit_generator.state = state  # type: ignore[assignment]  # numpy: a _PCG64State
    except (TypeError, KeyError, ValueError, OverflowError) as err:  # numpy's own checks
        raise ValueError(f"noise_streams: invalid generator state ({type(err).__name__}: "
                         f"{err})") from None
    return np.random.Generator(bit_generator)


class NoiseStreams:
    """Per-env generators of action noise, created on demand.

    Parameters
    ----------
    seed : int or None
        Root seed; None draws fresh entropy from the OS.
    n_envs : int, default 0
        Streams to create now (`draw` creates further ones when asked for them).

    Attributes
    ----------
    entropy : int
        The root ``SeedSequence``'s entropy (the seed, or the OS entropy drawn for None).
    """

    def __init__(self, seed: int | None = None, n_envs: int = 0) -> None:
        self.entropy = np.random.SeedSequence(seed).entropy
        self._generators: list[np.random.Generator] = []
        self.ensure(n_envs)

    def __len__(self) -> int:
        """Return the number of streams created so far."""
        return len(self._generators)

    def ensure(self, n_envs: int) -> None:
        """Create the streams of envs ``len(self) .. n_envs - 1``."""
        for index in range(len(self._generators), int(n_envs)):
            # = SeedSequence(seed).spawn(n)[index] for every n > index
            child = np.random.SeedSequence(self.entropy, spawn_key=(index,))
            self._generators.append(np.random.Generator(np.random.PCG64(child)))

    @classmethod
    def from_states(cls, states: Sequence[dict]) -> "NoiseStreams":
        """Streams continuing the generator ``states`` (`states`' output), numbered from 0."""
        streams = cls.__new__(cls)
        streams.entropy = None
        streams._generators = [_generator(state) for state in states]
        return streams

    def states(self, start: int = 0, stop: int | None = None) -> list[dict]:
        """Return the generator states of envs ``start .. stop - 1`` (JSON-ready dicts)."""
        stop = len(self) if stop is None else stop
        self.ensure(stop)
        return [dict(gen.bit_generator.state) for gen in self._generators[start:stop]]

    def set_states(self, start: int, states: Sequence[dict]) -> None:
        """Continue envs ``start, start + 1, ...`` from ``states`` (a worker's advanced streams)."""
        generators = [_generator(state) for state in states]  # all checked before any changes
        self.ensure(start + len(generators))
        self._generators[start:start + len(generators)] = generators

    def draw(self, policy, n_draws: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Draw ``n_draws`` noise rows for envs ``start .. stop - 1`` from their own streams.

        Returns (n_draws, E, ``policy.noise_width``) of the policy dtype, C-contiguous: row
        ``k`` is what the envs act with at the ``k``-th draw of a rollout
        (``policy.noise_schedule``). Each env's stream fills its rows in order, so drawing in
        several blocks gives the same numbers as drawing at once.
        """
        stop = len(self) if stop is None else stop
        self.ensure(stop)
        per_env = np.empty((stop - start, n_draws, policy.noise_width), dtype=policy.dtype)
        for rows, generator in zip(per_env, self._generators[start:stop], strict=True):
            policy.draw_noise(generator, rows)
        return np.ascontiguousarray(per_env.transpose(1, 0, 2))

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state (saved with the model)."""
        return {"entropy": self.entropy, "states": self.states()}

    @classmethod
    def from_state_dict(cls, state: Any) -> "NoiseStreams":
        """Streams from `state_dict`'s output; ValueError naming what is invalid."""
        if not isinstance(state, dict) or not isinstance(state.get("states"), list):
            raise ValueError("noise_streams: expected {'entropy': int, 'states': [...]}")
        entropy = state.get("entropy")
        if isinstance(entropy, bool) or not isinstance(entropy, int) or entropy < 0:
            raise ValueError(f"noise_streams: entropy must be a non-negative integer, got "
                             f"{str(entropy)[:100]!r}")
        if len(state["states"]) > _MAX_STREAMS:
            raise ValueError(f"noise_streams: {len(state['states'])} streams, at most "
                             f"{_MAX_STREAMS}")
        streams = cls.from_states(state["states"])
        streams.entropy = entropy
        return streams


def check_noise_streams(streams: Any) -> NoiseStreams:
    """Return ``streams`` if it is a `NoiseStreams`, else raise a TypeError saying what is."""
    if not isinstance(streams, NoiseStreams):
        raise TypeError(f"streams: expected fasttrpo.rollout.NoiseStreams (per-env noise "
                        f"streams, e.g. NoiseStreams(seed)), got {type(streams).__name__}")
    return streams


class RolloutNoise:
    """The noise of one rollout of envs ``start .. stop - 1``, drawn a block at a time.

    ``at(t)`` is the (E, noise_width) noise step ``t`` acts with: one draw per env wherever
    ``policy.noise_schedule(n_steps)`` changes (every step; gSDE: every ``sde_sample_freq``
    steps). Blocks of at most ``_BLOCK_VALUES`` values keep memory small for long rollouts of
    wide gSDE matrices and cost one generator call per env and block, not per step.
    """

    def __init__(self, streams: NoiseStreams, policy, n_steps: int, start: int = 0,
                 stop: int | None = None) -> None:
        self.streams, self.policy = check_noise_streams(streams), policy
        self.start, self.stop = start, len(streams) if stop is None else stop
        self.schedule = policy.noise_schedule(n_steps)
        self.n_draws = int(self.schedule[-1]) + 1 if n_steps else 0
        per_draw = max(1, (self.stop - self.start) * policy.noise_width)
        self.block_size = max(1, min(self.n_draws, _BLOCK_VALUES // per_draw))
        self._block: np.ndarray | None = None
        self._first = 0  # draw index of the block's first row

    def at(self, t: int) -> np.ndarray:
        """Noise rows (E, noise_width) of step ``t`` (steps are asked for in order)."""
        block, row = self._locate(int(self.schedule[t]))
        return block[row]

    def blocks(self) -> Iterator[tuple[np.ndarray, int]]:
        """``(block, row)`` of every step in order: ``block[row]`` is ``at(t)``.

        ``block`` (D, E, noise_width) is the same object until the next block is drawn, so
        a caller that binds it (`fasttrpo.models.policies.MLPPolicy.rollout_actor`) rebinds
        only when it changes.
        """
        for k in self.schedule.tolist():
            yield self._locate(k)

    def _locate(self, k: int) -> tuple[np.ndarray, int]:
        # the block holding draw k and k's row in it
        if self._block is None:
            self._block = self._draw()
        while k >= self._first + len(self._block):  # the schedule advances by at most 1
            self._first += len(self._block)
            self._block = self._draw()
        return self._block, k - self._first

    def _draw(self) -> np.ndarray:
        count = min(self.block_size, self.n_draws - self._first)
        return self.streams.draw(self.policy, count, self.start, self.stop)
