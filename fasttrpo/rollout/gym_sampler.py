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

Costs: an env that reports a per-step cost puts it in ``info["cost"]`` (safety-gymnasium's
gymnasium convention; `fasttrpo.envs.CostInInfo` converts envs whose ``step`` returns it as a
sixth value). With SAME_STEP autoreset the cost of an episode's last step is in
``info["final_info"]["cost"]``. The sampler sums it into every finished episode's ``"c"``
whenever it is reported (a vector per env: its total). The batch's cost signals
(`fasttrpo.rollout.batch.cost_source`: ``"cost"``, a named ``info`` key, or a column of a
vector ``info["cost"]``) are written per step, every transition must report them, and each
finished episode gets their sums as ``"costs"``.

Action masks (Discrete and MultiDiscrete actions): an env whose sub-envs have an
``action_masks()`` method (sb3-contrib's ``MaskablePPO`` convention; read through
``VectorEnv.call``, an sb3 ``VecEnv``'s ``env_method``) or whose reset info holds
``"action_mask"`` (then every step's info must hold the next state's) gets its masks read
before each policy call: the policy samples only valid actions and the batch keeps each
row's mask (``RolloutBatch.action_masks``) for the update.
"""

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from fasttrpo._cython.rollout_step import StepRecorder
from fasttrpo.envs.ids import register_if_fasttrpo_id
from fasttrpo.foundation.masking import MASK_INFO_KEY, MASK_METHOD
from fasttrpo.models.normalize import ObservationNormalizer, RewardScaler
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.rollout.batch import COST, RolloutBatch, cost_source
from fasttrpo.rollout.sb3_vec_env import Sb3VecEnv, is_sb3_vec_env
from fasttrpo.rollout.streams import NoiseStreams, RolloutNoise

__all__ = ["VectorEnvSampler", "action_mask_source", "make_vector_env", "stack_masks",
           "vector_action_masks"]


def stack_masks(masks) -> np.ndarray:
    """One mask per env (a tuple from ``call``, an array or an object array) as (E, D)."""
    return np.stack([np.asarray(mask) for mask in masks])


def vector_action_masks(env: VectorEnv, source: str | None, info: dict) -> np.ndarray | None:
    """Return the current masks of ``env``'s sub-envs (unchecked, (E, D)) from ``source``.

    ``source`` as `action_mask_source` returns it; ``info``: the last reset / step info.
    """
    if source == "method":
        # Sync/AsyncVectorEnv and vector wrappers have call(); VectorEnv's type does not say so
        return stack_masks(env.call(MASK_METHOD))  # type: ignore[attr-defined]
    if source == "info":
        return stack_masks(info[MASK_INFO_KEY])
    return None


def action_mask_source(env: VectorEnv, reset_info: dict) -> str | None:
    """Where ``env``'s action masks come from: ``"method"``, ``"info"`` or None (none).

    ``"method"`` when every sub-env has an `MASK_METHOD` method (asked through
    ``env.call("has_wrapper_attr", ...)``, so an ``AsyncVectorEnv`` is not made to raise),
    ``"info"`` when the reset info holds `MASK_INFO_KEY`.
    """
    call = getattr(env, "call", None)
    if call is not None:
        try:
            if all(call("has_wrapper_attr", MASK_METHOD)):
                return "method"
        except (AttributeError, TypeError, NotImplementedError):
            pass
    return "info" if MASK_INFO_KEY in reset_info else None


def make_vector_env(env, n_envs: int, wrappers: Sequence[Callable] = ()) -> VectorEnv:
    """Return a VectorEnv for ``env``.

    An id string gives ``n_envs`` copies with SAME_STEP autoreset, an Env one copy, each
    wrapped by ``wrappers`` in order (``wrapper(env) -> env``); a VectorEnv (either autoreset
    mode) is used as it is, and an sb3 ``VecEnv`` through `Sb3VecEnv` (neither can take
    ``wrappers``: a ValueError says to wrap their envs first).
    """
    if isinstance(env, str):
        register_if_fasttrpo_id(env)
        return gym.make_vec(env, num_envs=n_envs, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                            wrappers=list(wrappers) or None)
    if wrappers and (isinstance(env, VectorEnv) or is_sb3_vec_env(env)):
        raise ValueError(f"env: {type(env).__name__} holds envs already made, which this "
                         "algorithm cannot wrap; give an env id or a gymnasium.Env, or wrap "
                         "each env before vectorising it")
    if isinstance(env, VectorEnv):
        return env
    if is_sb3_vec_env(env):
        return Sb3VecEnv(env)
    if isinstance(env, gym.Env):
        for wrapper in wrappers:
            env = wrapper(env)
        return SyncVectorEnv([lambda: env], autoreset_mode=AutoresetMode.SAME_STEP)
    raise ValueError(f"env: expected an env id string, a gymnasium.Env, a VectorEnv, an sb3 "
                     f"VecEnv or a fasttrpo.envs.compiled.CompiledEnv, got {env!r}")


def _env_entry(value: Any, env: int) -> Any:
    """Entry ``env`` of a vector info value: an array over envs, or a dict of such arrays."""
    if isinstance(value, dict):
        return {key: _env_entry(entry, env) for key, entry in value.items()}
    return value[env]


def _episode_stats(entry: Any) -> tuple[float, int] | None:
    """``(return, length)`` of an ``info["episode"]`` entry, None if it has neither."""
    try:
        return float(entry["r"]), int(entry["l"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


class VectorEnvSampler:
    """The `fasttrpo.rollout.Sampler` of gymnasium vector envs.

    Steps the env from Python, one batched policy call per vector step, the per-step
    bookkeeping compiled.

    Parameters
    ----------
    env : gymnasium VectorEnv (SAME_STEP or NEXT_STEP autoreset).
    encoder, codec : observation encoding and action conversion (``fasttrpo.models.spaces``).
    obs_normalizer, reward_scaler : the model's normalisers (``fasttrpo.models.normalize``),
        or None.
        The sampler updates and applies them; the model owns them.
    dtype : the policy dtype.
    env_offset : int, default 0
        The run-wide number of the first env (a Ray worker's share starts there): ``reset(seed)``
        seeds env ``i`` with ``seed + env_offset + i``, as one VectorEnv holding every env
        would.
    """

    #: runs recurrent policies (`fasttrpo.algorithms.recurrent.check_sampler`)
    supports_recurrent = True

    def __init__(self, env: VectorEnv, encoder: ObsEncoder, codec: ActionCodec,
                 obs_normalizer: ObservationNormalizer | None = None,
                 reward_scaler: RewardScaler | None = None, dtype=np.float32,
                 env_offset: int = 0) -> None:
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
        if isinstance(env_offset, bool) or not isinstance(env_offset, (int, np.integer)) \
                or env_offset < 0:
            raise ValueError(f"env_offset: expected a non-negative integer, got {env_offset!r}")
        self.env_offset = int(env_offset)
        self._raw_rows = np.zeros((self.num_envs, encoder.obs_dim))  # encoded, unnormalised
        self._obs_rows = np.zeros((self.num_envs, encoder.obs_dim), dtype=self.dtype)
        # running episode return | returns finished this step
        self._float_state = np.zeros((2, self.num_envs))
        # running episode length | lengths finished this step | NEXT_STEP reset pending
        self._int_state = np.zeros((3, self.num_envs), dtype=np.int64)
        # per-step info["cost"] | whether each env reported one | running episode cost
        self._step_cost = np.zeros(self.num_envs)
        self._cost_reported = np.zeros(self.num_envs, dtype=bool)
        self._episode_cost = np.zeros(self.num_envs)
        # the same per cost signal of the batch (k, E), sized at the first rollout
        self._signal_reported = np.zeros((0, self.num_envs), dtype=bool)
        self._episode_signal_costs = np.zeros((0, self.num_envs))
        self.reports_cost = False  # the env has reported a cost since the last reset
        #: where the action masks come from (`action_mask_source`), decided at each reset
        self.mask_source: str | None = None
        self._info_masks: np.ndarray | None = None  # the current states' info masks (E, D)
        self.needs_reset = True
        #: a recurrent policy's hidden state per env (E, H), carried across rollouts and
        #: zeroed at episode starts; None until a recurrent policy acts (and after reset)
        self.policy_state: np.ndarray | None = None
        #: the last step as the env returned it, (obs, rewards, terminated, truncated, info),
        #: set before each ``on_step`` call (None before the first step)
        self.last_step: tuple | None = None

    def _set_obs(self, raw_obs) -> None:
        self.encoder.encode(raw_obs, self._raw_rows)
        if self.obs_normalizer is not None:
            self.obs_normalizer.update_and_normalize(self._raw_rows, self._obs_rows)
        else:
            self._obs_rows[:] = self._raw_rows

    def _encode_one(self, raw_obs) -> np.ndarray:
        row, _ = self.encoder.observation_rows(raw_obs)
        if self.obs_normalizer is not None:
            row = self.obs_normalizer.normalize(row)
        return row[0].astype(self.dtype)

    @property
    def raw_obs(self) -> np.ndarray:
        """The current observations, encoded and not normalised, (E, obs_dim) float64 (a view)."""
        return self._raw_rows

    def reset(self, seed: int | None = None) -> None:
        """Reset every env (``seed`` seeds them, as ``VectorEnv.reset``); episodes restart.

        Env ``i`` gets ``seed + env_offset + i``.
        """
        seeds: int | list[int] | None = seed
        if seed is not None and self.env_offset:
            seeds = [seed + self.env_offset + i for i in range(self.num_envs)]
        raw_obs, info = self.env.reset(seed=seeds)  # type: ignore[arg-type]  # a list: per env
        self.mask_source = action_mask_source(self.env, info)
        self._info_masks = None
        if self.mask_source == "info":
            self._read_info_masks(info)
        self._set_obs(raw_obs)
        self._float_state[:] = 0.0
        self._int_state[:] = 0
        self._episode_cost[:] = 0.0
        self._episode_signal_costs[:] = 0.0
        self.reports_cost = False
        self.policy_state = None  # every episode starts anew
        self.needs_reset = False

    def _read_info_masks(self, info: dict) -> None:
        """Keep ``info["action_mask"]`` of every env: the masks of the states just returned."""
        reported = np.asarray(info.get(f"_{MASK_INFO_KEY}", np.ones(self.num_envs, bool)),
                              dtype=bool)
        if MASK_INFO_KEY not in info or not reported.all():
            raise ValueError(
                f"env: it gave info[{MASK_INFO_KEY!r}] at reset, so every reset and step "
                "info of every env must hold the mask of the state it returns; some did not: "
                f"report it always, or give the env an {MASK_METHOD}() method")
        self._info_masks = stack_masks(info[MASK_INFO_KEY])

    def _current_masks(self, policy) -> np.ndarray | None:
        """Return the current states' action masks checked by ``policy`` (E, D), or None."""
        if self.mask_source is None:
            return None
        raw: np.ndarray | None
        if self.mask_source == "method":
            raw = stack_masks(self.env.call(MASK_METHOD))  # type: ignore[attr-defined]
        else:
            raw = self._info_masks
        pending = self._int_state[2].astype(bool)  # NEXT_STEP: the env resets, ignoring the
        if pending.any():  # action: its final state's mask (all False, maybe) is not used
            raw = np.array(raw)
            raw[pending] = 1
        return policy.as_masks(raw, self.num_envs, name=f"env {MASK_METHOD}")

    def _read_info_values(self, info: dict, ended: np.ndarray, key: str, column: int | None,
                          out: np.ndarray, reported: np.ndarray) -> bool:
        """Put this step's ``info[key]`` in ``out`` (E,); returns whether any env gave one.

        ``column`` picks one column of a vector per env; with None a vector per env gives
        its total. ``reported`` marks the envs that gave one (with SAME_STEP autoreset an
        ending env's value is in ``info["final_info"]``, its ``info`` being the next
        episode's reset).
        """
        out[:] = 0.0
        reported[:] = False
        sources: list[tuple[dict, np.ndarray | None]] = [(info, None)]
        final = info.get("final_info") if self.same_step else None
        if isinstance(final, dict):
            sources.append((final, ended))
        for source, rows in sources:
            if key not in source:
                continue
            mask = np.asarray(source.get(f"_{key}", np.ones(self.num_envs, bool)), dtype=bool)
            if rows is not None:
                mask = mask & rows
            values = _env_values(source[key], self.num_envs, mask, key, column)
            out[mask] = values[mask]
            reported |= mask
        if not reported.any():
            return False
        if not np.isfinite(out).all():
            bad = int(np.flatnonzero(~np.isfinite(out))[0])
            name = key if column is None else f"{key}[{column}]"
            raise ValueError(f"env: the environment returned a non-finite {name} {out[bad]} "
                             f"(env {bad})")
        return True

    def collect(self, policy, buffer: RolloutBatch, streams: NoiseStreams,
                on_step=None) -> bool:
        """Fill ``buffer`` with ``buffer.n_steps`` vector steps of ``policy``.

        Env ``i`` acts with noise from ``streams``' stream ``i``. ``on_step()`` (optional) is
        called after every vector step; returning False stops the rollout early. Returns
        whether training may continue; when stopped early the buffer is incomplete and must
        not be used for an update.
        """
        if self.needs_reset:
            self.reset()
        buffer.clear()
        same_step, scaler = self.same_step, self.reward_scaler
        float_state, int_state = self._float_state, self._int_state
        # each cost signal's row block and where it is read, once per rollout
        cost_signals = [(buffer.signals[signal], signal, *cost_source(signal))
                        for signal in buffer.cost_signals]
        if len(self._episode_signal_costs) != len(cost_signals):
            self._episode_signal_costs = np.zeros((len(cost_signals), self.num_envs))
            self._signal_reported = np.zeros((len(cost_signals), self.num_envs), dtype=bool)
        # the acting and the bookkeeping bound to this rollout's arrays once: each vector
        # step is then two compiled calls, the env's step and Python only where episodes end
        # or costs are reported (the per-step budget, BENCHMARKS.md "Acting")
        recurrent = getattr(policy, "recurrent", False)  # a GRU policy acts step by step
        actor = None if recurrent else policy.rollout_actor(self._obs_rows, buffer.obs,
                                                             buffer.actions)
        normalizer = self.obs_normalizer
        plain_rows = self.encoder.plain_rows
        recorder = StepRecorder(buffer.rewards, buffer.flags, float_state, int_state,
                                not same_step, self._raw_rows,
                                self._obs_rows if normalizer is None else None)
        # one noise row per env from its own stream, drawn anew where the schedule changes
        # (every step, except gSDE's exploration matrices: every sde_sample_freq steps)
        noise = RolloutNoise(streams, policy, buffer.n_steps, 0, self.num_envs)
        masks_out = buffer.use_action_masks(
            int(policy.nvec.sum()) if self.mask_source is not None else None)
        state = None  # the state each env carries into the rollout (its sequences' h0)
        if recurrent:
            state = self.policy_state
            if state is None:
                state = policy.initial_state(self.num_envs)
        buffer.initial_state = None if state is None else state.copy()
        held = None
        to_env, step = self.codec.to_env, self.env.step
        for t, (block, row) in enumerate(noise.blocks()):
            masks = self._current_masks(policy)  # None without masking
            if masks is not None and masks_out is not None:
                masks_out[t] = masks
            if actor is None:  # one-row sequences: h_t = GRU(o_t, h_{t-1}), a_t ~ pi(.|h_t)
                buffer.obs[t] = self._obs_rows
                state = policy.step_into(self._obs_rows, state, buffer.actions[t], block[row])
            else:
                if block is not held:
                    actor.set_noise(block)
                    held = block
                # row by row: an env acts the same whichever envs share the call (Ray workers)
                actor.step(t, row, None if masks is None else masks.view(np.uint8))
            raw_obs, rewards, terminated, truncated, info = step(to_env(buffer.actions[t]))
            if self.mask_source == "info":
                self._read_info_masks(info)
            n_finished = recorder.record(t, rewards, terminated, truncated,
                                         raw_obs if plain_rows else None)
            if n_finished or cost_signals or "cost" in info:
                self._record_step_infos(info, terminated, truncated, t, n_finished, buffer,
                                        cost_signals)
            if state is not None:  # an episode starts after each done (NEXT_STEP: the reset
                state[buffer.dones[t].astype(bool)] = 0.0  # row's too)
                self.policy_state = state
            if scaler is not None:
                # NEXT_STEP reset rows hold reward 0 and done 1: scaled, they stay 0
                buffer.rewards[t] = scaler.scale(buffer.rewards[t], buffer.dones[t].astype(bool))
            if not plain_rows:
                self.encoder.encode(raw_obs, self._raw_rows)
            if normalizer is not None:  # after the final observations, normalised before it
                normalizer.update_and_normalize(self._raw_rows, self._obs_rows)
            elif not plain_rows:
                self._obs_rows[:] = self._raw_rows
            # what the step returned, for callbacks' sb3 locals (fasttrpo.logs.run_logs)
            self.last_step = (raw_obs, rewards, terminated, truncated, info)
            if on_step is not None and on_step() is False:
                return False
        buffer.last_obs[:] = self._obs_rows
        return True

    def _record_step_infos(self, info: dict, terminated, truncated, t: int, n_finished: int,
                           buffer: RolloutBatch, cost_signals: list) -> None:
        """Read step ``t``'s infos: costs, the finished episodes, final observations.

        Only for steps where episodes end or costs are reported (the others need none of it).
        """
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        ended, valid = terminated | truncated, buffer.valid[t]
        episodes = buffer.finished_episodes
        first_episode = len(episodes)
        float_state, int_state = self._float_state, self._int_state
        for i in range(n_finished):
            episodes.append({"r": float(float_state[1, i]), "l": int(int_state[1, i])})
        finished = episodes[first_episode:]
        # the costs need reading where reported, and where an episode ends on SAME_STEP
        # autoreset (its last cost in info["final_info"]; an env that reported costs before
        # gets its episode's "c" there)
        same_end = self.same_step and n_finished
        final = info.get("final_info") if same_end else None
        if cost_signals or "cost" in info or (same_end and (
                self.reports_cost or (isinstance(final, dict) and "cost" in final))):
            self._record_costs(info, ended, t, valid, cost_signals, finished)
        if n_finished:
            self._record_episode_info(info, ended, valid, finished)
        if self.same_step and n_finished and truncated.any():
            has_final = info.get("_final_obs", ended)
            for e in np.flatnonzero(truncated & ~terminated & has_final):
                buffer.final_obs[(t, int(e))] = self._encode_one(info["final_obs"][e])

    def _record_episode_info(self, info: dict, ended: np.ndarray, valid: np.ndarray,
                             finished: list[dict]) -> None:
        """Read the ending steps' infos into the finished episodes, as sb3 does.

        ``info["episode"]`` (sb3's ``Monitor``, gymnasium's ``RecordEpisodeStatistics``)
        gives the episode's return and length, which then replace the sums of the rewards
        seen here (those may be normalised, e.g. behind sb3's ``VecNormalize``);
        ``info["is_success"]`` becomes ``"is_success"`` (sb3's ``ep_success_buffer``). With
        SAME_STEP autoreset the ending step's info is ``info["final_info"]``.
        """
        source = info.get("final_info") if self.same_step else info
        if not isinstance(source, dict) or not ("episode" in source or "is_success" in source):
            return
        envs = np.flatnonzero(ended & valid)  # record_step lists finished episodes in env order
        readers: tuple[tuple[str, Callable[[Any], Any]], ...] = (
            ("episode", _episode_stats), ("is_success", bool))
        for key, read in readers:
            if key not in source:
                continue
            reported = np.asarray(source.get(f"_{key}", np.ones(self.num_envs, bool)), bool)
            for episode, env in zip(finished, envs, strict=True):
                if reported[env]:
                    value = read(_env_entry(source[key], int(env)))
                    if key == "is_success":
                        episode["is_success"] = value
                    elif value is not None:
                        episode["r"], episode["l"] = value

    def _record_costs(self, info: dict, ended: np.ndarray, t: int, valid: np.ndarray,
                      cost_signals: list, finished: list[dict]) -> None:
        """Write step ``t``'s costs to the batch's cost signals and the finished episodes.

        ``cost_signals``: ``(rows (T, E), name, info key, column)`` per cost signal.
        ``"c"`` sums ``info["cost"]`` whenever the env reports it; ``"costs"`` sums each cost
        signal, which every valid transition must report.
        """
        if self._read_info_values(info, ended, COST, None, self._step_cost,
                                  self._cost_reported):
            self.reports_cost = True
        ending = np.flatnonzero(ended & valid)  # record_step lists episodes in env order
        signal_costs = self._episode_signal_costs
        for index, (rows, signal, key, column) in enumerate(cost_signals):
            row, reported = rows[t], self._signal_reported[index]
            if (key, column) == (COST, None):  # read above
                row[:], reported[:] = self._step_cost, self._cost_reported
            else:
                self._read_info_values(info, ended, key, column, row, reported)
            missing = valid & ~reported
            if missing.any():
                raise ValueError(
                    f"env: a constrained algorithm needs a per-step {signal} in "
                    f"info[{key!r}], and env {int(np.flatnonzero(missing)[0])} reported none at "
                    f"step {t} of the rollout; wrap an env whose step returns (obs, reward, "
                    "cost, terminated, truncated, info) with fasttrpo.envs.CostInInfo, or set "
                    "cost_keys to the info keys the env reports")
            row[~valid] = 0.0
            signal_costs[index] += row
        if len(signal_costs):
            for episode, env in zip(finished, ending, strict=True):
                episode["costs"] = signal_costs[:, env].tolist()
                signal_costs[:, env] = 0.0
        if not self.reports_cost:
            return
        self._episode_cost += np.where(valid, self._step_cost, 0.0)
        for episode, env in zip(finished, ending, strict=True):
            episode["c"] = float(self._episode_cost[env])
            self._episode_cost[env] = 0.0

    def close(self) -> None:
        """Close the environment."""
        self.env.close()


def _env_values(value, num_envs: int, mask: np.ndarray, key: str,
                column: int | None) -> np.ndarray:
    """Return ``info[key]`` of a vector step as (E,) float64.

    One number per env, the ``column`` of a vector per env, or (``column`` None) a vector's
    total. Entries outside ``mask`` (envs that did not report) may be anything. ValueError
    naming the key when it has no such form.
    """
    name = key if column is None else f"{key}[{column}]"
    try:
        array = np.asarray(value)
        if array.dtype == object:  # gymnasium stores lists per env as objects, None if absent
            rows = [np.asarray(array[e] if mask[e] else np.nan, dtype=np.float64)
                    for e in range(num_envs)]
            width = max((row.size for row in rows), default=1)
            array = np.stack([np.broadcast_to(row.reshape(-1), (width,)) for row in rows])
        array = np.asarray(array, dtype=np.float64)
        if column is not None:
            return array.reshape(num_envs, -1)[:, column]
        if array.ndim == 2 and array.shape[0] == num_envs:
            return array.sum(axis=1)
        return np.broadcast_to(array, (num_envs,))
    except (TypeError, ValueError, IndexError) as err:
        wanted = ("one number per env" if column is None
                  else f"a vector of at least {column + 1} costs per env")
        raise ValueError(f"env: info[{key!r}] must be {wanted} for {name}, got "
                         f"{value!r}"[:300]) from err
