"""rl-baselines3-zoo ``trpo.yml`` entries become TRPO arguments; nothing is ever evaluated."""

import pytest

from fasttrpo.zoo.hyperparams import (
    load_zoo_hyperparams,
    parse_cli_overrides,
    parse_kwargs_string,
    zoo_to_trpo_kwargs,
)

# The zoo's entries (rl-baselines3-zoo's trpo.yml), in the zoo's own format (tags, anchors,
# merge keys). The Hopper policy_kwargs string is added to exercise the parser, as zoo files
# for other algorithms write them.
TRPO_YML = """\
# Tuned
CartPole-v1:
  n_envs: 2
  n_timesteps: !!float 1e5
  policy: 'MlpPolicy'
  n_steps: 512
  batch_size: 512
  cg_damping: !!float 1e-3
  gae_lambda: 0.98
  gamma: 0.99
  learning_rate: !!float 1e-3
  n_critic_updates: 20

# Tuned
Pendulum-v1:
  n_envs: 2
  n_timesteps: !!float 1e5
  policy: 'MlpPolicy'
  n_steps: 1024
  gamma: 0.9
  n_critic_updates: 15
  learning_rate: !!float 1e-3
  use_sde: True
  sde_sample_freq: 4

# Tuned
Hopper-v4: &mujoco-defaults
  normalize: true
  n_envs: 2
  policy: 'MlpPolicy'
  n_timesteps: !!float 1e6
  batch_size: 128
  n_steps: 1024
  gamma: 0.99
  gae_lambda: 0.95
  sub_sampling_factor: 1
  cg_max_steps: 25
  cg_damping: 0.1
  n_critic_updates: 20
  learning_rate: !!float 1e-3
  policy_kwargs: "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU,
                       net_arch=dict(pi=[256, 256], vf=[256, 256]))"

Walker2d-v4:
  <<: *mujoco-defaults

HalfCheetah-v4:
  <<: *mujoco-defaults
  target_kl: 0.04
  normalize: "{'norm_obs': True, 'norm_reward': False, 'gamma': 0.99, 'clip_obs': 5.0}"
"""

MUJOCO_KWARGS = {
    "normalize_obs": True, "normalize_reward": True, "batch_size": 128, "n_steps": 1024,
    "gamma": 0.99, "gae_lambda": 0.95, "sub_sampling_factor": 1, "cg_max_steps": 25,
    "cg_damping": 0.1, "n_critic_updates": 20, "learning_rate": 1e-3,
    "policy_kwargs": {"log_std_init": -2, "ortho_init": False, "activation_fn": "nn.ReLU",
                      "net_arch": {"pi": [256, 256], "vf": [256, 256]}},
}


def test_cartpole():
    kwargs, run = zoo_to_trpo_kwargs(load_zoo_hyperparams(TRPO_YML, "CartPole-v1"))
    assert kwargs == {"n_steps": 512, "batch_size": 512, "cg_damping": 1e-3, "gae_lambda": 0.98,
                      "gamma": 0.99, "learning_rate": 1e-3, "n_critic_updates": 20}
    assert run == {"n_timesteps": 100_000, "n_envs": 2, "policy": "MlpPolicy", "warnings": []}
    assert type(run["n_timesteps"]) is int


def test_pendulum_keeps_gsde():
    kwargs, run = zoo_to_trpo_kwargs(load_zoo_hyperparams(TRPO_YML, "Pendulum-v1"))
    assert kwargs == {"n_steps": 1024, "gamma": 0.9, "n_critic_updates": 15, "learning_rate": 1e-3,
                      "use_sde": True, "sde_sample_freq": 4}
    assert type(kwargs["sde_sample_freq"]) is int
    assert run["n_timesteps"] == 100_000 and run["n_envs"] == 2
    assert run["warnings"] == []


