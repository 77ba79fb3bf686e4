"""``RolloutBatch``: what every sampler fills and every on-policy algorithm reads.

A batch holds ``n_steps`` x ``n_envs`` transitions, time-major, with named per-step signals:
``"reward"`` always, and whatever else an algorithm asks for (a constrained algorithm adds
``"cost"``) without any change here. GAE (``fasttrpo._cython.gae``) runs per signal, each with
its own critic's values.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from fasttrpo._cython.gae import compute_gae

__all__ = ["COST", "REWARD", "RolloutBatch", "cost_source"]

REWARD = "reward"
#: the per-step cost of constrained MDPs, read from ``info["cost"]``
COST = "cost"
_COLUMN = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\[(?P<column>\d+)\]$")


def cost_source(signal: str) -> tuple[str, int | None]:
    """Where the samplers read a cost signal: ``(info key, column or None)``.

    Every signal other than ``"reward"`` is a per-step cost named by where the env reports
    it: ``"cost"`` is ``info["cost"]``, ``"cost_hazards"`` is ``info["cost_hazards"]``
    (safety-gymnasium's named costs), and ``"cost[1]"`` is column 1 of a vector
    ``info["cost"]`` (one row of k costs per env).
    """
    match = _COLUMN.match(signal)
    if match:
        return match["key"], int(match["column"])
    return signal, None


class RolloutBatch:
    """``n_steps`` x ``n_envs`` transitions, time-major.

    Parameters
    ----------
    n_steps, n_envs : int
    obs_dim : int
        Width of an encoded observation row.
    action_width : int
        Columns of a policy action row (``policy.action_width``).
    dtype : numpy float dtype of the policy.
    signals : iterable of str, default ("reward",)
        Names of the per-step signals; ``"reward"`` is always included.

    Attributes
    ----------
    obs : (T, E, obs_dim) dtype
        The (normalised) observation each action was taken in.
    actions : (T, E, action_width) dtype
        The policy samples (Box actions before clipping to the bounds).
    signals : dict of str to (T, E) float64
        Per-step signals; ``signals["reward"]`` holds the rewards after reward scaling.
    terminated, dones : (T, E) uint8
        Episode ended by termination; ended by termination or truncation.
    valid : (T, E) bool
        False for rows that are no transition (the reset step of NEXT_STEP autoreset).
    last_obs : (E, obs_dim) dtype
        The observation after the last step (bootstraps the last row).
    final_obs : dict of (t, e) to (obs_dim,) dtype
        For SAME_STEP truncations: the encoded final observation, bootstrapped instead of the
        next row (which already belongs to the next episode).
    finished_episodes : list of dict
        Episodes that ended during the rollout, as sb3's ``ep_info_buffer`` entries:
        ``{"r": return, "l": length}`` on the raw (unscaled) rewards, plus ``"c"``: the
        episode's summed ``info["cost"]``, when the env reports it (a vector cost: its
        total), ``"costs"``: the episode sum of each cost signal (list, signal order), when
        the batch has cost signals, and ``"is_success"`` (bool), when the ending step's info
        has it (sb3's goal-env convention).
    action_masks : (T, E, sum(nvec)) bool or None
        The action mask of each row's state, for an env that gives masks (``action_masks()``
        or ``info["action_mask"]``; the sampler allocates it with `use_action_masks`); None
        otherwise. The update masks the policy with them.
    initial_state : (E, H) or None
        A recurrent policy's hidden state of each env at the rollout's start (the sampler
        sets it; `fasttrpo.rollout.sequences` splits the batch into sequences from it);
        None for a feed-forward policy.
    """

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int, action_width: int, dtype,
                 signals: Iterable[str] = (REWARD,)) -> None:
        self.n_steps, self.n_envs = int(n_steps), int(n_envs)
        self.obs = np.zeros((n_steps, n_envs, obs_dim), dtype=dtype)
        self.actions = np.zeros((n_steps, n_envs, action_width), dtype=dtype)
        names = dict.fromkeys([REWARD, *signals])  # ordered, unique
        self.signals = {name: np.zeros((n_steps, n_envs)) for name in names}
        # one (3, T, E) block so the compiled step recorder takes a single array
        self.flags = np.zeros((3, n_steps, n_envs), dtype=np.uint8)
        self.terminated, self.dones = self.flags[0], self.flags[1]
        self.valid = self.flags[2].view(bool)
        self.valid[:] = True
        self.last_obs = np.zeros((n_envs, obs_dim), dtype=dtype)
        self.final_obs: dict[tuple[int, int], np.ndarray] = {}
        self.finished_episodes: list[dict[str, Any]] = []
        self.action_masks: np.ndarray | None = None
        self.initial_state: np.ndarray | None = None

    def use_action_masks(self, width: int | None) -> np.ndarray | None:
        """Allocate (``width``: mask columns) or drop (None) the per-row action masks.

        Returns ``action_masks``; kept when already of that width. Rows a sampler does not
        write (an env's NEXT_STEP reset row) stay all True.
        """
        if width is None:
            self.action_masks = None
        elif self.action_masks is None or self.action_masks.shape[2] != width:
            self.action_masks = np.ones((self.n_steps, self.n_envs, int(width)), dtype=bool)
        return self.action_masks

    @property
    def cost_signals(self) -> tuple[str, ...]:
        """The names of the cost signals (every signal but ``"reward"``), in order."""
        return tuple(name for name in self.signals if name != REWARD)

    @property
    def rewards(self) -> np.ndarray:
        """``signals["reward"]``, (T, E) float64."""
        return self.signals[REWARD]

    def clear(self) -> None:
        """Forget the previous rollout's episodes and bootstrap observations."""
        self.final_obs.clear()
        self.finished_episodes = []

    def bootstrap_values(self, value_fn: Callable[[np.ndarray], np.ndarray]
                         ) -> tuple[np.ndarray, np.ndarray]:
        """``V(s_t)`` and ``V(s_{t+1})`` of every row under ``value_fn`` ((M, obs_dim) -> (M,)).

        Returns ``(values, next_values)``, each (T, E) float64. ``next_values`` of a SAME_STEP
        truncation is ``V(final obs)``; for NEXT_STEP envs ``s_{t+1}`` is the final
        observation already.
        """
        steps, envs = self.n_steps, self.n_envs
        values = value_fn(self.obs.reshape(steps * envs, -1)).astype(np.float64)
        values = values.reshape(steps, envs)
        next_values = np.empty_like(values)
        next_values[:-1] = values[1:]
        next_values[-1] = value_fn(self.last_obs)
        if self.final_obs:
            keys = list(self.final_obs)
            final_values = value_fn(np.stack([self.final_obs[k] for k in keys]))
            for (t, e), value in zip(keys, final_values, strict=True):
                next_values[t, e] = value
        return values, next_values

    def advantages_and_returns(self, signal: str, value_fn: Callable[[np.ndarray], np.ndarray],
                               gamma: float, gae_lambda: float) -> tuple[np.ndarray, np.ndarray]:
        """GAE(gamma, lambda) of ``signals[signal]`` with the critic ``value_fn``.

        ``A_t = sum_l (gamma lambda)^l delta_{t+l}``,
        ``delta_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t)``, cut at episode ends;
        the value target is ``A_t + V(s_t)``. Returns ``(advantages, returns)``, each (T, E)
        float64.
        """
        if signal not in self.signals:
            raise ValueError(f"signal: {signal!r} is not in this batch "
                             f"(signals: {', '.join(self.signals)})")
        values, next_values = self.bootstrap_values(value_fn)
        advantages = np.empty_like(values)
        returns = np.empty_like(values)
        compute_gae(self.signals[signal], values, next_values, self.terminated, self.dones,
                    gamma, gae_lambda, advantages, returns)
        return advantages, returns

    def flat(self, array: np.ndarray) -> np.ndarray:
        """``array`` (T, E, ...) as (M, ...) rows of the valid transitions only."""
        rows = array.reshape(self.n_steps * self.n_envs, *array.shape[2:])
        valid = self.valid.reshape(-1)
        return rows if valid.all() else rows[valid]
