"""The ``fasttrpo`` command line: train / eval end to end, and clean failures (exit code 2)."""

import subprocess
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from fasttrpo.cli import main

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
    rewards = outputs[0].split("episode rewards: ")[1].strip().split(", ")
    assert len(rewards) == 3 and all(float(r) >= 1 for r in rewards)

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

    def learn(self, total_timesteps, callback=None, progress_bar=False):
        self.learned = total_timesteps
        return self

    def save(self, path):
        self.saved = path
        return path


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


def test_train_cli_options_win(capsys, fake_trpo):
    code = main(["train", "Pendulum-v1", "--timesteps", "1e3", "--n-envs", "3",
                 "--use_sde", "True", "--eval-episodes", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (model,) = _FakeTRPO.instances
    assert model.learned == 1000
    assert model.kwargs == {"n_envs": 3, "verbose": 1, "use_sde": True}
    assert model.saved is None and fake_trpo == []
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
    _assert_clean_error(capsys, main(["train", "CartPole-v1"]), "--timesteps is required")
    code = main(["train", "CartPole-v1", "--hyperparams", str(tmp_path / "none.yml")])
    _assert_clean_error(capsys, code, "none.yml")
    code = main(["train", "CartPole-v1", "--timesteps", "10", "--policy_kwargs", "exec('x')"])
    _assert_clean_error(capsys, code, "policy_kwargs")
    _assert_clean_error(capsys, main(["train", "CartPole-v1", "--timesteps", "1.5"]), "1.5")
    _assert_clean_error(capsys, main(["eval", "model.zip"]), "--env")
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
    for name, _, default, _ in TRPOConfig.field_docs():
        assert f"--{name} (default {default!r})" in out, name


def test_unknown_hyperparameter_is_a_one_line_error(capsys):
    assert main(["train", "CartPole-v1", "--timesteps", "10", "--n_stesp", "4"]) == 2
    err = capsys.readouterr().err
    assert "n_stesp: not a TRPO hyperparameter" in err and "Traceback" not in err
