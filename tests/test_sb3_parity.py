"""What sb3 users paste works: learning-rate schedules, ortho_init=False, activation classes,
bookkeeping attributes and warnings."""

import warnings

import numpy as np
import pytest
from probes import critic_rates

from fasttrpo import TRPO
from fasttrpo.foundation.schedules import LinearSchedule
from fasttrpo.zoo.hyperparams import zoo_to_trpo_kwargs

TINY = dict(n_steps=64, batch_size=32, n_critic_updates=2, seed=0,
            policy_kwargs=dict(net_arch=[8]))


def test_linear_schedule_follows_the_remaining_progress():
    model = TRPO("MlpPolicy", "CartPole-v1", learning_rate="lin_1e-3", n_envs=2, **TINY)
    assert model.config.learning_rate == LinearSchedule(1e-3)
    rates = critic_rates(model, 512)
    assert len(rates) == 4
    for steps, rate in rates:  # sb3: progress_remaining = 1 - num_timesteps / total
        assert rate == pytest.approx(1e-3 * (1 - steps / 512))
    assert model.logger.last_values["train/learning_rate"] == pytest.approx(rates[-1][1])




def test_zoo_schedule_strings():
    kwargs, _ = zoo_to_trpo_kwargs({"learning_rate": "lin_7.3e-4", "n_steps": 64})
    assert TRPO("MlpPolicy", "CartPole-v1", **kwargs).config.learning_rate == \
        LinearSchedule(7.3e-4)
    with pytest.raises(ValueError, match="learning_rate: schedules such as 'exp_1e-3'"):
        zoo_to_trpo_kwargs({"learning_rate": "exp_1e-3"})
    with pytest.raises(ValueError, match="gamma: schedules such as 'lin_0.9'"):
        zoo_to_trpo_kwargs({"gamma": "lin_0.9"})


@pytest.mark.parametrize(("rate", "message"), [
    (lambda p: -1.0, "returned -1.0"),
    (lambda p: float("nan"), "returned nan"),
    (lambda p: 0.0, "must start with a positive rate"),
    (lambda p: 1 / (p - 0.0), "failed at progress_remaining=0"),
    ("lin_x", "expected 'lin_<rate>'"),
    (0.0, "learning_rate"),
])
def test_bad_schedules_are_named(rate, message):
    with pytest.raises(ValueError, match=message):
        TRPO("MlpPolicy", "CartPole-v1", learning_rate=rate, **TINY)


class Tanh:  # what `from torch import nn; nn.Tanh` looks like to fasttrpo: a class named Tanh
    pass


class ReLU:
    pass


class Softplus:
    pass


def test_activation_classes_are_read_by_name():
    for cls, name in ((Tanh, "tanh"), (ReLU, "relu")):
        by_class = TRPO("MlpPolicy", "CartPole-v1",
                        policy_kwargs=dict(net_arch=[8], activation_fn=cls), seed=0)
        by_name = TRPO("MlpPolicy", "CartPole-v1",
                       policy_kwargs=dict(net_arch=[8], activation_fn=name), seed=0)
        assert by_class.policy.layout.activation == by_name.policy.layout.activation
        np.testing.assert_array_equal(by_class.policy.get_params(), by_name.policy.get_params())
    with pytest.raises(ValueError, match="policy_kwargs.activation_fn: unknown activation "
                                         "'Softplus'"):
        TRPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=Softplus))


