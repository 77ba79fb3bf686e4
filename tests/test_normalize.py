
import numpy as np
import pytest

from fasttrpo.models.normalize import ObservationNormalizer, RewardScaler, RunningMeanStd


def test_running_mean_std_matches_concatenation(rng):
    rms = RunningMeanStd((3,), epsilon=1e-12)  # negligible pseudo-count
    batches = [rng.normal(2.0, 3.0, (int(rng.integers(1, 20)), 3)) for _ in range(30)]
    for batch in batches:
        rms.update(batch)
    data = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean, data.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(rms.var, data.var(axis=0), rtol=1e-9)
    assert rms.count == pytest.approx(len(data))


def test_running_mean_std_prior_is_sb3s(rng):
    # sb3 starts from mean 0, var 1, count epsilon: the first batch is pulled towards that prior
    rms = RunningMeanStd((), epsilon=1.0)
    batch = rng.normal(size=4)
    rms.update(batch)
    data_mean, data_var = batch.mean(), batch.var()
    # Chan et al. with (0, 1, 1) and (mean, var, 4)
    assert rms.mean == pytest.approx(data_mean * 4 / 5)
    assert rms.var == pytest.approx((1 + 4 * data_var + data_mean**2 * 4 / 5) / 5)
    with pytest.raises(ValueError, match="batch"):
        rms.update(np.array([[1.0]]))
    with pytest.raises(ValueError, match="batch"):
        rms.update(np.array([np.nan]))


def test_observation_normalizer_formula_clip_and_out(rng):
    norm = ObservationNormalizer(2, clip_obs=1.5)
    data = rng.normal([1.0, -5.0], [0.5, 4.0], (200, 2))
    norm.update(data)
    obs = np.array([[1.0, -5.0], [3.0, 10.0], [-2.0, -30.0]])
    expected = np.clip((obs - norm.rms.mean) / np.sqrt(norm.rms.var + 1e-8), -1.5, 1.5)
    got = norm.normalize(obs)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got.max() == 1.5 and got.min() == -1.5  # both ends clipped
    for dtype in (np.float32, np.float64):
        out = np.empty((3, 2), dtype=dtype)
        assert norm.normalize(obs, out=out) is out
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(norm.normalize(obs[0]), expected[0], rtol=1e-12)  # single row
    with pytest.raises(ValueError, match="out"):
        norm.normalize(obs, out=np.empty((2, 2)))
    with pytest.raises(ValueError, match="obs"):
        norm.normalize(np.zeros((3, 3)))


