"""sb3's own idioms run unchanged: the getting-started loop on ``model.get_env()``,
``evaluate_policy`` on every env fasttrpo trains on, ``load(path, env=...)`` then
``get_env()`` (issue 24). The loops are written as sb3's documentation writes them."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from fasttrpo import TRPO
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.rollout import Sb3VecEnvView


@pytest.fixture(scope="module")
def cartpole():
    return TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=64, batch_size=64, seed=0,
                policy_kwargs=dict(net_arch=[8])).learn(128)


def test_sb3_getting_started_loop(cartpole):
    # sb3's README: vec_env = model.get_env(); obs = vec_env.reset(); for i in range(1000): ...
    vec_env = cartpole.get_env()
    assert isinstance(vec_env, Sb3VecEnvView) and vec_env.num_envs == 2
    obs = vec_env.reset()
    assert obs.shape == (2, 4)
    finished = 0
    for _ in range(600):
        action, _states = cartpole.predict(obs, deterministic=True)
        obs, rewards, dones, info = vec_env.step(action)
        assert rewards.shape == (2,) and dones.shape == (2,) and len(info) == 2
        for env, done in enumerate(dones):
            if done:  # sb3's contract: obs is the next episode's, the last one in info
                finished += 1
                assert info[env]["terminal_observation"].shape == (4,)
                assert isinstance(info[env]["TimeLimit.truncated"], bool)
                assert not np.array_equal(info[env]["terminal_observation"], obs[env])
    assert finished > 0


def test_view_matches_the_gymnasium_vector_env_step_for_step():
    """The view's (obs, rewards, dones, infos) against the same vector env stepped directly."""
    def make():
        return gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})

    view, plain = Sb3VecEnvView(make()), make()
    view.seed(7)
    np.testing.assert_array_equal(view.reset(), plain.reset(seed=7)[0])
    rng = np.random.default_rng(0)
    for _ in range(200):
        actions = rng.integers(0, 2, size=3)
        obs, rewards, dones, infos = view.step(actions)
        p_obs, p_rewards, p_term, p_trunc, p_info = plain.step(actions)
        np.testing.assert_array_equal(obs, p_obs)
        np.testing.assert_array_equal(rewards, p_rewards)
        np.testing.assert_array_equal(dones, p_term | p_trunc)
        for env in np.flatnonzero(dones):
            np.testing.assert_array_equal(infos[env]["terminal_observation"],
                                          p_info["final_obs"][env])
            assert infos[env]["TimeLimit.truncated"] == bool(p_trunc[env] and not p_term[env])


def test_view_refuses_next_step_autoreset():
    venv = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP})
    with pytest.raises(ValueError, match="SAME_STEP"):
        Sb3VecEnvView(venv)


def _episodes(model, env, n=5, seed=3):
    return evaluate_policy(model, env, n_eval_episodes=n, seed=seed, deterministic=True,
                           return_episode_rewards=True)


def test_evaluate_policy_on_every_kind_of_env(cartpole):
    """An id, an Env, get_env()'s view, a gymnasium VectorEnv in both autoreset modes, an sb3
    VecEnv (duck-typed), a CompiledEnv and a CompiledVectorEnv: n episodes each, the
    single-env results equal a plain loop's, the vector env's split as sb3 splits them."""
    from fasttrpo.envs.compiled import CompiledVectorEnv, make_port

    rewards, lengths = _episodes(cartpole, "CartPole-v1")
    env = gym.make("CartPole-v1")  # a plain loop: reset with the seed once, then continue
    expected = []
    for episode in range(5):
        obs, _ = env.reset(seed=3) if episode == 0 else env.reset()
        total, done = 0.0, False
        while not done:
            action, _ = cartpole.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + reward, terminated or truncated
        expected.append(total)
    assert rewards == expected and sum(lengths) == sum(expected)
    assert _episodes(cartpole, gym.make("CartPole-v1"))[0] == expected

    for venv in (cartpole.get_env(),
                 gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                              vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}),
                 gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                              vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP}),
                 CompiledVectorEnv(make_port("CartPole-v1"), num_envs=3),
                 make_port("CartPole-v1")):
        rewards, lengths = _episodes(cartpole, venv, n=5)
        assert len(rewards) == 5 and rewards == [float(n) for n in lengths], type(venv)
        assert all(1 <= n <= 500 for n in lengths)
    # NEXT_STEP and SAME_STEP play the same episodes (the reset step is not counted)
    same, next_ = (
        _episodes(cartpole, gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                                         vector_kwargs={"autoreset_mode": mode}))
        for mode in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP))
    assert same == next_


