"""Bad input gets a ValueError naming the argument and the problem, before any kernel."""

import os

import numpy as np
import pytest

import fasttrpo
from fasttrpo import TRPO, GaussianMLPPolicy
from fasttrpo.models.value_function import ValueFunction
from fasttrpo.steps.trpo import trpo_step

from toy_envs import MatchEnv


@pytest.fixture
def gaussian():
    return fasttrpo.GaussianMLPPolicy(3, 2, (4,), seed=0)


@pytest.fixture
def categorical():
    return fasttrpo.CategoricalMLPPolicy(3, 4, (4,), seed=0)


def test_wrong_obs_shape(gaussian):
    with pytest.raises(ValueError, match=r"obs: expected shape \(N, 3\), got \(5, 4\)"):
        gaussian.forward(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="obs: expected shape"):
        gaussian.forward(np.zeros(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_obs(gaussian, bad):
    obs = np.zeros((5, 3))
    obs[2, 1] = bad
    with pytest.raises(ValueError, match="obs: contains 1 NaN or infinite"):
        gaussian.log_prob(obs, np.zeros((5, 2)))


def test_uncastable_dtypes(gaussian):
    with pytest.raises(ValueError, match="obs: dtype complex128 cannot be cast"):
        gaussian.forward(np.zeros((2, 3), dtype=complex))
    with pytest.raises(ValueError, match="obs: dtype <U1 cannot be cast"):
        gaussian.forward(np.full((2, 3), "a"))
    with pytest.raises(ValueError, match="obs: dtype object"):
        gaussian.forward(np.array([[None] * 3], dtype=object))


def test_actions_checked(gaussian, categorical):
    obs = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"actions: expected shape \(3, 2\)"):
        gaussian.log_prob(obs, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="actions: contains 1 NaN"):
        gaussian.log_prob(obs, np.array([[0, 0], [0, np.nan], [0, 0]]))
    with pytest.raises(ValueError, match=r"actions: value 4 at index \(1,\) is outside the "
                                         r"valid range \[0, 4\)"):
        categorical.log_prob(obs, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="actions: value -1"):
        categorical.log_prob(obs, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="actions: discrete actions must be whole numbers"):
        categorical.log_prob(obs, np.array([0.0, 1.5, 1.0]))
    bern = fasttrpo.BernoulliMLPPolicy(3, 2, (4,))
    with pytest.raises(ValueError, match="actions: value 2"):
        bern.log_prob(obs, np.array([[0, 1], [2, 0], [1, 1]]))
    multi = fasttrpo.MultiCategoricalMLPPolicy(3, [2, 5], (4,))
    with pytest.raises(ValueError, match=r"actions: value 2 at index \(0, 0\) is outside the "
                                         r"valid range \[0, 2\)"):
        multi.log_prob(obs, np.array([[2, 4], [0, 0], [1, 1]]))
    multi.log_prob(obs, np.array([[1, 4], [0, 0], [1, 1]]))  # in range for each sub-space


def test_constructor_arguments():
    with pytest.raises(ValueError, match="activation: unknown activation 'sigmoid'"):
        fasttrpo.GaussianMLPPolicy(3, 2, activation="sigmoid")
    assert fasttrpo.GaussianMLPPolicy(3, 2, (4,), activation="nn.ReLU").activation == "nn.ReLU"
    with pytest.raises(ValueError, match="dtype: float16 is not supported"):
        fasttrpo.GaussianMLPPolicy(3, 2, dtype=np.float16)
    with pytest.raises(ValueError, match="hidden_sizes: expected positive integers"):
        fasttrpo.GaussianMLPPolicy(3, 2, hidden_sizes=(64, 0))
    with pytest.raises(ValueError, match="obs_dim: expected positive integers"):
        fasttrpo.CategoricalMLPPolicy(0, 2)
    with pytest.raises(ValueError, match="nvec: expected a non-empty sequence"):
        fasttrpo.MultiCategoricalMLPPolicy(3, [])
    with pytest.raises(ValueError, match="nvec: expected a non-empty sequence"):
        fasttrpo.MultiCategoricalMLPPolicy(3, [2, 0])
    with pytest.raises(ValueError, match="log_std_init: must be finite"):
        fasttrpo.GaussianMLPPolicy(3, 2, log_std_init=np.nan)


def test_params_and_vectors_checked(gaussian):
    obs = np.zeros((4, 3))
    with pytest.raises(ValueError, match=rf"params: expected shape \({gaussian.num_params},\)"):
        gaussian.set_params(np.zeros(gaussian.num_params + 1))
    bad = gaussian.get_params()
    bad[0] = np.nan
    before = gaussian.get_params()
    with pytest.raises(ValueError, match="params: contains 1 NaN"):
        gaussian.set_params(bad)
    np.testing.assert_array_equal(gaussian.get_params(), before)  # nothing half-written
    with pytest.raises(ValueError, match="vector: expected shape"):
        gaussian.fisher_vector_product(obs, np.zeros(3))
    with pytest.raises(ValueError, match="old_params: contains"):
        gaussian.mean_kl(obs, bad)
    with pytest.raises(ValueError, match=r"advantages: expected shape \(4,\)"):
        gaussian.surrogate_grad(obs, np.zeros((4, 2)), np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="old_log_prob: contains"):
        gaussian.surrogate_grad(obs, np.zeros((4, 2)), np.zeros(4), np.full(4, np.nan))
    lin = gaussian.linearize(obs)
    with pytest.raises(ValueError, match="damping: must be >= 0"):
        lin.conjugate_gradient(np.zeros(gaussian.num_params), -1.0, 10)
    with pytest.raises(ValueError, match="max_iter: must be >= 1"):
        lin.conjugate_gradient(np.zeros(gaussian.num_params), 0.1, 0)


def test_trpo_step_arguments(gaussian):
    obs, actions, adv = np.zeros((4, 3)), np.zeros((4, 2)), np.ones(4)
    with pytest.raises(ValueError, match="max_kl: must be a positive finite number"):
        trpo_step(gaussian, obs, actions, adv, max_kl=0.0)
    with pytest.raises(ValueError, match="line_search_shrinking_factor: must lie in"):
        trpo_step(gaussian, obs, actions, adv, line_search_shrinking_factor=1.0)
    with pytest.raises(ValueError, match="advantages: contains"):
        trpo_step(gaussian, obs, actions, np.array([1, np.nan, 0, 0]))


def test_value_function_inputs():
    vf = ValueFunction(3, (4,))
    with pytest.raises(ValueError, match=r"targets: expected shape \(2,\)"):
        vf.loss_grad(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="obs: contains"):
        vf.predict(np.full((2, 3), np.inf))


def test_batch_means_refuse_an_empty_batch():
    policy = fasttrpo.GaussianMLPPolicy(3, 2, (4,), seed=0)
    empty = np.zeros((0, 3))
    for call in (lambda: policy.linearize(empty),
                 lambda: policy.fisher_vector_product(empty, np.ones(policy.num_params)),
                 lambda: policy.mean_kl(empty, policy.get_params()),
                 lambda: policy.entropy(empty)):
        with pytest.raises(ValueError, match="obs: needs at least one row"):
            call()
    assert policy.log_prob(empty, np.zeros((0, 2))).shape == (0,)  # per-row: empty is fine


TINY = dict(n_steps=32, batch_size=16, n_critic_updates=2, seed=0,
            policy_kwargs=dict(net_arch=[8]))


# ---- 7: core-API values of a saturated distribution are refused, not returned ------------
def test_saturated_distribution_raises_instead_of_returning_inf():
    policy = GaussianMLPPolicy(3, 2, (4,), seed=0, log_std_init=-60.0)  # var underflows
    with pytest.raises(ValueError, match="log_prob: not finite.*saturated"):
        policy.log_prob(np.zeros((2, 3)), np.ones((2, 2)))


# ---- 8: predict refuses what is not an observation --------------------------------------
@pytest.mark.parametrize("obs", [1.0, None, {}, "abc", [[1.0, 2.0]], [[1, 2], [3]]])
def test_predict_refuses_non_observations(obs):
    model = TRPO("MlpPolicy", MatchEnv("box"), **TINY)
    with pytest.raises(ValueError, match="observation"):
        model.predict(obs)


def test_discrete_observations_must_be_whole_numbers(tmp_path):
    model = TRPO("MlpPolicy", "FrozenLake-v1", **TINY)
    same = model.predict(1, deterministic=True)[0]
    assert model.predict(1.0, deterministic=True)[0] == same
    for bad in (1.7, np.nan, [0, 2.5]):
        with pytest.raises(ValueError, match="Discrete observations must be integers"):
            model.predict(bad)
    from fasttrpo import runtime

    policy = runtime.load(model.export(tmp_path / "p.npz")[0])
    with pytest.raises(ValueError, match="Discrete observations must be integers"):
        policy.act(1.7)


# ---- 7 / 10: values that fail only later are refused when given, naming the key ------------
@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(policy_kwargs=dict(log_std_init=100)), r"policy_kwargs.log_std_init: must lie in"),
    (dict(policy_kwargs=dict(log_std_init=-1e9)), r"policy_kwargs.log_std_init: must lie in"),
    (dict(target_kl=1e30), r"target_kl: must lie in \(0, 10\]"),
    (dict(n_steps=1e12), r"n_steps: must be a positive integer <= 2147483647"),
    (dict(n_steps=float("inf")), r"n_steps: must be a positive integer"),
    (dict(policy_kwargs=dict(net_arch=[10**6])), r"policy_kwargs: net_arch must be a list"),
    (dict(policy_kwargs=dict(net_arch=dict(pi=[8] * 65))), r"policy_kwargs.net_arch.pi"),
])
def test_hyperparameters_that_would_fail_later_are_refused_at_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TRPO("MlpPolicy", MatchEnv("box"), **{**TINY, **kwargs})


