"""What learn hands callbacks (sb3's hooks and step locals) and writes beside the update:
Monitor files, TensorBoard runs, explained variance and learning rate, warnings for ignored
sb3 arguments."""

import warnings

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

from fasttrpo import TRPO
from fasttrpo.foundation import compat as _compat
from fasttrpo.logs.monitor import load_monitor
from fasttrpo.logs.run_logs import explained_variance, split_vector_info
from fasttrpo.logs.tensorboard import latest_run_id

from toy_envs import CounterEnv


def counter_venv(mode, n_envs=2, terminate_at=None, limit=4, cost_scale=None):
    """CounterEnv copies: reward t + 1, truncated after ``limit`` steps (return 10 for 4)."""
    def make():
        return TimeLimit(CounterEnv(terminate_at=terminate_at, cost_scale=cost_scale), limit)

    return SyncVectorEnv([make] * n_envs, autoreset_mode=mode)


class DuckCallback:
    """sb3's callback protocol without fasttrpo's BaseCallback (as an sb3 subclass looks).

    ``on_training_start`` takes ``globals_`` positionally, as sb3's does.
    """

    def __init__(self):
        self.events, self.steps = [], []
        self.locals = {}

    def init_callback(self, model):
        self.model = model
        self.events.append("init")

    def on_training_start(self, locals_, globals_):
        self.locals = locals_
        self.events.append(("start", locals_["total_timesteps"], "np" in globals_))

    def on_rollout_start(self):
        self.events.append("rollout_start")

    def update_locals(self, locals_):
        self.locals.update(locals_)

    def on_step(self):
        loc = self.locals
        self.steps.append({k: (v.copy() if isinstance(v, np.ndarray) else v)
                           for k, v in loc.items()
                           if k in ("new_obs", "rewards", "dones", "infos", "n_steps")})
        return True

    def on_rollout_end(self):  # sb3's returns None: continue
        self.events.append("rollout_end")

    def on_training_end(self):
        self.events.append("end")


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_duck_typed_callback_gets_sb3_hooks_and_step_locals(mode, tmp_path):
    model = TRPO("MlpPolicy", counter_venv(mode), n_steps=6, batch_size=12, seed=0,
                 log_folder=str(tmp_path))
    cb = DuckCallback()
    model.learn(24, callback=cb)  # 2 envs x 6 steps x 2 rollouts
    assert cb.events == ["init", ("start", 24, True), "rollout_start", "rollout_end",
                         "rollout_start", "rollout_end", "end"]
    assert len(cb.steps) == 12 and [s["n_steps"] for s in cb.steps[:6]] == [1, 2, 3, 4, 5, 6]
    first = cb.steps[3]  # the 4th step truncates both envs
    assert first["dones"].tolist() == [True, True]
    assert first["rewards"].tolist() == [4.0, 4.0]  # raw env rewards
    for info in first["infos"]:
        assert info["TimeLimit.truncated"] is True
        assert np.array_equal(info["terminal_observation"], [4.0, 1.0])
        assert info["episode"]["r"] == 10.0 and info["episode"]["l"] == 4
    if mode == AutoresetMode.SAME_STEP:
        assert first["new_obs"].tolist() == [[0.0, 1.0]] * 2  # the next episode's reset
    else:
        assert first["new_obs"].tolist() == [[4.0, 1.0]] * 2  # NEXT_STEP: the final one
    assert not any("episode" in info for s in cb.steps[:3] for info in s["infos"])
    # the monitor rows are the episodes the callback saw, per env
    data = load_monitor(tmp_path)
    seen = [info["episode"] for s in cb.steps for info in s["infos"] if "episode" in info]
    assert sorted(data["r"].tolist()) == sorted(e["r"] for e in seen) == [10.0] * len(seen)
    assert data["l"].tolist() == [4] * len(seen)
    assert len(seen) == len(model.ep_info_buffer)


def test_terminated_episode_is_not_truncated_and_costs_reach_the_monitor(tmp_path):
    venv = counter_venv(AutoresetMode.SAME_STEP, terminate_at=3, cost_scale=0.5)
    model = TRPO("MlpPolicy", venv, n_steps=6, batch_size=12, seed=0, log_folder=str(tmp_path))
    cb = DuckCallback()
    model.learn(12, callback=cb)
    ended = [info for s in cb.steps for info in s["infos"] if "episode" in info]
    assert len(ended) == 4
    for info in ended:
        assert info["TimeLimit.truncated"] is False
        assert info["episode"]["r"] == 6.0 and info["episode"]["c"] == 3.0
        assert info["cost"] == 1.5  # the last step's own info (final_info), as sb3 gives it
    header = (tmp_path / "0.monitor.csv").read_text().splitlines()[:3]
    assert header[0].startswith('#{"t_start": ') and '"env_id": "None"' in header[0]
    assert header[1] == "r,l,t,c" and header[2].startswith("6.0,3,")
    assert load_monitor(tmp_path)["c"].tolist() == [3.0] * 4


def test_compiled_sampler_callbacks_see_the_batch(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", compiled=True, n_envs=2, n_steps=64, seed=0,
                 log_folder=str(tmp_path), normalize_obs=True)
    cb = DuckCallback()
    model.learn(256, callback=cb)
    assert cb.events.count("rollout_start") == 2 and len(cb.steps) == 128
    ended = [(s, i) for s in cb.steps for i, info in enumerate(s["infos"]) if "episode" in info]
    assert ended and all(s["dones"][i] for s, i in ended)
    dones = sum(int(s["dones"].sum()) for s in cb.steps)
    assert dones == len(ended) == len(model.ep_info_buffer)
    assert [info["episode"]["r"] for s, i in ended for info in [s["infos"][i]]] == \
        [e["r"] for e in model.ep_info_buffer]
    assert all(s["new_obs"].shape == (2, 4) for s in cb.steps)
    data = load_monitor(tmp_path)
    assert sorted(data["r"].tolist()) == sorted(e["r"] for e in model.ep_info_buffer)
    assert (np.diff(data["t"]) >= 0).all() and data["t"][-1] > 0
    assert model.env_id == "CartPole-v1"
    assert '"env_id": "CartPole-v1"' in (tmp_path / "1.monitor.csv").read_text()


