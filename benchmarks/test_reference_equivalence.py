"""The PyTorch reference computes the same update as fasttrpo (float64, same data and params).

Not a benchmark: it checks that the torch code the suites time is a fair stand-in, i.e. it
does the same maths (same step, same line search, same value fit), so that a timing ratio
compares implementations of one algorithm. Skipped without torch.
"""

import numpy as np
import pytest

from benchmarks import _config
from benchmarks.harness import UpdateProblem, require_torch
from fasttrpo.steps.trpo import trpo_step

NETS = {
    "gaussian": _config.Net("gaussian", 11, (64, 64), 3),
    "categorical": _config.Net("categorical", 4, (64, 64), 2),
    "gaussian-relu": _config.Net("gaussian", 5, (32,), 2, activation="relu"),
}
N = 512


@pytest.fixture(scope="module", params=list(NETS))
def problem(request):
    return UpdateProblem(NETS[request.param], N, "float64", seed=3)


@pytest.mark.parametrize("fvp", ["double_backprop", "func"])
@pytest.mark.parametrize("max_kl", [0.01, 3.0])  # 3.0: the relu net backtracks
def test_policy_step_matches_fasttrpo(problem, fvp, max_kl):
    """Same CG solution, x^T F x, line-search outcome and new parameters as trpo_step."""
    require_torch()
    problem.fasttrpo_reset()
    policy = problem.model.policy
    # the reference scales the step by the undamped x^T F x
    hp = dict(max_kl=max_kl, cg_max_steps=10, cg_damping=0.1, damped_step_length=False)
    info = trpo_step(policy, problem.obs, problem.policy_actions, problem.norm_advantages,
                     problem.log_prob, **hp)
    expected = policy.get_params()

    ref, t = problem.torch_reference(fvp)
    ref.max_kl, ref.cg_max_steps, ref.cg_damping = hp["max_kl"], hp["cg_max_steps"], 0.1
    theta, ref_info = ref.policy_step(t["theta_pi"], t["obs"], t["actions"],
                                      t["norm_advantages"], t["old_log_prob"])
    assert ref_info.accepted == info.accepted
    assert ref_info.cg_iterations == info.cg_iterations
    assert ref_info.line_search_steps == info.line_search_steps
    np.testing.assert_allclose(ref_info.x_fisher_x, info.x_fisher_x, rtol=1e-8)
    np.testing.assert_allclose(ref_info.surrogate_after, info.surrogate_after, rtol=1e-8)
    np.testing.assert_allclose(ref_info.kl, info.kl, rtol=1e-7, atol=1e-14)
    step = expected - problem.theta_pi
    assert np.linalg.norm(step) > 0
    np.testing.assert_allclose(theta.numpy() - problem.theta_pi, step, rtol=1e-7,
                               atol=1e-9 * np.abs(step).max())


def test_fvp_matches_fasttrpo(problem):
    """Both torch FVPs (double backprop of the KL, torch.func J^T M J v) equal fasttrpo's."""
    torch = require_torch()
    problem.fasttrpo_reset()
    policy = problem.model.policy
    v = np.random.default_rng(0).standard_normal(policy.num_params)
    expected = policy.linearize(problem.obs).fvp(v)
    for kind in ("double_backprop", "func"):
        ref, t = problem.torch_reference(kind)
        fvp = ref.fvp_closure(t["theta_pi"], t["obs"])
        got = fvp(torch.from_numpy(v)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


def test_value_fit_matches_fasttrpo(problem):
    """Minibatch Adam epochs on the same permutations give the same value parameters."""
    torch = require_torch()
    problem.fasttrpo_reset()
    fitter = problem.model.vf_fitter
    loss = fitter.fit(problem.obs, problem.returns, np.random.default_rng(7))
    expected = problem.model.value_function.get_params()
    rng = np.random.default_rng(7)  # the permutations fit() drew
    perms = torch.from_numpy(np.stack([rng.permutation(N) for _ in range(fitter.n_epochs)]))
    ref, t = problem.torch_reference("double_backprop")
    ref_loss = ref.value_fit(t["obs"], t["returns"], perms)
    np.testing.assert_allclose(ref_loss, loss, rtol=1e-8)
    np.testing.assert_allclose(ref.theta_v.detach().numpy(), expected, rtol=1e-6, atol=1e-9)