# ---- 10: YAML and CLI input ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["'false'", "'no'", "'Off'", "no", "false"])
def test_yaml_boolean_strings_are_not_taken_as_true(text):
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

    entry = load_zoo_hyperparams(
        f"E:\n  normalize_advantage: {text}\n  use_sde: {text}\n  normalize: {text}\n", "E")
    kwargs, settings = zoo_to_trpo_kwargs(entry)
    # normalize false adds nothing
    assert kwargs == {"normalize_advantage": False, "use_sde": False}
    assert settings["warnings"] == []
    word = text.strip("'")  # a string inside the Python-syntax dict(...)
    entry = load_zoo_hyperparams(f"E:\n  normalize: \"dict(norm_obs='{word}')\"\n", "E")
    assert zoo_to_trpo_kwargs(entry)[0]["normalize_obs"] is False


@pytest.mark.parametrize(("text", "message"), [
    ("E:\n  policy_kwargs: " + "[" * 5000 + "]" * 5000 + "\n", "invalid YAML"),
    ("E:\n  n_steps: " + "9" * 5000 + "\n", "invalid YAML"),
    ("E:\n  n_steps: '" + "9" * 5000 + "'\n", "n_steps: expected a number"),
    ("E:\n  n_timesteps: .inf\n", "n_timesteps: expected a whole number"),
    ("E:\n  n_envs: 1e300\n", "n_envs: expected a whole number"),
    ("E:\n  normalize_advantage: maybe\n", "normalize_advantage: expected true or false"),
])
def test_hostile_yaml_gets_a_value_error_naming_the_key(text, message):
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

    with pytest.raises(ValueError, match=message):
        zoo_to_trpo_kwargs(load_zoo_hyperparams(text, "E"))


