"""Shared settings of the fuzz / fault suites (``tests/test_fuzz_*.py``).

Every suite draws its cases from a seeded generator, so a failure is reproducible from the
seed and the case index in its message. ``FASTTRPO_FUZZ_SCALE`` multiplies the number of cases
(default 1: a few hundred cases in all, seconds; ``FASTTRPO_FUZZ_SCALE=20`` for a sweep of
thousands).
"""

import os

import numpy as np

SCALE = max(1, int(os.environ.get("FASTTRPO_FUZZ_SCALE", "1")))


def n_cases(base: int) -> int:
    """Cases a suite runs: ``base`` times ``FASTTRPO_FUZZ_SCALE``."""
    return base * SCALE


def rng(seed: int) -> np.random.Generator:
    """The seeded generator of one suite."""
    return np.random.default_rng(seed)
