"""``CompiledSampler``: a whole rollout of compiled envs in one compiled call.

For every vector step the rollout kernel runs, without returning to Python: the policy's
forward pass and sampling (``fasttrpo.kernels``), the conversion of the sampled actions for
the envs, every env's step with time limit and autoreset
(`fasttrpo.envs.compiled.vector.step_autoreset`), the episode statistics, the reward scaling
and observation normalisation of the model (VecNormalize semantics, the same arithmetic as
``fasttrpo.models.normalize``), and the records of the `RolloutBatch`. It fills the same batch as
`VectorEnvSampler`; from the same seed, the same env and the same policy both produce the
same batch (``tests/test_compiled_sampler.py`` checks it through `CompiledVectorEnv`).

Randomness: the action noise of a whole rollout (gSDE: its exploration matrices, one per
``sde_sample_freq`` steps, ``policy.noise_schedule``) is drawn before the call, each env's
from its own numpy stream (`fasttrpo.rollout.streams.NoiseStreams`, the numbers
`VectorEnvSampler` draws step by step); the envs' initial states come from per-env
`fasttrpo.envs.compiled.rng` streams seeded by ``reset(seed)``.

Callbacks: ``on_step`` is called ``n_steps`` times after the rollout (the step counts and a
stop request are honoured per rollout, not per step). The sb3 locals callbacks then see are
read from the finished batch (`fasttrpo.logs.run_logs`): ``rewards`` and ``dones`` of that step,
``new_obs`` as the policy's (normalised) input rows, ``infos`` with ``"episode"`` and
``"TimeLimit.truncated"`` only.
"""

import math
from typing import Any

import numba
import numpy as np
from gymnasium import spaces

from fasttrpo.envs.compiled.contract import OBSERVE_TYPE, RESET_TYPE, STEP_TYPE, CompiledEnv
from fasttrpo.envs.compiled.contract import check_env as check_compiled_env
from fasttrpo.envs.compiled.rng import seed_streams
from fasttrpo.envs.compiled.vector import first_class_entry, step_autoreset
from fasttrpo.foundation.heads import CATEGORICAL, GAUSSIAN, GAUSSIAN_SDE
from fasttrpo.kernels import distributions, kernel, mlp, statistics
from fasttrpo.models.normalize import ObservationNormalizer, RewardScaler
from fasttrpo.rollout.batch import COST, RolloutBatch
from fasttrpo.rollout.streams import NoiseStreams, check_noise_streams

__all__ = ["CompiledSampler"]

# status codes of the rollout kernel
_OK, _ENV_NOT_FINITE, _REWARD_STATS_OVERFLOW, _OBS_STATS_OVERFLOW = 0, 1, 2, 3


