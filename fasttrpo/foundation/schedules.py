"""Learning-rate schedules, as Stable-Baselines3 takes them.

A schedule is a callable of the *remaining progress* ``p``, 1 at the start of ``learn`` and
0 at its end (sb3's ``progress_remaining = 1 - num_timesteps / total_timesteps``), returning
the learning rate. Any such callable works (``TRPO(..., learning_rate=lambda p: 1e-3 * p)``);
`LinearSchedule` is the one that can also be written in a zoo file (``learning_rate:
lin_1e-3``, rl-baselines3-zoo's syntax) and stored in a saved model. This module imports the
standard library only.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LinearSchedule", "schedule_from_json", "schedule_value"]

_ZOO_PREFIX = "lin_"


@dataclass(frozen=True)
class LinearSchedule:
    """``initial`` at the start of training, ``final`` at its end, linear in between.

    ``lr(p) = final + p * (initial - final)`` for remaining progress ``p`` in [0, 1]: the
    schedule of rl-baselines3-zoo's ``lin_<initial>`` (``final = 0``).
    """

    initial: float
    final: float = 0.0

    def __post_init__(self) -> None:
        """Check both rates are finite and not negative, the initial one positive."""
        for name in ("initial", "final"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"LinearSchedule.{name}: expected a finite rate >= 0, got "
                                 f"{value!r}")
        if not self.initial > 0:
            raise ValueError(f"LinearSchedule.initial: must be positive, got {self.initial}")

    def __call__(self, progress_remaining: float) -> float:
        """Return the rate at remaining progress ``progress_remaining`` (1 -> 0)."""
        return self.final + progress_remaining * (self.initial - self.final)

    def to_json(self) -> dict[str, Any]:
        """``{"schedule": "linear", "initial": ..., "final": ...}`` (kept in saved models)."""
        return {"schedule": "linear", "initial": self.initial, "final": self.final}

    @classmethod
    def from_zoo(cls, text: str) -> "LinearSchedule":
        """Parse rl-baselines3-zoo's ``"lin_<initial>"``; ValueError for anything else."""
        if not (isinstance(text, str) and text.strip().lower().startswith(_ZOO_PREFIX)):
            raise ValueError(f"expected 'lin_<rate>', got {text!r}")
        try:
            return cls(float(text.strip()[len(_ZOO_PREFIX):]))
        except ValueError as err:
            raise ValueError(f"expected 'lin_<rate>' with a positive rate, got {text!r} "
                             f"({err})") from None


def schedule_from_json(value: Any) -> LinearSchedule:
    """Rebuild the schedule of a saved ``to_json()`` dict; ValueError for anything else."""
    if not isinstance(value, dict) or value.get("schedule") != "linear" \
            or set(value) != {"schedule", "initial", "final"}:
        raise ValueError(f"expected a saved schedule {{'schedule': 'linear', 'initial': ..., "
                         f"'final': ...}}, got {str(value)[:100]!r}")
    return LinearSchedule(value["initial"], value["final"])


def schedule_value(name: str, schedule: Callable[[float], float],
                   progress_remaining: float) -> float:
    """``schedule(progress_remaining)`` as a finite float >= 0, else a ValueError.

    (A linear schedule to 0 reaches 0 at the end of training: the last fit changes nothing.)
    """
    try:
        value = float(schedule(progress_remaining))
    except (TypeError, ValueError, ArithmeticError) as err:
        raise ValueError(f"{name}: the schedule failed at progress_remaining="
                         f"{progress_remaining:.3g} ({type(err).__name__}: {err})") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: the schedule returned {value} at progress_remaining="
                         f"{progress_remaining:.3g}; a learning rate must be finite and >= 0")
    return value
