"""Compiled environments: the ports against gymnasium's own envs, the contract's checks, the
gymnasium VectorEnv view and the per-env random streams."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from numba import njit

from fasttrpo.envs.compiled import (
    PORTS,
    CompiledEnv,
    CompiledVectorEnv,
    check_env,
    make_port,
    seed_streams,
    uniform,
)

# Pendulum's reward squares the float32 torque with numpy's float32 power, which calls libm's
# powf; powf is not correctly rounded, and Numba folds u**2 into u*u, so the u^2 term may
# differ by one float32 ulp (relative error of the reward ~1e-10). Everything else, and every
# other port, is bit-identical.
REWARD_RTOL = {"Pendulum-v1": 1e-9}
# Acrobot is chaotic: a one-ulp difference of libm's and numpy's sin / cos grows over hundreds
# of RK4 steps, so the port is compared one step at a time from gymnasium's state (the state
# after the step to 1e-12 relative in float64, observations to 1e-6); the other ports run free.
ONE_STEP = {"Acrobot-v1"}


def _gym_state(env_id, env):
    """The port's state vector for gymnasium's current state."""
    state = np.asarray(env.unwrapped.state)
    values = np.asarray(state, dtype=np.float64)
    if env_id.startswith("MountainCar"):
        # the continuous env keeps a float32 state after its first step: third entry marks it
        return np.array([values[0], values[1], float(state.dtype == np.float32)])
    return values.copy()


def _env_action(space, rng, obs=None):
    if obs is not None and obs.shape == (6,) and rng.random() < 0.8:
        return 2 if obs[5] > 0 else 0  # Acrobot: pump energy (torque along dtheta2) to finish
    if isinstance(space, spaces.Box):  # beyond the bounds on purpose: the clip is tested too
        raw = rng.uniform(-3.0, 3.0, size=space.shape).astype(np.float32)
        return np.clip(raw, space.low, space.high).astype(np.float32)
    return int(rng.integers(space.n))


@pytest.mark.parametrize("env_id", list(PORTS))
def test_port_matches_gymnasium(env_id):
    """Same state, same actions: same observations, rewards, terminations, truncations.

    Over many seeds and whole episodes (time limits and terminations included), the port runs
    free from gymnasium's initial state and must stay bit-identical (Acrobot: one step at a
    time, see ONE_STEP); rewards must be identical (Pendulum: 1e-9 relative, REWARD_RTOL).
    """
    port = make_port(env_id)
    check_env(port)
    env = gym.make(env_id)
    rng = np.random.default_rng(7)
    stream = seed_streams(0, 1)[0]
    obs_row = np.zeros(port.obs_dim)
    n_steps = n_terminated = n_truncated = n_exact = 0
    budget = 6000 if env_id == "Acrobot-v1" else 12000
    episode = 0
    while n_steps < budget:
        obs, _ = env.reset(seed=episode)
        episode += 1
        state = _gym_state(env_id, env)
        port.observe(port.params, state, obs_row)
        np.testing.assert_array_equal(obs_row.astype(np.float32), obs)
        elapsed = 0
        while True:
            action = _env_action(env.action_space, rng, obs if episode % 2 else None)
            obs, reward, terminated, truncated, _ = env.step(action)
            port_reward, cost, port_terminated, port_truncated = port.step(
                port.params, stream, state, np.asarray(action, dtype=np.float64).reshape(-1))
            elapsed += 1
            port_truncated = port_truncated or elapsed >= port.max_episode_steps
            port.observe(port.params, state, obs_row)
            n_steps += 1
            where = f"{env_id}, seed {episode - 1}, step {elapsed}"
            if env_id in ONE_STEP:
                np.testing.assert_allclose(state, _gym_state(env_id, env), rtol=1e-12,
                                           atol=1e-14, err_msg=where)
                np.testing.assert_allclose(obs_row, obs, rtol=1e-6, atol=1e-7, err_msg=where)
                n_exact += np.array_equal(obs_row.astype(np.float32), obs)
                state = _gym_state(env_id, env)
            else:
                np.testing.assert_array_equal(obs_row.astype(np.float32), obs, err_msg=where)
            np.testing.assert_allclose(port_reward, reward, rtol=REWARD_RTOL.get(env_id, 0),
                                       atol=0, err_msg=where)
            assert (port_terminated, port_truncated) == (terminated, truncated), where
            assert cost == 0.0
            if terminated or truncated:
                n_terminated += terminated
                n_truncated += truncated
                break
    if env_id in ONE_STEP:
        assert n_exact >= 0.99 * n_steps
    # the comparison covered both kinds of episode end where the task has them
    assert n_truncated > 0 or env_id == "CartPole-v1"
    if env_id != "Pendulum-v1":
        assert n_terminated > 0 or env_id.startswith("MountainCar")


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "MountainCarContinuous-v0"])
def test_mountain_car_goal_matches_gymnasium(env_id):
    """Reaching the goal (termination, the +100 of the continuous task) matches too.

    From states near the goal, where random actions reach it; the continuous task also from
    float32 states (its state is float32 after a step).
    """
    port, env = make_port(env_id), gym.make(env_id).unwrapped
    rng = np.random.default_rng(3)
    stream = seed_streams(0, 1)[0]
    goals = 0
    for _ in range(400):
        position, velocity = rng.uniform(0.3, 0.55), rng.uniform(-0.01, 0.07)
        single = env_id.endswith("Continuous-v0") and rng.random() < 0.5
        env.state = np.array([position, velocity],
                             dtype=np.float32 if single else np.float64)
        state = _gym_state(env_id, env)
        action = _env_action(env.action_space, rng)
        obs, reward, terminated, _, _ = env.step(action)
        port_reward, _, port_terminated, _ = port.step(
            port.params, stream, state, np.asarray(action, dtype=np.float64).reshape(-1))
        obs_row = np.zeros(port.obs_dim)
        port.observe(port.params, state, obs_row)
        np.testing.assert_array_equal(obs_row.astype(np.float32), obs)
        assert port_reward == reward and port_terminated == terminated
        goals += terminated
    assert goals > 20


def test_unknown_port_names_the_available_ones():
    with pytest.raises(ValueError, match="no compiled port of 'LunarLander-v3'.*CartPole-v1"):
        make_port("LunarLander-v3")


def test_streams_are_reproducible_and_independent():
    a, b = seed_streams(5, 3), seed_streams(5, 3)
    np.testing.assert_array_equal(a, b)
    assert len({int(x) for x in a[:, 0]}) == 3
    assert seed_streams(5, 4)[:3].tolist() == a.tolist()  # stream i depends on (seed, i) only

    @njit
    def draws(rng, n):
        out = np.empty(n)
        for i in range(n):
            out[i] = uniform(rng, -1.0, 3.0)
        return out

    values = draws(a[0].copy(), 20000)
    assert values.min() >= -1.0 and values.max() < 3.0
    assert abs(values.mean() - 1.0) < 0.05 and abs(values.var() - 16 / 12) < 0.05
    assert not np.array_equal(draws(a[1].copy(), 10), draws(a[2].copy(), 10))


# ---- the contract's checks --------------------------------------------------------------
@njit
def _reset(params, rng, state):
    state[0] = uniform(rng, -1.0, 1.0)


@njit
def _step(params, rng, state, action):
    state[0] += 0.1 * action[0]
    return -state[0] * state[0], 0.0, abs(state[0]) > 2.0, False


@njit
def _observe(params, state, obs):
    obs[0] = state[0]


@njit
def _observe_too_much(params, state, obs):
    obs[0] = state[0]
    obs[1] = state[0]


@njit
def _observe_nothing(params, state, obs):
    pass


@njit
def _step_wrong_result(params, rng, state, action):
    return 1.0, False


@njit
def _step_diverges(params, rng, state, action):
    state[0] = state[0] * 1e200 * 1e200
    return 0.0, 0.0, False, False


def _toy(**changes):
    kwargs = dict(id="toy", reset=_reset, step=_step, observe=_observe,
                  observation_space=spaces.Box(-np.inf, np.inf, (1,), np.float64),
                  action_space=spaces.Box(-1.0, 1.0, (1,), np.float32), state_dim=1,
                  max_episode_steps=50)
    kwargs.update(changes)
    return CompiledEnv(**kwargs)


def test_a_conforming_env_passes():
    check_env(_toy())


@pytest.mark.parametrize(("changes", "message"), [
    (dict(step=lambda params, rng, state, action: (0.0, 0.0, False, False)),
     "step: expected a function compiled with numba.njit"),
    (dict(observation_space=spaces.Discrete(3)), "observation_space: compiled envs need a 1-D"),
    (dict(action_space=spaces.Tuple([spaces.Discrete(2)])), "action_space: compiled envs"),
    (dict(state_dim=0), "state_dim: expected a positive integer"),
    (dict(params=[1.0, np.nan]), "params: contains NaN"),
    (dict(max_episode_steps=0), "max_episode_steps: expected a positive integer"),
])
def test_bad_arguments_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        _toy(**changes)


@pytest.mark.parametrize(("changes", "message"), [
    (dict(observe=_observe_too_much), "observe wrote past the end of obs"),
    (dict(observe=_observe_nothing), r"observe left obs entries \[0\] unwritten"),
    (dict(state_dim=2), r"reset left state entries \[1\] unwritten"),
    (dict(step=_step_wrong_result), "step does not compile for the contract signature"),
    (dict(step=_step_diverges), "step 0 left state entries .0. unwritten or not finite"),
])
def test_contract_violations_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        check_env(_toy(**changes))


# ---- the gymnasium view -----------------------------------------------------------------
def test_vector_view_autoresets_with_final_obs_and_time_limit():
    venv = CompiledVectorEnv(make_port("Pendulum-v1"), num_envs=3)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, 3) and obs.dtype == np.float32
    assert venv.observation_space.contains(obs)
    for t in range(1, 201):
        last = obs
        obs, rewards, terminated, truncated, info = venv.step(np.zeros((3, 1), np.float32))
        assert rewards.shape == (3,) and not terminated.any()
        if t < 200:
            assert not truncated.any() and "final_obs" not in info
    assert truncated.all() and info["_final_obs"].all()  # gymnasium's TimeLimit: 200 steps
    for e in range(3):  # the final observation continues the episode; obs is a new episode
        final = info["final_obs"][e]
        assert final.dtype == np.float32 and abs(final[2] - last[e, 2]) < 1.5
        assert not np.array_equal(final, obs[e])


def test_vector_view_is_seeded_per_env():
    port = make_port("CartPole-v1")
    first = CompiledVectorEnv(port, 4).reset(seed=11)[0]
    again = CompiledVectorEnv(port, 4).reset(seed=11)[0]
    other = CompiledVectorEnv(port, 4).reset(seed=12)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert len({tuple(row) for row in first}) == 4


@pytest.mark.parametrize(("actions", "message"), [
    (np.array([0, 2]), r"not all in Discrete\(2\)"),
    (np.array([0.5, 1.0]), r"not all in Discrete\(2\)"),
    (np.array([0]), "expected 2 actions"),
    (np.array(["a", "b"]), "expected 2 actions"),
])
def test_vector_view_refuses_bad_actions(actions, message):
    venv = CompiledVectorEnv(make_port("CartPole-v1"), 2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        venv.step(actions)


@njit
def _step_explodes(params, rng, state, action):
    state[0] = 10.0 * state[0] + 1.0  # overflows to inf after ~310 steps
    return 0.0, 0.0, False, False


def test_vector_view_reports_a_diverging_env():
    venv = CompiledVectorEnv(_toy(step=_step_explodes, max_episode_steps=None), 2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="toy: env 0 produced a non-finite observation"):
        for _ in range(400):
            venv.step(np.zeros((2, 1), np.float32))
    with pytest.raises(ValueError, match="actions: contain NaN or infinite"):
        venv.step(np.full((2, 1), np.inf, np.float32))
