"""Shared settings of the fuzz / fault suites (``tests/test_fuzz_*.py``).

Every suite draws its cases from a seeded generator, so a failure is reproducible from the
seed and the case index in its message. ``FASTTRPO_FUZZ_SCALE`` multiplies the number of cases
(default 1: a few hundred cases in all, seconds; ``FASTTRPO_FUZZ_SCALE=20`` for a sweep of
thousands).
"""

import json
import os
import re

import numpy as np

SCALE = max(1, int(os.environ.get("FASTTRPO_FUZZ_SCALE", "1")))


def n_cases(base: int) -> int:
    """Cases a suite runs: ``base`` times ``FASTTRPO_FUZZ_SCALE``."""
    return base * SCALE


def rng(seed: int) -> np.random.Generator:
    """The seeded generator of one suite."""
    return np.random.default_rng(seed)


class Tally:
    """Runs the cases of one suite and counts their outcomes by exception type.

    ``run`` returns the case's result, or None when it raised one of the documented
    ``expected`` types; any other exception fails the test, naming the suite, the seed, the
    case index and the input, so that the case can be replayed. ``report`` prints the counts
    (``pytest -s`` shows them; the closing note of a sweep quotes them).
    """

    def __init__(self, suite: str, seed: int) -> None:
        self.suite, self.seed = suite, seed
        self.counts: dict[str, int] = {}

    def run(self, index: int, description: str, case, expected=(ValueError,)):
        try:
            result = case()
        except expected as err:
            self._count(type(err).__name__)
            if os.environ.get("FASTTRPO_FUZZ_MESSAGES"):  # to review what the errors say
                print(f"[fuzz] {self.suite} {index}: {type(err).__name__}: {str(err)[:200]}")
            return None
        except Exception as err:  # noqa: BLE001 (any other type is the finding)
            raise AssertionError(
                f"{self.suite} (seed {self.seed}) case {index}: {description[:300]} raised "
                f"{type(err).__name__}: {str(err)[:300]}") from err
        self._count("ok")
        return result

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        """Cases run so far."""
        return sum(self.counts.values())

    def report(self) -> None:
        """Print ``[fuzz] suite: N cases {outcome: count}``."""
        print(f"\n[fuzz] {self.suite}: {self.total} cases {dict(sorted(self.counts.items()))}")


def hostile_value(rng: np.random.Generator, depth: int = 0):
    """A JSON/YAML-representable value of a random awkward kind (for metadata and configs)."""
    choices = [
        None, True, False, 0, -1, 1, 2**31, 2**63, 2**200, 1e-300, 1e308, -1e308,
        float("inf"), float("nan"), 0.5, -0.0, "", "x" * int(rng.integers(1, 2000)), "false",
        "no", "1e-3", "nn.ReLU", "dict(a=1)", "\x00", "Infinity", [], {}, [1, 2, 3],
        {"type": "Box"}, {"type": "Discrete", "n": 3, "start": 0}, [[[[[]]]]],
        int(rng.integers(-5, 10)), float(rng.normal() * 10.0 ** int(rng.integers(-5, 40))),
    ]
    value = choices[int(rng.integers(len(choices)))]
    if depth < 2 and rng.random() < 0.1:
        value = [hostile_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if rng.random() < 0.02:  # deeper than any recursive parser goes: see dumps
        value = f"{_DEEP}{int(rng.integers(1_000, 100_000))}{_DEEP}"
    return value


_DEEP = "\x01deep\x01"
_DEEP_JSON = re.compile(r'"\\u0001deep\\u0001(\d+)\\u0001deep\\u0001"')


def dumps(value) -> str:
    """``json.dumps``, with the deep-nesting markers of `hostile_value` expanded to
    ``[[[...]]]`` of that depth (too deep for ``json.dumps`` itself to write)."""
    text = json.dumps(value)
    return _DEEP_JSON.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)
