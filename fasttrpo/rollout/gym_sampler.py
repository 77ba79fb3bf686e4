"""``VectorEnvSampler``: rollouts from gymnasium vector envs into a ``RolloutBatch``.

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

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from fasttrpo._cython.rollout_step import record_step
from fasttrpo.normalize import ObservationNormalizer, RewardScaler
from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.spaces import ActionCodec, ObsEncoder

__all__ = ["VectorEnvSampler", "make_vector_env"]


def make_vector_env(env, n_envs: int) -> VectorEnv:
    """Return a VectorEnv for ``env``.

    An id string gives ``n_envs`` copies with SAME_STEP autoreset, an Env one copy; a VectorEnv
    (either autoreset mode) is used as it is.
    """
    if isinstance(env, str):
        return gym.make_vec(env, num_envs=n_envs, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    if isinstance(env, VectorEnv):
        return env
    if isinstance(env, gym.Env):
        return SyncVectorEnv([lambda: env], autoreset_mode=AutoresetMode.SAME_STEP)
    raise ValueError(f"env: expected an env id string, a gymnasium.Env or a VectorEnv, got {env!r}")


class VectorEnvSampler:
    """The `fasttrpo.rollout.Sampler` of gymnasium vector envs.

    Steps the env from Python, one batched policy call per vector step, the per-step
    bookkeeping compiled.

    Parameters
    ----------
    env : gymnasium VectorEnv (SAME_STEP or NEXT_STEP autoreset).
    encoder, codec : observation encoding and action conversion (``fasttrpo.spaces``).
    obs_normalizer, reward_scaler : the model's normalisers (``fasttrpo.normalize``), or None.
        The sampler updates and applies them; the model owns them.
    dtype : the policy dtype.
    """

    def __init__(self, env: VectorEnv, encoder: ObsEncoder, codec: ActionCodec,
                 obs_normalizer: ObservationNormalizer | None = None,
                 reward_scaler: RewardScaler | None = None, dtype=np.float32) -> None:
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
        self.num_envs = env.num_envs
        self.observation_space = env.single_observation_space
        self.action_space = env.single_action_space
        self.dtype = np.dtype(dtype)
        self._raw_rows = np.zeros((self.num_envs, encoder.obs_dim))  # encoded, unnormalised
        self._obs_rows = np.zeros((self.num_envs, encoder.obs_dim), dtype=self.dtype)
        # running episode return | returns finished this step
        self._float_state = np.zeros((2, self.num_envs))
        # running episode length | lengths finished this step | NEXT_STEP reset pending
        self._int_state = np.zeros((3, self.num_envs), dtype=np.int64)
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
        """Reset every env (``seed`` seeds them, as ``VectorEnv.reset``); episodes restart."""
        raw_obs, _ = self.env.reset(seed=seed)
        self._set_obs(raw_obs)
        self._float_state[:] = 0.0
        self._int_state[:] = 0
        self.needs_reset = False

    def collect(self, policy, buffer: RolloutBatch, rng: np.random.Generator,
                on_step=None) -> bool:
        """Fill ``buffer`` with ``buffer.n_steps`` vector steps of ``policy``.

        ``on_step()`` (optional) is called after every vector step; returning False stops the
        rollout early. Returns whether training may continue; when stopped early the buffer
        is incomplete and must not be used for an update.
        """
        if self.needs_reset:
            self.reset()
        buffer.clear()
        episodes = buffer.finished_episodes
        same_step, scaler = self.same_step, self.reward_scaler
        float_state, int_state = self._float_state, self._int_state
        for t in range(buffer.n_steps):
            buffer.obs[t] = self._obs_rows
            actions = policy.act_into(self._obs_rows, False, rng, buffer.actions[t])
            raw_obs, rewards, terminated, truncated, info = self.env.step(
                self.codec.to_env(actions))
            terminated = np.asarray(terminated, dtype=bool)
            truncated = np.asarray(truncated, dtype=bool)
            _, n_finished = record_step(
                np.asarray(rewards, dtype=np.float64), terminated.view(np.uint8),
                truncated.view(np.uint8), t, buffer.rewards, buffer.flags, float_state,
                int_state, not same_step,
            )
            for i in range(n_finished):
                episodes.append({"r": float(float_state[1, i]), "l": int(int_state[1, i])})
            if scaler is not None:
                # NEXT_STEP reset rows hold reward 0 and done 1: scaled, they stay 0
                buffer.rewards[t] = scaler.scale(buffer.rewards[t], buffer.dones[t].astype(bool))
            if same_step and n_finished:
                has_final = info.get("_final_obs", terminated | truncated)
                for e in np.flatnonzero(truncated & ~terminated & has_final):
                    buffer.final_obs[(t, int(e))] = self._encode_one(info["final_obs"][e])
            self._set_obs(raw_obs)
            if on_step is not None and on_step() is False:
                return False
        buffer.last_obs[:] = self._obs_rows
        return True

    def close(self) -> None:
        """Close the environment."""
        self.env.close()
