"""Running observation normalisation and reward scaling, as Stable-Baselines3's VecNormalize.

Plain classes instead of an environment wrapper: the rollout collector calls them on the
encoded observations and rewards. The statistics and the formulas are those of sb3
(``stable_baselines3.common.running_mean_std.RunningMeanStd`` and
``stable_baselines3.common.vec_env.VecNormalize``), so statistics learnt by either transfer.
"""

import math

import numpy as np

from fasttrpo.foundation.portable import normalize_rows
from fasttrpo.foundation.validation import mapping_entry_array
from fasttrpo.kernels import statistics


def _check_positive(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from err
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return value


class RunningMeanStd:
    r"""Mean and variance of a stream of batches (parallel algorithm of Chan et al., 1979).

    Combining the statistics ``(mean_a, var_a, n_a)`` so far with a batch's
    ``(mean_b, var_b, n_b)``:

    .. math::

        \delta = \bar x_b - \bar x_a, \quad n = n_a + n_b, \quad
        \bar x = \bar x_a + \delta n_b / n, \quad
        \sigma^2 = (\sigma_a^2 n_a + \sigma_b^2 n_b + \delta^2 n_a n_b / n) / n.

    Starts from ``mean = 0``, ``var = 1``, ``count = epsilon`` exactly as sb3.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample; ``()`` for scalars.
    epsilon : float, default 1e-4
        Initial pseudo-count.

    Attributes
    ----------
    mean, var : float64 arrays of ``shape``.
    count : float.
    """

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        self.shape = tuple(int(s) for s in shape)
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.var = np.ones(self.shape, dtype=np.float64)
        # count as a (1,) array: the kernels of fasttrpo.kernels.statistics update it in place
        self._count = np.array([_check_positive("epsilon", epsilon)])
        self._scratch = np.empty((2, max(math.prod(self.shape), 1)))

    @property
    def count(self) -> float:
        """The number of samples seen (plus the initial pseudo-count ``epsilon``)."""
        return float(self._count[0])

    def update(self, batch) -> None:
        """Fold a batch (B, *shape) into the statistics; an empty batch is a no-op."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.shape[1:] != self.shape:
            raise ValueError(
                f"batch: expected shape (B, {', '.join(map(str, self.shape))}), got {batch.shape}"
            )
        if batch.shape[0] == 0:
            return
        n = batch.shape[0]
        # np.mean / np.var to the last bit (fasttrpo.kernels.statistics), then Chan's update
        mean, var = self.mean.reshape(-1), self.var.reshape(-1)  # views: updated in place
        if self.shape:
            rows = np.ascontiguousarray(batch.reshape(n, -1))
            folded = statistics.update_row_stats(rows, mean, var, self._count, self._scratch)
        else:
            if self._scratch.shape[1] < n:
                self._scratch = np.empty((2, n))
            folded = statistics.update_vector_stats(np.ascontiguousarray(batch), mean, var,
                                                    self._count, self._scratch[0, :n])
        if not folded:  # nothing changed: one bad batch must not poison later normalisation
            if not np.isfinite(batch).all():
                raise ValueError("batch: contains NaN or infinite value(s)")
            raise ValueError("batch: values too large for the running mean and variance (their "
                             "squares overflow float64); the statistics are left unchanged")

    def update_from_moments(self, batch_mean, batch_var, batch_count: int) -> None:
        """Combine with a batch given by its mean, (biased) variance and size.

        Raises ValueError, the statistics unchanged, when the combined variance would not be
        finite (values near 1e154 and beyond overflow the squared deviations): one bad batch
        must not poison every later normalisation.
        """
        batch_mean = np.ascontiguousarray(np.broadcast_to(batch_mean, self.shape),
                                          dtype=np.float64).reshape(-1)
        batch_var = np.ascontiguousarray(np.broadcast_to(batch_var, self.shape),
                                         dtype=np.float64).reshape(-1)
        if not statistics.combine_moments(self.mean.reshape(-1), self.var.reshape(-1),
                                          self._count, batch_mean, batch_var,
                                          float(batch_count)):
            raise ValueError("batch: values too large for the running mean and variance (their "
                             "squares overflow float64); the statistics are left unchanged")

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"mean": (*shape,), "var": (*shape,), "count": ()}``, float64 copies."""
        return {"mean": self.mean.copy(), "var": self.var.copy(),
                "count": np.array(self.count, dtype=np.float64)}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``; ValueError naming the key on a bad entry."""
        mean = mapping_entry_array(state, "mean", self.shape)
        var = mapping_entry_array(state, "var", self.shape)
        count = mapping_entry_array(state, "count", ())
        if (var < 0).any():
            raise ValueError("var: contains negative value(s)")
        if not count > 0:
            raise ValueError(f"count: must be positive, got {float(count)}")
        self.mean = np.array(mean, dtype=np.float64)  # own contiguous copies, updated in place
        self.var = np.array(var, dtype=np.float64)
        self._count[0] = float(count)


class ObservationNormalizer:
    """``clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)`` with running stats.

    Parameters
    ----------
    obs_dim : int
    clip_obs : float, default 10.0
    epsilon : float, default 1e-8
        Added to the variance (sb3 VecNormalize's ``epsilon``).

    Attributes
    ----------
    training : bool
        ``update`` changes the statistics only while True (default True).
    rms : RunningMeanStd of shape (obs_dim,).
    """

    def __init__(self, obs_dim: int, clip_obs: float = 10.0, epsilon: float = 1e-8) -> None:
        if not isinstance(obs_dim, (int, np.integer)) or obs_dim < 1:
            raise ValueError(f"obs_dim: expected a positive integer, got {obs_dim!r}")
        self.obs_dim = int(obs_dim)
        self.clip_obs = _check_positive("clip_obs", clip_obs)
        self.epsilon = _check_positive("epsilon", epsilon)
        self.training = True
        self.rms = RunningMeanStd((self.obs_dim,))
        self._std = np.empty(self.obs_dim)  # sqrt(var + epsilon), refreshed when stats change
        self._refresh()

    def _refresh(self) -> None:
        np.sqrt(self.rms.var + self.epsilon, out=self._std)

    @property
    def mean(self) -> np.ndarray:
        """Running mean of the observations, (obs_dim,) float64 (``rms.mean``)."""
        return self.rms.mean

    @property
    def var(self) -> np.ndarray:
        """Running variance of the observations, (obs_dim,) float64 (``rms.var``)."""
        return self.rms.var

    @property
    def std(self) -> np.ndarray:
        """``sqrt(var + epsilon)``, (obs_dim,) float64: what observations are divided by."""
        return self._std.copy()

    def update_and_normalize(self, raw_rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Fold one vector step's raw rows into the statistics, then normalise them to ``out``.

        ``raw_rows`` (E, obs_dim); the statistics advance only when ``training``; ``out`` gets
        the rows normalised with the new statistics, VecNormalize's order within a step. Both
        samplers call this.
        """
        self.update(raw_rows)
        return self.normalize(raw_rows, out=out)

    def update(self, obs_batch) -> None:
        """Fold ``obs_batch`` (B, obs_dim) into the statistics, only when ``training``."""
        if self.training:
            self.rms.update(obs_batch)
            self._refresh()

    def normalize(self, obs, out: np.ndarray | None = None) -> np.ndarray:
        """Normalised and clipped ``obs`` (..., obs_dim).

        Returns a new float64 array, or writes into ``out`` (any float dtype, the shape of
        ``obs``, C-contiguous) and returns it; with ``out`` a compiled loop computes in
        float64 and allocates nothing, so it is cheap every env step.
        """
        obs = np.asarray(obs)
        if obs.shape[-1:] != (self.obs_dim,):
            raise ValueError(f"obs: expected shape (..., {self.obs_dim}), got {obs.shape}")
        if out is None:
            return normalize_rows(obs, self.rms.mean, self._std, self.clip_obs)
        if out.shape != obs.shape or out.dtype.kind != "f" or not out.flags.c_contiguous:
            raise ValueError(
                f"out: expected a C-contiguous float array of shape {obs.shape}, "
                f"got {out.dtype} {out.shape}"
            )
        if not obs.flags.c_contiguous:
            obs = np.ascontiguousarray(obs)
        # the kernel sees 2-D views (rows, obs_dim): reshape of a contiguous array is free
        statistics.normalize_rows(obs.reshape(-1, self.obs_dim), self.rms.mean, self._std,
                                  self.clip_obs, out.reshape(-1, self.obs_dim))
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return the running statistics: ``mean``, ``var`` (obs_dim,) and ``count`` ()."""
        return self.rms.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore the statistics from ``state_dict()`` (see `RunningMeanStd.load_state_dict`)."""
        self.rms.load_state_dict(state)
        self._refresh()


class RewardScaler:
    r"""Divide rewards by the running std of the discounted return (sb3 VecNormalize).

    Per env step, with the per-env running return ``R``:

    .. math::

        R \leftarrow \gamma R + r, \quad \text{update RMS with } R, \quad
        \tilde r = \mathrm{clip}(r / \sqrt{\mathrm{Var}[R] + \epsilon}, \pm c), \quad
        R \leftarrow 0 \text{ where done.}

    As in sb3, ``R`` and its statistics only advance while ``training``; the rewards are
    scaled either way.

    Parameters
    ----------
    n_envs : int
    gamma : float in [0, 1]
    clip_reward : float, default 10.0
    epsilon : float, default 1e-8

    Attributes
    ----------
    training : bool (default True)
    returns : (n_envs,) float64, the running discounted returns.
    rms : RunningMeanStd of shape ().
    """

    def __init__(self, n_envs: int, gamma: float, clip_reward: float = 10.0,
                 epsilon: float = 1e-8) -> None:
        if not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise ValueError(f"n_envs: expected a positive integer, got {n_envs!r}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma: must lie in [0, 1], got {gamma!r}")
        self.n_envs = int(n_envs)
        self.gamma = float(gamma)
        self.clip_reward = _check_positive("clip_reward", clip_reward)
        self.epsilon = _check_positive("epsilon", epsilon)
        self.training = True
        self.rms = RunningMeanStd(())
        self.returns = np.zeros(self.n_envs)

    def scale(self, rewards, dones) -> np.ndarray:
        """Scaled rewards (n_envs,) float64 from ``rewards`` (n_envs,) and ``dones`` (n_envs,)."""
        rewards = np.asarray(rewards, dtype=np.float64)
        dones = np.asarray(dones, dtype=bool)
        if rewards.shape != (self.n_envs,):
            raise ValueError(f"rewards: expected shape ({self.n_envs},), got {rewards.shape}")
        if dones.shape != (self.n_envs,):
            raise ValueError(f"dones: expected shape ({self.n_envs},), got {dones.shape}")
        if self.training:
            returns = self.returns * self.gamma + rewards  # R = gamma R + r
            try:
                self.rms.update(returns)
            except ValueError as err:  # nothing changed: later rollouts are not poisoned
                raise ValueError(f"rewards: {rewards.tolist()} cannot be normalised (the "
                                 f"discounted returns {returns.tolist()} are not finite or "
                                 "too large)") from err
            self.returns = returns
        scaled = np.clip(rewards / math.sqrt(float(self.rms.var) + self.epsilon),
                         -self.clip_reward, self.clip_reward)
        self.returns[dones] = 0.0  # a new episode starts with R = 0
        return scaled

    def reset(self) -> None:
        """Zero the running returns (new episodes everywhere); statistics are kept."""
        self.returns[:] = 0.0

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return statistics ``mean``, ``var``, ``count`` (all shape ())."""
        return self.rms.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore the statistics from ``state_dict()``; the running returns are kept."""
        self.rms.load_state_dict(state)


class VecNormalizeView:
    """A model's normalisers seen through sb3 ``VecNormalize``'s attributes.

    What ``model.get_vec_normalize_env()`` returns: ``obs_rms`` / ``ret_rms`` are the model's
    own `RunningMeanStd` objects (shared, not copied: sb3's ``mean``, ``var``, ``count``),
    with ``norm_obs``, ``norm_reward``, ``clip_obs``, ``clip_reward``, ``epsilon``, ``gamma``,
    ``training``, and ``normalize_obs`` / ``normalize_reward`` as sb3 computes them.

    Parameters
    ----------
    obs_normalizer : ObservationNormalizer or None
    reward_scaler : RewardScaler or None
    """

    def __init__(self, obs_normalizer: "ObservationNormalizer | None",
                 reward_scaler: "RewardScaler | None") -> None:
        self._obs, self._reward = obs_normalizer, reward_scaler
        self.norm_obs, self.norm_reward = obs_normalizer is not None, reward_scaler is not None
        self.obs_rms = obs_normalizer.rms if obs_normalizer is not None else None
        self.ret_rms = reward_scaler.rms if reward_scaler is not None else None
        self.clip_obs = obs_normalizer.clip_obs if obs_normalizer is not None else 10.0
        self.clip_reward = reward_scaler.clip_reward if reward_scaler is not None else 10.0
        source = obs_normalizer if obs_normalizer is not None else reward_scaler
        if source is None:
            raise ValueError("obs_normalizer, reward_scaler: give at least one")
        self.epsilon = source.epsilon
        self.gamma = reward_scaler.gamma if reward_scaler is not None else None

    @property
    def training(self) -> bool:
        """Whether the statistics advance (the model's normalisers' flag)."""
        return bool(next(n for n in (self._obs, self._reward) if n is not None).training)

    def normalize_obs(self, obs) -> np.ndarray:
        """``clip((obs - mean) / sqrt(var + eps), +-clip_obs)`` (obs unchanged without it)."""
        return self._obs.normalize(obs) if self._obs is not None else np.asarray(obs)

    def normalize_reward(self, reward) -> np.ndarray:
        """``clip(reward / sqrt(ret_rms.var + eps), +-clip_reward)`` (unchanged without it)."""
        reward = np.asarray(reward, dtype=np.float64)
        if self._reward is None:
            return reward
        scale = math.sqrt(float(self._reward.rms.var) + self._reward.epsilon)
        return np.clip(reward / scale, -self.clip_reward, self.clip_reward)
