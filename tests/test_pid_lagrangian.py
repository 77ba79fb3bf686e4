"""PID-Lagrangian TRPO: the controller against a plain loop of its formulas, its limiting
cases, its state, and the algorithm end to end."""

import numpy as np
import pytest

from fasttrpo import TRPOLagrangian, TRPOPIDLagrangian
from fasttrpo.algorithms import load_model
from fasttrpo.cli import main
from fasttrpo.steps.multiplier import PIDLagrangeMultiplier

POINT = "fasttrpo/SafetyPointVelocity-v0"
TINY = dict(n_steps=32, batch_size=16, policy_kwargs=dict(net_arch=[4]), n_critic_updates=1)


def reference_pid(costs, kp, ki, kd, limit, init, delay, alpha_p, alpha_d, penalty_max):
    """Stooke et al.'s PID Lagrangian, written out: integral clipped at 0, proportional on an
    EMA of the error, derivative on the smoothed cost's rise over ``delay`` updates."""
    integral, values = init, []
    error_ema = cost_ema = None
    smoothed = []  # the smoothed cost after every update
    for cost in costs:
        error = cost - limit
        integral = max(0.0, integral + ki * error)
        error_ema = error if error_ema is None else alpha_p * error_ema + (1 - alpha_p) * error
        cost_ema = cost if cost_ema is None else alpha_d * cost_ema + (1 - alpha_d) * cost
        past = smoothed[-delay] if len(smoothed) >= delay else (smoothed[0] if smoothed
                                                                 else cost_ema)
        derivative = max(0.0, cost_ema - past)
        values.append(min(penalty_max, max(0.0, kp * error_ema + integral + kd * derivative)))
        smoothed.append(cost_ema)
    return values


@pytest.mark.parametrize("seed", range(5))
def test_the_controller_is_the_papers_pid(seed):
    rng = np.random.default_rng(seed)
    gains = dict(kp=rng.uniform(0, 1), ki=rng.uniform(0, 0.5), kd=rng.uniform(0, 1),
                 limit=10.0, init=rng.uniform(0, 1), delay=int(rng.integers(1, 6)),
                 alpha_p=rng.uniform(0, 0.99), alpha_d=rng.uniform(0, 0.99), penalty_max=5.0)
    costs = np.abs(rng.normal(10, 8, 80)).tolist()
    controller = PIDLagrangeMultiplier(
        gains["kp"], gains["ki"], gains["kd"], gains["limit"], init=gains["init"],
        d_delay=gains["delay"], delta_p_ema_alpha=gains["alpha_p"],
        delta_d_ema_alpha=gains["alpha_d"], penalty_max=gains["penalty_max"])
    got = [controller.update(c) for c in costs]
    np.testing.assert_allclose(got, reference_pid(costs, **gains), rtol=1e-12, atol=1e-12)
    assert min(got) >= 0 and max(got) <= gains["penalty_max"]


def test_integral_only_is_the_projected_lagrangian_ascent():
    """K_P = K_D = 0: lambda <- max(0, lambda + K_I (J_C - d)), the classic update."""
    controller = PIDLagrangeMultiplier(0.0, 0.05, 0.0, cost_limit=10.0, init=0.2)
    lam = 0.2
    for cost in [30, 25, 12, 0, 0, 0, 0, 0, 0, 40]:
        lam = max(0.0, lam + 0.05 * (cost - 10.0))
        assert controller.update(cost) == pytest.approx(lam, abs=1e-15)


def test_proportional_and_derivative_terms_respond_at_once():
    """A sudden violation: the integral-only multiplier moves by K_I e, the PID one also by
    K_P e (no smoothing) and by K_D on the cost's rise; a falling cost adds no D term."""
    integral_only = PIDLagrangeMultiplier(0.0, 0.01, 0.0, 10.0, delta_p_ema_alpha=0.0,
                                          delta_d_ema_alpha=0.0, d_delay=1)
    pid = PIDLagrangeMultiplier(0.5, 0.01, 1.0, 10.0, delta_p_ema_alpha=0.0,
                                delta_d_ema_alpha=0.0, d_delay=1)
    for controller in (integral_only, pid):
        controller.update(10.0)  # at the limit: nothing yet
        assert controller.value == 0.0
    assert integral_only.update(30.0) == pytest.approx(0.2)
    assert pid.update(30.0) == pytest.approx(0.2 + 0.5 * 20 + 1.0 * 20)
    assert pid.update(20.0) == pytest.approx(0.3 + 0.5 * 10)  # falling: no derivative


def test_state_round_trip_continues_identically_and_bad_state_is_refused():
    rng = np.random.default_rng(3)
    costs = rng.uniform(0, 30, 40)
    first = PIDLagrangeMultiplier(0.3, 0.02, 0.4, 12.0, init=0.1, d_delay=4)
    for cost in costs[:20]:
        first.update(cost)
    second = PIDLagrangeMultiplier(0.3, 0.02, 0.4, 12.0, init=0.1, d_delay=4)
    second.load_state_dict(first.state_dict())
    assert [first.update(c) for c in costs[20:]] == [second.update(c) for c in costs[20:]]
    good = first.state_dict()
    for bad in ({**good, "lagrange_multiplier": -1.0},
                {**good, "pid": {**good["pid"], "integral": float("nan")}},
                {**good, "pid": {**good["pid"], "cost_history": [1.0] * 5}},
                {"lagrange_multiplier": 0.5}):
        with pytest.raises(ValueError, match="algorithm_state"):
            second.load_state_dict(bad)


def test_pid_lagrangian_trains_saves_and_loads(tmp_path):
    model = TRPOPIDLagrangian("MlpPolicy", POINT, cost_limit=5.0, pid_kp=0.5, seed=0, **TINY)
    assert isinstance(model, TRPOLagrangian)
    assert model.lagrange_multiplier == pytest.approx(0.001)
    model.learn(96)
    assert model.logger.last_values["train/lagrange_multiplier"] == model.lagrange_multiplier
    assert model.multiplier.cost_history  # the controller ran every update
    loaded = load_model(model.save(tmp_path / "m"), env=POINT)
    assert type(loaded) is TRPOPIDLagrangian and loaded.config == model.config
    assert loaded.algorithm_state() == model.algorithm_state()
    with pytest.raises(ValueError, match="pid_kd"):
        TRPOPIDLagrangian("MlpPolicy", POINT, pid_kd=-1.0)


def test_cli_trains_pid_lagrangian(tmp_path, capsys):
    code = main(["train", POINT, "--algo", "trpo_pid_lagrangian", "--timesteps", "64",
                 "--n_steps", "32", "--batch_size", "32", "--cost_limit", "5", "--pid_kp",
                 "0.2", "--save", str(tmp_path / "pid"), "--eval-episodes", "1"])
    assert code == 0, capsys.readouterr().err
    assert load_model(tmp_path / "pid.zip").config.pid_kp == 0.2