def test_ortho_init_false_is_torchs_default_init():
    kwargs = dict(policy_kwargs=dict(net_arch=[64, 64], ortho_init=False), seed=3)
    model = TRPO("MlpPolicy", "Pendulum-v1", **kwargs)
    orthogonal = TRPO("MlpPolicy", "Pendulum-v1", seed=3, policy_kwargs=dict(net_arch=[64, 64]))
    for network in (model.policy, model.value_function):
        sizes = network.layout.layer_sizes
        params, offset = network.get_params(), 0
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            block = params[offset:offset + fan_in * fan_out + fan_out]
            offset += block.size
            bound = 1 / np.sqrt(fan_in)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases too
            assert np.abs(block).max() <= bound and np.abs(block).max() > 0.9 * bound
            assert abs(block.std() - bound / np.sqrt(3)) < 0.2 * bound
    # the last hidden layer is no longer orthogonal with gain sqrt(2): W^T W != 2 I
    w = model.policy.get_params()[3 * 64 + 64:3 * 64 + 64 + 64 * 64].reshape(64, 64)
    assert not np.allclose(w.T @ w, 2 * np.eye(64), atol=0.1)
    w_ortho = orthogonal.policy.get_params()[3 * 64 + 64:3 * 64 + 64 + 64 * 64].reshape(64, 64)
    np.testing.assert_allclose(w_ortho.T @ w_ortho, 2 * np.eye(64), atol=1e-4)
    np.testing.assert_array_equal(model.policy.log_std, orthogonal.policy.log_std)
    again = TRPO("MlpPolicy", "Pendulum-v1", **kwargs)  # seeded
    np.testing.assert_array_equal(model.policy.get_params(), again.policy.get_params())


class _GoalEnv:
    """A 3-step episode whose final info says ``is_success`` (odd episodes succeed)."""

    def __new__(cls):
        import gymnasium as gym
        from gymnasium import spaces

        class GoalEnv(gym.Env):
            observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
            action_space = spaces.Discrete(2)

            def __init__(self):
                self.t = self.episode = 0

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.t = 0
                self.episode += 1
                return np.zeros(2, np.float32), {}

            def step(self, action):
                self.t += 1
                done = self.t == 3
                info = {"is_success": self.episode % 2 == 1} if done else {}
                return np.zeros(2, np.float32), 1.0, done, False, info

        return GoalEnv()


@pytest.mark.parametrize("mode", ["same_step", "next_step"])
def test_success_buffer_and_rate(mode):
    import gymnasium as gym

    autoreset = gym.vector.AutoresetMode.SAME_STEP if mode == "same_step" else \
        gym.vector.AutoresetMode.NEXT_STEP
    env = gym.vector.SyncVectorEnv([_GoalEnv, _GoalEnv], autoreset_mode=autoreset)
    model = TRPO("MlpPolicy", env, n_steps=32, batch_size=32, seed=0, stats_window_size=8,
                 policy_kwargs=dict(net_arch=[4]))
    model.learn(64)
    assert len(model.ep_success_buffer) == 8  # the window
    assert set(model.ep_success_buffer) == {True, False}
    assert model.logger.last_values["rollout/success_rate"] == pytest.approx(
        np.mean(model.ep_success_buffer))
    assert model._episode_num > 8  # 2 envs x 64 steps / 3-step episodes


def test_sb3_bookkeeping_and_truncated_minibatch_warning():
    with pytest.warns(UserWarning, match=r"mini-batch size of 100, but because the rollout is "
                                         r"of size `n_steps \* n_envs` = 128, after every 1 "
                                         r"untruncated mini-batches, there will be a truncated "
                                         r"mini-batch of size 28") as record:
        model = TRPO("MlpPolicy", "CartPole-v1", n_steps=64, n_envs=2, batch_size=100, seed=0)
    assert [w.filename for w in record] == [__file__]  # the user's line, not fasttrpo's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TRPO("MlpPolicy", "CartPole-v1", n_steps=64, n_envs=2, batch_size=64)
        TRPO("MlpPolicy", "CartPole-v1", n_steps=64, n_envs=2, batch_size=100,
             vf_optimizer="lbfgs")  # no minibatches
    assert model._n_updates == 0 and model._current_progress_remaining == 1.0
    model.learn(256)
    assert model._n_updates == 2 and model._current_progress_remaining == 0.0
    assert model._episode_num >= len(model.ep_info_buffer) > 0