def test_normalize_with_out_does_not_allocate(rng):
    import tracemalloc

    norm = ObservationNormalizer(16)
    obs, out = rng.normal(size=(64, 16)), np.empty((64, 16), dtype=np.float32)
    norm.normalize(obs, out=out)  # sizes the work buffer
    tracemalloc.start()
    for _ in range(50):
        norm.normalize(obs, out=out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < obs.nbytes // 4  # a temporary copy of the batch would show here


def test_frozen_statistics_do_not_change(rng):
    norm = ObservationNormalizer(3)
    norm.update(rng.normal(size=(10, 3)))
    state = norm.state_dict()
    before = norm.normalize(np.ones(3))
    norm.training = False
    norm.update(rng.normal(5.0, 1.0, size=(10, 3)))
    np.testing.assert_array_equal(norm.normalize(np.ones(3)), before)
    for key, value in norm.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    norm.training = True
    norm.update(rng.normal(5.0, 1.0, size=(10, 3)))
    assert not np.array_equal(norm.normalize(np.ones(3)), before)


def sb3_reward_reference(rewards, dones, gamma, clip, eps=1e-8):
    """sb3 VecNormalize.step_wait for rewards, written as a plain loop."""
    n_envs = rewards.shape[1]
    ret = np.zeros(n_envs)
    mean, var, count = 0.0, 1.0, 1e-4
    out = []
    for r, d in zip(rewards, dones):
        ret = ret * gamma + r
        b_mean, b_var, b_count = ret.mean(), ret.var(), n_envs
        delta = b_mean - mean
        tot = count + b_count
        mean, var = mean + delta * b_count / tot, (
            var * count + b_var * b_count + delta**2 * count * b_count / tot) / tot
        count = tot
        out.append(np.clip(r / np.sqrt(var + eps), -clip, clip))
        ret = np.where(d, 0.0, ret)
    return np.array(out), (mean, var, count)


def test_reward_scaler_matches_sb3_loop(rng):
    n_steps, n_envs, gamma = 60, 3, 0.9
    rewards = rng.normal(1.0, 2.0, (n_steps, n_envs))
    rewards[7, 1] = 300.0  # large enough to be clipped
    dones = rng.random((n_steps, n_envs)) < 0.15
    expected, (mean, var, count) = sb3_reward_reference(rewards, dones, gamma, clip=5.0)
    scaler = RewardScaler(n_envs, gamma, clip_reward=5.0)
    got = np.array([scaler.scale(r, d) for r, d in zip(rewards, dones)])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.abs(got).max() == 5.0
    state = scaler.state_dict()
    assert float(state["mean"]) == pytest.approx(mean)
    assert float(state["var"]) == pytest.approx(var)
    assert float(state["count"]) == pytest.approx(count)
    # resets matter: ignoring them gives different returns, hence different scales
    no_reset, _ = sb3_reward_reference(rewards, np.zeros_like(dones), gamma, clip=5.0)
    assert not np.allclose(no_reset, expected)


def test_reward_scaler_frozen_and_round_trip(rng):
    scaler = RewardScaler(2, 0.99)
    for _ in range(20):
        scaler.scale(rng.normal(size=2), np.array([False, True]))
    scaler.training = False
    state = scaler.state_dict()
    r = np.array([1.0, -2.0])
    first = scaler.scale(r, np.array([False, False]))
    np.testing.assert_array_equal(scaler.scale(r, np.array([False, False])), first)
    np.testing.assert_allclose(first, r / np.sqrt(float(state["var"]) + 1e-8))
    fresh = RewardScaler(2, 0.99)
    fresh.load_state_dict(state)
    fresh.training = False
    np.testing.assert_array_equal(fresh.scale(r, np.array([False, False])), first)
    with pytest.raises(ValueError, match="rewards"):
        scaler.scale(np.zeros(3), np.zeros(3, dtype=bool))


def test_state_round_trip_and_validation(rng):
    norm = ObservationNormalizer(3)
    norm.update(rng.normal(size=(25, 3)))
    other = ObservationNormalizer(3)
    other.load_state_dict(norm.state_dict())
    obs = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(other.normalize(obs), norm.normalize(obs))
    other.update(obs)  # continued statistics agree too
    norm.update(obs)
    np.testing.assert_array_equal(other.state_dict()["var"], norm.state_dict()["var"])
    good = norm.state_dict()
    with pytest.raises(ValueError, match="mean"):
        other.load_state_dict({**good, "mean": np.zeros(2)})
    with pytest.raises(ValueError, match="var"):
        other.load_state_dict({**good, "var": np.array([1.0, np.nan, 1.0])})
    with pytest.raises(ValueError, match="count"):
        other.load_state_dict({k: v for k, v in good.items() if k != "count"})


def _sb3_update(mean, var, count, batch):
    """sb3's RunningMeanStd.update, in numpy (the reference)."""
    batch_mean, batch_var, n = np.mean(batch, axis=0), np.var(batch, axis=0), batch.shape[0]
    delta = batch_mean - mean
    total = count + n
    new_mean = mean + delta * n / total
    m_2 = var * count + batch_var * n + np.square(delta) * count * n / total
    return new_mean, m_2 / total, total


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_running_mean_std_is_numpys_to_the_last_bit(rng, shape):
    """The compiled statistics (fasttrpo.kernels.statistics, shared with the compiled rollout)
    equal sb3's numpy formulas bit for bit: row batches and vectors longer than numpy's
    128-value pairwise blocks included."""
    rms = RunningMeanStd(shape)
    mean, var, count = np.zeros(shape), np.ones(shape), 1e-4
    for size in (1, 2, 7, 129, 300, 1000):
        batch = rng.normal(3.0, 2.0, (size, *shape))
        rms.update(batch)
        mean, var, count = _sb3_update(mean, var, count, batch)
        assert np.array_equal(rms.mean, mean) and np.array_equal(rms.var, var)
        assert rms.count == count


def test_running_mean_std_refuses_a_bad_batch_unchanged(rng):
    rms = RunningMeanStd((2,))
    rms.update(rng.normal(size=(5, 2)))
    before = rms.state_dict()
    for bad, why in ((np.array([[np.nan, 0.0]]), "NaN"), (np.full((2, 2), 1e200), "overflow")):
        with pytest.raises(ValueError, match=why):
            rms.update(bad)
        after = rms.state_dict()
        assert all(np.array_equal(before[k], after[k]) for k in before)


# ---- 4: the reward normaliser refuses what overflows, unchanged ---------------------------
def test_running_stats_refuse_an_overflowing_batch_unchanged():
    rms = RunningMeanStd()
    rms.update(np.array([1.0, 2.0, 3.0]))
    state = rms.state_dict()
    with pytest.raises(ValueError, match="too large"):
        rms.update(np.array([1e200]))
    for key, value in state.items():
        np.testing.assert_array_equal(rms.state_dict()[key], value)


def test_reward_scaler_error_names_the_rewards_and_keeps_its_returns():
    scaler = RewardScaler(2, gamma=0.99)
    scaler.scale(np.array([1.0, 2.0]), np.array([False, False]))
    returns = scaler.returns.copy()
    with pytest.raises(ValueError, match=r"rewards: \[1e\+200, 1\.0\] cannot be normalised"):
        scaler.scale(np.array([1e200, 1.0]), np.array([False, False]))
    np.testing.assert_array_equal(scaler.returns, returns)