def test_mujoco_entries_normalize_and_policy_kwargs():
    for env_id in ("Hopper-v4", "Walker2d-v4"):
        kwargs, run = zoo_to_trpo_kwargs(load_zoo_hyperparams(TRPO_YML, env_id))
        assert kwargs == MUJOCO_KWARGS, env_id
        assert run == {"n_timesteps": 1_000_000, "n_envs": 2, "policy": "MlpPolicy", "warnings": []}
    kwargs, _ = zoo_to_trpo_kwargs(load_zoo_hyperparams(TRPO_YML, "HalfCheetah-v4"))
    assert kwargs == {**MUJOCO_KWARGS, "target_kl": 0.04, "normalize_reward": False,
                      "clip_obs": 5.0}


def test_load_from_file(tmp_path):
    path = tmp_path / "trpo.yml"
    path.write_text(TRPO_YML)
    assert load_zoo_hyperparams(path, "CartPole-v1") == load_zoo_hyperparams(
        str(path), "CartPole-v1")
    with pytest.raises(FileNotFoundError, match="missing.yml"):
        load_zoo_hyperparams(str(tmp_path / "missing.yml"), "CartPole-v1")


def test_unknown_env_id_lists_available():
    with pytest.raises(ValueError, match="'Acrobot-v1'.*CartPole-v1, HalfCheetah-v4"):
        load_zoo_hyperparams(TRPO_YML, "Acrobot-v1")


def test_invalid_yaml():
    with pytest.raises(ValueError, match="invalid YAML"):
        load_zoo_hyperparams("CartPole-v1: [unclosed\n", "CartPole-v1")
    with pytest.raises(ValueError, match="mapping"):
        load_zoo_hyperparams("- a\n- b\n", "CartPole-v1")


@pytest.mark.parametrize("text", [
    "__import__('os').system('x')",
    "dict(activation_fn=__import__('os').system('x'))",
    "dict(net_arch=[64, 64], f=open('/etc/passwd'))",
    "dict(x=(lambda: 1))",
    "dict(**{'a': 1})",
    "dict(x=2 * 64)",
    "dict(x=nn.ReLU())",
    "dict(x=nn.__class__.__subclasses__)()",
    "{1: 2}",
    "[1, 2]",
    "dict(x=[1, 2",
])
def test_unsafe_or_malformed_policy_kwargs(text):
    with pytest.raises(ValueError, match="policy_kwargs"):
        zoo_to_trpo_kwargs({"policy_kwargs": text})


def test_policy_kwargs_forms():
    assert parse_kwargs_string(
        "dict(activation_fn=th.nn.Tanh, net_arch=[dict(pi=[8], vf=[4])], squash=False)"
    ) == {"activation_fn": "nn.Tanh", "net_arch": [{"pi": [8], "vf": [4]}], "squash": False}
    assert parse_kwargs_string("{'net_arch': (32, 32), 'log_std_init': -0.5}") == {
        "net_arch": (32, 32), "log_std_init": -0.5}
    kwargs, _ = zoo_to_trpo_kwargs({"policy_kwargs": {"net_arch": [8]}})  # YAML mapping
    assert kwargs == {"policy_kwargs": {"net_arch": [8]}}


def test_schedules_other_than_linear_learning_rates_rejected():
    with pytest.raises(ValueError, match="learning_rate: schedules .* not supported"):
        zoo_to_trpo_kwargs({"learning_rate": "exp_7.3e-4"})
    with pytest.raises(ValueError, match="cg_damping: schedules .* not supported"):
        zoo_to_trpo_kwargs({"cg_damping": "lin_0.1"})
    assert zoo_to_trpo_kwargs({"learning_rate": "lin_7.3e-4"})[0] == {"learning_rate":
                                                                       "lin_7.3e-4"}


@pytest.mark.parametrize("key", ["env_wrapper", "frame_stack", "callback", "vec_env_wrapper"])
def test_unsupported_zoo_features(key):
    with pytest.raises(ValueError, match=key):
        zoo_to_trpo_kwargs({key: "anything"})


