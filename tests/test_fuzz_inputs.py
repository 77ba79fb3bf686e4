"""Fuzz: hostile YAML hyperparameter files, CLI overrides, hyperparameter values and
``predict`` inputs.

Documented outcomes: a valid config (or action), or a ValueError whose message names the
offending key (or, for a file that is not YAML at all, says so). Anything else fails with the
seed and case index.
"""

import numpy as np
import pytest

from fasttrpo import TRPO
from fasttrpo.algorithms import ALGORITHMS
from fasttrpo.config import ALGORITHM_CONFIGS
from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, parse_cli_overrides, zoo_to_trpo_kwargs

from fuzzing import Tally, n_cases, rng
from toy_envs import CounterEnv, MatchEnv

ZOO_KEYS = ["normalize", "policy_kwargs", "n_timesteps", "n_envs", "policy", "use_sde",
            "sde_sample_freq", "frame_stack", "not_a_key", "device"]
WORDS = ["true", "false", "yes", "no", "on", "off", "True", "NO", "'false'", "'no'", '"off"',
         "maybe", "~", "null", "", "''"]
NUMBERS = ["0", "1", "-1", "64", "0.5", "1e-3", "'1e-3'", "1e5", "2e9", "1e300", ".inf",
           "-.inf", ".nan", "9" * 40, "9" * 5000, "'" + "9" * 5000 + "'", "0x10", "1_000",
           "lin_0.1", "'lin_7e-4'", "3.5"]
KWARGS = ["dict(net_arch=[8, 8])", "dict(net_arch=dict(pi=[8], vf=[4]))",
          "dict(log_std_init=-2, activation_fn=nn.ReLU)", "dict(log_std_init=100)",
          "dict(net_arch=[0])", "dict(net_arch=[10**6])", "dict(ortho_init=False)",
          "dict(net_arch=" + "[" * 300 + "]" * 300 + ")", "dict(a=" * 120 + "1" + ")" * 120,
          "{'norm_obs': 'no', 'norm_reward': True}", "dict(norm_obs=False, clip_obs=1e400)",
          "__import__('os')", "dict(**x)", "lambda: 0", "dict(net_arch=[8]", "{1: 2}"]


def _yaml_value(generator) -> str:
    kind = int(generator.integers(6))
    if kind == 0:
        return str(generator.choice(WORDS))
    if kind == 1:
        return str(generator.choice(NUMBERS))
    if kind == 2:
        return '"' + str(generator.choice(KWARGS)).replace('"', "'") + '"'
    if kind == 3:
        # past the recursion limit now and then (PyYAML takes 0.5 s to fail on it)
        depth = 1100 if generator.random() < 0.05 else int(generator.choice([1, 3, 50]))
        return "[" * depth + "]" * depth
    if kind == 4:
        return "{norm_obs: " + str(generator.choice(WORDS)) + ", clip_obs: " + \
            str(generator.choice(NUMBERS)) + "}"
    return str(generator.choice(["[8, 8]", "[]", "{}", "*undefined", "&a 1", "!!python/none",
                                 "!!binary aGk=", "'unterminated", "a: b: c", "\t"]))


def _entry_keys(config_class, generator) -> list[str]:
    keys = list(config_class.field_names()) + ZOO_KEYS
    count = int(generator.integers(1, 6))
    return [str(k) for k in generator.choice(keys, size=count, replace=False)]


def _check_message(keys, err) -> None:
    """A ValueError names one of the entry's keys, or the file when the YAML is invalid."""
    message = str(err)
    assert "invalid YAML" in message or "hyperparameters" in message or any(
        key in message for key in keys), f"message names no key of {keys}: {message[:300]}"


def _to_config(entry, config_class):
    kwargs, _ = zoo_to_trpo_kwargs(entry, config_class)
    names = set(config_class.field_names())
    return config_class(**{k: v for k, v in kwargs.items() if k in names})


def test_fuzz_yaml_hyperparameters():
    seed = 1503
    generator, tally = rng(seed), Tally("YAML hyperparameters", seed)
    algorithms = list(ALGORITHM_CONFIGS)
    for index in range(n_cases(150)):
        config_class = ALGORITHM_CONFIGS[algorithms[index % len(algorithms)]]
        keys = _entry_keys(config_class, generator)
        text = "E:\n" + "".join(f"  {key}: {_yaml_value(generator)}\n" for key in keys)

        def case(text=text, keys=keys, config_class=config_class):
            try:
                return _to_config(load_zoo_hyperparams(text, "E"), config_class)
            except ValueError as err:
                _check_message(keys, err)
                raise

        tally.run(index, repr(text[:300]), case)
    tally.report()
    assert tally.counts.get("ok", 0) > 0 and tally.counts.get("ValueError", 0) > 0


