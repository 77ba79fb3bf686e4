"""Compiled ports of gymnasium's classic-control tasks.

Each port computes what gymnasium 1.x's implementation computes, operation by operation and
in the same precision (several of them mix float32 and float64 under numpy's promotion
rules, and the ports follow), so that from the same state and the same actions they give the
same observations, rewards, terminations and truncations; ``tests/test_compiled_envs.py``
checks this against gymnasium's own envs. Only the initial-state draws differ: they come from
the env's `fasttrpo.envs.compiled.rng` stream instead of gymnasium's ``np_random``.

``params`` hold each env's constants in the order of the ``*_PARAMS`` names below, computed
with the same expressions as gymnasium's constructors.
"""

import math

import numpy as np
from gymnasium import spaces

from fasttrpo.envs.compiled.contract import CompiledEnv
from fasttrpo.envs.compiled.rng import uniform
from fasttrpo.kernels import kernel

__all__ = ["PORTS", "make_port"]

_F32 = np.float32

# ---- CartPole-v1 ------------------------------------------------------------------------
CARTPOLE_PARAMS = ("gravity", "masscart", "masspole", "total_mass", "length",
                   "polemass_length", "force_mag", "tau", "theta_threshold_radians",
                   "x_threshold")


@kernel(error_model="python")
def cartpole_reset(params, rng, state):
    """State ``(x, x_dot, theta, theta_dot)``, each uniform in [-0.05, 0.05)."""
    for i in range(4):
        state[i] = uniform(rng, -0.05, 0.05)


@kernel(error_model="python")
def cartpole_step(params, rng, state, action):
    """Euler step of the cart-pole under force +-force_mag; reward 1 every step."""
    gravity, masspole, total_mass = params[0], params[2], params[3]
    length, polemass_length, force_mag, tau = params[4], params[5], params[6], params[7]
    x, x_dot, theta, theta_dot = state[0], state[1], state[2], state[3]
    force = force_mag if action[0] == 1.0 else -force_mag
    costheta = math.cos(theta)
    sintheta = math.sin(theta)
    temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    state[0] = x + tau * x_dot
    state[1] = x_dot + tau * xacc
    state[2] = theta + tau * theta_dot
    state[3] = theta_dot + tau * thetaacc
    theta_threshold, x_threshold = params[8], params[9]
    terminated = (state[0] < -x_threshold or state[0] > x_threshold
                  or state[2] < -theta_threshold or state[2] > theta_threshold)
    return 1.0, 0.0, terminated, False


@kernel(error_model="python")
def cartpole_observe(params, state, obs):
    """``obs = float32(state)``."""
    for i in range(4):
        obs[i] = _F32(state[i])


def _cartpole_params() -> np.ndarray:
    masscart, masspole, length = 1.0, 0.1, 0.5
    return np.array([9.8, masscart, masspole, masspole + masscart, length, masspole * length,
                     10.0, 0.02, 12 * 2 * math.pi / 360, 2.4])


def _cartpole() -> CompiledEnv:
    params = _cartpole_params()
    high = np.array([params[9] * 2, np.inf, params[8] * 2, np.inf], dtype=np.float32)
    return CompiledEnv("CartPole-v1", cartpole_reset, cartpole_step, cartpole_observe,
                       spaces.Box(-high, high, dtype=np.float32), spaces.Discrete(2),
                       state_dim=4, params=params, max_episode_steps=500)


# ---- Pendulum-v1 ------------------------------------------------------------------------
PENDULUM_PARAMS = ("max_speed", "max_torque", "dt", "g", "m", "l")


@kernel(error_model="python")
def pendulum_reset(params, rng, state):
    """``theta`` uniform in [-pi, pi), ``theta_dot`` in [-1, 1)."""
    state[0] = uniform(rng, -np.pi, np.pi)
    state[1] = uniform(rng, -1.0, 1.0)


