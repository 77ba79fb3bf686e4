"""Cython MLP forward pass and action heads against numpy references."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fasttrpo._cython.forward import act, mlp_forward, mlp_num_params, work_size
from fasttrpo.foundation.heads import BERNOULLI, CATEGORICAL, GAUSSIAN, RELU, TANH

import reference

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def make_params(layer_sizes, dtype, rng, extra=0):
    """Random flat parameters [W0, b0, ..., WL, bL, extra...]."""
    n = mlp_num_params(layer_sizes) + extra
    return rng.normal(scale=0.7, size=n).astype(dtype)


def numpy_mlp(params, layer_sizes, activation, obs):
    """The float64 numpy reference forward (tests/reference.py), by activation code."""
    name = "tanh" if activation == TANH else "relu"
    return reference.mlp_forward(params.astype(np.float64), list(layer_sizes), name, obs)


def sizes_arr(sizes):
    return np.asarray(sizes, dtype=np.int64)


def run_act(params, sizes, activation, head, nvec, obs, noise, deterministic):
    B = obs.shape[0]
    k = len(nvec) if head == CATEGORICAL and nvec is not None else sizes[-1]
    out = np.full((B, k), np.nan, dtype=params.dtype)
    work = np.full(work_size(sizes, B), np.nan, dtype=params.dtype)
    nvec_arr = None if nvec is None else sizes_arr(nvec)
    act(params, sizes_arr(sizes), activation, head, nvec_arr, obs, noise, out, work,
        deterministic)
    return out


# --------------------------------------------------------------------------- mlp_forward

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [TANH, RELU])
@pytest.mark.parametrize("hidden", [(), (8,), (16, 5)])
@pytest.mark.parametrize("batch", [1, 37])
def test_mlp_forward_matches_numpy(dtype, activation, hidden, batch):
    rng = np.random.default_rng(hash((hidden, batch)) % 2**32)
    sizes = [4, *hidden, 3]
    params = make_params(sizes, dtype, rng, extra=3)  # trailing entries are ignored
    obs = rng.normal(size=(batch, 4)).astype(dtype)
    out = np.full((batch, 3), np.nan, dtype=dtype)
    # exactly the minimum mlp_forward needs (NaN-filled: stale scratch must not leak)
    work = np.full(2 * batch * max(hidden, default=0), np.nan, dtype=dtype)
    mlp_forward(params, sizes_arr(sizes), activation, obs, out, work)
    np.testing.assert_allclose(out, numpy_mlp(params, sizes, activation, obs), **TOL[dtype])


def test_mlp_forward_wide_layers_and_reuse_of_work():
    rng = np.random.default_rng(1)
    sizes = [11, 64, 64, 2]
    params = make_params(sizes, np.float64, rng)
    work = np.empty(work_size(sizes, 50))
    for _ in range(2):
        obs = rng.normal(size=(50, 11))
        out = np.empty((50, 2))
        mlp_forward(params, sizes_arr(sizes), TANH, obs, out, work)
        np.testing.assert_allclose(out, numpy_mlp(params, sizes, TANH, obs), **TOL[np.float64])


def test_work_size():
    assert work_size([4, 3], 10) == 10 * 3
    assert work_size([4, 8, 16, 5, 3], 10) == 2 * 10 * 16 + 10 * 3
    assert mlp_num_params([4, 8, 3]) == 4 * 8 + 8 + 8 * 3 + 3


@pytest.mark.parametrize(
    "change,name",
    [
        ({"obs": np.zeros((5, 3))}, "obs"),
        ({"out": np.zeros((5, 2))}, "out"),
        ({"out": np.zeros((4, 3))}, "out"),
        ({"params": np.zeros(10)}, "params"),
        ({"work": np.zeros(3)}, "work"),
        ({"activation": 2}, "activation"),
        ({"layer_sizes": sizes_arr([4])}, "layer_sizes"),
        ({"layer_sizes": sizes_arr([4, 0, 3])}, "layer_sizes"),
    ],
)
def test_mlp_forward_bad_args(change, name):
    sizes = [4, 8, 3]
    args = {
        "params": np.zeros(mlp_num_params(sizes)), "layer_sizes": sizes_arr(sizes),
        "activation": TANH,
        "obs": np.zeros((5, 4)), "out": np.zeros((5, 3)), "work": np.zeros(work_size(sizes, 5)),
    }
    args.update(change)
    with pytest.raises(ValueError, match=name):
        mlp_forward(**args)


def test_mlp_forward_dtype_mismatch_rejected():
    sizes = [4, 3]
    with pytest.raises((TypeError, ValueError)):
        mlp_forward(np.zeros(15), sizes_arr(sizes), TANH, np.zeros((2, 4), np.float32),
                    np.zeros((2, 3)), np.zeros(6))


# --------------------------------------------------------------------------- Gaussian head

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [(), (8, 8)])
@pytest.mark.parametrize("batch", [1, 37])
def test_gaussian_head(dtype, hidden, batch):
    rng = np.random.default_rng(2)
    sizes = [5, *hidden, 2]
    params = make_params(sizes, dtype, rng, extra=2)
    log_std = params[-2:].astype(np.float64)
    obs = rng.normal(size=(batch, 5)).astype(dtype)
    noise = rng.normal(size=(batch, 2)).astype(dtype)
    mean = numpy_mlp(params, sizes, TANH, obs)

    det = run_act(params, sizes, TANH, GAUSSIAN, None, obs, noise, True)
    np.testing.assert_allclose(det, mean, **TOL[dtype])
    det_no_noise = run_act(params, sizes, TANH, GAUSSIAN, None, obs, None, True)
    np.testing.assert_array_equal(det_no_noise, det)

    sto = run_act(params, sizes, TANH, GAUSSIAN, None, obs, noise, False)
    np.testing.assert_allclose(sto, mean + np.exp(log_std) * noise, **TOL[dtype])


def test_gaussian_head_requires_log_std():
    sizes = [3, 2]
    params = np.zeros(mlp_num_params(sizes))  # no log_std appended
    with pytest.raises(ValueError, match="params"):
        run_act(params, sizes, TANH, GAUSSIAN, None, np.zeros((4, 3)), np.zeros((4, 2)), False)


# --------------------------------------------------------------------------- categorical head

def numpy_categorical(logits, nvec, u, deterministic):
    acts = []
    start = 0
    for j, n in enumerate(nvec):
        z = logits[:, start:start + n]
        start += n
        if deterministic:
            acts.append(z.argmax(axis=1))
        else:
            p = np.exp(z - z.max(axis=1, keepdims=True))
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            acts.append((cdf > u[:, j:j + 1]).argmax(axis=1))
    return np.stack(acts, axis=1)


def categorical_boundary_mask(logits, nvec, u, eps):
    """True where u is at least eps away from every CDF boundary (no rounding ties)."""
    ok = np.ones(u.shape, dtype=bool)
    start = 0
    for j, n in enumerate(nvec):
        z = logits[:, start:start + n]
        start += n
        p = np.exp(z - z.max(axis=1, keepdims=True))
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        ok[:, j] = np.all(np.abs(cdf - u[:, j:j + 1]) > eps, axis=1)
    return ok


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [TANH, RELU])
@pytest.mark.parametrize("nvec", [[4], [2, 5, 3]])
@pytest.mark.parametrize("batch", [1, 37])
def test_categorical_head(dtype, activation, nvec, batch):
    rng = np.random.default_rng(3)
    sizes = [6, 16, sum(nvec)]
    params = make_params(sizes, dtype, rng) * 3  # spread-out logits
    obs = rng.normal(size=(batch, 6)).astype(dtype)
    u = rng.random(size=(batch, len(nvec))).astype(dtype)
    logits = numpy_mlp(params, sizes, activation, obs)

    det = run_act(params, sizes, activation, CATEGORICAL, nvec, obs, u, True)
    np.testing.assert_array_equal(det, numpy_categorical(logits, nvec, u, True))

    sto = run_act(params, sizes, activation, CATEGORICAL, nvec, obs, u, False)
    ref = numpy_categorical(logits, nvec, u.astype(np.float64), False)
    ok = categorical_boundary_mask(logits, nvec, u.astype(np.float64), 1e-4)
    np.testing.assert_array_equal(sto[ok], ref[ok])
    assert np.all(sto == np.round(sto)) and sto.min() >= 0
    assert np.all(sto < np.asarray(nvec))


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_frequencies_match_softmax(dtype):
    """Zero-hidden-layer net with W = 0: every row has logits b."""
    nvec = [3, 5]
    b = np.array([0.5, -1.0, 2.0, 0.0, 1.0, -2.0, 0.3, 0.7])
    sizes = [2, sum(nvec)]
    params = np.concatenate([np.zeros(2 * sum(nvec)), b]).astype(dtype)
    n = 200_000
    rng = np.random.default_rng(4)
    obs = rng.normal(size=(n, 2)).astype(dtype)
    u = rng.random(size=(n, 2)).astype(dtype)
    acts = run_act(params, sizes, TANH, CATEGORICAL, nvec, obs, u, False).astype(np.int64)
    start = 0
    for j, m in enumerate(nvec):
        z = b[start:start + m]
        start += m
        p = np.exp(z - z.max())
        p /= p.sum()
        freq = np.bincount(acts[:, j], minlength=m) / n
        # 5 standard errors of a binomial proportion
        np.testing.assert_allclose(freq, p, atol=5 * np.sqrt(p * (1 - p) / n).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_extreme_logits(dtype):
    """Huge logits do not overflow; categories with zero probability are never drawn."""
    b = np.array([-1e4, 1e4, -1e4, 1e4 - 1.0])
    sizes = [1, 4]
    params = np.concatenate([np.zeros(4), b]).astype(dtype)
    n = 10_000
    rng = np.random.default_rng(5)
    u = rng.random(size=(n, 1)).astype(dtype)
    u[0, 0] = 0.0
    u[1, 0] = np.nextafter(dtype(1), dtype(0))  # largest u < 1
    acts = run_act(params, sizes, TANH, CATEGORICAL, [4], np.zeros((n, 1), dtype), u, False)
    assert set(np.unique(acts)) <= {1.0, 3.0}
    freq1 = np.mean(acts == 1)
    p1 = 1 / (1 + np.exp(-1.0))
    assert abs(freq1 - p1) < 5 * np.sqrt(p1 * (1 - p1) / n)


def test_categorical_bad_nvec():
    sizes = [3, 5]
    params = np.zeros(mlp_num_params(sizes))
    obs, u = np.zeros((2, 3)), np.zeros((2, 2))
    with pytest.raises(ValueError, match="nvec"):
        run_act(params, sizes, TANH, CATEGORICAL, [2, 2], obs, u, False)
    with pytest.raises(ValueError, match="nvec"):
        run_act(params, sizes, TANH, CATEGORICAL, None, obs, u, False)


# --------------------------------------------------------------------------- Bernoulli head

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 37])
def test_bernoulli_head(dtype, batch):
    rng = np.random.default_rng(6)
    sizes = [3, 8, 4]
    params = make_params(sizes, dtype, rng) * 2
    obs = rng.normal(size=(batch, 3)).astype(dtype)
    u = rng.random(size=(batch, 4)).astype(dtype)
    logits = numpy_mlp(params, sizes, RELU, obs)

    det = run_act(params, sizes, RELU, BERNOULLI, None, obs, u, True)
    np.testing.assert_array_equal(det, (logits > 0).astype(dtype))

    sto = run_act(params, sizes, RELU, BERNOULLI, None, obs, u, False)
    prob = 1 / (1 + np.exp(-logits))
    ok = np.abs(prob - u) > 1e-4
    np.testing.assert_array_equal(sto[ok], (u < prob).astype(dtype)[ok])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bernoulli_extreme_logits(dtype):
    sizes = [1, 2]
    params = np.array([0, 0, 1e4, -1e4], dtype=dtype)
    u = np.array([[0.999, 0.0]] * 3, dtype=dtype)
    acts = run_act(params, sizes, TANH, BERNOULLI, None, np.zeros((3, 1), dtype), u, False)
    np.testing.assert_array_equal(acts, [[1, 0]] * 3)


# --------------------------------------------------------------------------- act() checks

@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"head": 3}, "head"),
        ({"noise": np.zeros((4, 3))}, "noise"),
        ({"noise": None}, "noise"),
        ({"out": np.zeros((4, 3))}, "actions_out"),
        ({"work_len": 10}, "work"),
        ({"obs": np.zeros((4, 2))}, "obs"),
    ],
)
def test_act_bad_args(kwargs, name):
    sizes = [3, 8, 2]
    B = 4
    args = {"head": BERNOULLI, "noise": np.zeros((B, 2)), "out": np.zeros((B, 2)),
                "work_len": work_size(sizes, B), "obs": np.zeros((B, 3))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        act(np.zeros(mlp_num_params(sizes)), sizes_arr(sizes), TANH, args["head"], None,
            args["obs"], args["noise"], args["out"], np.zeros(args["work_len"]), False)


def test_import_loads_blas_without_scipy_linalg():
    """The acting forward needs scipy's BLAS module only, not all of scipy.linalg (~0.3 s of
    import); scipy.optimize (L-BFGS fitter only) is imported on use. A later scipy.linalg
    import still works."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import fasttrpo
        policy = fasttrpo.GaussianMLPPolicy(3, 2, (4,), seed=0)
        fasttrpo.TRPO  # the whole training import path
        assert "scipy.linalg" not in sys.modules and "scipy.optimize" not in sys.modules
        assert "scipy.linalg.cython_blas" in sys.modules
        actions = policy.act(np.ones((2, 3)), deterministic=True)
        import scipy.linalg
        from scipy.linalg import cython_blas
        assert cython_blas is sys.modules["scipy.linalg.cython_blas"]
        np.testing.assert_array_equal(policy.act(np.ones((2, 3)), deterministic=True), actions)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
