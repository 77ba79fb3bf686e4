"""fasttrpo's logs and callbacks against the real tools (issue 14 items 6, 8, 9, 10).

Stable-Baselines3's own callback objects drive ``TRPO.learn``; sb3's ``load_results`` reads
the Monitor files, TensorBoard's ``EventAccumulator`` the event files, and the
``evaluations.npz`` of fasttrpo's EvalCallback is compared with the one sb3's EvalCallback
writes for sb3-contrib's TRPO. These need the bench extra (sb3, sb3-contrib, tensorboard,
pandas, matplotlib), which CI installs before running ``benchmarks/``; they are plain tests,
untimed.
"""

import csv

import numpy as np
import pytest

sb3_callbacks = pytest.importorskip("stable_baselines3.common.callbacks")

from fasttrpo import TRPO  # noqa: E402
from fasttrpo.callbacks import EvalCallback  # noqa: E402
from fasttrpo.logs.monitor import load_monitor  # noqa: E402


class RecordingCallback(sb3_callbacks.BaseCallback):
    """An sb3 user's callback: counts rollouts, collects Monitor-style episode infos."""

    def __init__(self):
        super().__init__()
        self.rollouts, self.episodes, self.steps = 0, [], 0

    def _on_rollout_start(self):
        self.rollouts += 1

    def _on_step(self):
        self.steps += 1
        assert self.locals["dones"].shape == (self.training_env.num_envs,)
        assert len(self.locals["infos"]) == len(self.locals["rewards"])
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.append(info["episode"])
        return True


def test_sb3_callbacks_drive_learn(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=64, batch_size=128, seed=0)
    recorder = RecordingCallback()
    checkpoint = sb3_callbacks.CheckpointCallback(save_freq=64, save_path=str(tmp_path))
    every = sb3_callbacks.EveryNTimesteps(n_steps=200, callback=RecordingCallback())
    model.learn(512, callback=sb3_callbacks.CallbackList([recorder, checkpoint, every]))
    assert recorder.rollouts == 4 and recorder.steps == 256 and recorder.n_calls == 256
    assert [e["r"] for e in recorder.episodes] == [e["r"] for e in model.ep_info_buffer]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rl_model_128_steps.zip", "rl_model_256_steps.zip", "rl_model_384_steps.zip",
        "rl_model_512_steps.zip"]
    assert TRPO.load(tmp_path / "rl_model_256_steps.zip").num_timesteps == 256
    assert every.callback.n_calls == 2  # at 200 and 400 steps


def test_sb3_stop_training_on_max_episodes(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=256, seed=0)
    stop = sb3_callbacks.StopTrainingOnMaxEpisodes(max_episodes=3)
    model.learn(10_000, callback=stop)
    assert stop.n_episodes == 6  # 3 per env: stopped mid-rollout at the 6th episode
    assert model.num_timesteps < 256 * 2 and model._n_updates == 0


def test_sb3_callbacks_as_children_of_fasttrpo_eval_callback(tmp_path):
    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=64, batch_size=128, seed=0)
    stop = sb3_callbacks.StopTrainingOnRewardThreshold(reward_threshold=-1.0)
    no_improvement = sb3_callbacks.StopTrainingOnNoModelImprovement(5)
    evaluation = EvalCallback("CartPole-v1", n_eval_episodes=2, eval_freq=32,
                              callback_on_new_best=stop, callback_after_eval=no_improvement,
                              log_path=str(tmp_path))
    model.learn(1024, callback=evaluation)
    assert model.num_timesteps == 64  # the first evaluation beats the threshold
    assert stop.parent is evaluation and no_improvement.n_calls == 1


def test_sb3_eval_callback_runs_on_fasttrpo(tmp_path):
    if not hasattr(TRPO, "get_vec_normalize_env"):
        pytest.skip("sb3's EvalCallback calls model.get_vec_normalize_env() (issue 14 item 7)")
    import gymnasium as gym

    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=64, batch_size=128, seed=0)
    evaluation = sb3_callbacks.EvalCallback(gym.make("CartPole-v1"), n_eval_episodes=2,
                                            eval_freq=64, log_path=str(tmp_path), verbose=0)
    model.learn(256, callback=evaluation)
    assert np.load(tmp_path / "evaluations.npz")["timesteps"].tolist() == [128, 256]