@kernel(error_model="python")
def pendulum_step(params, rng, state, action):
    """Reward ``-(angle^2 + 0.1 theta_dot^2 + 0.001 u^2)``, u the clipped torque."""
    max_speed, max_torque, dt, g, m, length = (params[0], params[1], params[2], params[3],
                                               params[4], params[5])
    th, thdot = state[0], state[1]
    u = _F32(min(max(action[0], -max_torque), max_torque))  # a float32 torque, as gymnasium
    # angle_normalize: ((th + pi) % (2 pi)) - pi with numpy's remainder (fmod, then the
    # divisor's sign), which rounds differently from Numba's floor-based float %
    angle = np.fmod(th + np.pi, 2 * np.pi)
    if angle != 0.0 and angle < 0.0:
        angle += 2 * np.pi
    angle -= np.pi
    # u**2 and 3.0 / (m l^2) * u stay float32 under numpy's promotion rules
    costs = angle * angle + 0.1 * (thdot * thdot) + np.float64(_F32(0.001) * (u * u))
    torque_term = np.float64(_F32(3.0 / (m * (length * length))) * u)
    newthdot = thdot + (3 * g / (2 * length) * math.sin(th) + torque_term) * dt
    newthdot = min(max(newthdot, -max_speed), max_speed)
    state[0] = th + newthdot * dt
    state[1] = newthdot
    return -costs, 0.0, False, False


@kernel(error_model="python")
def pendulum_observe(params, state, obs):
    """``(cos theta, sin theta, theta_dot)`` in float32."""
    obs[0] = _F32(math.cos(state[0]))
    obs[1] = _F32(math.sin(state[0]))
    obs[2] = _F32(state[1])


def _pendulum() -> CompiledEnv:
    params = np.array([8.0, 2.0, 0.05, 10.0, 1.0, 1.0])
    high = np.array([1.0, 1.0, params[0]], dtype=np.float32)
    return CompiledEnv("Pendulum-v1", pendulum_reset, pendulum_step, pendulum_observe,
                       spaces.Box(-high, high, dtype=np.float32),
                       spaces.Box(-params[1], params[1], shape=(1,), dtype=np.float32),
                       state_dim=2, params=params, max_episode_steps=200)


# ---- Acrobot-v1 -------------------------------------------------------------------------
ACROBOT_PARAMS = ("dt", "link_length_1", "link_mass_1", "link_mass_2", "link_com_pos_1",
                  "link_com_pos_2", "link_moi", "max_vel_1", "max_vel_2")


@kernel(error_model="python")
def acrobot_reset(params, rng, state):
    """Both angles and velocities uniform in [-0.1, 0.1), rounded to float32 (as gymnasium)."""
    for i in range(4):
        state[i] = _F32(uniform(rng, -0.1, 0.1))


@kernel(error_model="python")
def _acrobot_derivatives(params, s, torque, out):
    # gymnasium's AcrobotEnv._dsdt ("book" dynamics), term by term in the same order
    l1, m1, m2, lc1, lc2 = params[1], params[2], params[3], params[4], params[5]
    inertia_1 = inertia_2 = params[6]
    g = 9.8
    theta1, theta2, dtheta1, dtheta2 = s[0], s[1], s[2], s[3]
    d1 = (m1 * lc1 ** 2 + m2 * (l1 ** 2 + lc2 ** 2 + 2 * l1 * lc2 * math.cos(theta2))
          + inertia_1 + inertia_2)
    d2 = m2 * (lc2 ** 2 + l1 * lc2 * math.cos(theta2)) + inertia_2
    phi2 = m2 * lc2 * g * math.cos(theta1 + theta2 - np.pi / 2.0)
    phi1 = (-m2 * l1 * lc2 * (dtheta2 * dtheta2) * math.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * math.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * math.cos(theta1 - np.pi / 2)
            + phi2)
    ddtheta2 = ((torque + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1)
                 * math.sin(theta2) - phi2)
                / (m2 * lc2 ** 2 + inertia_2 - (d2 * d2) / d1))
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    out[0], out[1], out[2], out[3] = dtheta1, dtheta2, ddtheta1, ddtheta2


@kernel(error_model="python")
def _wrap(x, low, high):
    diff = high - low
    while x > high:
        x = x - diff
    while x < low:
        x = x + diff
    return x


