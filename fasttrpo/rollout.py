"""Rollout collection from gymnasium vector envs into a time-major buffer, and GAE.

Gymnasium 1.x vector envs autoreset in one of two ways, both handled exactly:

- ``SAME_STEP``: the step that ends an episode returns the first observation of the next one;
  the final observation is in ``info["final_obs"]``. A truncated step bootstraps from
  ``V(final_obs)``.
- ``NEXT_STEP`` (gymnasium's default): the ending step returns the final observation; the next
  ``step`` call resets that env, ignores its action and returns the reset observation with
  reward 0. That row is no transition: it is stored with ``valid = False`` and dropped before
  the update. Because the final observation is stored as the next row's observation,
  ``next_values`` needs no special case.
"""

from collections import deque

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from fasttrpo._cython.gae import compute_gae
from fasttrpo._cython.rollout_step import record_step
from fasttrpo.spaces import ActionCodec, ObsEncoder


class RolloutBuffer:
    """``n_steps`` x ``n_envs`` transitions, time-major.

    Arrays: ``obs`` (T, E, obs_dim), ``actions`` (T, E, A) (the unclipped policy samples),
    ``rewards`` (T, E) float64 (after reward scaling), ``terminated``/``dones`` (T, E) uint8,
    ``valid`` (T, E) bool, ``last_obs`` (E, obs_dim): the observation after the last step;
    ``final_obs`` maps ``(t, e)`` of SAME_STEP truncations to the encoded final observation.
    """

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int, action_width: int, dtype) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        self.obs = np.zeros((n_steps, n_envs, obs_dim), dtype=dtype)
        self.actions = np.zeros((n_steps, n_envs, action_width), dtype=dtype)
        self.rewards = np.zeros((n_steps, n_envs))
        # one (3, T, E) block so the compiled step recorder takes a single array
        self.flags = np.zeros((3, n_steps, n_envs), dtype=np.uint8)
        self.terminated, self.dones = self.flags[0], self.flags[1]
        self.valid = self.flags[2].view(bool)
        self.valid[:] = True
        self.last_obs = np.zeros((n_envs, obs_dim), dtype=dtype)
        self.final_obs: dict[tuple[int, int], np.ndarray] = {}

    def advantages_and_returns(self, value_fn, gamma: float, gae_lambda: float):
        """GAE over the buffer with the value function ``value_fn`` ((M, obs_dim) -> (M,)).

        Returns ``(advantages, returns)``, each (T, E) float64.
        """
        steps, envs = self.n_steps, self.n_envs
        values = value_fn(self.obs.reshape(steps * envs, -1)).astype(np.float64).reshape(steps, envs)
        next_values = np.empty_like(values)
        next_values[:-1] = values[1:]  # V(s_{t+1}); for NEXT_STEP envs s_{t+1} is the final obs
        next_values[-1] = value_fn(self.last_obs)
        if self.final_obs:
            keys = list(self.final_obs)
            final_values = value_fn(np.stack([self.final_obs[k] for k in keys]))
            for (t, e), value in zip(keys, final_values, strict=True):
                next_values[t, e] = value  # SAME_STEP truncation: bootstrap from V(final obs)
        advantages = np.empty_like(values)
        returns = np.empty_like(values)
        compute_gae(
            self.rewards, values, next_values, self.terminated, self.dones, gamma, gae_lambda,
            advantages, returns,
        )
        return advantages, returns


