"""Rollouts through real gymnasium vector envs: autoreset modes, truncation, GAE."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

import fasttrpo
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.models.value_function import ValueFunction
from fasttrpo.rollout import NoiseStreams, RolloutBatch, VectorEnvSampler

from toy_envs import CounterEnv

GAMMA, LAM = 0.9, 0.8


def linear_value():
    vf = ValueFunction(2, (), dtype=np.float64)
    vf.set_params([0.5, -1.0, 2.0])  # V([t, 1]) = 0.5 t - 1 + 2
    return vf


def reference_advantages(rows_obs, rows_rew, rows_term, rows_done, value):
    """Plain loop over one env's valid transitions in time order. obs = [t, 1] and the next
    observation is always [t + 1, 1] (also the final obs of a truncated episode)."""
    n = len(rows_obs)
    adv = np.zeros(n)
    running = 0.0
    for i in reversed(range(n)):
        t = rows_obs[i][0]
        bootstrap = 0.0 if rows_term[i] else value(np.array([[t + 1, 1.0]]))[0]
        delta = rows_rew[i] + GAMMA * bootstrap - value(np.array([[t, 1.0]]))[0]
        last_row = i == n - 1
        running = delta + GAMMA * LAM * (0.0 if (rows_done[i] or last_row) else running)
        adv[i] = running
    return adv


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
@pytest.mark.parametrize(("terminate_at", "limit"), [(None, 5), (4, 6), (3, 3)],
                         ids=["truncation", "termination", "both-at-once"])
def test_gae_through_vector_env_matches_loop(mode, terminate_at, limit):
    n_envs, n_steps = 2, 13
    env = SyncVectorEnv(
        [lambda: TimeLimit(CounterEnv(terminate_at), limit) for _ in range(n_envs)],
        autoreset_mode=mode,
    )
    encoder = ObsEncoder.for_space(env.single_observation_space)
    codec = ActionCodec.for_space(env.single_action_space)
    policy = fasttrpo.CategoricalMLPPolicy(2, 2, (4,), dtype=np.float64, seed=0)
    collector = VectorEnvSampler(env, encoder, codec, dtype=np.float64)
    buffer = RolloutBatch(n_steps, n_envs, 2, 1, np.float64)
    assert collector.collect(policy, buffer, NoiseStreams(0))
    value = linear_value().predict
    adv, ret = buffer.advantages_and_returns("reward", value, GAMMA, LAM)
    if mode == AutoresetMode.SAME_STEP:
        assert buffer.valid.all()
    else:
        assert not buffer.valid.all()  # the reset rows are marked
        # a reset row follows every episode end but the last step's
        ends = buffer.dones[:-1] & buffer.valid[:-1]
        np.testing.assert_array_equal(~buffer.valid[1:], ends.astype(bool))
    for e in range(n_envs):
        rows = np.flatnonzero(buffer.valid[:, e])
        obs = buffer.obs[rows, e]
        # every valid row is a real transition from [t, 1] with reward t + 1
        np.testing.assert_array_equal(buffer.rewards[rows, e], obs[:, 0] + 1)
        expected = reference_advantages(
            obs, buffer.rewards[rows, e], buffer.terminated[rows, e], buffer.dones[rows, e], value
        )
        np.testing.assert_allclose(adv[rows, e], expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ret[rows, e], expected + value(obs), rtol=1e-12)
        # episodes end where the env says: after min(terminate_at, limit) steps
        ends = obs[buffer.dones[rows, e].astype(bool), 0] + 1
        assert ends.size > 0 and (ends == min(terminate_at or limit, limit)).all()


def test_truncation_bootstraps_and_termination_does_not():
    # Same trajectories, one ended by truncation, one by termination, at the same step:
    # the truncated one's last advantage includes gamma * V(final obs).
    results = {}
    for name, terminate_at in (("trunc", None), ("term", 4)):
        env = SyncVectorEnv([lambda t=terminate_at: TimeLimit(CounterEnv(t), 4)],
                            autoreset_mode=AutoresetMode.SAME_STEP)
        collector = VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                                     ActionCodec.for_space(env.single_action_space),
                                     dtype=np.float64)
        buffer = RolloutBatch(4, 1, 2, 1, np.float64)
        collector.collect(fasttrpo.CategoricalMLPPolicy(2, 2, (4,), dtype=np.float64), buffer,
                          NoiseStreams(0))
        adv, _ = buffer.advantages_and_returns("reward", linear_value().predict, GAMMA, LAM)
        results[name] = adv[:, 0]
    v_final = linear_value().predict(np.array([[4.0, 1.0]]))[0]
    assert results["trunc"][-1] - results["term"][-1] == pytest.approx(GAMMA * v_final)


def test_episode_statistics_use_raw_rewards():
    env = SyncVectorEnv([lambda: TimeLimit(CounterEnv(), 3)] * 2,
                        autoreset_mode=AutoresetMode.NEXT_STEP)
    collector = VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                                 ActionCodec.for_space(env.single_action_space), dtype=np.float32)
    buffer = RolloutBatch(10, 2, 2, 1, np.float32)
    collector.collect(fasttrpo.CategoricalMLPPolicy(2, 2, (4,)), buffer, NoiseStreams(0))
    # episodes of 3 steps with rewards 1 + 2 + 3; 10 steps = 3 episodes and a reset row each
    assert [e["r"] for e in buffer.finished_episodes] == [6.0] * 4
    assert [e["l"] for e in buffer.finished_episodes] == [3] * 4


def test_unsupported_autoreset_mode():
    env = SyncVectorEnv([lambda: CounterEnv()], autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="env: autoreset mode"):
        VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                         ActionCodec.for_space(env.single_action_space))


def test_nan_observation_from_env_is_reported():
    class NanEnv(CounterEnv):
        def step(self, action):
            _, *rest = super().step(action)
            return np.array([np.nan, 1.0]), *rest

    env = SyncVectorEnv([lambda: NanEnv()], autoreset_mode=AutoresetMode.SAME_STEP)
    collector = VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                                 ActionCodec.for_space(env.single_action_space))
    buffer = RolloutBatch(4, 1, 2, 1, np.float32)
    with pytest.raises(ValueError, match="NaN or infinite observation"):
        collector.collect(fasttrpo.CategoricalMLPPolicy(2, 2, (4,)), buffer,
                          NoiseStreams(0))


def test_box_actions_clipped_for_env_but_stored_unclipped():
    seen = []

    class Recorder(CounterEnv):
        def step(self, action):
            seen.append(np.array(action))
            return super().step(action)

    env = SyncVectorEnv([lambda: Recorder(discrete_action=False)],
                        autoreset_mode=AutoresetMode.SAME_STEP)
    collector = VectorEnvSampler(env, ObsEncoder.for_space(env.single_observation_space),
                                 ActionCodec.for_space(env.single_action_space))
    policy = fasttrpo.GaussianMLPPolicy(2, 1, (4,), log_std_init=1.5, seed=0)
    buffer = RolloutBatch(50, 1, 2, 1, np.float32)
    collector.collect(policy, buffer, NoiseStreams(0))
    stored = buffer.actions[:, 0, 0]
    sent = np.array(seen)[:, 0]
    assert np.abs(stored).max() > 1.0  # std e^1.5: samples leave [-1, 1]
    np.testing.assert_allclose(sent, np.clip(stored, -1, 1))
    assert gym.spaces.Box(-1, 1, (1,)).contains(np.array([sent.max()], dtype=np.float32))


# ---- the per-step budget (issue 29): bound compiled calls, the same bits -------------------
def _policies():
    from fasttrpo.models import policies

    for dtype in (np.float32, np.float64):
        yield policies.GaussianMLPPolicy(5, 3, (16, 16), dtype=dtype, seed=0)
        yield policies.CategoricalMLPPolicy(5, 4, (16,), activation="relu", dtype=dtype,
                                            seed=0)
        yield policies.MultiCategoricalMLPPolicy(5, [2, 3], (16, 16), dtype=dtype, seed=0)
        yield policies.BernoulliMLPPolicy(5, 3, (16,), dtype=dtype, seed=0)
        yield policies.GaussianSDEMLPPolicy(5, 2, (16, 16), dtype=dtype, seed=0)


@pytest.mark.parametrize("policy", list(_policies()), ids=lambda p: f"{type(p).__name__}-"
                         f"{np.dtype(p.dtype).name}")
def test_rollout_actor_gives_the_bits_of_act_into(policy):
    rng = np.random.default_rng(1)
    steps, envs = 6, 3
    obs_rows = np.empty((envs, 5), dtype=policy.dtype)
    batch = RolloutBatch(steps, envs, 5, policy.action_width, policy.dtype)
    noise = np.empty((4, envs, policy.noise_width), dtype=policy.dtype)
    policy.draw_noise(rng, noise)
    actor = policy.rollout_actor(obs_rows, batch.obs, batch.actions)
    actor.set_noise(noise)
    expected = np.empty_like(batch.actions[0])
    for t in range(steps):
        obs_rows[:] = rng.standard_normal(obs_rows.shape)
        actor.step(t, t % 4)
        policy.act_into(obs_rows, False, None, expected, noise[t % 4], row_invariant=True)
        np.testing.assert_array_equal(batch.obs[t], obs_rows)
        np.testing.assert_array_equal(batch.actions[t], expected)
    with pytest.raises(ValueError, match="outside the rollout"):
        actor.step(steps, 0)
    with pytest.raises(ValueError, match="noise"):
        actor.set_noise(noise[:, :2])


def test_step_recorder_matches_record_step_and_the_encoder():
    from fasttrpo._cython.rollout_step import StepRecorder, record_step

    steps, envs, obs_dim = 40, 3, 4
    encoder = ObsEncoder.for_space(gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32))
    assert encoder.plain_rows
    outputs = []
    for bound in (False, True):
        batch = RolloutBatch(steps, envs, obs_dim, 1, np.float32)
        float_state, int_state = np.zeros((2, envs)), np.zeros((3, envs), np.int64)
        raw_rows, obs_rows = np.zeros((envs, obs_dim)), np.zeros((envs, obs_dim), np.float32)
        recorder = StepRecorder(batch.rewards, batch.flags, float_state, int_state, True,
                                raw_rows, obs_rows)
        draws = np.random.default_rng(3)
        finished = []
        for t in range(steps):
            rewards = draws.standard_normal(envs)
            terminated, truncated = draws.random(envs) < 0.2, draws.random(envs) < 0.1
            raw = draws.standard_normal((envs, obs_dim)).astype(np.float32)
            if bound:
                n = recorder.record(t, rewards, terminated, truncated, raw)
            else:
                n = record_step(rewards, terminated.view(np.uint8), truncated.view(np.uint8),
                                t, batch.rewards, batch.flags, float_state, int_state,
                                True)[1]
                encoder.encode(raw, raw_rows)
                obs_rows[:] = raw_rows
            finished.append((float_state[1, :n].tolist(), int_state[1, :n].tolist()))
            outputs.append((bound, t, obs_rows.copy()))
        outputs.append((bound, batch.flags.copy(), batch.rewards.copy(), finished))
    half = len(outputs) // 2
    for (_, *ours), (_, *theirs) in zip(outputs[half:], outputs[:half], strict=True):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    # lists, float32 rewards and float64 / integer observations go through numpy
    recorder.record(0, [1.0, 2.0, 3.0], [False] * 3, np.zeros(3, bool), np.ones((3, 4)))
    recorder.record(0, np.ones(3, np.float32), np.zeros(3, bool), np.zeros(3, bool),
                    np.ones((3, 4), np.int64))
    np.testing.assert_array_equal(raw_rows, 1.0)
    with pytest.raises(ValueError, match="NaN or infinite observation"):
        recorder.record(1, np.ones(3), np.zeros(3, bool), np.zeros(3, bool),
                        np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="non-finite reward"):
        recorder.record(1, np.array([0.0, np.inf, 0.0]), np.zeros(3, bool), np.zeros(3, bool))
    with pytest.raises(ValueError, match="shape"):
        recorder.record(1, np.ones(3), np.zeros(3, bool), np.zeros(3, bool), np.ones((3, 5)))
