import numpy as np
import pytest

from fasttrpo.models.value_function import ValueFunction

import reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_value_loss_and_gradient_match_finite_differences(dtype, activation, rng):
    vf = ValueFunction(3, (6, 5), activation, dtype=dtype, seed=1)
    obs = rng.standard_normal((17, 3))
    targets = rng.standard_normal(17)
    params = vf.get_params().astype(np.float64)

    def loss(theta):
        pred = reference.mlp_forward(theta, vf.layout.layer_sizes, activation, obs)[:, 0]
        return np.mean((pred - targets) ** 2)

    value, grad = vf.loss_grad(obs, targets)
    rtol = 2e-3 if dtype == np.float32 else 1e-6
    assert value == pytest.approx(loss(params), rel=rtol)
    expected = reference.central_gradient(loss, params, 1e-6)
    np.testing.assert_allclose(grad, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    np.testing.assert_allclose(
        vf.predict(obs),
        reference.mlp_forward(params, vf.layout.layer_sizes, activation, obs)[:, 0],
        rtol=rtol, atol=rtol,
    )
    # evaluating at other parameters leaves the stored ones alone
    other = params + 0.1
    assert vf.loss_grad(obs, targets, other)[0] == pytest.approx(loss(other), rel=rtol)
    np.testing.assert_array_equal(vf.get_params(), params.astype(dtype))


def test_orthogonal_init_gains():
    vf = ValueFunction(64, (64, 64), seed=0, dtype=np.float64)
    layer_sizes = vf.layout.layer_sizes
    params = vf.get_params()
    w0 = params[: 64 * 64].reshape(64, 64)
    # square hidden layer: W^T W = gain^2 I with gain sqrt(2)
    np.testing.assert_allclose(w0.T @ w0, 2 * np.eye(64), atol=1e-10)
    np.testing.assert_array_equal(params[64 * 64 : 64 * 65], 0.0)
    w_out = params[-65:-1]
    assert layer_sizes[-1] == 1 and np.linalg.norm(w_out) == pytest.approx(1.0)