def test_monitor_files_restart_or_continue_with_reset_num_timesteps(tmp_path):
    model = TRPO("MlpPolicy", counter_venv(AutoresetMode.SAME_STEP), n_steps=8,
                 batch_size=16, seed=0, log_folder=str(tmp_path))
    model.learn(16)
    first = load_monitor(tmp_path)
    model.learn(16, reset_num_timesteps=False)
    both = load_monitor(tmp_path)
    assert len(both["r"]) == 2 * len(first["r"]) == 8
    assert float(both["t_start"]) == float(first["t_start"])  # the header is kept
    model.learn(16)  # a new run starts the files afresh
    assert len(load_monitor(tmp_path)["r"]) == len(first["r"])


def test_tensorboard_runs_numbered_as_sb3(tmp_path):
    model = TRPO("MlpPolicy", counter_venv(AutoresetMode.SAME_STEP), n_steps=8,
                 batch_size=16, seed=0, tensorboard_log=str(tmp_path))
    model.learn(16)
    model.learn(16, reset_num_timesteps=False)  # continues TRPO_1
    model.learn(16, tb_log_name="mine")
    model.learn(16)
    runs = sorted(p.name for p in tmp_path.iterdir())
    assert runs == ["TRPO_1", "TRPO_2", "mine_1"]
    assert len(list((tmp_path / "TRPO_1").iterdir())) == 2  # one event file per learn call
    assert latest_run_id(tmp_path, "TRPO") == 2 and latest_run_id(tmp_path, "PPO") == 0


def test_explained_variance_and_learning_rate_are_logged(monkeypatch):
    """The logged explained variance is sb3's ``1 - Var[R - V] / Var[R]`` of the value targets
    R and the critic's values V before the fit (V = R - A, A the GAE advantages)."""
    model = TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, learning_rate=3e-3,
                 seed=0)
    prepared = []
    prepare = model.prepare_batch
    monkeypatch.setattr(model, "prepare_batch", lambda batch: prepared.append(
        prepare(batch)) or prepared[-1])
    critic_before = []
    fit = model.fit_critics
    monkeypatch.setattr(model, "fit_critics", lambda data: critic_before.append(
        model.value_function.predict(data.obs)) or fit(data))
    model.learn(128)
    values = model.logger.last_values
    assert values["train/learning_rate"] == 3e-3
    returns = prepared[-1].returns["reward"]
    np.testing.assert_allclose(critic_before[-1], returns - prepared[-1].advantages["reward"],
                               rtol=1e-4, atol=1e-4)  # V before the fit, float32 critic
    expected = 1.0 - np.var(returns - critic_before[-1]) / np.var(returns)
    assert values["train/explained_variance"] == pytest.approx(expected, rel=1e-3, abs=1e-4)


def test_tensorboard_log_with_a_logger_of_set_logger_warns(tmp_path, monkeypatch):
    class Sb3LikeLogger:
        def __init__(self):
            self.dumps = []

        def record(self, key, value, exclude=None):
            pass

        def dump(self, step=0):
            self.dumps.append(step)

    monkeypatch.setattr(_compat, "_WARNED", set())
    model = TRPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, seed=0,
                 tensorboard_log=str(tmp_path))
    logger = Sb3LikeLogger()
    model.set_logger(logger)
    with pytest.warns(UserWarning, match="tensorboard_log is ignored"):
        model.learn(64)
    assert logger.dumps == [32, 64] and not list(tmp_path.iterdir())


def test_explained_variance_formula():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y, y) == 1.0
    assert explained_variance(np.full(4, y.mean()), y) == 0.0
    assert explained_variance(y[::-1], y) == pytest.approx(1 - np.var(y - y[::-1]) / np.var(y))
    assert np.isnan(explained_variance(y, np.ones(4)))


def test_split_vector_info_follows_masks():
    info = {"cost": np.array([1.0, 2.0]), "_cost": np.array([True, False]),
            "final_info": {"x": np.array([5, 6]), "_x": np.array([False, True])},
            "_final_info": np.array([False, True]), "flag": 3}
    assert split_vector_info(info, 2) == [{"cost": 1.0, "flag": 3},
                                          {"final_info": {"x": 6}, "flag": 3}]


def test_ignored_sb3_arguments_warn_once(monkeypatch):
    monkeypatch.setattr(_compat, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            TRPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8, device="cuda")
        TRPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8, device="cpu",
             _init_setup_model=True, rollout_buffer_class=None)  # they ask for nothing: silent
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert messages == ["device='cuda' is accepted for Stable-Baselines3 compatibility and "
                        "ignored: fasttrpo runs on the CPU"]
    assert caught[0].filename == __file__  # points at the caller


def test_env_id_is_saved_and_loaded(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8, seed=0)
    assert model.env_id == "CartPole-v1"
    loaded = TRPO.load(model.save(tmp_path / "m"))
    assert loaded.env_id == "CartPole-v1"
    anonymous = TRPO("MlpPolicy", counter_venv(AutoresetMode.SAME_STEP), n_steps=8,
                     batch_size=16)
    assert anonymous.env_id is None
    assert TRPO.load(anonymous.save(tmp_path / "a")).env_id is None