@pytest.mark.parametrize(("args", "message"), [
    (["--timesteps", "1e300"], "argument --timesteps: expected a whole number"),
    (["--timesteps", "64", "--n_steps", "2000000000"], "n_steps, n_envs: a rollout of"),
    (["--timesteps", "64", "--policy_kwargs", "dict(net_arch=" + "[" * 300 + "]" * 300 + ")"],
     "policy_kwargs: not a valid Python expression"),
    (["--timesteps", "64", "--normalize_advantage", "perhaps"],
     "normalize_advantage: expected true or false"),
])
def test_cli_reports_huge_or_nested_input_without_a_traceback(capsys, args, message, tmp_path,
                                                               monkeypatch):
    from fasttrpo.cli import main

    monkeypatch.chdir(tmp_path)  # without --save, train writes the zoo layout under ./logs

    assert main(["train", "CartPole-v1", "--eval-episodes", "0", *args]) == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1] and "Traceback" not in err  # argparse adds usage


def test_a_hyperparameter_path_that_is_not_a_regular_file_is_refused(tmp_path):
    from fasttrpo.zoo.hyperparams import load_zoo_hyperparams

    fifo = tmp_path / "trpo.yml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    with pytest.raises(ValueError, match="not a regular file"):
        load_zoo_hyperparams(fifo, "CartPole-v1")
