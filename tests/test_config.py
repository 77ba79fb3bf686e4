"""One source of truth for hyperparameters: TRPOConfig feeds the signature, validation,
attributes, save/load, the zoo reader and the CLI."""

import dataclasses
import inspect

import numpy as np
import pytest

from fasttrpo import TRPO
from fasttrpo.config import OnPolicyConfig, TRPOConfig
from fasttrpo.zoo.hyperparams import parse_cli_overrides, zoo_to_trpo_kwargs

from toy_envs import MatchEnv

TINY = dict(n_steps=32, batch_size=16, policy_kwargs=dict(net_arch=[4]), n_critic_updates=1)


def test_signature_names_every_config_field_with_its_default_and_type():
    parameters = inspect.signature(TRPO).parameters
    names = [p for p in parameters if p not in ("policy", "env", "sb3_compat")]
    fields = dataclasses.fields(TRPOConfig)
    assert names == [f.name for f in fields]
    for item in fields:
        parameter = parameters[item.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, item.name
        assert parameter.default == item.default, item.name
        assert parameter.annotation == item.type, item.name
    # and the docstring documents each of them
    for item in fields:
        assert f"\n{item.name} : " in TRPO.__doc__, item.name


def test_sb3_contrib_defaults():
    # sb3-contrib TRPO's constructor defaults, written out independently of the config
    sb3 = dict(learning_rate=1e-3, n_steps=2048, batch_size=128, gamma=0.99, cg_max_steps=15,
               cg_damping=0.1, line_search_shrinking_factor=0.8, line_search_max_iter=10,
               n_critic_updates=10, gae_lambda=0.95, normalize_advantage=True, target_kl=0.01,
               sub_sampling_factor=1, stats_window_size=100, verbose=0, seed=None)
    config = TRPOConfig()
    assert {k: getattr(config, k) for k in sb3} == sb3
    assert config.policy_kwargs == {}




@pytest.mark.parametrize(("key", "value", "message"), [
    ("n_steps", 0, "n_steps: must be a positive integer"),
    ("n_steps", 2.5, "n_steps: must be a positive integer"),
    ("batch_size", True, "batch_size: must be a positive integer"),
    ("gamma", 1.5, r"gamma: must lie in \[0, 1\]"),
    ("target_kl", 0.0, r"target_kl: must lie in \(0, 10\]"),
    ("learning_rate", float("nan"), "learning_rate: must be a finite number"),
    ("line_search_shrinking_factor", 1.0, "line_search_shrinking_factor: must lie in"),
    ("normalize_advantage", 1, "normalize_advantage: expected True or False"),
    ("dtype", "float16", "dtype: float16 is not supported"),
    ("vf_optimizer", "sgd", "vf_optimizer: expected one of 'adam', 'lbfgs'"),
    ("seed", -1, "seed: must be None or a non-negative integer"),
    ("n_threads", 0, "n_threads: must be None or a positive integer"),
    ("policy_kwargs", dict(net_arch=[0]), "net_arch must be a list of at most 64 ints"),
])
def test_validation_names_the_field(key, value, message):
    with pytest.raises(ValueError, match=message):
        TRPOConfig(**{key: value})


def test_attributes_read_the_config_and_cannot_drift():
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, target_kl=0.02, **TINY)
    assert model.target_kl == model.config.target_kl == 0.02
    assert model.n_steps == 32 and model.dtype == np.float32
    with pytest.raises(AttributeError):
        model.target_kl = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.config.target_kl = 0.5
    assert model.config.replace(target_kl=0.03).target_kl == 0.03
    with pytest.raises(ValueError, match="target_kl"):
        model.config.replace(target_kl=-1.0)




def test_zoo_and_cli_values_are_typed_by_the_config():
    overrides = parse_cli_overrides(["--n_steps", "1e3", "--gamma", "1", "--target_kl", "5e-3"])
    kwargs, _ = zoo_to_trpo_kwargs({"n_steps": "1e3", "gamma": 1, "learning_rate": "1e-3",
                                    **overrides})
    config = TRPOConfig(**kwargs)
    assert (config.n_steps, config.gamma, config.target_kl, config.learning_rate) == (
        1000, 1.0, 0.005, 1e-3)
    assert type(config.n_steps) is int and type(config.gamma) is float


def test_every_config_field_is_documented():
    for config_class in (OnPolicyConfig, TRPOConfig):
        for item in dataclasses.fields(config_class):
            assert len(item.metadata["doc"]) > 10, item.name
    assert set(OnPolicyConfig.field_names()) < set(TRPOConfig.field_names())
    assert TRPOConfig.network_fields() == {"policy_kwargs", "dtype", "vf_optimizer",
                                           "normalize_obs", "use_sde"}


