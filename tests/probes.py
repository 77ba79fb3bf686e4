"""Test helpers shared by several test files: small problems and probes of a model."""

import numpy as np

import fasttrpo


def critic_rates(model, total):
    """The critic's learning rate at every update of ``model.learn(total)``."""
    rates = []
    original = model.start_update  # learn's update (train = start_update + finish_update)

    def start_update(batch):
        original(batch)
        rates.append((model.num_timesteps, model.vf_fitter.learning_rate))

    model.start_update = start_update
    model.learn(total)
    return rates


def linearized_problem(seed, damping, zero_cost=False):
    """A tiny Gaussian policy linearised on a batch: its batch, the reward and cost
    gradients ``g``, ``b`` and the explicit ``H = F + damping I`` built column by column."""
    rng = np.random.default_rng(seed)
    policy = fasttrpo.GaussianMLPPolicy(3, 2, (4,), dtype=np.float64, seed=seed)
    obs = rng.normal(size=(64, 3))
    actions = policy.act(obs, rng=rng)
    adv_r = rng.normal(size=64)
    adv_c = np.zeros(64) if zero_cost else rng.normal(size=64)
    lin = policy.linearize(obs)
    old_log_prob = lin.log_prob(actions)
    _, g = lin.surrogate_grad(actions, adv_r, old_log_prob)
    _, b = lin.surrogate_grad(actions, adv_c, old_log_prob)
    n = policy.num_params
    hessian = np.stack([lin.fvp(e) for e in np.eye(n)], axis=1) + damping * np.eye(n)
    return policy, obs, actions, adv_r, adv_c, g, b, hessian
