"""A margin under each cost limit, from how fast the episode-cost estimate rises per update.

CPO with ``constraint_units="episode"`` acts as a switching controller on a task whose
linearised cost model is poor (BENCHMARKS.md, "Why CPO sits at the limit"): a plain TRPO
step while the estimate ``J_C`` is under the limit, a recovery step while it is over. Its
estimate then alternates across the limit, so the cost's average sits at the limit, above it
about half the time. `RiseMargin` moves the switching point under the limit by the typical
rise of one update: it keeps, per cost, an exponential average of the positive changes of
``J_C`` between successive updates,

    m <- decay m + (1 - decay) max(J_C(k) - J_C(k - 1), 0),

and the step is checked against ``cost_limit - m``. Its state (JSON) is saved with the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RiseMargin"]


class RiseMargin:
    """Per-cost margin ``m`` (k,): the exponential average of the estimate's rises.

    Parameters
    ----------
    n_costs : int
        ``k``, the number of cost constraints.
    decay : float, default 0.9
        The average's decay per update (0.9: about the last ten updates).

    Attributes
    ----------
    value : (k,) float64
        The current margin (0 before two estimates have been seen).
    """

    def __init__(self, n_costs: int, decay: float = 0.9) -> None:
        self.decay = float(decay)
        self.value = np.zeros(int(n_costs))
        self.previous: np.ndarray | None = None

    def update(self, estimate) -> np.ndarray:
        """Fold in this update's estimate ``J_C`` (k,); returns the margin."""
        estimate = np.asarray(estimate, dtype=np.float64).reshape(self.value.shape)
        if self.previous is not None:
            rise = np.maximum(estimate - self.previous, 0.0)
            self.value = self.decay * self.value + (1.0 - self.decay) * rise
        self.previous = estimate.copy()
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: the margin and the last estimate."""
        return {"value": self.value.tolist(),
                "previous": None if self.previous is None else self.previous.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s output; ValueError names what is invalid."""
        try:
            value = [float(v) for v in state["value"]]
            previous = (None if state["previous"] is None
                        else [float(v) for v in state["previous"]])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"algorithm_state: invalid limit margin state ({err})") from None
        k = len(self.value)
        if len(value) != k or (previous is not None and len(previous) != k) or not all(
                math.isfinite(v) and v >= 0 for v in value):
            raise ValueError(f"algorithm_state: limit margin state for {k} cost(s) must hold "
                             f"{k} finite values >= 0, got {state!r}"[:300])
        self.value = np.array(value)
        self.previous = None if previous is None else np.array(previous)