class RolloutCollector:
    """Steps a vector env with a policy and fills ``RolloutBuffer``s.

    Parameters
    ----------
    env : gymnasium VectorEnv (SAME_STEP or NEXT_STEP autoreset).
    encoder, codec : observation encoding and action conversion.
    obs_normalizer, reward_scaler : optional normalisation (``fasttrpo.normalize``).
    dtype : the policy dtype.
    stats_window_size : episodes averaged in ``episode_rewards`` / ``episode_lengths``.
    """

    def __init__(self, env: VectorEnv, encoder: ObsEncoder, codec: ActionCodec,
                 obs_normalizer=None, reward_scaler=None, dtype=np.float32,
                 stats_window_size: int = 100) -> None:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if isinstance(mode, str):
            mode = AutoresetMode(mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"env: autoreset mode {mode} is not supported; use NEXT_STEP or SAME_STEP"
            )
        self.env, self.encoder, self.codec = env, encoder, codec
        self.same_step = mode == AutoresetMode.SAME_STEP
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.n_envs = env.num_envs
        self.dtype = np.dtype(dtype)
        self._raw_rows = np.zeros((self.n_envs, encoder.obs_dim))  # encoded, unnormalised
        self._obs_rows = np.zeros((self.n_envs, encoder.obs_dim), dtype=self.dtype)
        # running episode return | returns finished this step
        self._float_state = np.zeros((2, self.n_envs))
        # running episode length | lengths finished this step | NEXT_STEP reset pending
        self._int_state = np.zeros((3, self.n_envs), dtype=np.int64)
        self.episode_rewards: deque[float] = deque(maxlen=stats_window_size)
        self.episode_lengths: deque[int] = deque(maxlen=stats_window_size)
        self.needs_reset = True

    def _set_obs(self, raw_obs) -> None:
        self.encoder.encode(raw_obs, self._raw_rows)
        if self.obs_normalizer is not None:
            self.obs_normalizer.update(self._raw_rows)
            self.obs_normalizer.normalize(self._raw_rows, out=self._obs_rows)
        else:
            self._obs_rows[:] = self._raw_rows

    def _encode_one(self, raw_obs) -> np.ndarray:
        row = self.encoder.encode(np.asarray(raw_obs)[None], np.zeros((1, self.encoder.obs_dim)))
        if self.obs_normalizer is not None:
            row = self.obs_normalizer.normalize(row)
        return row[0].astype(self.dtype)

    def reset(self, seed: int | None = None) -> None:
        raw_obs, _ = self.env.reset(seed=seed)
        self._set_obs(raw_obs)
        self._float_state[:] = 0.0
        self._int_state[:] = 0
        self.needs_reset = False

    def collect(self, policy, buffer: RolloutBuffer, rng: np.random.Generator,
                on_step=None) -> tuple[int, bool]:
        """Fill ``buffer`` with ``buffer.n_steps`` vector steps of ``policy``.

        ``on_step()`` (optional) is called after every vector step; returning False stops the
        rollout early. Returns ``(valid transitions collected, continue_training)``; when
        stopped early the buffer is incomplete and must not be used for an update.
        """
        if self.needs_reset:
            self.reset()
        buffer.final_obs.clear()
        n_valid = 0
        same_step, scaler = self.same_step, self.reward_scaler
        float_state, int_state = self._float_state, self._int_state
        for t in range(buffer.n_steps):
            buffer.obs[t] = self._obs_rows
            actions = policy.act_into(self._obs_rows, False, rng, buffer.actions[t])
            raw_obs, rewards, terminated, truncated, info = self.env.step(self.codec.to_env(actions))
            terminated = np.asarray(terminated, dtype=bool)
            truncated = np.asarray(truncated, dtype=bool)
            n_step_valid, n_finished = record_step(
                np.asarray(rewards, dtype=np.float64), terminated.view(np.uint8),
                truncated.view(np.uint8), t, buffer.rewards, buffer.flags, float_state,
                int_state, not same_step,
            )
            n_valid += n_step_valid
            for i in range(n_finished):
                self.episode_rewards.append(float(float_state[1, i]))
                self.episode_lengths.append(int(int_state[1, i]))
            if scaler is not None:
                # NEXT_STEP reset rows hold reward 0 and done 1: scaled, they stay 0
                buffer.rewards[t] = scaler.scale(buffer.rewards[t], buffer.dones[t].astype(bool))
            if same_step and n_finished:
                has_final = info.get("_final_obs", terminated | truncated)
                for e in np.flatnonzero(truncated & ~terminated & has_final):
                    buffer.final_obs[(t, int(e))] = self._encode_one(info["final_obs"][e])
            self._set_obs(raw_obs)
            if on_step is not None and on_step() is False:
                return n_valid, False
        buffer.last_obs[:] = self._obs_rows
        return n_valid, True
