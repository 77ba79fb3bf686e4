"""Recurrent TRPO (``"MlpGruPolicy"``): the sequence batch, the step, learning, predict, files.

The GRU kernels themselves are tested in ``tests/test_gru_kernels.py``; here the algorithm
stack around them: `fasttrpo.rollout.sequences` against a plain loop, the sampler's carried
states against a replay of the packed batch, the TRPO step's gradient against the policy's
own, learning on CartPole without velocities, predict / save / load, and the refusals.
"""

import io

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from fasttrpo import TRPO
from fasttrpo.algorithms import update
from fasttrpo.models.recurrent import RecurrentLinearization
from fasttrpo.rollout import NoiseStreams, RolloutBatch
from fasttrpo.rollout.sequences import split_sequences, sub_sample

TINY = dict(n_steps=64, batch_size=64, policy_kwargs=dict(gru_hidden_size=8, net_arch=[8]))


# ---- the sequence batch against a plain loop ---------------------------------------------

def reference_sequences(valid, dones, initial_state):
    """Plain loop: walk each env's rows in time order, cut where an episode starts."""
    n_steps, n_envs = valid.shape
    flat_position = {}
    for t in range(n_steps):
        for e in range(n_envs):
            if valid[t, e]:
                flat_position[(t, e)] = len(flat_position)
    order, starts, h0 = [], [], []
    for e in range(n_envs):
        episode_began = False  # an episode started in this rollout before this row
        current = None
        for t in range(n_steps):
            starts_episode = t > 0 and bool(dones[t - 1, e])
            episode_began = episode_began or starts_episode
            if not valid[t, e]:
                current = None
                continue
            if current is None or starts_episode:
                starts.append(len(order))
                h0.append(np.zeros_like(initial_state[e]) if episode_began
                          else initial_state[e])
                current = e
            order.append(flat_position[(t, e)])
    starts.append(len(order))
    return np.array(order), np.array(starts), np.array(h0)


def random_rollout(rng, n_steps=40, n_envs=3, hidden=4, next_step=False):
    dones = rng.random((n_steps, n_envs)) < 0.1
    valid = np.ones((n_steps, n_envs), dtype=bool)
    if next_step:  # the row after a done is the reset row: invalid, and marked done itself
        for e in range(n_envs):
            for t in range(n_steps - 1):
                if dones[t, e] and valid[t, e]:
                    valid[t + 1, e] = False
                    dones[t + 1, e] = True
    return valid, dones.astype(np.uint8), rng.standard_normal((n_envs, hidden))