@kernel
def _rollout(reset, step, observe, env_params, time_limit, rngs, states, elapsed,
             params, layout, hidden, dact, net_out, noise, noise_index,
             action_low, action_high, action_offset, round_action, round_obs,
             obs_mean, obs_var, obs_count, obs_options, update_obs,
             reward_returns, reward_mean, reward_var, reward_count, reward_options,
             update_rewards, obs_rows, raw_rows, final_raw, env_action, stats_scratch,
             batch_obs, batch_actions, rewards, costs, flags, final_rows, final_index,
             episode_running, finished, result):
    """Roll ``T = batch_obs.shape[0]`` vector steps of the envs with the policy.

    Arguments, by group (E envs, D = obs_dim, A = action width, float = the policy dtype):

    - env: its functions, ``env_params``, ``time_limit``; per env ``rngs`` (E, 1) uint64,
      ``states`` (E, S) float64, ``elapsed`` (E,) int64; all carried across rollouts.
    - policy: ``params`` (P,) float, ``layout`` (KernelLayout), scratch ``hidden`` /
      ``dact`` / ``net_out`` for E rows, ``noise`` (K, E, W) float (``W`` =
      ``policy.noise_width``) and ``noise_index`` (T,) int64: step ``t`` acts with
      ``noise[noise_index[t]]`` (``policy.noise_schedule``).
    - actions for the envs: Gaussian (and gSDE) samples clipped to ``action_low`` / ``action_high``
      (A,) float64 and rounded to float32 when ``round_action``; class indices plus
      ``action_offset`` (A,) float64; Bernoulli values as they are.
    - ``round_obs``: round env observations to float32 (a float32 observation space).
    - observation normalisation: ``obs_mean`` / ``obs_var`` (D,) float64, ``obs_count`` (1,),
      ``obs_options`` (3,) float64 = (normalize 0/1, epsilon, clip), ``update_obs``.
    - reward scaling: ``reward_returns`` (E,) float64 running returns, ``reward_mean`` /
      ``reward_var`` / ``reward_count`` (1,), ``reward_options`` (4,) float64 = (scale 0/1,
      gamma, epsilon, clip), ``update_rewards``.
    - current observation: ``obs_rows`` (E, D) float (normalised) and ``raw_rows`` (E, D)
      float64; carried across rollouts. Scratch: ``final_raw`` (E, D), ``env_action`` (A,),
      ``stats_scratch`` (2, D), all float64.
    - outputs: ``batch_obs`` (T, E, D) and ``batch_actions`` (T, E, A) float, ``rewards`` /
      ``costs`` (T, E) float64, ``flags`` (3, T, E) uint8 (terminated, done, valid);
      ``final_rows`` (T*E, D) float and ``final_index`` (T*E, 2) int64: the normalised final
      observations of truncated episodes and their (t, e); ``episode_running`` (E, 3)
      float64 running (return, length, cost), carried across rollouts; ``finished``
      (T*E, 3) float64: (return, length, cost) of each episode that ended, in step and env
      order.
    - ``result`` (5,) int64, written: status, number of final rows, number of finished
      episodes, and the step and env of a failure.
    """
    n_steps, n_envs = batch_obs.shape[0], batch_obs.shape[1]
    log_std = params[layout.n_mlp:]
    normalize_obs, obs_epsilon, clip_obs = obs_options[0] != 0.0, obs_options[1], obs_options[2]
    scale_rewards, gamma = reward_options[0] != 0.0, reward_options[1]
    reward_epsilon, clip_reward = reward_options[2], reward_options[3]
    ended = np.zeros(n_envs, dtype=np.bool_)
    squared_dev, one_mean, one_var = np.empty(n_envs), np.empty(1), np.empty(1)
    n_final = 0
    n_finished = 0
    latent = mlp.latent_features(layout, obs_rows, hidden)  # gSDE's z(s), a view
    for t in range(n_steps):
        batch_obs[t] = obs_rows
        mlp.forward(params, layout, obs_rows, hidden, dact, net_out, 0, obs_rows.shape[0])
        distributions.sample(layout, net_out, latent, log_std, noise[noise_index[t]],
                             batch_actions[t])
        for e in range(n_envs):
            for j in range(env_action.shape[0]):
                sampled = np.float64(batch_actions[t, e, j])
                # Box samples clipped for the env, the sample kept
                if layout.head == GAUSSIAN or layout.head == GAUSSIAN_SDE:
                    value = min(max(sampled, action_low[j]), action_high[j])
                    env_action[j] = np.float32(value) if round_action else value
                elif layout.head == CATEGORICAL:
                    env_action[j] = sampled + action_offset[j]
                else:
                    env_action[j] = sampled
            reward, cost, terminated, truncated, finite = step_autoreset(
                reset, step, observe, env_params, time_limit, rngs, states, elapsed, e,
                env_action, raw_rows, final_raw)
            if not finite:
                result[0], result[3], result[4] = _ENV_NOT_FINITE, t, e
                return
            done = terminated or truncated
            ended[e] = truncated and not terminated
            if round_obs:  # what a float32 observation space makes of the env's values
                for j in range(raw_rows.shape[1]):
                    raw_rows[e, j] = np.float32(raw_rows[e, j])
                    if done:
                        final_raw[e, j] = np.float32(final_raw[e, j])
            rewards[t, e], costs[t, e] = reward, cost
            flags[0, t, e], flags[1, t, e], flags[2, t, e] = terminated, done, True
            episode_running[e, 0] += reward  # R_episode = sum of raw rewards
            episode_running[e, 1] += 1.0
            episode_running[e, 2] += cost
            if done:
                finished[n_finished] = episode_running[e]
                n_finished += 1
                episode_running[e] = 0.0
        if scale_rewards:  # VecNormalize: R = gamma R + r, r / sqrt(Var[R] + eps), R = 0 at ends
            if update_rewards:
                for e in range(n_envs):
                    reward_returns[e] = reward_returns[e] * gamma + rewards[t, e]
                one_mean[0] = statistics.pairwise_sum(reward_returns) / n_envs
                for e in range(n_envs):
                    dev = reward_returns[e] - one_mean[0]
                    squared_dev[e] = dev * dev
                one_var[0] = statistics.pairwise_sum(squared_dev) / n_envs
                if not statistics.combine_moments(reward_mean, reward_var, reward_count, one_mean,
                                        one_var, n_envs):
                    result[0], result[3] = _REWARD_STATS_OVERFLOW, t
                    return
            scale = math.sqrt(reward_var[0] + reward_epsilon)
            for e in range(n_envs):
                rewards[t, e] = min(max(rewards[t, e] / scale, -clip_reward), clip_reward)
                if flags[1, t, e]:
                    reward_returns[e] = 0.0
        for e in range(n_envs):  # truncations bootstrap V(final obs): normalised, current stats
            if ended[e]:
                statistics.normalize_row(final_raw, e, obs_mean, obs_var, obs_epsilon, clip_obs,
                               normalize_obs, final_rows, n_final)
                final_index[n_final, 0], final_index[n_final, 1] = t, e
                n_final += 1
        if normalize_obs and update_obs:
            if not statistics.update_row_stats(raw_rows, obs_mean, obs_var, obs_count,
                                               stats_scratch):
                result[0], result[3] = _OBS_STATS_OVERFLOW, t
                return
        for e in range(n_envs):
            statistics.normalize_row(raw_rows, e, obs_mean, obs_var, obs_epsilon, clip_obs,
                           normalize_obs, obs_rows, e)
    result[0], result[1], result[2] = _OK, n_final, n_finished