def test_evaluate_policy_divides_episodes_over_envs_as_sb3():
    """Env i plays (n + i) // n_envs episodes: 5 over 2 envs is 2 and 3."""
    class Counting(gym.Wrapper):
        episodes = 0

        def reset(self, **kwargs):
            Counting.episodes += 1
            return self.env.reset(**kwargs)

    venv = gym.vector.SyncVectorEnv(
        [lambda: Counting(gym.make("CartPole-v1", max_episode_steps=5)) for _ in range(2)],
        autoreset_mode=AutoresetMode.SAME_STEP)

    class Constant:
        def predict(self, obs, deterministic=True):
            return np.zeros(len(obs), dtype=np.int64), None

    rewards, lengths = evaluate_policy(Constant(), venv, n_eval_episodes=5,
                                       return_episode_rewards=True)
    assert len(rewards) == 5 and lengths == [5] * 5  # every episode hits the 5-step limit


def test_load_with_env_then_get_env(cartpole, tmp_path):
    path = cartpole.save(tmp_path / "cartpole")
    loaded = TRPO.load(path, env="CartPole-v1")
    vec_env = loaded.get_env()
    obs = vec_env.reset()
    action, _ = loaded.predict(obs, deterministic=True)
    obs, rewards, dones, infos = vec_env.step(action)
    assert obs.shape == (2, 4) and rewards.shape == (2,)  # the saved n_envs=2
    mean, std = evaluate_policy(loaded, loaded.get_env(), n_eval_episodes=2)
    assert mean >= 1.0 and std >= 0.0


def test_sb3_vec_env_duck_type_is_evaluated(cartpole):
    """A minimal object with sb3's VecEnv methods (no sb3 import) through evaluate_policy."""
    view = Sb3VecEnvView(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                                      vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}))

    class DuckVecEnv:  # what is_sb3_vec_env recognises: sb3's methods, no VectorEnv base
        num_envs = 2
        observation_space, action_space = view.observation_space, view.action_space

        def reset(self):
            return view.reset()

        def step_async(self, actions):
            view.step_async(actions)

        def step_wait(self):
            return view.step_wait()

        def step(self, actions):
            return view.step(actions)

        def seed(self, seed=None):
            return view.seed(seed)

        def close(self):
            view.close()

    rewards, lengths = _episodes(cartpole, DuckVecEnv(), n=4)
    assert len(rewards) == 4 and rewards == [float(n) for n in lengths]


def test_policy_state_dict_round_trip_and_strictness(cartpole):
    state = cartpole.policy.state_dict()
    assert sorted(state) == ["action_net.bias", "action_net.weight",
                             "mlp_extractor.policy_net.0.bias",
                             "mlp_extractor.policy_net.0.weight"]
    assert state["mlp_extractor.policy_net.0.weight"].shape == (8, 4)  # torch: (out, in)
    other = TRPO("MlpPolicy", "CartPole-v1", seed=1, policy_kwargs=dict(net_arch=[8]))
    other.policy.load_state_dict(state)
    np.testing.assert_array_equal(other.policy.get_params(), cartpole.policy.get_params())
    with_critic = {**state, **cartpole.get_parameters()["policy"]}  # sb3's policy state
    with pytest.raises(ValueError, match="unexpected.*value_net"):
        other.policy.load_state_dict(with_critic)
    other.policy.load_state_dict(with_critic, strict=False)
    bad = {**state, "action_net.bias": np.array([np.nan, 0.0])}
    before = other.policy.get_params()
    with pytest.raises(ValueError, match="action_net.bias"):
        other.policy.load_state_dict(bad)
    np.testing.assert_array_equal(other.policy.get_params(), before)  # nothing changed


def test_save_takes_sb3s_exclude_and_include(cartpole, tmp_path):
    path = cartpole.save(tmp_path / "m", exclude=["env", "replay_buffer", "logger"])
    np.testing.assert_array_equal(TRPO.load(path).policy.get_params(),
                                  cartpole.policy.get_params())
    cartpole.save(tmp_path / "m2", include=["num_timesteps"])
    with pytest.raises(ValueError, match="exclude: \\['policy'\\] are always saved"):
        cartpole.save(tmp_path / "m3", exclude=["policy"])
    with pytest.raises(ValueError, match="include: \\['env'\\] cannot be saved"):
        cartpole.save(tmp_path / "m4", include=["env"])
    assert not (tmp_path / "m3.zip").exists() and not (tmp_path / "m4.zip").exists()


def test_a_one_step_rollout_with_advantage_normalisation_is_refused_at_construction():
    """sb3-contrib's TRPO refuses n_steps * n_envs = 1 with normalize_advantage in __init__."""
    with pytest.raises(ValueError, match="`n_steps \\* n_envs` must be greater than 1.*"
                                         "n_steps=1 and n_envs=1"):
        TRPO("MlpPolicy", "CartPole-v1", n_steps=1, batch_size=1)
    TRPO("MlpPolicy", "CartPole-v1", n_steps=1, batch_size=1, normalize_advantage=False)


# ---- sb3's policy_kwargs for Dict observations -------------------------------------------------
class CombinedExtractor:  # stands for sb3's class: fasttrpo checks extractors by name
    pass