@pytest.mark.parametrize("next_step", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_split_sequences_matches_a_plain_loop(seed, next_step):
    valid, dones, initial = random_rollout(np.random.default_rng(seed), next_step=next_step)
    sequences = split_sequences(valid, dones, initial)
    order, starts, h0 = reference_sequences(valid, dones, initial)
    np.testing.assert_array_equal(sequences.order, order)
    np.testing.assert_array_equal(sequences.seq_starts, starts)
    np.testing.assert_array_equal(sequences.h0, h0)
    # every valid row exactly once; within a sequence, one env's consecutive rows
    assert sorted(sequences.order) == list(range(valid.sum()))


def test_sequences_split_at_episode_starts_and_carry_the_state():
    valid = np.ones((5, 2), dtype=bool)
    dones = np.zeros((5, 2), dtype=np.uint8)
    dones[1, 0] = 1  # env 0: an episode ends at t=1, the next starts at t=2
    initial = np.array([[1.0, 2.0], [3.0, 4.0]])
    sequences = split_sequences(valid, dones, initial)
    # flat (time-major) row of (t, e) is 2 t + e; env 0: rows t=0,1 | t=2,3,4; env 1: t=0..4
    np.testing.assert_array_equal(sequences.order, [0, 2, 4, 6, 8, 1, 3, 5, 7, 9])
    np.testing.assert_array_equal(sequences.seq_starts, [0, 2, 5, 10])
    np.testing.assert_array_equal(sequences.h0, [[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]])


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_sub_sampling_keeps_whole_sequences(factor):
    valid, dones, initial = random_rollout(np.random.default_rng(7))
    full = split_sequences(valid, dones, initial)
    kept = sub_sample(full, factor)
    picked = range(0, full.n_sequences, factor)
    expected = [full.order[full.seq_starts[s]:full.seq_starts[s + 1]] for s in picked]
    assert kept.n_sequences == len(expected)
    for s, rows in enumerate(expected):
        np.testing.assert_array_equal(kept.order[kept.seq_starts[s]:kept.seq_starts[s + 1]],
                                      rows)
    np.testing.assert_array_equal(kept.h0, full.h0[list(picked)])


# ---- the sampler's states against the packed batch ---------------------------------------

def short_pendulums(mode, n_envs=2, max_steps=15):
    return SyncVectorEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=max_steps)
                          for _ in range(n_envs)], autoreset_mode=mode)


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_rollouts_replay_exactly_as_packed_sequences(mode):
    """The actions the sampler took are the packed batch's means plus the streams' noise.

    Two rollouts: the second starts from the states the first left (carried, not zero), and
    episodes end (truncations) inside both.
    """
    model = TRPO("MlpGruPolicy", short_pendulums(mode), seed=3, n_steps=40, batch_size=40,
                 normalize_advantage=False, policy_kwargs=dict(gru_hidden_size=6,
                                                               net_arch=[5]))
    policy, sampler = model.policy, model.sampler
    sampler.reset(seed=3)
    streams, replay_streams = NoiseStreams(3), NoiseStreams(3)
    batch = RolloutBatch(40, 2, 3, 1, policy.dtype)
    for rollout in range(2):
        sampler.collect(policy, batch, streams)
        if rollout == 1:
            assert np.abs(batch.initial_state).sum() > 0  # carried from the first rollout
        noise = replay_streams.draw(policy, 40, 0, 2)  # (T, E, 1): what each env acted with
        data = update.prepare_batch(batch, model.config, model.value_functions)
        sequences = data.policy_sequences
        assert data.policy_sequences is not None
        assert sequences.n_sequences > 2  # split at episode starts
        means, _ = policy.forward(data.policy_obs, sequences.seq_starts, sequences.h0)
        flat_noise = batch.flat(noise)[sequences.order]
        expected = means + np.exp(policy.log_std) * flat_noise
        np.testing.assert_allclose(data.policy_actions, expected, rtol=1e-5, atol=1e-5)
        # every per-row array permuted the same way (GAE before the permutation)
        np.testing.assert_array_equal(data.policy_obs, data.obs[sequences.order])
        np.testing.assert_array_equal(data.policy_advantages["reward"],
                                      data.advantages["reward"][sequences.order])


def test_recurrent_step_gradient_is_the_policy_surrogate_grad(monkeypatch):
    """The TRPO step's gradient is ``surrogate_grad`` on sequences rebuilt by a plain loop."""
    model = TRPO("MlpGruPolicy", short_pendulums(AutoresetMode.SAME_STEP), seed=1,
                 n_steps=40, batch_size=40, policy_kwargs=dict(gru_hidden_size=6,
                                                                net_arch=[5]))
    model.sampler.reset(seed=1)
    batch = RolloutBatch(40, 2, 3, 1, model.policy.dtype)
    model.sampler.collect(model.policy, batch, model.noise_streams)
    seen = []
    original = RecurrentLinearization.surrogate_grad

    def recording(self, *args):
        value, grad = original(self, *args)
        seen.append(grad.copy())
        return value, grad

    monkeypatch.setattr(RecurrentLinearization, "surrogate_grad", recording)
    params = model.policy.get_params()
    data = model.prepare_batch(batch)
    model.train(batch)
    assert len(seen) == 1
    after = model.policy.get_params()
    model.policy.set_params(params)
    order, starts, h0 = reference_sequences(batch.valid, batch.dones, batch.initial_state)
    obs, actions = data.obs[order], data.actions[order]
    old_log_prob = model.policy.log_prob(obs, starts, h0, actions)
    _, grad = original(model.policy.linearize(obs, starts, h0), actions,
                       data.policy_advantages["reward"], old_log_prob)
    np.testing.assert_allclose(seen[0], grad, rtol=1e-6, atol=1e-7)
    assert not np.array_equal(after, params)  # the step moved the policy


# ---- learning ------------------------------------------------------------------------------

def evaluate(model, n_episodes=10, seed=1000):
    env = gym.make("fasttrpo/CartPoleNoVel-v1")
    returns = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed + episode)
        state, start, done, total = None, True, False, 0.0
        while not done:
            action, state = model.predict(obs, state, episode_start=[start])
            start = False
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