def test_normalize_variants():
    assert zoo_to_trpo_kwargs({"normalize": False})[0] == {}
    assert zoo_to_trpo_kwargs({"normalize": "dict(norm_obs=False)"})[0] == {
        "normalize_obs": False, "normalize_reward": True}
    kwargs, run = zoo_to_trpo_kwargs({"normalize": "{'norm_reward': False, 'epsilon': 1e-8}"})
    assert kwargs == {"normalize_obs": True, "normalize_reward": False}
    assert "epsilon" in run["warnings"][0]
    with pytest.raises(ValueError, match="normalize: unsupported VecNormalize argument"):
        zoo_to_trpo_kwargs({"normalize": "{'bogus': 1}"})


def test_yaml_numeric_strings_and_counts():
    # PyYAML reads 1e-3 (no dot, no !!float tag) as a string
    kwargs, run = zoo_to_trpo_kwargs(load_zoo_hyperparams(
        "E:\n  learning_rate: 1e-3\n  n_timesteps: 2e4\n  n_steps: 64\n", "E"))
    assert kwargs == {"learning_rate": 1e-3, "n_steps": 64}
    assert run["n_timesteps"] == 20_000
    with pytest.raises(ValueError, match="n_timesteps"):
        zoo_to_trpo_kwargs({"n_timesteps": 10.5})
    with pytest.raises(ValueError, match="n_envs"):
        zoo_to_trpo_kwargs({"n_envs": 0})


def test_cli_overrides():
    overrides = parse_cli_overrides([
        "--n_steps", "128", "--learning-rate", "3e-4", "--normalize_advantage", "false",
        "--policy_kwargs", "dict(net_arch=[8], activation_fn=nn.ReLU)", "--log_std_init=-2",
        "--note", "hello world", "--target_kl", "None",
    ])
    assert overrides == {"n_steps": 128, "learning_rate": 3e-4, "normalize_advantage": False,
                         "policy_kwargs": {"net_arch": [8], "activation_fn": "nn.ReLU"},
                         "log_std_init": -2, "note": "hello world", "target_kl": None}
    known = {k: v for k, v in overrides.items() if k not in ("log_std_init", "note")}
    entry = {**load_zoo_hyperparams(TRPO_YML, "CartPole-v1"), **known}
    kwargs, _ = zoo_to_trpo_kwargs(entry)
    assert kwargs["n_steps"] == 128 and kwargs["batch_size"] == 512
    # a key that is no TRPO hyperparameter is named before any env is made
    with pytest.raises(ValueError, match="note: not a TRPO hyperparameter"):
        zoo_to_trpo_kwargs({**entry, "note": "hello world"})
    with pytest.raises(ValueError, match="policy_kwargs"):
        parse_cli_overrides(["--policy_kwargs", "dict(x=__import__('os'))"])
    with pytest.raises(ValueError, match="missing value"):
        parse_cli_overrides(["--n_steps"])
    with pytest.raises(ValueError, match="unexpected argument"):
        parse_cli_overrides(["n_steps", "3"])


def test_default_entry_stands_in_for_unlisted_ids():
    from pathlib import Path

    from fasttrpo.zoo.hyperparams import zoo_entry
    from fasttrpo.zoo.layout import default_hyperparams_file

    shipped = Path(__file__).resolve().parents[1] / "hyperparams" / "trpo.yml"
    assert default_hyperparams_file().read_bytes() == shipped.read_bytes()
    entry, key = zoo_entry(shipped, "Unlisted-v0")
    assert key == "default" and entry == {"n_timesteps": 1e6, "policy": "MlpPolicy"}
    assert zoo_entry(shipped, "CartPole-v1")[1] == "CartPole-v1"
    _, run = zoo_to_trpo_kwargs(entry)
    assert run["n_timesteps"] == 1_000_000 and run["policy"] == "MlpPolicy"


def test_ignored_vecnormalize_gamma_warns():
    kwargs, run = zoo_to_trpo_kwargs({"normalize": "{'norm_reward': True, 'gamma': 0.9}"})
    assert kwargs == {"normalize_obs": True, "normalize_reward": True}
    assert any("gamma=0.9 is ignored" in w for w in run["warnings"])