# ---- parameters, seeds, loggers, normalisation statistics, file objects (item 7) ---------
def test_get_parameters_has_sb3s_names_and_layout():
    model = TRPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=dict(pi=[8, 6],
                                                                             vf=[5])))
    named = model.get_parameters()["policy"]
    assert {name: array.shape for name, array in named.items()} == {
        "mlp_extractor.policy_net.0.weight": (8, 3), "mlp_extractor.policy_net.0.bias": (8,),
        "mlp_extractor.policy_net.2.weight": (6, 8), "mlp_extractor.policy_net.2.bias": (6,),
        "action_net.weight": (1, 6), "action_net.bias": (1,),
        "mlp_extractor.value_net.0.weight": (5, 3), "mlp_extractor.value_net.0.bias": (5,),
        "value_net.weight": (1, 5), "value_net.bias": (1,), "log_std": (1,)}
    obs = np.random.default_rng(0).standard_normal((4, 3))
    h = np.tanh(obs @ named["mlp_extractor.policy_net.0.weight"].T  # sb3's forward, by hand
                + named["mlp_extractor.policy_net.0.bias"])
    h = np.tanh(h @ named["mlp_extractor.policy_net.2.weight"].T
                + named["mlp_extractor.policy_net.2.bias"])
    mean = h @ named["action_net.weight"].T + named["action_net.bias"]
    np.testing.assert_allclose(model.policy.forward(obs), mean, rtol=1e-5, atol=1e-6)


def test_set_parameters_exact_partial_and_refused():
    source = TRPO("MlpPolicy", "CartPole-v1", seed=1, policy_kwargs=dict(net_arch=[8]))
    target = TRPO("MlpPolicy", "CartPole-v1", seed=2, policy_kwargs=dict(net_arch=[8]))
    params = source.get_parameters()
    target.set_parameters(params)
    np.testing.assert_array_equal(target.policy.get_params(), source.policy.get_params())
    np.testing.assert_array_equal(target.value_function.get_params(),
                                  source.value_function.get_params())
    fresh = TRPO("MlpPolicy", "CartPole-v1", seed=3, policy_kwargs=dict(net_arch=[8]))
    critic = fresh.value_function.get_params()
    policy_only = {"policy": {k: v for k, v in params["policy"].items() if "value" not in k}}
    with pytest.raises(ValueError, match=r"missing \['mlp_extractor.value_net.0.bias'"):
        fresh.set_parameters(policy_only)
    fresh.set_parameters(policy_only, exact_match=False)
    np.testing.assert_array_equal(fresh.policy.get_params(), source.policy.get_params())
    np.testing.assert_array_equal(fresh.value_function.get_params(), critic)
    bad = {"policy": dict(params["policy"])}
    bad["policy"]["action_net.weight"] = np.full((2, 8), np.nan)
    before = fresh.policy.get_params()
    with pytest.raises(ValueError, match="action_net.weight: contains NaN"):
        fresh.set_parameters(bad)
    np.testing.assert_array_equal(fresh.policy.get_params(), before)  # nothing changed
    bad["policy"]["action_net.weight"] = np.zeros((8, 2))
    with pytest.raises(ValueError, match=r"action_net.weight: expected shape \(2, 8\)"):
        fresh.set_parameters(bad)


def test_set_parameters_has_sb3s_strict_and_non_strict_semantics():
    """exact_match=False is torch's strict=False: any subset of arrays is set (a Gaussian
    policy's layers without its log_std, one bias alone), unknown names are ignored; sb3's
    'policy.optimizer' entry is accepted and ignored with a warning; other objects refused."""
    source = TRPO("MlpPolicy", "Pendulum-v1", seed=1, policy_kwargs=dict(net_arch=[8]))
    target = TRPO("MlpPolicy", "Pendulum-v1", seed=2, policy_kwargs=dict(net_arch=[8]))
    named = source.get_parameters()["policy"]
    before = target.get_parameters()["policy"]
    subset = {k: v for k, v in named.items() if k.startswith(("mlp_extractor.policy_net",
                                                              "action_net"))}
    assert "log_std" not in subset
    target.set_parameters({"policy": {**subset, "not_a_parameter": np.zeros(3)}},
                          exact_match=False)
    after = target.get_parameters()["policy"]
    for name in after:
        want = named[name] if name in subset else before[name]
        np.testing.assert_array_equal(after[name], want, err_msg=name)
    target.set_parameters({"policy": {"action_net.bias": np.full(1, 0.5)}}, exact_match=False)
    assert target.get_parameters()["policy"]["action_net.bias"].tolist() == [0.5]
    with pytest.warns(UserWarning, match="policy.optimizer"):
        target.set_parameters({"policy": named, "policy.optimizer": {"state": {}}})
    np.testing.assert_array_equal(target.policy.get_params(), source.policy.get_params())
    with pytest.raises(ValueError, match="not parts of a fasttrpo model"):
        target.set_parameters({"policy": named, "critic": {}})
    with pytest.raises(ValueError, match="'policy' is missing"):
        target.set_parameters({"policy.optimizer": {}})


