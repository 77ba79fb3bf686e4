"""Lagrange multipliers of constrained algorithms: one object, plugged into the algorithm.

`LagrangeMultiplier` holds ``lambda >= 0`` for one cost constraint ``J_C <= cost_limit`` and
moves it once per rollout by gradient *ascent* on ``lambda * (J_C - cost_limit)`` with Adam
(OmniSafe's ``Lagrange``): it rises while the episode cost exceeds the limit and falls,
clamped at 0, once it does not. Its state (the value and Adam's moments) is JSON, saved with
the model. `PIDLagrangeMultiplier` sets ``lambda`` by a PID controller on the same error
(Stooke, Achiam and Abbeel, 2020) and keeps the same interface: ``value``,
``update(episode_cost)``, ``state_dict()``, ``load_state_dict(state)``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["LagrangeMultiplier", "PIDLagrangeMultiplier"]


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


def _finite(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"algorithm_state: {name} must be finite, got {value}")
    return value


class PIDLagrangeMultiplier:
    r"""``lambda`` from a PID controller on the episode-cost error (PID Lagrangian).

    Stooke, Achiam and Abbeel (2020), "Responsive Safety in Reinforcement Learning by PID
    Lagrangian Methods". Per update, with ``e = J_C - cost_limit``:

    .. math::

        I &\leftarrow \max(0, I + K_I e)          && \text{integral, clipped at 0} \\
        P &\leftarrow \alpha_P P + (1 - \alpha_P) e  && \text{EMA of the error} \\
        C &\leftarrow \alpha_D C + (1 - \alpha_D) J_C && \text{EMA of the cost} \\
        D &= \max(0, C - C_{-\delta})             && \text{its rise over } \delta
                                                       \text{ updates} \\
        \lambda &= \min(\lambda_{max}, \max(0, K_P P + I + K_D D))

    The integral term holds ``K_I`` times the paper's integral (the same for a fixed
    ``K_I``) and starts at ``init``, so ``lambda`` starts there; the EMAs start at the first
    error and cost (no pull towards 0); ``C_{-delta}`` is the smoothed cost ``delta`` updates
    ago, or the oldest kept while fewer have passed (no rise at the first update). With
    ``K_P = K_D = 0`` this is plain integral control: gradient ascent on ``lambda`` with step
    ``K_I``, projected on ``lambda >= 0``, the classic Lagrangian update.

    Parameters
    ----------
    kp, ki, kd : float
        The gains (>= 0).
    cost_limit : float
    init : float, default 0.0
        The starting ``lambda`` (the integral term's start).
    d_delay : int, default 10
        ``delta``: updates over which the derivative measures the cost's rise.
    delta_p_ema_alpha, delta_d_ema_alpha : float, default 0.95
        Smoothing of the error (P) and of the cost (D); 0 is no smoothing.
    penalty_max : float, default 100.0
        The largest ``lambda``.

    Attributes
    ----------
    value : float
        The current ``lambda``.
    """

    def __init__(self, kp: float, ki: float, kd: float, cost_limit: float, init: float = 0.0,
                 d_delay: int = 10, delta_p_ema_alpha: float = 0.95,
                 delta_d_ema_alpha: float = 0.95, penalty_max: float = 100.0) -> None:
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.cost_limit, self.d_delay = float(cost_limit), int(d_delay)
        self.delta_p_ema_alpha, self.delta_d_ema_alpha = (float(delta_p_ema_alpha),
                                                          float(delta_d_ema_alpha))
        self.penalty_max = float(penalty_max)
        self.value = self.integral = float(init)
        self.error_ema: float | None = None  # P (None before the first update)
        self.cost_ema: float | None = None  # C
        self.cost_history: list[float] = []  # C of the last d_delay updates, oldest first

    def update(self, episode_cost: float) -> float:
        """One controller step from the rollout's episode cost ``J_C``; returns ``lambda``."""
        error = episode_cost - self.cost_limit
        self.integral = max(0.0, self.integral + self.ki * error)
        a_p, a_d = self.delta_p_ema_alpha, self.delta_d_ema_alpha
        self.error_ema = error if self.error_ema is None else (
            a_p * self.error_ema + (1 - a_p) * error)
        self.cost_ema = episode_cost if self.cost_ema is None else (
            a_d * self.cost_ema + (1 - a_d) * episode_cost)
        rise = max(0.0, self.cost_ema - self.cost_history[0]) if self.cost_history else 0.0
        self.value = min(self.penalty_max, max(
            0.0, self.kp * self.error_ema + self.integral + self.kd * rise))
        self.cost_history = [*self.cost_history, self.cost_ema][-self.d_delay:]
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: ``lambda`` and the controller's memory (the saved file's format)."""
        return {"lagrange_multiplier": self.value,
                "pid": {"integral": self.integral, "error_ema": self.error_ema,
                        "cost_ema": self.cost_ema, "cost_history": list(self.cost_history)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s output; ValueError names what is invalid."""
        try:
            value = _finite("lagrange_multiplier", state["lagrange_multiplier"])
            pid = state["pid"]
            integral = _finite("integral", pid["integral"])
            emas = [None if pid[key] is None else _finite(key, pid[key])
                    for key in ("error_ema", "cost_ema")]
            history = [_finite("cost_history", c) for c in pid["cost_history"]]
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"algorithm_state: invalid PID multiplier state ({err})") from None
        if value < 0 or integral < 0 or len(history) > self.d_delay:
            raise ValueError(f"algorithm_state: PID multiplier state out of range (lambda "
                             f"{value}, integral {integral}, {len(history)} costs kept for "
                             f"d_delay {self.d_delay})")
        self.value, self.integral = value, integral
        self.error_ema, self.cost_ema = emas
        self.cost_history = history