def test_fuzz_cli_overrides():
    seed = 1504
    generator, tally = rng(seed), Tally("CLI overrides", seed)
    for index in range(n_cases(100)):
        keys = _entry_keys(ALGORITHM_CONFIGS["trpo"], generator)
        tokens: list[str] = []
        for key in keys:
            value = _yaml_value(generator).strip('"')
            flag = "--" + (key.replace("_", "-") if generator.random() < 0.2 else key)
            tokens += [f"{flag}={value}"] if generator.random() < 0.3 else [flag, value]
        if generator.random() < 0.1:
            tokens.append(str(generator.choice(["--", "-x", "stray", "--n_steps"])))

        def case(tokens=tokens, keys=keys):
            try:
                return _to_config(parse_cli_overrides(tokens), ALGORITHM_CONFIGS["trpo"])
            except ValueError as err:
                if not str(err).startswith(("unexpected argument", "--")):  # token errors
                    _check_message(keys, err)
                raise

        tally.run(index, repr(tokens)[:300], case)
    tally.report()
    assert tally.counts.get("ok", 0) > 0 and tally.counts.get("ValueError", 0) > 0


def _numpy_scalar(value, generator):
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return generator.choice([np.int8, np.int32, np.int64, np.uint16, np.uint64])(value)
    if isinstance(value, float):
        return generator.choice([np.float16, np.float32, np.float64])(value)
    return value


def test_fuzz_numpy_scalar_hyperparameters_save_and_load(tmp_path):
    seed = 1505
    generator, tally = rng(seed), Tally("numpy-scalar hyperparameters", seed)
    names = list(ALGORITHMS)
    for index in range(n_cases(6)):
        algo = names[index % len(names)]
        cls = ALGORITHMS[algo]
        values = dict(n_steps=16, batch_size=8, n_critic_updates=1, gamma=0.5, seed=index % 100,
                      learning_rate=3e-3, normalize_obs=bool(index % 2), target_kl=0.02,
                      normalize_reward=bool(index % 3 == 0), clip_obs=5.0, verbose=0)
        fields = cls.config_class.field_names()  # each algorithm's own: a constrained one's,
        values.update({k: v for k, v in (("cost_limit", 1.0), ("cost_gamma", 0.5))  # a preset's
                       if k in fields})
        kwargs = {k: _numpy_scalar(v, generator) for k, v in values.items()}
        kwargs["policy_kwargs"] = dict(net_arch=[_numpy_scalar(4, generator)],
                                       log_std_init=_numpy_scalar(-0.5, generator))

        def case(cls=cls, kwargs=kwargs, index=index):
            env = CounterEnv(discrete_action=False, cost_scale=0.5)
            model = cls("MlpPolicy", env, **kwargs).learn(np.int64(16))
            loaded = cls.load(model.save(tmp_path / f"m{index}"))
            assert loaded.config == model.config

        tally.run(index, f"{algo} {kwargs}", case, expected=())
    tally.report()


PREDICT_INPUTS = [None, {}, {"obs": 1}, "abc", b"x", 1.0, 1.7, -3, np.nan, np.inf, 1e300,
                  True, [1, 2], [[1, 2], [3]], [[0.1] * 4] * 3, object(), np.zeros(0),
                  np.zeros((2, 0)), np.zeros((0, 4)), np.array(["a"] * 4),
                  np.zeros(4, dtype=complex), np.full(4, 1e300), np.full(4, np.nan)]


def test_fuzz_predict_inputs():
    seed = 1506
    generator, tally = rng(seed), Tally("predict inputs", seed)
    box = TRPO("MlpPolicy", MatchEnv("box"), n_steps=16, policy_kwargs=dict(net_arch=[4]))
    discrete = TRPO("MlpPolicy", "FrozenLake-v1", n_steps=16, policy_kwargs=dict(net_arch=[4]),
                    normalize_obs=True)
    for index in range(n_cases(60)):
        model = (box, discrete)[index % 2]
        if index < 2 * len(PREDICT_INPUTS):
            obs = PREDICT_INPUTS[index // 2]
        else:
            shape = tuple(int(s) for s in generator.integers(0, 5, int(generator.integers(0, 3))))
            dtype = generator.choice([np.float32, np.float64, np.int64, np.uint8, np.bool_])
            scale = 10.0 ** generator.integers(0, 40)
            with np.errstate(over="ignore", invalid="ignore"):
                obs = (generator.normal(size=shape) * scale).astype(dtype)

        def case(model=model, obs=obs):
            action, _ = model.predict(obs, deterministic=bool(generator.integers(2)))
            assert np.all(np.isfinite(action))

        with np.errstate(over="ignore", invalid="ignore"):  # the inputs cast with overflow
            tally.run(index, f"{model.observation_space}: {obs!r}"[:300], case)
    tally.report()
    assert tally.counts.get("ok", 0) > 0


@pytest.mark.parametrize("algo", list(ALGORITHM_CONFIGS))
def test_fuzz_config_values(algo):
    """Every field, every hostile value: the config is valid or a ValueError names the field."""
    from fuzzing import hostile_value

    seed = 1507
    generator, tally = rng(seed), Tally(f"{algo} config values", seed)
    config_class = ALGORITHM_CONFIGS[algo]
    names = list(config_class.field_names())
    for index in range(n_cases(40)):
        name = names[index % len(names)]
        value = hostile_value(generator)

        def case(name=name, value=value):
            try:
                return config_class(**{name: value})
            except ValueError as err:
                assert name in str(err), str(err)[:300]
                raise

        tally.run(index, f"{name}={str(value)[:100]}", case)
    tally.report()