@pytest.mark.parametrize("seed", [0, 1])
def test_learns_cartpole_without_velocities(seed):
    model = TRPO("MlpGruPolicy", "fasttrpo/CartPoleNoVel-v1", seed=seed, n_envs=4,
                 n_steps=512, batch_size=256, target_kl=0.02,
                 policy_kwargs=dict(gru_hidden_size=32, net_arch=[32]))
    before = evaluate(model)  # ~23 (a random policy)
    model.learn(40_000)  # ~4 s; an MlpPolicy reaches ~50 here, the GRU 200-370
    after = evaluate(model)
    assert after > before + 100, (before, after)


def test_discrete_and_box_actions_train():
    for env_id, policy_class in (("CartPole-v1", "CategoricalGRUPolicy"),
                                 ("Pendulum-v1", "GaussianGRUPolicy")):
        model = TRPO("MlpGruPolicy", env_id, seed=0, n_envs=2, sub_sampling_factor=2, **TINY)
        model.learn(256)
        assert type(model.policy).__name__ == policy_class
        assert model.num_timesteps == 256


# ---- predict, save, load -------------------------------------------------------------------

def test_predict_state_semantics():
    model = TRPO("MlpGruPolicy", "fasttrpo/CartPoleNoVel-v1", seed=0, **TINY)
    obs = np.array([[0.1, 0.0, -0.05, 0.0], [0.0, 0.0, 0.02, 0.0]], dtype=np.float32)
    action, state = model.predict(obs, deterministic=True)
    assert action.shape == (2,) and state.shape == (2, 8)
    zeros = np.zeros((2, 8), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(obs, zeros, deterministic=True)[1], state)
    # episode_start resets those rows' states before the step
    _, next_state = model.predict(obs, state, episode_start=[True, False], deterministic=True)
    _, from_zero = model.predict(obs, zeros, deterministic=True)
    _, carried = model.predict(obs, state, deterministic=True)
    np.testing.assert_array_equal(next_state[0], from_zero[0])
    np.testing.assert_array_equal(next_state[1], carried[1])
    assert not np.array_equal(next_state[1], from_zero[1])
    # one observation: one action, state (1, H)
    single, single_state = model.predict(obs[0], deterministic=True)
    assert np.ndim(single) == 0 and single_state.shape == (1, 8)


def test_save_load_round_trip_reproduces_predictions():
    model = TRPO("MlpGruPolicy", "Pendulum-v1", seed=2, n_envs=2, **TINY)
    model.learn(128)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = TRPO.load(buffer)
    assert type(loaded.policy) is type(model.policy)
    assert loaded.config.policy_kwargs["gru_hidden_size"] == 8
    np.testing.assert_array_equal(loaded.policy.get_params(), model.policy.get_params())
    rng = np.random.default_rng(0)
    state_a = state_b = None
    for t in range(20):
        obs = rng.standard_normal((2, 3)).astype(np.float32)
        start = [t == 0, t == 10]
        act_a, state_a = model.predict(obs, state_a, start, deterministic=True)
        act_b, state_b = loaded.predict(obs, state_b, start, deterministic=True)
        np.testing.assert_array_equal(act_a, act_b)
        np.testing.assert_array_equal(state_a, state_b)


