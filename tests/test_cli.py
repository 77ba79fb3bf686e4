"""The ``fasttrpo`` command line: train / eval end to end, and clean failures (exit code 2)."""

import subprocess
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from fasttrpo import TRPO
from fasttrpo.cli import main
from fasttrpo.evaluation import evaluate_policy

# the zoo file shipped with the repo (README's main command uses it too)
ZOO_YML = Path(__file__).resolve().parents[1] / "hyperparams" / "trpo.yml"


# ---- end to end (needs fasttrpo.algorithms.trpo.TRPO and fasttrpo.evaluation) -------------
def test_train_save_then_eval(tmp_path, capsys):
    path = tmp_path / "models" / "cartpole"
    code = main(["train", "CartPole-v1", "--timesteps", "256", "--seed", "0", "--save", str(path),
                 "--verbose", "0", "--n_steps", "128", "--policy_kwargs", "dict(net_arch=[8])",
                 "--log-folder", str(tmp_path / "logs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert (tmp_path / "models" / "cartpole.zip").is_file()
    assert "mean reward:" in out and "over 10 episodes (deterministic)" in out
    assert "wall time: learn" in out

    outputs = []
    for _ in range(2):  # a seed makes the evaluation reproducible
        code = main(["eval", str(path), "--env", "CartPole-v1", "--episodes", "3", "--seed", "1"])
        out, err = capsys.readouterr()
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    rewards = [float(r) for r in outputs[0].split("episode rewards: ")[1].strip().split(", ")]
    expected, _ = evaluate_policy(TRPO.load(path), "CartPole-v1", n_eval_episodes=3,
                                  deterministic=True, seed=1, return_episode_rewards=True)
    np.testing.assert_allclose(rewards, expected, atol=0.005)  # printed with 2 decimals

    code = main(["eval", str(path) + ".zip", "--env", "CartPole-v1", "--episodes", "2",
                 "--stochastic", "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(stochastic)" in out


def test_eval_corrupt_model_file(tmp_path, capsys):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"\x00" * 100)
    assert main(["eval", str(path), "--env", "CartPole-v1"]) == 2
    err = capsys.readouterr().err
    assert "broken.zip" in err and "Traceback" not in err


def test_train_unknown_env(capsys):
    code = main(["train", "NoSuchEnv-v9", "--timesteps", "10", "--verbose", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "NoSuchEnv" in err and "Traceback" not in err


# ---- the arguments handed to TRPO (a stand-in TRPO; no training) ------------------------------
class _FakeTRPO:
    instances: ClassVar[list] = []

    def __init__(self, policy, env, **kwargs):
        self.args = (policy, env)
        self.kwargs = kwargs
        self.learned = None
        self.saved = None
        _FakeTRPO.instances.append(self)

    def learn(self, total_timesteps, callback=None, progress_bar=False, log_interval=1):
        self.learned = total_timesteps
        self.callback = callback
        return self

    def save(self, path):
        self.saved = path
        return path

    @classmethod
    def config_from_kwargs(cls, kwargs):  # the real check (the CLI validates before any folder)
        from fasttrpo.config import TRPOConfig

        return TRPOConfig(**kwargs)


@pytest.fixture
def fake_trpo(monkeypatch):
    _FakeTRPO.instances = []
    evaluations = []

    def evaluate_policy(model, env, n_eval_episodes=10, deterministic=True,
                        return_episode_rewards=False, *, seed=None, return_episode_costs=False):
        evaluations.append((env, n_eval_episodes, deterministic, seed))
        rewards = [10.0] * n_eval_episodes
        return rewards, [10] * n_eval_episodes, [float("nan")] * n_eval_episodes

    monkeypatch.setitem(sys.modules, "fasttrpo.algorithms",
                        types.SimpleNamespace(ALGORITHMS={"trpo": _FakeTRPO}))
    monkeypatch.setitem(sys.modules, "fasttrpo.evaluation",
                        types.SimpleNamespace(evaluate_policy=evaluate_policy))
    return evaluations


def test_train_builds_kwargs_from_zoo_file_and_overrides(tmp_path, capsys, fake_trpo):
    yml = ZOO_YML
    code = main(["train", "CartPole-v1", "--hyperparams", str(yml), "--seed", "3",
                 "--save", str(tmp_path / "m"), "--n_steps", "128", "--target_kl=0.02",
                 "--policy_kwargs", "dict(net_arch=[8], activation_fn=nn.ReLU)",
                 "--log-folder", str(tmp_path / "logs"), "--verbose", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (model,) = _FakeTRPO.instances
    assert model.args == ("MlpPolicy", "CartPole-v1")
    assert model.kwargs == {
        "n_steps": 128, "batch_size": 512, "cg_damping": 1e-3, "gae_lambda": 0.98,
        "gamma": 0.99, "learning_rate": 1e-3, "n_critic_updates": 20, "target_kl": 0.02,
        "policy_kwargs": {"net_arch": [8], "activation_fn": "nn.ReLU"},
        "n_envs": 2, "seed": 3, "verbose": 0, "log_folder": str(tmp_path / "logs")}
    assert model.learned == 100_000  # the file's n_timesteps
    assert model.saved == str(tmp_path / "m")
    assert fake_trpo == [("CartPole-v1", 10, True, 3)]
    assert "mean reward: 10.00 +/- 0.00 over 10 episodes" in out


def test_train_cli_options_win(tmp_path, monkeypatch, capsys, fake_trpo):
    monkeypatch.chdir(tmp_path)
    code = main(["train", "Pendulum-v1", "--timesteps", "1e3", "--n-envs", "3",
                 "--use_sde", "True", "--eval-episodes", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (model,) = _FakeTRPO.instances
    assert model.learned == 1000
    # without --save: the zoo's layout under ./logs, and the path printed
    run = str(Path("logs") / "trpo" / "Pendulum-v1_1")
    # the shipped zoo entry's values (gSDE, n_steps 1024, ...), with the CLI's winning
    assert model.kwargs == {"n_steps": 1024, "gamma": 0.9, "n_critic_updates": 15,
                            "sde_sample_freq": 4, "n_envs": 3, "verbose": 0,
                            "log_folder": run, "use_sde": True}
    assert model.saved == Path(run) / "Pendulum-v1" and fake_trpo == []
    assert f"saved model to {model.saved}" in captured.out
    assert "use_sde" not in captured.err  # a hyperparameter like any other, no warning


# ---- errors: message on stderr, exit code 2, no traceback -------------------------------------
def _assert_clean_error(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_eval_missing_model_file(tmp_path, capsys):
    code = main(["eval", str(tmp_path / "missing"), "--env", "CartPole-v1"])
    _assert_clean_error(capsys, code, "model file not found", "missing")


@pytest.mark.parametrize(("text", "fragment"), [
    ("CartPole-v1: [unclosed\n", "invalid YAML"),
    ("Acrobot-v1:\n  n_steps: 64\n", "available: Acrobot-v1"),
    ("CartPole-v1:\n  policy_kwargs: \"__import__('os').system('echo hi')\"\n", "policy_kwargs"),
    ("CartPole-v1:\n  learning_rate: exp_1e-3\n", "schedules"),
    ("CartPole-v1:\n  frame_stack: 4\n", "frame_stack"),
])
def test_train_bad_hyperparams_file(tmp_path, capsys, text, fragment):
    yml = tmp_path / "bad.yml"
    yml.write_text(text)
    code = main(["train", "CartPole-v1", "--hyperparams", str(yml), "--timesteps", "10"])
    _assert_clean_error(capsys, code, fragment)


def test_train_usage_errors(tmp_path, capsys):
    no_budget = tmp_path / "no_budget.yml"
    no_budget.write_text("CartPole-v1:\n  n_steps: 64\n")
    _assert_clean_error(capsys, main(["train", "CartPole-v1", "--hyperparams", str(no_budget)]),
                        "--timesteps is required")
    code = main(["train", "CartPole-v1", "--hyperparams", str(tmp_path / "none.yml")])
    _assert_clean_error(capsys, code, "none.yml")
    code = main(["train", "CartPole-v1", "--timesteps", "10", "--policy_kwargs", "exec('x')"])
    _assert_clean_error(capsys, code, "policy_kwargs")
    _assert_clean_error(capsys, main(["train", "CartPole-v1", "--timesteps", "1.5"]), "1.5")
    _assert_clean_error(capsys, main(["eval", "model.zip"]), "model file not found")
    _assert_clean_error(capsys, main([]))
    assert main(["--help"]) == 0


def test_console_entry_point_missing_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fasttrpo.cli", "eval", str(tmp_path / "nope"), "--env", "X-v0"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "model file not found" in result.stderr and "Traceback" not in result.stderr


# ---- --version / --help -----------------------------------------------------------------------
def _pyproject_version() -> str:
    import tomllib

    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_version_comes_from_pyproject(capsys):
    import fasttrpo

    # one place for the version: pyproject.toml, read back through the installed metadata
    assert fasttrpo.__version__ == _pyproject_version()
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fasttrpo {fasttrpo.__version__}"


def test_version_console_entry_point_and_cheap_import():
    result = subprocess.run(
        [sys.executable, "-m", "fasttrpo", "--version"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fasttrpo {_pyproject_version()}"
    # ``import fasttrpo`` stays cheap: the version is read on first access only
    code = ("import sys, fasttrpo; assert 'importlib.metadata' not in sys.modules; "
            "print(fasttrpo.__version__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _pyproject_version()


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--version" in out
    lines = out.splitlines()
    for command in ("train", "eval", "export"):
        described = [line for line in lines if line.split()[:1] == [command]]
        assert len(described) == 1, out
        assert len(described[0].split()) > 2, f"{command} has no description:\n{out}"


def test_train_help_lists_every_hyperparameter_of_the_config(capsys):
    from fasttrpo.config import TRPOConfig

    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    options = {"seed": "--seed SEED", "verbose": "--verbose V", "n_envs": "--n-envs K",
               "log_folder": "--log-folder DIR", "tensorboard_log": "--tensorboard-log DIR"}
    for name, _, default, _ in TRPOConfig.field_docs():
        # a hyperparameter with an option of its own is listed with that option only
        expected = options.get(name, f"--{name} (default {default!r})")
        assert expected in out, name


def test_unknown_hyperparameter_is_a_one_line_error(capsys):
    assert main(["train", "CartPole-v1", "--timesteps", "10", "--n_stesp", "4"]) == 2
    err = capsys.readouterr().err
    assert "n_stesp: not a TRPO hyperparameter" in err and "Traceback" not in err


# ---- rl-zoo3's flags and layout (issue 14) ------------------------------------------------------
def test_zoo_style_train_writes_the_zoo_layout(tmp_path, capsys):
    import numpy as np
    import yaml

    from fasttrpo.algorithms import load_model
    from fasttrpo.logs.monitor import load_monitor

    logs, tb = tmp_path / "logs", tmp_path / "tb"
    argv = ["train", "--algo", "trpo", "--env", "CartPole-v1", "-n", "512", "-f", str(logs),
            "--eval-freq", "256", "--eval-episodes", "2", "-tb", str(tb), "--seed", "3",
            "-params", "n_steps:128", "batch_size:128", "policy_kwargs:dict(net_arch=[8])",
            "--save-freq", "256", "--verbose", "0"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    run = logs / "trpo" / "CartPole-v1_1"
    assert f"Log path: {run}" in out and f"saved model to {run / 'CartPole-v1.zip'}" in out
    names = {p.name for p in run.iterdir()}
    assert {"CartPole-v1.zip", "CartPole-v1", "0.monitor.csv", "1.monitor.csv",
            "evaluations.npz", "best_model.zip", "progress.csv", "rl_model_256_steps.zip",
            "rl_model_512_steps.zip"} <= names
    config = yaml.safe_load((run / "CartPole-v1" / "config.yml").read_text())
    assert config["n_steps"] == 128 and config["n_envs"] == 2 and config["gamma"] == 0.99
    assert config["policy_kwargs"] == {"net_arch": [8]}
    args = yaml.safe_load((run / "CartPole-v1" / "args.yml").read_text())
    assert args["seed"] == 3 and args["log_folder"] == str(logs) and args["env"] == "CartPole-v1"
    command = (run / "CartPole-v1" / "command.txt").read_text()
    assert command.startswith("fasttrpo train --algo trpo --env CartPole-v1 -n 512")
    evaluations = np.load(run / "evaluations.npz")
    assert evaluations["timesteps"].tolist() == [256, 512]
    assert evaluations["results"].shape == (2, 2)
    assert len(load_monitor(run)["r"]) > 0
    assert len(list((tb / "CartPole-v1" / "TRPO_1").iterdir())) == 1
    model = load_model(run / "CartPole-v1.zip")
    assert model.num_timesteps == 512 and model.config.seed == 3

    assert main(["eval", str(run / "best_model"), "--episodes", "2"]) == 0
    assert "env: CartPole-v1" in capsys.readouterr().out  # read from the model

    assert main(argv) == 0  # a second run is numbered on
    assert (logs / "trpo" / "CartPole-v1_2" / "CartPole-v1.zip").is_file()


def test_zoo_params_and_hyperparams_key_value_are_overrides(tmp_path, capsys, fake_trpo):
    for flag in ("-params", "--hyperparams"):
        code = main(["train", "CartPole-v1", "--hyperparams", str(ZOO_YML), "--save",
                     str(tmp_path / "m"), "--eval-episodes", "0", flag, "gamma:0.9",
                     "normalize:True", "policy_kwargs:dict(net_arch=[4])", "--seed", "1"])
        assert code == 0, capsys.readouterr().err
    first, second = _FakeTRPO.instances
    assert first.kwargs == second.kwargs
    assert first.kwargs["gamma"] == 0.9 and first.kwargs["n_steps"] == 512  # over the file
    assert first.kwargs["normalize_obs"] is first.kwargs["normalize_reward"] is True
    assert first.kwargs["policy_kwargs"] == {"net_arch": [4]} and first.kwargs["seed"] == 1


def test_zoo_style_uses_the_default_entry_for_unlisted_envs(tmp_path, capsys, fake_trpo):
    code = main(["train", "--env", "FrozenLake-v1", "-f", str(tmp_path), "--eval-episodes", "0",
                 "--device", "cuda", "--vec-env", "subproc", "--num-threads", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (model,) = _FakeTRPO.instances
    assert model.learned == 1_000_000 and model.args == ("MlpPolicy", "FrozenLake-v1")
    assert "using its 'default' entry" in out
    assert "--device is accepted for rl-zoo3 compatibility and ignored" in err
    assert "--vec-env" in err and model.kwargs["n_threads"] == 2
    assert isinstance(model.kwargs["seed"], int)  # the zoo draws a seed and records it
    assert model.callback is None  # --eval-episodes 0: no evaluations


def test_zoo_style_defaults_evaluate_every_25000_steps(tmp_path, capsys, fake_trpo):
    from fasttrpo.callbacks import EvalCallback

    code = main(["train", "--env", "CartPole-v1", "-f", str(tmp_path), "-n", "-1"])
    assert code == 0, capsys.readouterr().err
    (model,) = _FakeTRPO.instances
    assert model.learned == 100_000  # -n -1: the file's n_timesteps
    (evaluation,) = model.callback
    assert isinstance(evaluation, EvalCallback)
    assert evaluation.eval_freq == 12_500 and evaluation.n_eval_episodes == 5  # 25000 / 2 envs
    assert evaluation.log_path == str(tmp_path / "trpo" / "CartPole-v1_1" / "evaluations.npz")
    assert fake_trpo == [("CartPole-v1", 10, True, model.kwargs["seed"])]  # the final one


@pytest.mark.parametrize(("argv", "fragment"), [
    (["train", "--env", "CartPole-v1", "-optimize"], "-optimize: rl-zoo3's option is not "
     "supported"),
    (["train", "--env", "CartPole-v1", "--trained-agent", "x.zip"], "--trained-agent"),
    (["train", "CartPole-v1", "--env", "Pendulum-v1"], "differ"),
    (["train", "--timesteps", "10"], "env id is required"),
    (["train", "--env", "CartPole-v1", "-params", "gamma"], "key:value"),
    (["train", "--env", "CartPole-v1", "--hyperparams", str(ZOO_YML), "-conf", str(ZOO_YML)],
     "give one"),
    # fails in learn, after the run folder was made: the empty run folder is removed
    (["train", "--env", "CartPole-v1", "-n", "64", "-params", "n_steps:2000000000"],
     "n_steps, n_envs: a rollout of"),
])
def test_zoo_style_usage_errors(tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(tmp_path)
    _assert_clean_error(capsys, main(argv), fragment)
    assert not list(tmp_path.glob("logs/*/*"))


def test_eval_without_env_needs_a_model_that_records_it(tmp_path, capsys):
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from fasttrpo import TRPO

    from toy_envs import CounterEnv

    venv = SyncVectorEnv([CounterEnv], autoreset_mode=AutoresetMode.SAME_STEP)
    path = TRPO("MlpPolicy", venv, n_steps=8).save(tmp_path / "anonymous")
    _assert_clean_error(capsys, main(["eval", str(path)]), "--env is required",
                        "anonymous.zip")


@pytest.mark.optional_deps
def test_plot_command_writes_a_png(tmp_path, capsys):
    from conftest import require

    require("matplotlib")
    from fasttrpo.logs.monitor import MonitorWriter

    for run, cost in (("a", None), ("b", 0.5)):
        writer = MonitorWriter(tmp_path / "logs" / run, 1, "E")
        for k in range(30):
            episode = {"r": float(k), "l": 10} if cost is None else {"r": k, "l": 10, "c": cost}
            writer.write(0, episode, writer.t_start + k)
        writer.close()
    out_png = tmp_path / "curves.png"
    assert main(["plot", str(tmp_path / "logs"), "-o", str(out_png), "--window", "5"]) == 0
    assert f"wrote {out_png}" in capsys.readouterr().out
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _assert_clean_error(capsys, main(["plot", str(tmp_path / "none")]), "not a folder")
    (tmp_path / "empty").mkdir()
    _assert_clean_error(capsys, main(["plot", str(tmp_path / "empty")]), "no monitor files")


@pytest.mark.parametrize("value", ["-5", "-0.5", "-2"])
def test_negative_step_counts_other_than_minus_one_are_refused(value, capsys):
    """-1 is rl-zoo3's "the file's"; any other negative is an error, as for --timesteps."""
    assert main(["train", "--env", "CartPole-v1", "-n", value]) == 2
    assert "-n/--n-timesteps: expected a whole number in [0, " in capsys.readouterr().err


def test_help_lists_each_option_once(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--verbose", "--seed", "--n-envs"):
        assert sum(line.lstrip().startswith(option) for line in out.splitlines()) == 1, option


def test_a_hyperparameter_typo_suggests_the_name(capsys):
    assert main(["train", "CartPole-v1", "--timesteps", "10", "--n_stesp", "4"]) == 2
    err = capsys.readouterr().err
    assert "n_stesp: not a TRPO hyperparameter; did you mean n_steps or " in err
    assert "known:" not in err  # not all 32 names


def test_loading_a_file_of_another_algorithm_names_the_right_loader(tmp_path):
    from fasttrpo import CPO

    model = CPO("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", n_steps=32, batch_size=32,
                cost_limit=5.0)
    path = model.save(tmp_path / "cpo")
    with pytest.raises(ValueError, match="load it with CPO.load, or with "
                                         "fasttrpo.algorithms.load_model"):
        TRPO.load(path)


def test_train_is_quiet_by_default_and_sums_up(tmp_path, capsys):
    """No per-iteration tables unless --verbose 1; a one-line summary."""
    args = ["train", "CartPole-v1", "--timesteps", "256", "--seed", "0", "--n_steps", "128",
            "--policy_kwargs", "dict(net_arch=[8])", "--save", str(tmp_path / "m"),
            "--eval-episodes", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rollout/" not in out and "| time/" not in out  # no tables
    assert sum(line.startswith("wall time: learn") for line in out.splitlines()) == 1
    assert main([*args, "--verbose", "1"]) == 0
    assert "rollout/" in capsys.readouterr().out


def test_the_summary_leaves_the_compilation_out_of_steps_per_second():
    from fasttrpo.cli import _time_summary

    assert _time_summary(1000, 2.0, 1.5, 2.5) == (
        "wall time: learn 2.00 s, of which 1.5 s compiling the kernels (first run only); 2000 "
        "steps/s training; total 2.50 s")
    assert _time_summary(1000, 2.0, 0.0, 2.5) == (  # a warm cache
        "wall time: learn 2.00 s; 500 steps/s training; total 2.50 s")


def test_compile_seconds_counts_a_cold_compile():
    import subprocess
    import sys
    import tempfile

    code = ("import numpy as np, fasttrpo\n"
            "from fasttrpo.kernels import compile_seconds\n"
            "pi = fasttrpo.CategoricalMLPPolicy(3, 2, hidden_sizes=(4,), seed=0)\n"
            "pi.log_prob(np.zeros((2, 3)), np.zeros(2, int))\n"
            "print(compile_seconds())\n")
    with tempfile.TemporaryDirectory() as cache:
        env = {**__import__("os").environ, "NUMBA_CACHE_DIR": cache}
        runs = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                     capture_output=True, text=True).stdout) for _ in range(2)]
    assert runs[0] > 0.2 and runs[1] == 0.0  # cold: the kernels compiled; warm: loaded


def test_eval_on_an_env_of_other_spaces_names_the_training_env(tmp_path, capsys):
    from fasttrpo import TRPO

    path = TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64).save(tmp_path / "cp")
    assert main(["eval", str(path), "--env", "Pendulum-v1", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "--env Pendulum-v1: its observation_space is Box(" in err
    assert "was trained on CartPole-v1" in err and "evaluate it on CartPole-v1" in err


def test_train_without_hyperparams_reads_the_shipped_zoo_file_from_any_directory(
        tmp_path, monkeypatch, capsys, fake_trpo):
    """`fasttrpo train CartPole-v1` takes the zoo's entry (package data), wherever it runs."""
    import yaml

    from fasttrpo.zoo.layout import default_hyperparams_file

    monkeypatch.chdir(tmp_path)  # no hyperparams/ folder here
    assert main(["train", "CartPole-v1", "--save", str(tmp_path / "m"), "--eval-episodes",
                 "0"]) == 0
    entry = yaml.safe_load(default_hyperparams_file().read_text())["CartPole-v1"]
    model = _FakeTRPO.instances[-1]
    assert model.kwargs["n_steps"] == entry["n_steps"] and model.kwargs["n_envs"] == 2
    assert model.learned == int(entry["n_timesteps"])


def test_an_invalid_value_creates_no_run_folder_and_prints_no_log_path(tmp_path, capsys):
    """Every value is checked before the zoo layout's run folder is made or named."""
    code = main(["train", "--env", "CartPole-v1", "-f", str(tmp_path / "logs"), "-params",
                 "n_steps:-5"])
    out, err = capsys.readouterr()
    assert code == 2 and "n_steps: must be a positive integer, got -5" in err
    assert "Log path" not in out and not (tmp_path / "logs").exists()


@pytest.mark.parametrize(("env_id", "suggestion"), [
    ("CartPol-v1", "Did you mean: `CartPole`?"),
    ("fasttrpo/SafetyPointVelocty-v0", "Did you mean: `SafetyPointVelocity`?"),
    ("CartPole-v9", "It provides versioned environments: [ `v0`, `v1` ]")])
def test_env_id_typos_get_a_suggestion_and_create_nothing(tmp_path, capsys, env_id,
                                                          suggestion):
    code = main(["train", "--env", env_id, "-f", str(tmp_path / "logs")])
    out, err = capsys.readouterr()
    assert code == 2 and suggestion in err and "Traceback" not in err
    assert "Log path" not in out and not (tmp_path / "logs").exists()