@kernel(error_model="python")
def acrobot_step(params, rng, state, action):
    """One RK4 step of length dt under torque -1, 0 or +1; reward -1 until the goal."""
    dt = params[0]
    torque = action[0] - 1.0  # AVAIL_TORQUE = [-1, 0, +1]
    k = np.empty((4, 4))
    y = np.empty(4)
    # rk4 over [0, dt]: k1 = f(y0), k2 = f(y0 + dt/2 k1), k3 = f(y0 + dt/2 k2), k4 = f(y0 + dt k3)
    _acrobot_derivatives(params, state, torque, k[0])
    half = dt / 2.0
    for stage in range(1, 4):
        step_size = dt if stage == 3 else half
        for i in range(4):
            y[i] = state[i] + step_size * k[stage - 1, i]
        _acrobot_derivatives(params, y, torque, k[stage])
    sixth = dt / 6.0
    for i in range(4):  # y1 = y0 + dt/6 (k1 + 2 k2 + 2 k3 + k4)
        state[i] = state[i] + sixth * (k[0, i] + 2 * k[1, i] + 2 * k[2, i] + k[3, i])
    state[0] = _wrap(state[0], -np.pi, np.pi)
    state[1] = _wrap(state[1], -np.pi, np.pi)
    state[2] = min(max(state[2], -params[7]), params[7])
    state[3] = min(max(state[3], -params[8]), params[8])
    terminated = -math.cos(state[0]) - math.cos(state[1] + state[0]) > 1.0
    return (0.0 if terminated else -1.0), 0.0, terminated, False


@kernel(error_model="python")
def acrobot_observe(params, state, obs):
    """``(cos th1, sin th1, cos th2, sin th2, dth1, dth2)`` in float32."""
    obs[0] = _F32(math.cos(state[0]))
    obs[1] = _F32(math.sin(state[0]))
    obs[2] = _F32(math.cos(state[1]))
    obs[3] = _F32(math.sin(state[1]))
    obs[4] = _F32(state[2])
    obs[5] = _F32(state[3])


def _acrobot() -> CompiledEnv:
    params = np.array([0.2, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 4 * math.pi, 9 * math.pi])
    high = np.array([1.0, 1.0, 1.0, 1.0, params[7], params[8]], dtype=np.float32)
    return CompiledEnv("Acrobot-v1", acrobot_reset, acrobot_step, acrobot_observe,
                       spaces.Box(-high, high, dtype=np.float32), spaces.Discrete(3),
                       state_dim=4, params=params, max_episode_steps=500)


# ---- MountainCar-v0 and MountainCarContinuous-v0 ------------------------------------------
MOUNTAIN_CAR_PARAMS = ("min_position", "max_position", "max_speed", "goal_position",
                       "goal_velocity", "force", "gravity")


@kernel(error_model="python")
def mountain_car_reset(params, rng, state):
    """Position uniform in [-0.6, -0.4), velocity 0 (third entry: see the continuous step)."""
    state[0] = uniform(rng, -0.6, -0.4)
    state[1] = 0.0
    state[2] = 0.0


@kernel(error_model="python")
def mountain_car_step(params, rng, state, action):
    """Push left, not at all or right (actions 0, 1, 2); reward -1 until the goal."""
    min_position, max_position, max_speed = params[0], params[1], params[2]
    position, velocity = state[0], state[1]
    velocity += (action[0] - 1.0) * params[5] + math.cos(3 * position) * (-params[6])
    velocity = min(max(velocity, -max_speed), max_speed)
    position += velocity
    position = min(max(position, min_position), max_position)
    if position == min_position and velocity < 0:
        velocity = 0.0
    state[0], state[1] = position, velocity
    terminated = position >= params[3] and velocity >= params[4]
    return -1.0, 0.0, terminated, False


