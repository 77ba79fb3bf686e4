"""The TRPO agent: API, spaces, normalisation, save/load, determinism, learning."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from fasttrpo import TRPO
from fasttrpo.callbacks import BaseCallback

from toy_envs import DictObsEnv, MatchEnv

TINY = dict(n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[8]), n_critic_updates=2)


def test_api_round_trip_cartpole(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, seed=0, **TINY)
    assert model.learn(256) is model
    assert model.num_timesteps == 256
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, deterministic=True)
    assert state is None and np.ndim(action) == 0 and env.action_space.contains(int(action))
    batch = np.stack([obs, obs, obs])
    actions, _ = model.predict(batch, deterministic=True)
    assert actions.shape == (3,) and (actions == action).all()
    assert model.policy.num_params == 4 * 8 + 8 + 8 * 2 + 2


def test_env_forms_and_policy_kwargs():
    vec = gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync")  # NEXT_STEP default
    for env in ("Pendulum-v1", gym.make("Pendulum-v1"), vec):
        model = TRPO("MlpPolicy", env, seed=1, **{**TINY, "policy_kwargs": dict(
            net_arch=dict(pi=[8, 8], vf=[6]), activation_fn="nn.ReLU", log_std_init=-1.0)})
        model.learn(128)
        assert model.policy.hidden_sizes == (8, 8)
        assert model.value_function.layout.hidden_sizes == (6,)
        assert model.policy.activation == "nn.ReLU"
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0


@pytest.mark.parametrize("kind", ["box", "discrete", "multidiscrete", "multibinary"])
def test_every_action_space_trains_and_predicts(kind):
    env = MatchEnv(kind)
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    model.learn(128)
    obs, _ = env.reset(seed=3)
    action, _ = model.predict(obs)
    assert env.action_space.contains(action)
    actions, _ = model.predict(np.stack([obs] * 5))
    assert all(env.action_space.contains(a) for a in actions)


def test_discrete_observations_are_one_hot():
    model = TRPO("MlpPolicy", "FrozenLake-v1", seed=0, **TINY)
    assert model.policy.obs_dim == 16
    model.learn(64)
    action, _ = model.predict(5, deterministic=True)
    assert 0 <= int(action) < 4
    with pytest.raises(ValueError, match="Discrete observation outside"):
        model.predict(16)


def test_unsupported_spaces_fail_at_construction():
    with pytest.raises(ValueError, match=r"use 'MultiInputPolicy' for Dict"):
        TRPO("MlpPolicy", DictObsEnv())  # Dict observations need sb3's MultiInputPolicy

    class TupleActionEnv(MatchEnv):
        def __init__(self):
            super().__init__("discrete")
            self.action_space = gym.spaces.Tuple([gym.spaces.Discrete(2)] * 2)

    with pytest.raises(ValueError, match="action_space: Tuple.*not supported"):
        TRPO("MlpPolicy", TupleActionEnv())


def test_bad_arguments():
    with pytest.raises(ValueError, match="policy: 'MlpPolicy', 'MultiInputPolicy'"):
        TRPO("CnnPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match=r"unknown keyword argument\(s\) \['n_stepz'\]"):
        TRPO("MlpPolicy", "CartPole-v1", n_stepz=3)
    with pytest.raises(ValueError, match="n_steps: must be a positive integer"):
        TRPO("MlpPolicy", "CartPole-v1", n_steps=0)
    with pytest.raises(ValueError, match="gamma: must lie in"):
        TRPO("MlpPolicy", "CartPole-v1", gamma=1.5)
    with pytest.raises(ValueError, match="use_sde: gSDE needs a Box action space"):
        TRPO("MlpPolicy", "CartPole-v1", use_sde=True)
    with pytest.raises(ValueError, match="policy_kwargs: unsupported key"):
        TRPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(squash_output=True))
    with pytest.raises(ValueError, match="net_arch must be"):
        TRPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch="big"))
    with pytest.raises(ValueError, match="activation_fn: unknown activation"):
        TRPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn="nn.GELU"))
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    with pytest.raises(ValueError, match="observation: expected shape"):
        model.predict(np.zeros(5))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(np.array([0.0, np.nan, 0.0, 0.0]))


def test_same_seed_gives_bit_identical_parameters():
    params = []
    for _ in range(2):
        model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, seed=42, **TINY)
        model.learn(256)
        params.append((model.policy.get_params(), model.value_function.get_params()))
    np.testing.assert_array_equal(params[0][0], params[1][0])
    np.testing.assert_array_equal(params[0][1], params[1][1])
    other = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, seed=43, **TINY).learn(256)
    assert not np.array_equal(other.policy.get_params(), params[0][0])






def test_callbacks_can_stop_training():
    class StopAfter(BaseCallback):
        def __init__(self):
            super().__init__()
            self.rollouts = 0

        def _on_step(self):
            return self.num_timesteps < 100

        def _on_rollout_end(self):
            self.rollouts += 1

    callback = StopAfter()
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    model.learn(10_000, callback=callback)
    assert model.num_timesteps == 100 and callback.rollouts == 1
    calls = []
    model.learn(10_000, callback=lambda locals_, globals_: calls.append(1) or len(calls) < 5)
    assert len(calls) == 5


def test_logging_keys_and_csv(tmp_path, capsys):
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, verbose=1, log_folder=str(tmp_path), **TINY)
    model.learn(128)
    out = capsys.readouterr().out
    for key in ("ep_rew_mean", "kl_divergence_loss", "policy_objective", "value_loss",
                "is_line_search_success", "fps", "rollout_s", "update_s"):
        assert key in out
    header = (tmp_path / "progress.csv").read_text().splitlines()[0]
    assert "train/value_loss" in header and "time/fps" in header


def test_policy_objective_is_logged_at_the_accepted_parameters_as_sb3_contrib():
    """sb3-contrib logs the surrogate of the accepted step (the old one when the line search
    fails); with normalised advantages the old surrogate is ~0, the accepted one positive."""
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    model.learn(TINY["n_steps"])
    values = model.logger.last_values
    assert values["train/is_line_search_success"] == 1.0
    assert values["train/policy_objective"] > 1e-6


def test_next_step_vector_env_matches_same_step_statistics():
    # The same env under both autoreset modes sees the same episodes (reset rows excluded).
    lengths = {}
    for mode in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
        env = SyncVectorEnv([lambda: MatchEnv("discrete", horizon=3)], autoreset_mode=mode)
        model = TRPO("MlpPolicy", env, seed=0, **{**TINY, "n_steps": 60})
        model.learn(60)
        lengths[mode] = [e["l"] for e in model.ep_info_buffer]
    assert set(lengths[AutoresetMode.SAME_STEP]) == {3} == set(lengths[AutoresetMode.NEXT_STEP])
    assert len(lengths[AutoresetMode.SAME_STEP]) == 20
    assert len(lengths[AutoresetMode.NEXT_STEP]) == 15


LEARNING = {
    # kind: (timesteps, score of the untrained policy must be beaten by margin)
    "box": 6000, "discrete": 4000, "multidiscrete": 4000, "multibinary": 4000,
}


@pytest.mark.parametrize("kind", list(LEARNING))
def test_learning_beats_initial_policy(kind):
    """A broken update (wrong gradient sign, wrong FVP, no step) fails this."""
    env = MatchEnv(kind)
    model = TRPO("MlpPolicy", env, seed=0, n_steps=500, batch_size=100,
                 policy_kwargs=dict(net_arch=[32]), target_kl=0.05, n_critic_updates=5)
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (300, 4)).astype(np.float32)

    def score():
        actions, _ = model.predict(obs, deterministic=True)
        return np.mean([env.reward(o, a) for o, a in zip(obs, actions)])

    before = score()
    model.learn(LEARNING[kind])
    after = score()
    best = np.mean([env.reward(o, env.optimal(o)) for o in obs])
    # close at least 60% of the gap to the optimum
    assert after - before > 0.6 * (best - before), (before, after, best)


def test_cartpole_learns():
    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, seed=0, n_steps=512, batch_size=512,
                 gae_lambda=0.98, cg_damping=1e-3, n_critic_updates=20)
    model.learn(40_000)  # ~2 s; seeds 0-3 reach a training mean of 250-300 here
    assert np.mean([e["r"] for e in model.ep_info_buffer]) > 200


def test_eval_callback_keeps_best_model(tmp_path):
    from fasttrpo.callbacks import EvalCallback

    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    callback = EvalCallback(gym.make("CartPole-v1"), n_eval_episodes=2, eval_freq=64,
                            best_model_save_path=str(tmp_path))
    model.learn(256, callback=callback)
    best = tmp_path / "best_model.zip"
    assert best.exists() and np.isfinite(callback.best_mean_reward)
    loaded = TRPO.load(best)
    obs = np.zeros(4, dtype=np.float32)
    assert loaded.predict(obs, deterministic=True)[0] in (0, 1)


def test_progress_bar(capsys):
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    model.learn(128, progress_bar=True)
    assert "128/128" in capsys.readouterr().err