def test_sb3_extractor_policy_kwargs_are_accepted_and_the_image_ones_ignored(monkeypatch):
    """sb3's Dict-observation keys: the flattening extractors and share_features_extractor
    are what fasttrpo computes anyway (same networks as without them); the image options are
    ignored with one warning each; a custom extractor is refused."""
    from fasttrpo.foundation import compat

    from toy_envs import DictCartPole

    monkeypatch.setattr(compat, "_WARNED", set())
    plain = TRPO("MultiInputPolicy", DictCartPole(), seed=0, policy_kwargs=dict(net_arch=[8]))
    with pytest.warns(UserWarning) as record:
        model = TRPO("MultiInputPolicy", DictCartPole(), seed=0, policy_kwargs=dict(
            net_arch=[8], features_extractor_class=CombinedExtractor,
            share_features_extractor=False, features_extractor_kwargs=dict(cnn_output_dim=64),
            normalize_images=False))
    ignored = sorted(str(w.message).split(" is ignored")[0] for w in record)
    assert ignored == ["policy_kwargs.features_extractor_kwargs",
                       "policy_kwargs.normalize_images"]
    np.testing.assert_array_equal(model.policy.get_params(), plain.policy.get_params())
    model.learn(64)  # trains as the plain model does

    class NatureCNN:
        pass

    with pytest.raises(ValueError, match="features_extractor_class: fasttrpo's MLPs read"):
        TRPO("MultiInputPolicy", DictCartPole(), policy_kwargs=dict(
            features_extractor_class=NatureCNN))
    with pytest.raises(ValueError, match="share_features_extractor"):
        TRPO("MultiInputPolicy", DictCartPole(), policy_kwargs=dict(share_features_extractor=3))


@pytest.mark.optional_deps
def test_training_on_sb3s_vec_normalize_over_dict_observations():
    """sb3's VecNormalize (per key, norm_obs_keys) over a Dict env: fasttrpo trains on it,
    sees the normalised batches sb3 gives, and its episodes end with Dict final observations."""
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    from toy_envs import DictCartPole

    venv = vec_env.VecNormalize(vec_env.DummyVecEnv([DictCartPole, DictCartPole]),
                                norm_obs_keys=["pos", "vel"])
    model = TRPO("MultiInputPolicy", venv, n_steps=64, batch_size=64, seed=0)
    model.learn(256)
    assert model.num_timesteps == 256 and len(model.ep_info_buffer) > 0
    assert venv.obs_rms["pos"].count > 256  # sb3's statistics advanced with every step
    obs = venv.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (2,)


# ---- MultiDiscrete observations: one-hot per component, as sb3 ------------------------------
def test_multidiscrete_observations_are_one_hot_per_component():
    from gymnasium import spaces

    from fasttrpo.models.spaces import ObsEncoder

    space = spaces.MultiDiscrete([3, 4, 2], start=[0, -1, 5])
    encoder = ObsEncoder.for_space(space)
    assert encoder.obs_dim == 9
    raw = np.array([[0, -1, 5], [2, 2, 6], [1, 0, 5]])
    want = np.zeros((3, 9))
    for row, values in enumerate(raw):  # a plain loop: component c's class in its block
        offset = 0
        for value, n, start in zip(values, space.nvec, space.start, strict=True):
            want[row, offset + value - start] = 1.0
            offset += n
    rows, single = encoder.observation_rows(raw)
    assert not single and np.array_equal(rows, want)
    rows, single = encoder.observation_rows(raw[1])
    assert single and np.array_equal(rows, want[1:2])
    for bad, message in ((np.array([[3, 0, 5]]), r"obs\[:, 0\]"),
                         (np.array([[0, 0, 5.5]]), r"obs\[:, 2\]"),
                         (np.array([[0, 0]]), "expected shape")):
        with pytest.raises(ValueError, match=message):
            encoder.observation_rows(bad)
    with pytest.raises(ValueError, match="not supported"):
        ObsEncoder.for_space(spaces.MultiDiscrete([[2, 2], [3, 3]]))


def test_training_and_predicting_on_multidiscrete_observations(tmp_path):
    from export_cases import MultiDiscreteObsEnv

    model = TRPO("MlpPolicy", MultiDiscreteObsEnv(), n_steps=64, batch_size=64, seed=0,
                 policy_kwargs=dict(net_arch=[8]))
    model.learn(128)
    obs = np.array([[0, -1, 5, 0, 2], [2, 2, 6, 4, 7]])
    actions, _ = model.predict(obs, deterministic=True)
    loaded = TRPO.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)


@pytest.mark.optional_deps
def test_multidiscrete_encoding_is_sb3s():
    """sb3's preprocess_obs of a MultiDiscrete observation (start 0, as sb3 takes it)."""
    torch = pytest.importorskip("torch")
    preprocessing = pytest.importorskip("stable_baselines3.common.preprocessing")
    from gymnasium import spaces

    from fasttrpo.models.spaces import ObsEncoder

    space = spaces.MultiDiscrete([3, 4, 2])
    raw = np.stack([space.sample() for _ in range(20)])
    theirs = preprocessing.preprocess_obs(torch.as_tensor(raw), space).numpy()
    ours, _ = ObsEncoder.for_space(space).observation_rows(raw)
    np.testing.assert_array_equal(ours, theirs)
