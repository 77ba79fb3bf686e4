"""Per-env random streams for compiled environments: splitmix64 over one ``uint64`` word.

A compiled env draws its randomness (initial states, noise) from an ``rng`` array of shape
(1,) uint64 that it receives with every call and advances in place, so each env of a batch
owns an independent, seedable stream and a rollout is reproducible whatever runs it: the
compiled sampler, the gymnasium view or a worker process.

splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
OOPSLA 2014) adds the odd constant ``0x9E3779B97F4A7C15`` to the state and mixes it; it passes
BigCrush and costs a few integer operations, which suits envs that draw a handful of numbers
per episode. Streams are seeded from ``numpy.random.SeedSequence(seed).spawn(n)`` (`seed_streams`),
numpy's recommended way to derive independent streams.
"""

import numpy as np

from fasttrpo.kernels import kernel

__all__ = ["seed_streams", "uniform", "next_uint64"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@kernel(error_model="python")
def next_uint64(rng):
    """Advance ``rng`` ((1,) uint64) and return the next 64 random bits."""
    rng[0] += _GAMMA
    z = rng[0]
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@kernel(error_model="python")
def uniform(rng, low, high):
    """Draw a float64 uniformly from ``[low, high)`` with the stream ``rng`` ((1,) uint64)."""
    unit = float(next_uint64(rng) >> _S11) * _TO_UNIT  # 53 random bits in [0, 1)
    return low + (high - low) * unit


def seed_streams(seed: int | None, n_streams: int) -> np.ndarray:
    """Independent stream states for ``n_streams`` envs, (n_streams, 1) uint64, C-contiguous.

    ``seed=None`` draws fresh entropy from the OS. Stream ``i`` depends only on ``seed`` and
    ``i``: a run split over several samplers can use ``seed_streams(seed, total)[i:j]``.
    """
    children = np.random.SeedSequence(seed).spawn(n_streams)
    return np.ascontiguousarray(
        np.stack([child.generate_state(1, np.uint64) for child in children]))