@kernel(error_model="python")
def continuous_mountain_car_step(params, rng, state, action):
    """Force ``clip(a, -1, 1) * power``; reward 100 at the goal minus ``0.1 a^2`` per step.

    gymnasium keeps this env's state in float32 after the first step, so from then on every
    operation rounds to float32 as numpy does (``state[2]`` marks it); the first step after
    a reset computes in float64.
    """
    min_position, max_position, max_speed = params[0], params[1], params[2]
    goal_position, goal_velocity, power = params[3], params[4], params[5]
    single = state[2] != 0.0  # float32 state: numpy rounds each result to float32
    position, velocity, a = state[0], state[1], action[0]
    if a > 1.0 or a < -1.0:  # min/max return the Python float bound: float64 product
        push = (1.0 if a > 1.0 else -1.0) * power
        float32_push = False
    else:  # action[0] is a numpy float32: the product is float32
        push = np.float64(_F32(a) * _F32(power))
        float32_push = True
    slope = 0.0025 * math.cos(np.float64(_F32(3 * position)) if single else 3 * position)
    # float32 - Python float: the float is rounded to float32 first (numpy's NEP 50)
    change = np.float64(_F32(push) - _F32(slope)) if float32_push else push - slope
    velocity = np.float64(_F32(velocity) + _F32(change)) if single else velocity + change
    bound_speed = np.float64(_F32(max_speed)) if single else max_speed
    if velocity > bound_speed:
        velocity = bound_speed
    if velocity < -bound_speed:
        velocity = -bound_speed
    position = (np.float64(_F32(position) + _F32(velocity)) if single
                else position + velocity)
    if position > (np.float64(_F32(max_position)) if single else max_position):
        position = max_position
    low = np.float64(_F32(min_position)) if single else min_position
    if position < low:
        position = min_position
    if (position == min_position or position == low) and velocity < 0:
        velocity = 0.0
    goal = np.float64(_F32(goal_position)) if single else goal_position
    terminated = position >= goal and velocity >= goal_velocity
    reward = (100.0 if terminated else 0.0) - a * a * 0.1
    state[0], state[1], state[2] = _F32(position), _F32(velocity), 1.0
    return reward, 0.0, terminated, False


@kernel(error_model="python")
def mountain_car_observe(params, state, obs):
    """``(position, velocity)`` in float32."""
    obs[0] = _F32(state[0])
    obs[1] = _F32(state[1])


def _mountain_car(continuous: bool) -> CompiledEnv:
    low = np.array([-1.2, -0.07], dtype=np.float32)
    high = np.array([0.6, 0.07], dtype=np.float32)
    if continuous:
        params = np.array([-1.2, 0.6, 0.07, 0.45, 0.0, 0.0015, 0.0025])
        return CompiledEnv("MountainCarContinuous-v0", mountain_car_reset,
                           continuous_mountain_car_step, mountain_car_observe,
                           spaces.Box(low, high, dtype=np.float32),
                           spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32),
                           state_dim=3, params=params, max_episode_steps=999)
    params = np.array([-1.2, 0.6, 0.07, 0.5, 0.0, 0.001, 0.0025])
    return CompiledEnv("MountainCar-v0", mountain_car_reset, mountain_car_step,
                       mountain_car_observe, spaces.Box(low, high, dtype=np.float32),
                       spaces.Discrete(3), state_dim=3, params=params, max_episode_steps=200)


#: gymnasium id -> constructor of its compiled port
PORTS = {
    "CartPole-v1": _cartpole,
    "Pendulum-v1": _pendulum,
    "Acrobot-v1": _acrobot,
    "MountainCar-v0": lambda: _mountain_car(continuous=False),
    "MountainCarContinuous-v0": lambda: _mountain_car(continuous=True),
}


def make_port(env_id: str) -> CompiledEnv:
    """Return the compiled port of the gymnasium id ``env_id``.

    Raises
    ------
    ValueError
        When there is no port of ``env_id``, naming the available ones.
    """
    if env_id not in PORTS:
        raise ValueError(f"env: no compiled port of {env_id!r}; compiled ports: "
                         f"{', '.join(PORTS)} (or pass a fasttrpo.envs.compiled.CompiledEnv)")
    return PORTS[env_id]()
