"""GAE (Cython) against a plain Python loop written independently here."""

import numpy as np
import pytest

from fasttrpo._cython.gae import compute_gae

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Textbook GAE, one env at a time, in float64 Python scalars.

    ``next_values[t]`` is V of the observation that followed step t (the final
    observation on truncation). Termination: no bootstrap. Either kind of
    episode end stops the recursion.
    """
    T, E = rewards.shape
    adv = np.zeros((T, E))
    for e in range(E):
        running = 0.0
        for t in reversed(range(T)):
            if terminated[t, e]:
                bootstrap = 0.0
            else:
                bootstrap = float(next_values[t, e])
            delta = float(rewards[t, e]) + gamma * bootstrap - float(values[t, e])
            if terminated[t, e] or truncated[t, e]:
                running = 0.0
            running = delta + gamma * lam * running
            adv[t, e] = running
    return adv, adv + values.astype(np.float64)


def make_batch(dtype, T=9, E=3, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, E)).astype(dtype)
    values = rng.normal(size=(T, E)).astype(dtype)
    next_values = rng.normal(size=(T, E)).astype(dtype)
    terminated = np.zeros((T, E), dtype=np.uint8)
    truncated = np.zeros((T, E), dtype=np.uint8)
    # env 0: terminates at t=2, truncated at t=5, still running at the batch end
    terminated[2, 0] = 1
    truncated[5, 0] = 1
    # env 1: truncated at t=3, terminates exactly at the batch end
    truncated[3, 1] = 1
    terminated[T - 1, 1] = 1
    # env 2: one long episode truncated exactly at the batch end
    truncated[T - 1, 2] = 1
    return rewards, values, next_values, terminated, truncated


def run_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    dones = (terminated | truncated).astype(np.uint8)
    adv = np.empty_like(rewards)
    ret = np.empty_like(rewards)
    compute_gae(rewards, values, next_values, terminated, dones, gamma, lam, adv, ret)
    return adv, ret


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 1.0), (0.5, 0.0)])
def test_matches_reference_loop(dtype, gamma, lam):
    batch = make_batch(dtype)
    adv, ret = run_gae(*batch, gamma, lam)
    adv_ref, ret_ref = reference_gae(*batch, gamma, lam)
    assert adv.dtype == dtype and ret.dtype == dtype
    np.testing.assert_allclose(adv, adv_ref, **TOL[dtype])
    np.testing.assert_allclose(ret, ret_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_episode_end_formulas_by_hand(dtype):
    rewards, values, next_values, terminated, truncated = make_batch(dtype)
    gamma, lam = 0.99, 0.95
    adv, _ = run_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    r, v, nv = (x.astype(np.float64) for x in (rewards, values, next_values))
    # termination: delta only, no bootstrap, no carry
    np.testing.assert_allclose(adv[2, 0], r[2, 0] - v[2, 0], **TOL[dtype])
    # truncation: bootstrap from V(final obs), no carry
    np.testing.assert_allclose(adv[5, 0], r[5, 0] + gamma * nv[5, 0] - v[5, 0], **TOL[dtype])
    # batch end without episode end: bootstrap from V(last obs), A_T = 0
    T = rewards.shape[0]
    np.testing.assert_allclose(
        adv[T - 1, 0], r[T - 1, 0] + gamma * nv[T - 1, 0] - v[T - 1, 0], **TOL[dtype]
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncation_differs_from_termination(dtype):
    rewards, values, next_values, terminated, truncated = make_batch(dtype)
    next_values[4, 2] = 3.0  # sizeable bootstrap so the difference is visible
    gamma, lam = 0.99, 0.95

    term = terminated.copy()
    term[4, 2] = 1
    adv_term, _ = run_gae(rewards, values, next_values, term, truncated, gamma, lam)

    trunc = truncated.copy()
    trunc[4, 2] = 1
    adv_trunc, _ = run_gae(rewards, values, next_values, terminated, trunc, gamma, lam)

    # At the end step the truncated episode bootstraps gamma * V(final obs) ...
    np.testing.assert_allclose(adv_trunc[4, 2] - adv_term[4, 2], gamma * 3.0, **TOL[dtype])
    # ... which propagates backwards through the episode, discounted by gamma*lambda
    np.testing.assert_allclose(
        adv_trunc[3, 2] - adv_term[3, 2], gamma * lam * gamma * 3.0, **TOL[dtype]
    )
    # and the recursion is cut in both cases: later steps are unaffected
    np.testing.assert_array_equal(adv_trunc[5:, 2], adv_term[5:, 2])
    np.testing.assert_array_equal(adv_trunc[:, :2], adv_term[:, :2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_recursion_cut_at_episode_end(dtype):
    rewards, values, next_values, terminated, truncated = make_batch(dtype)
    adv0, _ = run_gae(rewards, values, next_values, terminated, truncated, 0.99, 0.95)
    rewards2 = rewards.copy()
    rewards2[6:, 0] += 10  # after env 0's truncation at t=5
    adv1, _ = run_gae(rewards2, values, next_values, terminated, truncated, 0.99, 0.95)
    np.testing.assert_array_equal(adv0[:6, 0], adv1[:6, 0])
    assert np.all(adv0[6:, 0] != adv1[6:, 0])


def test_read_only_inputs_accepted():
    batch = make_batch(np.float64)
    for x in batch:
        x.flags.writeable = False
    adv, ret = run_gae(*batch, 0.99, 0.95)
    adv_ref, ret_ref = reference_gae(*batch, 0.99, 0.95)
    np.testing.assert_allclose(adv, adv_ref, **TOL[np.float64])
    np.testing.assert_allclose(ret, ret_ref, **TOL[np.float64])


ARG_NAMES = ["values", "next_values", "terminated", "dones", "advantages_out", "returns_out"]


@pytest.mark.parametrize("bad", ARG_NAMES)
def test_shape_mismatch_raises_naming_argument(bad):
    T, E = 5, 3
    args = {
        "rewards": np.zeros((T, E)),
        "values": np.zeros((T, E)),
        "next_values": np.zeros((T, E)),
        "terminated": np.zeros((T, E), np.uint8),
        "dones": np.zeros((T, E), np.uint8),
        "advantages_out": np.zeros((T, E)),
        "returns_out": np.zeros((T, E)),
    }
    args[bad] = np.zeros((T, E + 1), dtype=args[bad].dtype)
    with pytest.raises(ValueError, match=f"^{bad} "):
        compute_gae(
            args["rewards"], args["values"], args["next_values"], args["terminated"],
            args["dones"], 0.99, 0.95, args["advantages_out"], args["returns_out"],
        )