class CompiledSampler:
    """The `fasttrpo.rollout.Sampler` of compiled envs: one compiled call per rollout.

    Parameters
    ----------
    env : CompiledEnv
        Checked against the contract first (`fasttrpo.envs.compiled.check_env`).
    n_envs : int
        Copies of the env stepped in parallel.
    encoder, codec : the model's observation encoding and action conversion
        (``fasttrpo.models.spaces``): a flat Box observation space and any supported action space.
    obs_normalizer, reward_scaler : the model's normalisers, or None.
        The kernel updates and applies their statistics, written back after each rollout.
    dtype : the policy dtype.
    env_offset : int, default 0
        The run-wide number of the first env (a Ray worker's share starts there): env ``i``'s
        stream is ``seed_streams(seed, env_offset + n_envs)[env_offset + i]``, as in one
        sampler holding every env.
    """

    def __init__(self, env: CompiledEnv, n_envs: int, encoder, codec,
                 obs_normalizer: ObservationNormalizer | None = None,
                 reward_scaler: RewardScaler | None = None, dtype=np.float32,
                 env_offset: int = 0) -> None:
        check_compiled_env(env)
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise ValueError(f"n_envs: expected a positive integer, got {n_envs!r}")
        if isinstance(env_offset, bool) or not isinstance(env_offset, (int, np.integer)) \
                or env_offset < 0:
            raise ValueError(f"env_offset: expected a non-negative integer, got {env_offset!r}")
        self.env_offset = int(env_offset)
        if reward_scaler is not None and reward_scaler.n_envs != n_envs:
            raise ValueError(f"reward_scaler: holds {reward_scaler.n_envs} envs, the sampler "
                             f"{n_envs}")
        self.env, self.encoder, self.codec = env, encoder, codec
        self.num_envs = int(n_envs)
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.dtype = np.dtype(dtype)
        n, dim = self.num_envs, env.obs_dim
        self._rngs = seed_streams(None, n)
        self._states = np.zeros((n, env.state_dim))
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._obs_rows = np.zeros((n, dim), dtype=self.dtype)
        self._raw_rows = np.zeros((n, dim))
        self._final_raw = np.zeros((n, dim))
        self._env_action = np.zeros(codec.width)
        self._stats_scratch = np.zeros((2, dim))
        self._episode_running = np.zeros((n, 3))
        self._result = np.zeros(5, dtype=np.int64)
        space = env.action_space
        self._action_low = np.full(codec.width, -np.inf)
        self._action_high = np.full(codec.width, np.inf)
        self._action_offset = np.zeros(codec.width)
        self._round_action = False
        if isinstance(space, spaces.Box):
            self._action_low[:] = space.low.reshape(-1)
            self._action_high[:] = space.high.reshape(-1)
            self._round_action = space.dtype == np.float32
        elif isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
            self._action_offset[:] = np.asarray(space.start, dtype=np.float64).reshape(-1)
        self._round_obs = env.observation_space.dtype == np.float32
        self._kernel: Any = None  # the compiled rollout loop, made on the first collect
        self._buffers: dict = {}
        self.needs_reset = True

    def reset(self, seed: int | None = None) -> None:
        """Reset every env; ``seed`` seeds the per-env streams (None: continue them)."""
        if seed is not None:
            offset = self.env_offset
            self._rngs = np.ascontiguousarray(seed_streams(seed, offset + self.num_envs)[offset:])
        env = self.env
        for e in range(self.num_envs):
            env.reset(env.params, self._rngs[e], self._states[e])
            env.observe(env.params, self._states[e], self._raw_rows[e])
        if self._round_obs:
            self._raw_rows[:] = self._raw_rows.astype(np.float32)
        self._elapsed[:] = 0
        self._episode_running[:] = 0.0
        if self.obs_normalizer is not None:
            self.obs_normalizer.update_and_normalize(self._raw_rows, self._obs_rows)
        else:
            self._obs_rows[:] = self._raw_rows
        self.needs_reset = False

    def _batch_buffers(self, n_steps: int) -> tuple[np.ndarray, ...]:
        buffers = self._buffers.get(n_steps)
        if buffers is None:
            rows = n_steps * self.num_envs
            buffers = self._buffers[n_steps] = (
                np.zeros((rows, self.encoder.obs_dim), dtype=self.dtype),  # final rows
                np.zeros((rows, 2), dtype=np.int64),  # their (t, e)
                np.zeros((rows, 3)),  # finished episodes
                np.zeros((n_steps, self.num_envs)),  # costs
            )
        return buffers

    def collect(self, policy, buffer: RolloutBatch, streams: NoiseStreams,
                on_step=None) -> bool:
        """Fill ``buffer`` in one compiled call (see the module docstring)."""
        check_noise_streams(streams)
        if self.needs_reset:
            self.reset()
        if buffer.cost_signals and not self.env.has_cost:
            raise ValueError(f"env: a constrained algorithm needs a per-step cost, and the "
                             f"compiled env {self.env.id} has none (has_cost=False)")
        if buffer.cost_signals not in ((), (COST,)):
            raise ValueError(f"env: the compiled env {self.env.id} reports one cost, "
                             f"info['cost'], and the algorithm constrains "
                             f"{', '.join(buffer.cost_signals)}; constrain several costs on a "
                             "gymnasium env (cost_keys / a list of cost_limit values)")
        if policy.dtype != self.dtype:
            raise ValueError(f"policy: dtype {policy.dtype} differs from the sampler's "
                             f"{self.dtype}")
        buffer.clear()
        buffer.use_action_masks(None)  # compiled envs give no action masks
        n_steps = buffer.n_steps
        final_rows, final_index, finished, costs = self._batch_buffers(n_steps)
        # the noise VectorEnvSampler draws step by step (where the schedule changes), at once
        noise_index = policy.noise_schedule(n_steps)
        noise = streams.draw(policy, int(noise_index[-1]) + 1, 0, self.num_envs)
        hidden, dact, net_out = self._policy_buffers(policy)
        obs_stats, obs_options, update_obs = self._obs_statistics()
        reward_stats, reward_options, update_rewards = self._reward_statistics()
        env = self.env
        args = (env.params, env.time_limit, self._rngs, self._states, self._elapsed,
                policy.get_params(), policy.kernel_layout, hidden, dact, net_out, noise,
                noise_index, self._action_low, self._action_high, self._action_offset,
                self._round_action, self._round_obs, *obs_stats, obs_options, update_obs,
                *reward_stats, reward_options, update_rewards, self._obs_rows, self._raw_rows,
                self._final_raw, self._env_action, self._stats_scratch, buffer.obs,
                buffer.actions, buffer.rewards, costs, buffer.flags, final_rows, final_index,
                self._episode_running, finished, self._result)
        if self._kernel is None:
            self._kernel = self._compiled_kernel(args)
        self._kernel(env.reset, env.step, env.observe, *args)
        self._write_back_statistics(obs_stats, reward_stats)
        status, n_final, n_finished, bad_step, bad_env = (int(v) for v in self._result)
        if status == _ENV_NOT_FINITE:
            self.needs_reset = True
            raise ValueError(f"env: {env.id} produced a non-finite observation, reward or cost "
                             f"(env {self.env_offset + bad_env}, step {bad_step} of the "
                             "rollout)")
        if status in (_REWARD_STATS_OVERFLOW, _OBS_STATS_OVERFLOW):
            self.needs_reset = True
            what = "rewards" if status == _REWARD_STATS_OVERFLOW else "observations"
            raise ValueError(f"{what}: too large to normalise at step {bad_step} of the "
                             "rollout (the running variance overflows float64)")
        buffer.valid[:] = True
        for k in range(n_final):
            t, e = (int(v) for v in final_index[k])
            buffer.final_obs[(t, e)] = final_rows[k].copy()
        has_cost, constrained = env.has_cost, COST in buffer.signals
        for ret, length, cost in finished[:n_finished]:
            episode: dict[str, Any] = {"r": float(ret), "l": int(length)}
            if has_cost:
                episode["c"] = float(cost)
            if constrained:
                episode["costs"] = [float(cost)]
            buffer.finished_episodes.append(episode)
        if COST in buffer.signals:
            buffer.signals[COST][:] = costs
        buffer.last_obs[:] = self._obs_rows
        if on_step is not None:
            for _ in range(n_steps):
                if on_step() is False:
                    return False
        return True

    def _policy_buffers(self, policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scratch of the policy's forward pass over the E env rows (``fasttrpo.kernels.mlp``)."""
        sizes = policy.kernel_layout.layer_sizes
        key = ("policy", tuple(int(s) for s in sizes), policy.dtype)
        if key not in self._buffers:
            n = self.num_envs
            self._buffers[key] = (np.zeros(n * int(sizes[1:-1].sum()), dtype=policy.dtype),
                                  np.zeros(n * int(sizes[1:-1].sum()), dtype=policy.dtype),
                                  np.zeros((n, int(sizes[-1])), dtype=policy.dtype))
        return self._buffers[key]

    def _obs_statistics(self):
        normalizer = self.obs_normalizer
        if normalizer is None:
            dim = self.encoder.obs_dim
            return (np.zeros(dim), np.ones(dim), np.ones(1)), np.zeros(3), False
        state = normalizer.state_dict()
        stats = (np.array(state["mean"], dtype=np.float64),
                 np.array(state["var"], dtype=np.float64),
                 np.array([float(state["count"])]))
        options = np.array([1.0, normalizer.epsilon, normalizer.clip_obs])
        return stats, options, bool(normalizer.training)

    def _reward_statistics(self):
        scaler = self.reward_scaler
        if scaler is None:
            return (np.zeros(self.num_envs), np.zeros(1), np.ones(1), np.ones(1)), \
                np.zeros(4), False
        state = scaler.state_dict()
        stats = (scaler.returns, np.array([float(state["mean"])]),
                 np.array([float(state["var"])]), np.array([float(state["count"])]))
        options = np.array([1.0, scaler.gamma, scaler.epsilon, scaler.clip_reward])
        return stats, options, bool(scaler.training)

    def _write_back_statistics(self, obs_stats, reward_stats) -> None:
        if self.obs_normalizer is not None:
            mean, var, count = obs_stats
            self.obs_normalizer.load_state_dict({"mean": mean, "var": var, "count": count[0]})
        if self.reward_scaler is not None:
            _, mean, var, count = reward_stats
            self.reward_scaler.load_state_dict({"mean": mean[0], "var": var[0],
                                                "count": count[0]})

    @staticmethod
    def _compiled_kernel(args: tuple):
        types = (RESET_TYPE, STEP_TYPE, OBSERVE_TYPE, *(numba.typeof(a) for a in args))
        return first_class_entry(_rollout, types)

    def close(self) -> None:
        """Nothing to release: the envs are arrays."""