def test_evaluations_npz_matches_sb3s(tmp_path):
    import gymnasium as gym
    from sb3_contrib import TRPO as SB3TRPO

    sb3_model = SB3TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0,
                        device="cpu")
    sb3_model.learn(128, callback=sb3_callbacks.EvalCallback(
        gym.make("CartPole-v1"), n_eval_episodes=3, eval_freq=32,
        log_path=str(tmp_path / "sb3"), verbose=0))
    ours = TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0)
    ours.learn(128, callback=EvalCallback("CartPole-v1", n_eval_episodes=3, eval_freq=32,
                                          log_path=str(tmp_path / "ours")))
    theirs, mine = (np.load(tmp_path / name / "evaluations.npz") for name in ("sb3", "ours"))
    assert sorted(mine.files) == sorted(theirs.files) == ["ep_lengths", "results", "timesteps"]
    for key in theirs.files:
        assert mine[key].shape == theirs[key].shape, key
        assert mine[key].dtype.kind == theirs[key].dtype.kind, key
    assert mine["timesteps"].tolist() == theirs["timesteps"].tolist() == [32, 64, 96, 128]


def test_monitor_files_read_by_sb3_load_results(tmp_path):
    from stable_baselines3.common.monitor import load_results
    from stable_baselines3.common.results_plotter import X_TIMESTEPS, ts2xy

    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=3, n_steps=128, seed=0,
                 log_folder=str(tmp_path))
    model.learn(3 * 128 * 3)
    frame = load_results(str(tmp_path))
    mine = load_monitor(tmp_path)
    assert len(frame) == len(mine["r"]) == len(model.ep_info_buffer) > 10
    theirs = frame.sort_values(["t", "r", "l"], kind="stable")
    order = np.lexsort((mine["l"], mine["r"], mine["t"]))
    np.testing.assert_allclose(theirs["t"].to_numpy(), mine["t"][order], atol=1e-9)
    np.testing.assert_array_equal(theirs["r"].to_numpy(), mine["r"][order])
    np.testing.assert_array_equal(theirs["l"].to_numpy(), mine["l"][order])
    x, y = ts2xy(frame, X_TIMESTEPS)
    assert x[-1] == mine["l"].sum() and sorted(y) == sorted(mine["r"])
    assert sorted(frame["r"]) == sorted(e["r"] for e in model.ep_info_buffer)


def test_tensorboard_reads_the_logged_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=64, batch_size=128, seed=0,
                 tensorboard_log=str(tmp_path / "tb"), log_folder=str(tmp_path / "csv"))
    model.learn(512)
    events = EventAccumulator(str(tmp_path / "tb" / "TRPO_1"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"rollout/ep_rew_mean", "train/explained_variance", "train/learning_rate",
            "train/value_loss", "time/fps"} <= tags
    with open(tmp_path / "csv" / "progress.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for tag in ("rollout/ep_rew_mean", "train/explained_variance", "train/value_loss"):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [int(r["time/total_timesteps"]) for r in rows]
        np.testing.assert_allclose([s.value for s in scalars],
                                   [float(r[tag]) for r in rows], rtol=1e-6)


def test_zoo_layout_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from fasttrpo.cli import main

    logs = tmp_path / "logs"
    for seed in ("0", "1"):
        assert main(["train", "--env", "fasttrpo/SafetyPointVelocity-v0", "--algo", "cpo",
                     "-n", "2000", "-f", str(logs), "--seed", seed, "--eval-freq", "1000",
                     "--eval-episodes", "1", "--verbose", "0",
                     "-params", "n_envs:2", "n_steps:500", "cost_limit:10"]) == 0
    png = tmp_path / "curves.png"
    assert main(["plot", str(logs), "-o", str(png), "--window", "4"]) == 0
    assert png.stat().st_size > 10_000
    assert "c" in load_monitor(logs / "cpo" / "fasttrpo-SafetyPointVelocity-v0_2")
    evaluations = np.load(logs / "cpo" / "fasttrpo-SafetyPointVelocity-v0_1" /
                          "evaluations.npz")
    assert evaluations["costs"].shape == evaluations["results"].shape == (2, 1)
    capsys.readouterr()