@pytest.mark.optional_deps
def test_set_parameters_takes_sb3_contribs_own_get_parameters():
    """sb3-contrib's TRPO.get_parameters() (tensors, with 'policy.optimizer') sets a fasttrpo
    model whose deterministic actions then equal sb3-contrib's."""
    torch = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    for env_id in ("CartPole-v1", "Pendulum-v1"):
        theirs = sb3_contrib.TRPO("MlpPolicy", env_id, seed=0)
        params = theirs.get_parameters()
        params["policy"] = {k: v.detach().numpy() for k, v in params["policy"].items()}
        ours = TRPO("MlpPolicy", env_id, seed=5)
        with pytest.warns(UserWarning, match="policy.optimizer"):
            ours.set_parameters(params, exact_match=True)
        obs = np.stack([theirs.observation_space.sample() for _ in range(16)])
        with torch.no_grad():
            want, _ = theirs.predict(obs, deterministic=True)
        got, _ = ours.predict(obs, deterministic=True)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)




def test_set_random_seed_makes_runs_repeat():
    runs = []
    for seed in (7, 7, 8):  # same networks; the seed drives sampling, minibatches, env resets
        model = TRPO("MlpPolicy", "CartPole-v1", **TINY)
        model.set_random_seed(seed)
        model.learn(128)
        runs.append(model.policy.get_params())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    with pytest.raises(ValueError, match="seed"):
        model.set_random_seed(-1)


def test_set_logger_takes_any_sb3_like_logger():
    class Recorder:
        def __init__(self):
            self.values, self.dumps = {}, []

        def record(self, key, value, exclude=None):
            self.values[key] = value

        def dump(self, step=0):
            self.dumps.append(step)

    model = TRPO("MlpPolicy", "CartPole-v1", **TINY)
    recorder = Recorder()
    model.set_logger(recorder)
    model.learn(128)
    assert recorder.dumps == [64, 128] and "train/value_loss" in recorder.values
    with pytest.raises(ValueError, match="logger: expected an object with record"):
        model.set_logger(object())


def test_vec_normalize_view_shares_the_statistics():
    plain = TRPO("MlpPolicy", "Pendulum-v1", **TINY)
    assert plain.get_vec_normalize_env() is None
    model = TRPO("MlpPolicy", "Pendulum-v1", normalize_obs=True, normalize_reward=True,
                 clip_obs=5.0, **TINY)
    view = model.get_vec_normalize_env()
    model.learn(128)
    assert view.obs_rms is model.obs_normalizer.rms and view.obs_rms.count > 1
    assert view.norm_obs and view.norm_reward and view.clip_obs == 5.0 and view.gamma == 0.99
    obs = np.ones((2, 3))
    expected = np.clip((obs - view.obs_rms.mean) / np.sqrt(view.obs_rms.var + 1e-8), -5, 5)
    np.testing.assert_allclose(view.normalize_obs(obs), expected)
    reward = np.array([3.0])
    np.testing.assert_allclose(view.normalize_reward(reward),
                               np.clip(reward / np.sqrt(view.ret_rms.var + 1e-8), -10, 10))
    model.obs_normalizer.training = False
    assert view.training is False  # the model's own flag


def test_for_spaces_builds_a_model_without_an_env():
    from gymnasium import spaces

    model = TRPO.for_spaces(spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4),
                            policy_kwargs=dict(net_arch=[8]), seed=0)
    action, _ = model.predict(np.zeros(3, np.float32), deterministic=True)
    assert 0 <= int(action) < 4 and model.get_env() is None
    with pytest.raises(ValueError, match="no environment attached"):
        model.learn(10)


