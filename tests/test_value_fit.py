import numpy as np
import pytest

from fasttrpo.models.value_function import ValueFunction
from fasttrpo.steps.value_fit import AdamValueFitter, LBFGSValueFitter


def reference_adam(vf, params, obs, targets, permutations, batch_size, lr, betas, eps, state):
    """torch.optim.Adam over sb3-style minibatches, a plain numpy loop.

    ``state`` = [m, v, step] is updated in place; gradients come from ``vf.loss_grad``.
    """
    beta1, beta2 = betas
    m, v, step = state
    losses = []
    for perm in permutations:
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            loss, grad = vf.loss_grad(obs[idx], targets[idx], params)
            grad = grad.astype(np.float64)
            losses.append(loss)
            step += 1
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad**2
            m_hat = m / (1 - beta1**step)
            v_hat = v / (1 - beta2**step)
            params = (params - lr * m_hat / (np.sqrt(v_hat) + eps)).astype(vf.dtype)
    state[:] = [m, v, step]
    return params, float(np.mean(losses))


def regression_data(n, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-2.0, 2.0, (n, 2))
    return obs, np.sin(obs[:, 0]) + obs[:, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_matches_numpy_loop(dtype):
    # 37 rows in batches of 8: four full batches and a partial one of 5 per epoch
    obs, targets = regression_data(37)
    vf = ValueFunction(2, (6, 5), "tanh", dtype=dtype, seed=3)
    params0 = vf.get_params()
    fitter = AdamValueFitter(vf, learning_rate=3e-3, n_epochs=3, batch_size=8, eps=1e-5,
                             betas=(0.9, 0.99))
    ref_vf = ValueFunction(2, (6, 5), "tanh", dtype=dtype, seed=3)  # gradients only
    state = [np.zeros(vf.num_params), np.zeros(vf.num_params), 0]
    params = params0
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    for call in range(2):  # the Adam state carries over between fits
        loss = fitter.fit(obs, targets, np.random.default_rng(call))
        perm_rng = np.random.default_rng(call)
        permutations = [perm_rng.permutation(37) for _ in range(3)]
        params, ref_loss = reference_adam(ref_vf, params, obs, targets, permutations, 8,
                                          3e-3, (0.9, 0.99), 1e-5, state)
        assert loss == pytest.approx(ref_loss, rel=rtol)
        np.testing.assert_allclose(vf.get_params(), params, rtol=rtol, atol=rtol * 1e-2)
        np.testing.assert_allclose(fitter.m, state[0], rtol=rtol, atol=1e-7)
        assert fitter.step == state[2] == 15 * (call + 1)
    assert not np.allclose(vf.get_params(), params0)


def test_adam_batch_larger_than_data():
    obs, targets = regression_data(5)
    vf = ValueFunction(2, (4,), "relu", dtype=np.float64, seed=0)
    ref_vf = ValueFunction(2, (4,), "relu", dtype=np.float64, seed=0)
    fitter = AdamValueFitter(vf, n_epochs=2, batch_size=64)
    loss = fitter.fit(obs, targets, 7)
    perm_rng = np.random.default_rng(7)
    state = [0.0, 0.0, 0]
    params, ref_loss = reference_adam(
        ref_vf, ref_vf.get_params(), obs, targets, [perm_rng.permutation(5) for _ in range(2)],
        64, 1e-3, (0.9, 0.999), 1e-5, state)
    np.testing.assert_allclose(vf.get_params(), params, rtol=1e-10)
    assert loss == pytest.approx(ref_loss) and fitter.step == 2


def initial_loss(vf, obs, targets):
    return vf.loss_grad(obs, targets)[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitters_reduce_regression_loss(dtype):
    obs, targets = regression_data(400)
    vf = ValueFunction(2, (32, 32), "tanh", dtype=dtype, seed=0)
    start = initial_loss(vf, obs, targets)
    fitter = AdamValueFitter(vf, learning_rate=3e-3, n_epochs=10, batch_size=64)
    rng = np.random.default_rng(0)
    for _ in range(15):
        fitter.fit(obs, targets, rng)
    assert initial_loss(vf, obs, targets) < start / 30

    vf = ValueFunction(2, (32, 32), "tanh", dtype=dtype, seed=0)
    lbfgs = LBFGSValueFitter(vf, max_iter=100)
    loss = lbfgs.fit(obs, targets)
    assert loss == pytest.approx(initial_loss(vf, obs, targets), rel=1e-5)
    assert loss < start / 30


def test_lbfgs_l2_penalty_shrinks_parameters():
    obs, targets = regression_data(200)
    norms = []
    for l2 in (0.0, 1e-1):
        vf = ValueFunction(2, (8,), "tanh", dtype=np.float64, seed=1)
        LBFGSValueFitter(vf, max_iter=50, l2_reg=l2).fit(obs, targets)
        norms.append(np.linalg.norm(vf.get_params()))
    assert norms[1] < 0.7 * norms[0]


def test_adam_state_round_trip_continues_identically():
    obs, targets = regression_data(50)
    vf = ValueFunction(2, (8, 8), dtype=np.float32, seed=0)
    fitter = AdamValueFitter(vf, n_epochs=2, batch_size=16)
    fitter.fit(obs, targets, 0)
    saved_params, saved_state = vf.get_params(), fitter.state_dict()
    fitter.fit(obs, targets, 1)
    expected = vf.get_params()

    vf2 = ValueFunction(2, (8, 8), dtype=np.float32, seed=5)
    vf2.set_params(saved_params)
    fitter2 = AdamValueFitter(vf2, n_epochs=2, batch_size=16)
    fitter2.load_state_dict(saved_state)
    assert fitter2.step == 8
    fitter2.fit(obs, targets, 1)
    np.testing.assert_array_equal(vf2.get_params(), expected)

    # without the Adam state the continuation differs
    vf3 = ValueFunction(2, (8, 8), dtype=np.float32, seed=5)
    vf3.set_params(saved_params)
    AdamValueFitter(vf3, n_epochs=2, batch_size=16).fit(obs, targets, 1)
    assert not np.allclose(vf3.get_params(), expected)

    with pytest.raises(ValueError, match="v"):
        fitter2.load_state_dict({**saved_state, "v": np.zeros(3)})
    with pytest.raises(ValueError, match="step"):
        fitter2.load_state_dict({**saved_state, "step": np.array(1.5)})
    with pytest.raises(ValueError, match="m"):
        fitter2.load_state_dict({"v": saved_state["v"], "step": saved_state["step"]})


def test_bad_inputs_name_the_argument():
    vf = ValueFunction(2, (4,), dtype=np.float64, seed=0)
    before = vf.get_params()
    for fitter in (AdamValueFitter(vf), LBFGSValueFitter(vf)):
        with pytest.raises(ValueError, match="obs"):
            fitter.fit(np.zeros((4, 3)), np.zeros(4), 0)
        with pytest.raises(ValueError, match="targets"):
            fitter.fit(np.zeros((4, 2)), np.array([0.0, np.nan, 0.0, 0.0]), 0)
        with pytest.raises(ValueError, match="targets"):
            fitter.fit(np.zeros((4, 2)), np.zeros(5), 0)
    np.testing.assert_array_equal(vf.get_params(), before)
    with pytest.raises(ValueError, match="batch_size"):
        AdamValueFitter(vf, batch_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        AdamValueFitter(vf, learning_rate=float("nan"))
    with pytest.raises(ValueError, match="value_function"):
        LBFGSValueFitter(object())