@pytest.mark.parametrize("env_id", ["fasttrpo/CartPoleNoVel-v1", "Pendulum-v1"])
def test_numpy_runtime_carries_the_state_as_predict(env_id, tmp_path):
    import fasttrpo.runtime

    model = TRPO("MlpGruPolicy", env_id, seed=0, n_envs=2, normalize_obs=True, **TINY)
    model.learn(256)
    policy = fasttrpo.runtime.load(model.export(tmp_path / "policy.npz")[0])
    assert policy.recurrent and policy.gru_hidden_size == 8
    rng = np.random.default_rng(0)
    state_model = state_runtime = None
    for t in range(30):
        obs = rng.standard_normal((2, model.observation_space.shape[0])).astype(np.float32)
        start = [t == 0, t == 15]
        expected, state_model = model.predict(obs, state_model, start, deterministic=True)
        action, state_runtime = policy.act(obs, state=state_runtime, episode_start=start)
        np.testing.assert_allclose(action, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(state_runtime, state_model, rtol=1e-5, atol=1e-6)
    # sampling: the same generator state gives the same draw as predict's
    if env_id == "Pendulum-v1":
        model.rng = np.random.default_rng(3)
        sampled, _ = model.predict(obs, state_model)
        drawn, _ = policy.act(obs, deterministic=False, rng=np.random.default_rng(3),
                              state=state_runtime)
        np.testing.assert_allclose(drawn, sampled, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="forward: a recurrent policy needs its state"):
        policy.forward(obs)
    with pytest.raises(ValueError, match=r"state: expected shape \(2, 8\)"):
        policy.act(obs, state=np.zeros((3, 8)))


@pytest.mark.optional_deps
@pytest.mark.parametrize("env_id", ["fasttrpo/CartPoleNoVel-v1", "Pendulum-v1"])
def test_onnx_graph_carries_the_state_as_predict(env_id, tmp_path):
    from conftest import require

    onnxruntime = require("onnxruntime")
    require("onnx")
    model = TRPO("MlpGruPolicy", env_id, seed=0, n_envs=2, normalize_obs=True, **TINY)
    model.learn(256)
    (path,) = model.export(tmp_path / "policy.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    state_model = None
    state_graph = np.zeros((2, 8), dtype=np.float32)
    for t in range(20):
        obs = rng.standard_normal((2, model.observation_space.shape[0])).astype(np.float32)
        start = np.array([t == 0, t == 10])
        expected, state_model = model.predict(obs, state_model, start, deterministic=True)
        state_graph[start] = 0.0
        action, state_graph = session.run(["action", "state_out"],
                                          {"obs": obs, "state": state_graph})
        np.testing.assert_allclose(action, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(state_graph, state_model, rtol=1e-4, atol=1e-5)
    # without a state: the zero state (an episode start)
    action, _ = session.run(["action", "state_out"], {"obs": obs})
    np.testing.assert_allclose(action, model.predict(obs, deterministic=True)[0], rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("env_id", ["fasttrpo/CartPoleNoVel-v1", "Pendulum-v1"])
def test_c_export_carries_the_state_as_predict(env_id, tmp_path):
    import ctypes
    import shutil
    import subprocess

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    model = TRPO("MlpGruPolicy", env_id, seed=0, n_envs=2, normalize_obs=True, **TINY)
    model.learn(256)
    source, header = model.export(tmp_path / "gru", format="c")
    assert "#define GRU_STATE_SIZE 8" in header.read_text()
    library_path = tmp_path / "libgru.so"
    result = subprocess.run([compiler, "-std=c99", "-O2", "-shared", "-fPIC", str(source),
                             "-o", str(library_path), "-lm"], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    act_batch = ctypes.CDLL(str(library_path)).gru_act_batch
    act_batch.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_long]
    width = model.policy.action_width
    rng = np.random.default_rng(0)
    state_model, state_c = None, np.zeros((2, 8), dtype=np.float32)
    for t in range(20):
        obs = rng.standard_normal((2, model.observation_space.shape[0])).astype(np.float32)
        start = np.array([t == 0, t == 10])
        expected, state_model = model.predict(obs, state_model, start, deterministic=True)
        state_c[start] = 0.0
        out = np.full((2, width), np.nan, dtype=np.float32)
        act_batch(obs.ctypes.data, state_c.ctypes.data, out.ctypes.data, 2)
        np.testing.assert_allclose(out.reshape(np.shape(expected)), expected, rtol=1e-4,
                                   atol=1e-4)
        np.testing.assert_allclose(state_c, state_model, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_get_and_set_parameters(env_id):
    """Torch's nn.GRU names and shapes; set_parameters round trip, partial and checked."""
    model = TRPO("MlpGruPolicy", env_id, seed=0, **TINY)
    other = TRPO("MlpGruPolicy", env_id, seed=5, **TINY)
    named = model.get_parameters()["policy"]
    assert named["gru_actor.weight_ih_l0"].shape == (24, 8)  # (3H, encoder width)
    assert named["gru_actor.weight_hh_l0"].shape == (24, 8)
    assert named["action_net.weight"].shape == (model.policy.out_dim, 8)
    assert ("log_std" in named) == (env_id == "Pendulum-v1")
    hid = model.policy.hidden_size
    w_hh = model.policy.get_params()[model.policy.encoder.num_params:][:3 * hid * hid]
    np.testing.assert_array_equal(named["gru_actor.weight_hh_l0"], w_hh.reshape(hid, -1).T)
    other.set_parameters(model.get_parameters())
    np.testing.assert_array_equal(other.policy.get_params(), model.policy.get_params())
    assert "value_net.weight" in named  # the MLP critic, named as ever
    # partial: only the GRU's recurrent weights
    fresh = TRPO("MlpGruPolicy", env_id, seed=5, **TINY)
    before = fresh.policy.get_params()
    fresh.set_parameters({"policy": {"gru_actor.weight_hh_l0": named["gru_actor.weight_hh_l0"]}},
                         exact_match=False)
    changed = np.flatnonzero(fresh.policy.get_params() != before)
    offset = model.policy.encoder.num_params
    assert changed.min() >= offset and changed.max() < offset + 3 * hid * hid
    bad = dict(named, **{"gru_actor.bias_hh_l0": np.full(3 * hid, np.nan)})
    with pytest.raises(ValueError, match="gru_actor.bias_hh_l0"):
        fresh.set_parameters({"policy": bad})
    np.testing.assert_array_equal(fresh.policy.get_params()[:offset], before[:offset])


# ---- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "kwargs", "match"), [
    ("CartPole-v1", dict(compiled=True), "compiled: the compiled sampler has no GRU"),
    ("Pendulum-v1", dict(use_sde=True), "use_sde: gSDE is not supported with MlpGruPolicy"),
    ("MultiDiscrete", {}, "MlpGruPolicy supports Box and Discrete actions"),
])
def test_unsupported_configurations_are_refused(env, kwargs, match):
    if env == "MultiDiscrete":
        env = gym.make("CartPole-v1")
        env.action_space = gym.spaces.MultiDiscrete([2, 3])
    with pytest.raises(ValueError, match=match):
        TRPO("MlpGruPolicy", env, **TINY, **kwargs)


def test_other_refusals():
    with pytest.raises(ValueError, match="gru_hidden_size asks for a recurrent policy; use "
                                         "'MlpGruPolicy'"):
        TRPO("MlpPolicy", "CartPole-v1", **TINY)
    from fasttrpo.envs.compiled import make_port

    model = TRPO("MlpGruPolicy", "CartPole-v1", seed=0, **TINY)
    with pytest.raises(ValueError, match="CompiledSampler cannot run a recurrent policy"):
        model.set_env(make_port("CartPole-v1"))
    with pytest.raises(ValueError, match="masking is not supported with a recurrent"):
        model.predict(np.zeros(4, np.float32), action_masks=[True, False])
    from fasttrpo.interop.sb3 import to_sb3

    with pytest.raises(ValueError, match="to_sb3: sb3-contrib's TRPO has no recurrent"):
        to_sb3(model)
    with pytest.raises(ValueError, match=r"state: expected shape \(1, 8\)"):
        model.predict(np.zeros(4, np.float32), np.zeros((2, 8)))


# ---- constrained algorithms ----------------------------------------------------------------

def test_constrained_linearisation_on_sequences():
    """CPO's ``g``, ``b`` and ``v = (F + damping I)^-1 g`` on a GRU policy's sequence batch."""
    from fasttrpo.steps.cpo import linearize_constrained

    valid, dones, initial = random_rollout(np.random.default_rng(4), n_steps=30, n_envs=2,
                                           hidden=6)
    model = TRPO("MlpGruPolicy", "Pendulum-v1", seed=0,
                 policy_kwargs=dict(gru_hidden_size=6, net_arch=[5]), n_steps=64,
                 batch_size=64)
    policy, rng = model.policy, np.random.default_rng(5)
    sequences = split_sequences(valid, dones, initial.astype(np.float32))
    n_rows = sequences.order.size
    obs = rng.standard_normal((n_rows, 3)).astype(np.float32)
    actions = rng.standard_normal((n_rows, 1)).astype(np.float32)
    reward_adv, cost_adv = rng.standard_normal((2, n_rows)).astype(np.float32)
    lin = linearize_constrained(policy, obs, actions, reward_adv, cost_adv, None, 0.1, 30,
                                sequences=(sequences.seq_starts, sequences.h0))
    starts, h0 = sequences.seq_starts, sequences.h0
    old = policy.log_prob(obs, starts, h0, actions)
    _, reward_grad = policy.surrogate_grad(obs, starts, h0, actions, reward_adv, old)
    _, cost_grad = policy.surrogate_grad(obs, starts, h0, actions, cost_adv, old)
    np.testing.assert_allclose(lin.reward_grad, reward_grad, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(lin.cost_grad[0], cost_grad, rtol=1e-6, atol=1e-8)
    damped = policy.fisher_vector_product(obs, starts, h0, lin.v) + 0.1 * lin.v
    np.testing.assert_allclose(damped, reward_grad, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["CPO", "TRPOLagrangian"])
def test_constrained_algorithms_train_a_gru_policy(name):
    import fasttrpo

    model = getattr(fasttrpo, name)("MlpGruPolicy", "fasttrpo/SafetyPointVelocity-v0",
                                    seed=0, **TINY)
    params = model.policy.get_params()
    model.learn(128)
    assert type(model.policy).__name__ == "GaussianGRUPolicy"
    assert not np.array_equal(params, model.policy.get_params())


@pytest.mark.parametrize("mode", [None, AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_evaluate_policy_carries_the_state(mode):
    """``evaluate_policy`` passes the state and the episode starts, as sb3-contrib's does."""
    from fasttrpo.evaluation import evaluate_policy

    model = TRPO("MlpGruPolicy", "fasttrpo/CartPoleNoVel-v1", seed=0, n_envs=2, **TINY)
    model.learn(512)
    env = gym.make("fasttrpo/CartPoleNoVel-v1")
    expected = []
    for episode in range(3):
        obs, _ = env.reset(seed=7) if episode == 0 else env.reset()
        state, done, total, start = None, False, 0.0, True
        while not done:
            action, state = model.predict(obs, state, [start], deterministic=True)
            start = False
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, done = total + reward, terminated or truncated
        expected.append(total)
    if mode is None:
        target = gym.make("fasttrpo/CartPoleNoVel-v1")
    else:
        target = SyncVectorEnv([lambda: gym.make("fasttrpo/CartPoleNoVel-v1")],
                               autoreset_mode=mode)
    rewards, _ = evaluate_policy(model, target, n_eval_episodes=3, seed=7,
                                 return_episode_rewards=True)
    assert rewards == expected


@pytest.mark.optional_deps
def test_ray_workers_carry_the_states():
    """2 Ray workers x 1 env act as one sampler over 2 envs (same actions, to rounding)."""
    from conftest import require

    ray = require("ray")
    from fasttrpo.rollout import RaySampler

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        kwargs = dict(seed=0, n_steps=48, batch_size=48, normalize_advantage=False,
                      policy_kwargs=dict(gru_hidden_size=6, net_arch=[5]))
        local = TRPO("MlpGruPolicy", "fasttrpo/CartPoleNoVel-v1", n_envs=2, **kwargs)
        remote = TRPO("MlpGruPolicy", RaySampler("fasttrpo/CartPoleNoVel-v1", n_workers=2),
                      **kwargs)
        remote.policy.set_params(local.policy.get_params())
        batches = []
        for model in (local, remote):
            model.sampler.reset(seed=0)
            batch = RolloutBatch(48, 2, 4, 1, model.policy.dtype)
            states = []
            for _ in range(2):
                model.sampler.collect(model.policy, batch, NoiseStreams(0))
                states.append(batch.initial_state.copy())
            batches.append((batch.actions.copy(), states))
        (local_actions, local_states), (ray_actions, ray_states) = batches
        assert np.abs(ray_states[1]).sum() > 0  # carried into the second rollout
        np.testing.assert_allclose(ray_states[1], local_states[1], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ray_actions, local_actions)
        remote.learn(96)
        assert type(remote.policy).__name__ == "CategoricalGRUPolicy"
    finally:
        ray.shutdown()


def test_same_seed_same_parameters_whatever_the_threads():
    """A seed fixes the run; n_threads (critic fit beside the step, block kernels) does not
    change the bits."""
    params = []
    for n_threads in (1, 1, 2):
        model = TRPO("MlpGruPolicy", "Pendulum-v1", seed=4, n_envs=2, n_threads=n_threads,
                     **TINY)
        model.learn(256)
        params.append(np.concatenate([model.policy.get_params(),
                                      model.value_function.get_params()]))
    np.testing.assert_array_equal(params[0], params[1])
    np.testing.assert_array_equal(params[0], params[2])


@pytest.mark.parametrize("value", [-1, 3, 10**9])
def test_runtime_refuses_a_damaged_recurrent_file(value, tmp_path):
    import fasttrpo.runtime

    model = TRPO("MlpGruPolicy", "Pendulum-v1", seed=0, **TINY)
    (path,) = model.export(tmp_path / "policy.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["gru_hidden_size"] = np.array(value, dtype=np.int64)
    np.savez(tmp_path / "damaged.npz", **arrays)
    with pytest.raises(ValueError, match="damaged.npz"):
        fasttrpo.runtime.load(tmp_path / "damaged.npz")