# ---- sb3 VecEnv objects, by duck typing (item 5; real sb3 envs: benchmarks/test_interop_sb3)
class _Sb3StyleVecEnv:
    """sb3's DummyVecEnv semantics over gymnasium envs, written here: the returned obs of an
    ending env is the next episode's, the last one in info["terminal_observation"], and
    info["TimeLimit.truncated"] marks time limits."""

    def __init__(self, env_fns, drop_terminal=False):
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.seeds = [None] * self.num_envs
        self.drop_terminal = drop_terminal

    def seed(self, seed):
        self.seeds = [seed + i for i in range(self.num_envs)]

    def reset(self):
        obs = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, self.seeds, strict=True)]
        self.seeds = [None] * self.num_envs
        return np.stack(obs)

    def step_async(self, actions):
        self.actions = actions

    def step_wait(self):
        obs, rewards, dones, infos = [], [], [], []
        for env, action in zip(self.envs, self.actions, strict=True):
            o, r, terminated, truncated, info = env.step(action)
            info = dict(info, **{"TimeLimit.truncated": truncated and not terminated})
            if terminated or truncated:
                if not self.drop_terminal:
                    info["terminal_observation"] = o
                o, _ = env.reset()
            obs.append(o)
            rewards.append(r)
            dones.append(terminated or truncated)
            infos.append(info)
        return np.stack(obs), np.array(rewards), np.array(dones), infos

    def step(self, actions):
        self.step_async(actions)
        return self.step_wait()

    def close(self):
        pass


def _rollout(env, n_steps=120, **kwargs):
    from fasttrpo.rollout import NoiseStreams, RolloutBatch

    model = TRPO("MlpPolicy", env, n_steps=n_steps, batch_size=n_steps, seed=0,
                 policy_kwargs=dict(net_arch=[8]), **kwargs)
    model.sampler.reset(seed=5)
    batch = RolloutBatch(n_steps, model.n_envs, model.encoder.obs_dim,
                         model.policy.action_width, model.dtype, model.signals)
    assert model.sampler.collect(model.policy, batch, NoiseStreams(0))
    return model, batch


