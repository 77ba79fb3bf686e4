import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from fasttrpo.callbacks import (
    BaseCallback,
    CallbackList,
    EvalCallback,
    FunctionCallback,
    StopTrainingOnRewardThreshold,
    make_callback,
)
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.logs.logger import Logger


class FakeModel:
    """The model interface callbacks rely on: predict, save, num_timesteps, logger."""

    def __init__(self, action=0):
        self.action = action
        self.num_timesteps = 0
        self.logger = Logger()
        self.saved = []
        self.predict_calls = []

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        self.predict_calls.append(deterministic)
        return self.action, None

    def save(self, path):
        self.saved.append((path, self.action))


class RewardIsActionEnv(gym.Env):
    """Episodes of two steps; each step pays the action, so the return is 2 * action."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    action_space = spaces.Box(-10.0, 10.0, (), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, dtype=np.float32), float(action), False, self.t >= 2, {}


def run_steps(callback, model, n_steps, n_envs=1):
    """Drive the hooks as TRPO.learn does; returns the number of steps taken."""
    callback.init_callback(model)
    callback.on_training_start({"total_timesteps": n_steps})
    taken = 0
    for _ in range(n_steps):
        model.num_timesteps += n_envs
        taken += 1
        if not callback.on_step():
            break
    callback.on_training_end()
    return taken


def manual_cartpole_rewards(action, n_episodes, seed):
    env = gym.make("CartPole-v1")
    rewards, lengths = [], []
    for episode in range(n_episodes):
        env.reset(seed=seed) if episode == 0 else env.reset()
        total, length, done = 0.0, 0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(action)
            total += r
            length += 1
            done = terminated or truncated
        rewards.append(total)
        lengths.append(length)
    env.close()
    return rewards, lengths


@pytest.mark.parametrize("as_id", [False, True])
def test_evaluate_policy_matches_manual_loop(as_id):
    expected_rewards, expected_lengths = manual_cartpole_rewards(1, 6, seed=3)
    assert len(set(expected_lengths)) > 1  # episodes differ: later resets are not reseeded
    model = FakeModel(action=1)
    env = "CartPole-v1" if as_id else gym.make("CartPole-v1")
    rewards, lengths = evaluate_policy(model, env, n_eval_episodes=6, seed=3,
                                       return_episode_rewards=True)
    assert rewards == expected_rewards
    assert lengths == expected_lengths
    assert set(model.predict_calls) == {True}  # deterministic by default
    mean, std = evaluate_policy(model, gym.make("CartPole-v1"), 6, deterministic=False, seed=3)
    assert mean == pytest.approx(np.mean(expected_rewards))
    assert std == pytest.approx(np.std(expected_rewards))
    assert model.predict_calls[-1] is False


def test_evaluate_policy_bad_arguments():
    with pytest.raises(ValueError, match="n_eval_episodes"):
        evaluate_policy(FakeModel(), RewardIsActionEnv(), n_eval_episodes=0)
    with pytest.raises(ValueError, match="env: expected an env id.*got object"):
        evaluate_policy(FakeModel(), object())
    with pytest.raises(ValueError, match="reward_threshold"):
        evaluate_policy(FakeModel(action=1.0), RewardIsActionEnv(), 2, reward_threshold=3.0)


class Recorder(BaseCallback):
    def __init__(self, stop_at=None):
        super().__init__()
        self.stop_at = stop_at
        self.events = []

    def _on_training_start(self):
        self.events.append(("start", self.locals["total_timesteps"]))

    def _on_step(self):
        self.events.append(("step", self.n_calls, self.num_timesteps))
        return self.n_calls != self.stop_at

    def _on_rollout_end(self):
        self.events.append(("rollout_end", self.num_timesteps))  # returns None: continue

    def _on_training_end(self):
        self.events.append(("end",))


def test_base_callback_hooks_and_stop():
    model = FakeModel()
    cb = Recorder(stop_at=3)
    assert run_steps(cb, model, 10, n_envs=2) == 3
    assert cb.model is model
    assert cb.events == [("start", 10), ("step", 1, 2), ("step", 2, 4), ("step", 3, 6), ("end",)]
    assert cb.on_rollout_end() is True
    cb.update_locals({"iteration": 4})
    assert cb.locals["iteration"] == 4 and cb.locals["total_timesteps"] == 10


def test_callback_list_calls_every_child_and_stops_if_any():
    first, second = Recorder(stop_at=2), Recorder()
    cb = CallbackList([first, second])
    assert run_steps(cb, FakeModel(), 5) == 2
    assert [e for e in second.events if e[0] == "step"] == [("step", 1, 1), ("step", 2, 2)]
    assert second.events[-1] == ("end",)
    cb.update_locals({"x": 1})
    assert first.locals["x"] == 1 and second.locals["x"] == 1

    class StopAtRolloutEnd(BaseCallback):
        def _on_rollout_end(self):
            return False

    both = CallbackList([Recorder(), StopAtRolloutEnd()])
    both.init_callback(FakeModel())
    assert both.on_rollout_end() is False
    assert both.callbacks[0].events == [("rollout_end", 0)]  # every child was called


def test_function_callback_and_make_callback():
    seen = []

    def fn(locals_, globals_):
        seen.append(locals_["total_timesteps"])
        return False if len(seen) == 4 else None  # None continues

    cb = make_callback(fn)
    assert isinstance(cb, FunctionCallback)
    assert run_steps(cb, FakeModel(), 10) == 4
    assert seen == [10] * 4
    assert type(make_callback(None)) is BaseCallback
    assert run_steps(make_callback(None), FakeModel(), 5) == 5
    rec = Recorder()
    assert make_callback(rec) is rec
    assert isinstance(make_callback([rec, fn]), CallbackList)
    with pytest.raises(ValueError, match="callback"):
        make_callback(42)


def test_eval_callback_saves_on_improvement_only(tmp_path):
    model = FakeModel()
    qualities = iter([1.0, 3.0, 2.0, 3.0, 5.0, 4.0])

    class ChangeQuality(BaseCallback):
        def _on_step(self):
            if self.n_calls % 2 == 1:  # the policy changes before each evaluation
                model.action = next(qualities)
            return True

    eval_cb = EvalCallback(RewardIsActionEnv(), n_eval_episodes=2, eval_freq=2,
                           best_model_save_path=str(tmp_path / "best"))
    run_steps(CallbackList([ChangeQuality(), eval_cb]), model, 12)
    best = str(tmp_path / "best" / "best_model")
    assert model.saved == [(best, 1.0), (best, 3.0), (best, 5.0)]
    assert eval_cb.best_mean_reward == 10.0  # two steps paying 5
    assert eval_cb.last_mean_reward == 8.0
    assert eval_cb.evaluations_timesteps == [2, 4, 6, 8, 10, 12]
    assert model.logger.name_to_value["eval/mean_reward"] == 8.0
    assert model.logger.name_to_value["eval/mean_ep_length"] == 2.0


def test_stop_training_on_reward_threshold():
    model = FakeModel(action=0.0)
    stop = StopTrainingOnRewardThreshold(reward_threshold=6.0)
    eval_cb = EvalCallback(RewardIsActionEnv(), n_eval_episodes=1, eval_freq=3,
                           callback_on_new_best=stop)

    class Improve(BaseCallback):
        def _on_step(self):
            model.action += 0.5  # evaluations at steps 3, 6 see returns 3, 6
            return True

    taken = run_steps(CallbackList([Improve(), eval_cb]), model, 100)
    assert taken == 6  # the second evaluation reaches the threshold
    assert eval_cb.best_mean_reward == 6.0
    assert stop.parent is eval_cb and stop.n_calls == 2
    with pytest.raises(ValueError, match="callback_on_new_best"):
        run_steps(StopTrainingOnRewardThreshold(1.0), FakeModel(), 1)


# ---- issue 14: sb3's other callbacks, evaluations.npz, duck typing -----------------------------
from fasttrpo.callbacks import (  # noqa: E402
    CheckpointCallback,
    EventCallback,
    EveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    is_callback,
)


def test_eval_callback_writes_evaluations_npz_as_sb3(tmp_path):
    model = FakeModel(action=1.0)
    eval_cb = EvalCallback(RewardIsActionEnv(), n_eval_episodes=3, eval_freq=2,
                           log_path=str(tmp_path / "logs"))
    run_steps(eval_cb, model, 6, n_envs=2)
    data = np.load(tmp_path / "logs" / "evaluations.npz")
    assert sorted(data.files) == ["ep_lengths", "results", "timesteps"]  # no cost reported
    assert data["timesteps"].tolist() == [4, 8, 12]
    assert data["results"].shape == (3, 3) and (data["results"] == 2.0).all()
    assert data["ep_lengths"].tolist() == [[2, 2, 2]] * 3
    assert data["ep_lengths"].dtype.kind == "i"


class CostlyEnv(RewardIsActionEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {"cost": 0.5}


def test_eval_callback_records_costs_when_the_env_reports_them(tmp_path):
    model = FakeModel(action=1.0)
    eval_cb = EvalCallback(CostlyEnv(), n_eval_episodes=2, eval_freq=1, log_path=str(tmp_path))
    run_steps(eval_cb, model, 2)
    data = np.load(tmp_path / "evaluations.npz")
    assert data["costs"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert model.logger.name_to_value["eval/mean_ep_cost"] == 1.0


def test_stop_training_on_no_model_improvement():
    model = FakeModel()
    qualities = iter([1.0, 2.0, 2.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0])

    class ChangeQuality(BaseCallback):
        def _on_step(self):
            model.action = next(qualities)
            return True

    stop = StopTrainingOnNoModelImprovement(max_no_improvement_evals=2, min_evals=1)
    eval_cb = EvalCallback(RewardIsActionEnv(), n_eval_episodes=1, eval_freq=1,
                           callback_after_eval=stop)
    taken = run_steps(CallbackList([ChangeQuality(), eval_cb]), model, 9)
    # evaluations: 2, 4 (best), 4, 2, 4 -> three without a new best after the best at 4
    assert taken == 5
    assert stop.parent is eval_cb and stop.no_improvement_evals == 3
    with pytest.raises(ValueError, match="callback_after_eval"):
        run_steps(StopTrainingOnNoModelImprovement(1), FakeModel(), 1)


def test_stop_training_on_max_episodes_counts_dones():
    model = FakeModel()
    model.n_envs = 2
    stop = StopTrainingOnMaxEpisodes(max_episodes=2)
    stop.init_callback(model)
    stop.on_training_start({}, {})
    results = []
    for dones in ([False, True], [False, False], [True, True], [True, False]):
        stop.update_locals({"dones": np.array(dones)})
        results.append(stop.on_step())
    assert results == [True, True, True, False]  # 1, 1, 3, then 4 = 2 episodes x 2 envs
    with pytest.raises(ValueError, match="dones"):
        run_steps(StopTrainingOnMaxEpisodes(1), FakeModel(), 1)


def test_every_n_timesteps_triggers_on_env_steps():
    fired = []

    class Mark(BaseCallback):
        def _on_step(self):
            fired.append(self.model.num_timesteps)
            return len(fired) < 3

    every = EveryNTimesteps(n_steps=5, callback=Mark())
    taken = run_steps(every, FakeModel(), 100, n_envs=2)
    assert fired == [6, 12, 18]  # >= 5 steps since the last trigger, counted in env steps
    assert taken == 9  # the child's False stops training
    assert isinstance(every, EventCallback) and every.callback.parent is every


def test_checkpoint_callback_saves_every_save_freq_calls(tmp_path):
    from fasttrpo import TRPO

    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=16, batch_size=32, seed=0)
    checkpoint = CheckpointCallback(save_freq=8, save_path=tmp_path / "ck", name_prefix="cp")
    model.learn(64, callback=checkpoint)
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert names == ["cp_16_steps.zip", "cp_32_steps.zip", "cp_48_steps.zip", "cp_64_steps.zip"]
    loaded = TRPO.load(tmp_path / "ck" / "cp_32_steps.zip")
    assert loaded.num_timesteps == 32


def test_checkpoint_ignored_options_warn_once(monkeypatch, tmp_path):
    from fasttrpo.foundation import compat as _compat
    monkeypatch.setattr(_compat, "_WARNED", set())
    with pytest.warns(UserWarning, match="save_vecnormalize=True is ignored"):
        CheckpointCallback(1, tmp_path, save_vecnormalize=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CheckpointCallback(1, tmp_path, save_vecnormalize=True)  # once only


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: CheckpointCallback(0, "x"), "save_freq"),
    (lambda: CheckpointCallback(True, "x"), "save_freq"),
    (lambda: CheckpointCallback(5, None), "save_path"),
    (lambda: CheckpointCallback(5, "x", name_prefix=""), "name_prefix"),
    (lambda: EveryNTimesteps(0, BaseCallback()), "n_steps"),
    (lambda: EveryNTimesteps(5, None), "callback"),
    (lambda: EveryNTimesteps(5, object()), "callback"),
    (lambda: StopTrainingOnMaxEpisodes(0), "max_episodes"),
    (lambda: StopTrainingOnMaxEpisodes(2.5), "max_episodes"),
    (lambda: StopTrainingOnNoModelImprovement(-1), "max_no_improvement_evals"),
    (lambda: StopTrainingOnNoModelImprovement(1, min_evals=-2), "min_evals"),
    (lambda: EvalCallback(RewardIsActionEnv(), log_path=3), "log_path"),
    (lambda: EvalCallback(RewardIsActionEnv(), callback_after_eval=42), "callback_after_eval"),
    (lambda: EvalCallback(RewardIsActionEnv(), callback_on_new_best="x"),
     "callback_on_new_best"),
])
def test_bad_callback_arguments_name_the_argument(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


def test_duck_typed_callbacks_are_used_as_they_are():
    class Duck:
        def init_callback(self, model): ...
        def on_training_start(self, locals_, globals_): ...
        def on_rollout_start(self): ...
        def on_step(self): return True
        def on_rollout_end(self): ...
        def on_training_end(self): ...
        def update_locals(self, locals_): ...

    duck = Duck()
    assert is_callback(duck) and not is_callback(lambda locals_, globals_: True)
    assert make_callback(duck) is duck
    combined = make_callback([duck, Recorder()])
    assert isinstance(combined, CallbackList) and combined.callbacks[0] is duck
    new_best = StopTrainingOnRewardThreshold(1.0)
    assert EvalCallback(RewardIsActionEnv(), callback_on_new_best=duck).callback_on_new_best \
        is duck
    assert EventCallback(new_best).callback is new_best and new_best.parent is not None
