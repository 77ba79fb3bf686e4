"""Bad input gets a ValueError naming the argument and the problem, before any kernel."""

import numpy as np
import pytest

import fasttrpo
from fasttrpo.models.value_function import ValueFunction
from fasttrpo.steps.trpo import trpo_step


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
