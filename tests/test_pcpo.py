"""PCPO: the step against the projection solved by scipy on an explicit Fisher matrix, the
step as applied to a policy, and the algorithm end to end."""

import math

import numpy as np
import pytest
from probes import linearized_problem
from scipy.optimize import minimize

from fasttrpo import PCPO
from fasttrpo.algorithms import load_model
from fasttrpo.cli import main
from fasttrpo.steps.pcpo import pcpo_direction, pcpo_step

MAX_KL, DAMPING = 0.01, 0.1
POINT = "fasttrpo/SafetyPointVelocity-v0"


def _projection_by_scipy(x_r, b, c, metric):
    """argmin (x - x_r)^T L (x - x_r) / 2 s.t. b.x + c <= 0, by SLSQP (the paper's step 2)."""
    result = minimize(lambda x: 0.5 * (x - x_r) @ metric @ (x - x_r), x_r,
                      jac=lambda x: metric @ (x - x_r), method="SLSQP",
                      constraints=[{"type": "ineq", "fun": lambda x: -(b @ x + c),
                                    "jac": lambda x: -b}],
                      options={"ftol": 1e-15, "maxiter": 500})
    assert result.success, result.message
    return result.x


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("projection", ["kl", "l2"])
@pytest.mark.parametrize("scale", [-3.0, -0.2, 0.0, 0.7])
def test_the_step_is_the_papers_on_the_explicit_fisher(seed, projection, scale):
    """x_r = sqrt(2 delta / g^T H^-1 g) H^-1 g, then the projection in the L-norm: compared
    with scipy's solution of the projection problem, H built column by column."""
    _, _, _, _, _, g, b, hessian = linearized_problem(seed, DAMPING)
    v, w = np.linalg.solve(hessian, g), np.linalg.solve(hessian, b)
    x_r = math.sqrt(2 * MAX_KL / (g @ v)) * v
    assert 0.5 * x_r @ hessian @ x_r == pytest.approx(MAX_KL)  # on the trust region's edge
    c = -(b @ x_r) + scale * abs(b @ x_r)  # < 0 when scale > 0: x_r breaks the constraint
    metric = hessian if projection == "kl" else np.eye(len(g))
    x, coefficient = pcpo_direction(v, w, g, b, c, MAX_KL, projection)
    expected = _projection_by_scipy(x_r, b, c, metric)  # SLSQP: ~1e-6 relative in H's norm
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    if b @ x_r + c > 0:  # projected: on the constraint boundary
        assert coefficient > 0 and b @ x + c == pytest.approx(0.0, abs=1e-12)
    else:  # feasible already: the reward step as it is
        assert coefficient == 0.0 and np.array_equal(x, x_r)


@pytest.mark.parametrize("projection", ["kl", "l2"])
def test_pcpo_step_moves_the_policy_by_the_explicit_step(projection):
    """The applied step (CG on the compiled FVPs) is the explicit one, shrunk only if its
    measured KL exceeds the bound."""
    policy, obs, actions, adv_r, adv_c, g, b, hessian = linearized_problem(3, DAMPING)
    v, w = np.linalg.solve(hessian, g), np.linalg.solve(hessian, b)
    x_r = math.sqrt(2 * MAX_KL / (g @ v)) * v
    c = -(b @ x_r) + 0.5 * abs(b @ x_r)  # violated after the reward step: a projection
    expected, _ = pcpo_direction(v, w, g, b, c, MAX_KL, projection)
    before = policy.get_params()
    info = pcpo_step(policy, obs, actions, adv_r, adv_c, c, projection, max_kl=MAX_KL,
                     cg_max_steps=200, cg_damping=DAMPING)
    assert info.accepted and info.projection_coefficient > 0 and info.kl <= MAX_KL
    step = info.step_fraction * expected  # CG's residual tolerance: ~1e-5 relative
    np.testing.assert_allclose(policy.get_params() - before, step, rtol=1e-4,
                               atol=1e-4 * np.abs(step).max())


def test_bad_projection_and_non_finite_constraint_are_refused():
    policy, obs, actions, adv_r, adv_c, *_ = linearized_problem(0, DAMPING)
    with pytest.raises(ValueError, match="projection"):
        pcpo_step(policy, obs, actions, adv_r, adv_c, 0.0, "l1")
    before = policy.get_params()
    info = pcpo_step(policy, obs, actions, adv_r, adv_c, math.nan)
    assert not info.accepted and np.array_equal(policy.get_params(), before)


@pytest.mark.parametrize("projection", ["kl", "l2"])
def test_pcpo_trains_saves_and_loads(tmp_path, projection):
    model = PCPO("MlpPolicy", POINT, cost_limit=5.0, projection=projection, n_steps=64,
                 batch_size=64, seed=0, policy_kwargs=dict(net_arch=[8]))
    model.learn(192)
    values = model.logger.last_values
    assert "train/projection_coefficient" in values and "train/episode_cost" in values
    loaded = load_model(model.save(tmp_path / "m"), env=POINT)
    assert type(loaded) is PCPO and loaded.config.projection == projection
    obs = np.zeros((3, 2))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])


def test_cli_trains_pcpo(tmp_path, capsys):
    code = main(["train", POINT, "--algo", "pcpo", "--projection", "l2", "--timesteps", "64",
                 "--n_steps", "32", "--batch_size", "32", "--cost_limit", "5", "--save",
                 str(tmp_path / "p"), "--eval-episodes", "1"])
    assert code == 0, capsys.readouterr().err
    assert load_model(tmp_path / "p.zip").config.projection == "l2"