def test_sb3_style_vec_env_gives_the_gymnasium_batch():
    import gymnasium as gym

    from fasttrpo.rollout import make_vector_env

    def short_pendulum():
        return gym.make("Pendulum-v1", max_episode_steps=50)  # time-limit truncations

    gym.register("fasttrpo-test/ShortPendulum-v0", entry_point=short_pendulum)
    _, ours = _rollout(_Sb3StyleVecEnv([short_pendulum] * 2))
    _, theirs = _rollout(make_vector_env("fasttrpo-test/ShortPendulum-v0", 2))
    for name in ("obs", "actions", "rewards", "flags", "last_obs"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    assert len(ours.final_obs) == 4 and ours.final_obs.keys() == theirs.final_obs.keys()
    for key, row in ours.final_obs.items():  # truncations bootstrap the terminal observation
        np.testing.assert_array_equal(row, theirs.final_obs[key])
    assert not ours.terminated.any() and ours.dones.sum() == 4


def test_sb3_style_vec_env_costs_reach_constrained_algorithms():
    import gymnasium as gym

    import fasttrpo.envs  # noqa: F401 (registers the ids)
    from fasttrpo import CPO

    def point():
        return gym.make("fasttrpo/SafetyPointVelocity-v0")  # 100-step episodes

    model = CPO("MlpPolicy", _Sb3StyleVecEnv([point] * 2), cost_limit=5.0,
                n_steps=200, batch_size=200, seed=0, policy_kwargs=dict(net_arch=[8]))
    model.learn(400)
    episodes = list(model.ep_info_buffer)
    assert episodes and all("c" in e for e in episodes)


def test_sb3_style_vec_env_errors():
    import gymnasium as gym

    env = _Sb3StyleVecEnv([lambda: gym.make("CartPole-v1")] * 2, drop_terminal=True)
    model = TRPO("MlpPolicy", env, n_steps=300, batch_size=300, seed=0)
    with pytest.raises(ValueError, match="ended an episode without info\\['terminal_obs"):
        model.learn(600)
    with pytest.raises(ValueError, match="an sb3 VecEnv"):
        TRPO("MlpPolicy", object())


# ---- Dict observations: MultiInputPolicy (item 3) ------------------------------------------
def _dict_env_class():
    import gymnasium as gym
    from gymnasium import spaces

    class DictEnv(gym.Env):
        """Reward 1 when the action equals obs["mode"]; a small image and flags as noise."""

        observation_space = spaces.Dict({
            "pos": spaces.Box(-1, 1, (2,), np.float32), "mode": spaces.Discrete(3, start=1),
            "flags": spaces.MultiBinary(2), "img": spaces.Box(0, 255, (3, 4), np.uint8)})
        action_space = spaces.Discrete(3, start=1)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.observation_space.seed(int(self.np_random.integers(2**31)))
            self.t = 0
            self.obs = self.observation_space.sample()
            return self.obs, {}

        def step(self, action):
            reward = float(action == self.obs["mode"])
            self.t += 1
            self.obs = self.observation_space.sample()
            return self.obs, reward, False, self.t >= 20, {}

    return DictEnv


def test_dict_observations_are_flattened_in_key_order():
    env = _dict_env_class()()
    model = TRPO("MultiInputPolicy", env, n_steps=64, batch_size=64, seed=0,
                 policy_kwargs=dict(net_arch=[16]))
    assert [key for key, _ in model.encoder.parts] == ["flags", "img", "mode", "pos"]
    assert model.encoder.obs_dim == 2 + 12 + 3 + 2
    obs, _ = env.reset(seed=0)
    rows, single = model.encoder.observation_rows(obs)
    expected = np.concatenate([obs["flags"], obs["img"].ravel(),
                               np.eye(3)[obs["mode"] - 1], obs["pos"]])  # one-hot, start 1
    assert single and rows.shape == (1, 19)
    np.testing.assert_array_equal(rows[0], expected)
    batch = {key: np.stack([value, value]) for key, value in obs.items()}
    actions, _ = model.predict(batch, deterministic=True)
    action, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (2,) and actions[0] == action and 1 <= action <= 3


def test_multi_input_policy_learns_saves_and_loads(tmp_path):
    env_class = _dict_env_class()
    model = TRPO("MultiInputPolicy", env_class(), n_steps=512, batch_size=128, seed=0,
                 normalize_obs=True, policy_kwargs=dict(net_arch=[32]))
    model.learn(20_000)
    returns = [e["r"] for e in model.ep_info_buffer]
    assert np.mean(returns) > 12  # chance is 20 / 3
    model.save(tmp_path / "dict")
    loaded = TRPO.load(tmp_path / "dict", env=env_class())
    assert loaded.observation_space == model.observation_space
    obs = env_class().observation_space.sample()
    assert loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]


def test_dict_observation_errors_name_the_key():
    import gymnasium as gym
    from gymnasium import spaces

    env = _dict_env_class()()
    model = TRPO("MultiInputPolicy", env, n_steps=64, batch_size=64, seed=0)
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="expected a dict with keys"):
        model.predict(np.zeros(19))
    with pytest.raises(ValueError, match="missing key 'img'"):
        model.predict({k: v for k, v in obs.items() if k != "img"})
    with pytest.raises(ValueError, match=r"obs\['pos'\]: .*NaN"):
        model.predict({**obs, "pos": np.array([np.nan, 0.0], np.float32)})
    with pytest.raises(ValueError, match=r"obs\['mode'\]"):
        model.predict({**obs, "mode": 7})
    with pytest.raises(ValueError, match="use 'MultiInputPolicy' for Dict"):
        TRPO("MlpPolicy", env)
    with pytest.raises(ValueError, match="use 'MultiInputPolicy' for Dict"):
        TRPO("MultiInputPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="CnnPolicy.*out of scope"):
        TRPO("CnnPolicy", "CartPole-v1")
    nested = gym.make("CartPole-v1")
    nested.observation_space = spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})})
    with pytest.raises(ValueError, match="no nested Dict"):
        TRPO("MultiInputPolicy", nested)
