"""Lagrange multipliers of constrained algorithms: one object, plugged into the algorithm.

`LagrangeMultiplier` holds ``lambda >= 0`` for one cost constraint ``J_C <= cost_limit`` and
moves it once per rollout by gradient *ascent* on ``lambda * (J_C - cost_limit)`` with Adam
(OmniSafe's ``Lagrange``): it rises while the episode cost exceeds the limit and falls,
clamped at 0, once it does not. Its state (the value and Adam's moments) is JSON, saved with
the model; a multiplier of another rule (a PID controller) keeps the same interface:
``value``, ``update(episode_cost)``, ``state_dict()``, ``load_state_dict(state)``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["LagrangeMultiplier"]


class LagrangeMultiplier:
    """``lambda`` by Adam ascent on ``lambda * (J_C - cost_limit)``, clamped at 0.

    Parameters
    ----------
    init : float
        The starting value (>= 0).
    learning_rate : float
        Adam's step size.
    cost_limit : float
        The constraint's limit on the episode cost.
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8

    Attributes
    ----------
    value : float
        The current ``lambda``.
    """

    def __init__(self, init: float, learning_rate: float, cost_limit: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.value = float(init)
        self.learning_rate, self.cost_limit = float(learning_rate), float(cost_limit)
        self.betas, self.eps = betas, eps
        self.first, self.second, self.steps = 0.0, 0.0, 0  # Adam's moments and step count

    def update(self, episode_cost: float) -> float:
        """One Adam ascent step on ``lambda * (J_C - cost_limit)``; returns the new value.

        The gradient in ``lambda`` is ``J_C - cost_limit`` (``episode_cost``: the rollout's
        estimate of ``J_C``); Adam with bias correction, then the clamp at 0.
        """
        gradient = episode_cost - self.cost_limit
        beta1, beta2 = self.betas
        self.steps += 1
        self.first = beta1 * self.first + (1 - beta1) * gradient
        self.second = beta2 * self.second + (1 - beta2) * gradient * gradient
        step = ((self.first / (1 - beta1**self.steps))
                / (math.sqrt(self.second / (1 - beta2**self.steps)) + self.eps))
        self.value = max(0.0, self.value + self.learning_rate * step)
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: the value and Adam's moments (the saved file's format)."""
        return {"lagrange_multiplier": self.value,
                "multiplier_adam": {"first": self.first, "second": self.second,
                                    "steps": self.steps}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s output; ValueError names what is invalid."""
        try:
            value = float(state["lagrange_multiplier"])
            adam = state["multiplier_adam"]
            moments = (float(adam["first"]), float(adam["second"]), int(adam["steps"]))
        except (KeyError, TypeError, ValueError, OverflowError) as err:  # int(inf): Overflow
            raise ValueError(
                f"algorithm_state: invalid Lagrange multiplier state ({err})") from None
        if not (value >= 0 and math.isfinite(value)) or not all(map(math.isfinite, moments)):
            raise ValueError(
                f"algorithm_state: lagrange_multiplier {value} must be finite, >= 0")
        self.value = value
        self.first, self.second, self.steps = moments
