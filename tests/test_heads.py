"""``fasttrpo.foundation.heads``: the head and activation vocabulary every layer shares."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fasttrpo
from fasttrpo.export.model import policy_from_model
from fasttrpo.foundation import heads


def test_codes_index_the_names():
    assert heads.HEAD_NAMES[heads.GAUSSIAN] == "gaussian"
    assert heads.HEAD_NAMES[heads.CATEGORICAL] == "categorical"
    assert heads.HEAD_NAMES[heads.BERNOULLI] == "bernoulli"
    assert heads.HEAD_NAMES[heads.GAUSSIAN_SDE] == "gsde"
    assert heads.ACTIVATION_NAMES[heads.TANH] == "tanh"
    assert heads.ACTIVATION_NAMES[heads.RELU] == "relu"
    assert heads.NO_HEAD not in range(len(heads.HEAD_NAMES))
    for code, name in enumerate(heads.HEAD_NAMES):
        assert heads.head_code(name) == code and heads.head_name(code) == name
        assert heads.head_name(np.int64(code)) == name
    for code, name in enumerate(heads.ACTIVATION_NAMES):
        assert heads.activation_code(name) == code and heads.activation_name(code) == name


@pytest.mark.parametrize(("spelling", "code"), [
    ("tanh", heads.TANH), ("relu", heads.RELU), ("nn.Tanh", heads.TANH), ("nn.ReLU", heads.RELU),
    ("torch.nn.Tanh", heads.TANH), ("torch.nn.ReLU", heads.RELU), (" TANH ", heads.TANH),
])
def test_activation_aliases(spelling, code):
    assert heads.activation_code(spelling) == code


@pytest.mark.parametrize("bad", ["sigmoid", "nn.GELU", "", None, 0])
def test_unknown_activation_names_the_argument(bad):
    with pytest.raises(ValueError, match=r"activation: unknown activation .*supported: 'tanh'"):
        heads.activation_code(bad)


@pytest.mark.parametrize("bad", ["beta", "Gaussian", None, 1])
def test_unknown_head_name(bad):
    with pytest.raises(ValueError, match=r"head: expected one of \('gaussian'"):
        heads.head_code(bad)


@pytest.mark.parametrize("bad", [-1, 4, 1.0, True, "0", None])
def test_unknown_codes(bad):
    with pytest.raises(ValueError, match=r"head: unknown code"):
        heads.head_name(bad)
    with pytest.raises(ValueError, match=r"activation: unknown code"):
        heads.activation_name(bad)


@pytest.mark.parametrize(("make", "head"), [
    (lambda: fasttrpo.GaussianMLPPolicy(3, 2, (4,)), heads.GAUSSIAN),
    (lambda: fasttrpo.CategoricalMLPPolicy(3, 4, (4,)), heads.CATEGORICAL),
    (lambda: fasttrpo.MultiCategoricalMLPPolicy(3, [2, 3], (4,)), heads.CATEGORICAL),
    (lambda: fasttrpo.BernoulliMLPPolicy(3, 2, (4,), activation="nn.ReLU"), heads.BERNOULLI),
    (lambda: fasttrpo.GaussianSDEMLPPolicy(3, 2, (4,)), heads.GAUSSIAN_SDE),
])
def test_policies_carry_the_codes_into_their_kernel_layout(make, head):
    policy = make()
    layout = policy.kernel_layout
    assert policy.head == layout.head == head
    assert layout.activation == heads.activation_code(policy.activation)
    assert layout.n_mlp == policy.n_mlp
    np.testing.assert_array_equal(layout.layer_sizes, policy.layout.layer_sizes)
    assert layout.layer_sizes.dtype == layout.nvec.dtype == np.int64
    assert layout.layer_sizes.flags.c_contiguous and layout.nvec.flags.c_contiguous
    assert layout.nvec.size == (policy.nvec.size if head == heads.CATEGORICAL else 0)


def test_value_function_layout_has_no_head():
    vf = fasttrpo.ValueFunction(3, (4,), activation="relu")
    assert vf.kernel_layout.head == heads.NO_HEAD and vf.kernel_layout.nvec.size == 0
    assert vf.kernel_layout.activation == heads.RELU


def test_export_names_the_policy_head():
    model = fasttrpo.TRPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8, seed=0,
                          policy_kwargs={"net_arch": [4], "activation_fn": "nn.ReLU"})
    policy = policy_from_model(model)
    assert (policy.head, policy.activation) == ("categorical", "relu")


def test_heads_imports_the_standard_library_only():
    script = textwrap.dedent("""
        import sys
        baseline = set(sys.modules)
        import fasttrpo.foundation.heads
        new = sorted(set(sys.modules) - baseline)
        outside = [m for m in new if m.split(".")[0] not in sys.stdlib_module_names]
        assert outside == sorted(["fasttrpo", "fasttrpo.foundation", "fasttrpo.foundation.heads",
                                  "fasttrpo.foundation.numba_cache"]), outside
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_head_spec_sizes_every_policy_and_saved_network():
    """heads.head_for_space / extra_param_count (the one spec) against the parameter counts
    of the policies the algorithms build, for every action space and gSDE's two forms."""
    import gymnasium as gym

    from fasttrpo import TRPO
    from fasttrpo.foundation.heads import extra_param_count, head_for_space

    obs = gym.spaces.Box(-1, 1, (3,))
    cases = [(gym.spaces.Box(-1, 1, (2,)), {}), (gym.spaces.Discrete(4), {}),
             (gym.spaces.MultiDiscrete([2, 3]), {}), (gym.spaces.MultiBinary(3), {}),
             (gym.spaces.Box(-1, 1, (2,)), {"use_sde": True}),
             (gym.spaces.Box(-1, 1, (2,)), {"use_sde": True,
                                            "policy_kwargs": {"full_std": False}})]
    for action_space, kwargs in cases:
        kwargs = {"policy_kwargs": {}, **kwargs}
        kwargs["policy_kwargs"] = {"net_arch": [5], **kwargs["policy_kwargs"]}
        model = TRPO.for_spaces(obs, action_space, **kwargs)
        policy = model.policy
        head = head_for_space(type(action_space).__name__, kwargs.get("use_sde", False))
        out_dim = policy.layout.out_dim
        full_std = kwargs["policy_kwargs"].get("full_std", True)
        assert policy.num_params - policy.n_mlp == extra_param_count(head, out_dim, 5, full_std)
    with pytest.raises(ValueError, match="gSDE needs a Box"):
        head_for_space("Discrete", use_sde=True)
    with pytest.raises(ValueError, match="Tuple is not supported"):
        head_for_space("Tuple")


def test_the_cython_tanh_is_generated_from_the_one_table():
    """forward.pyx's float tanh comes from fasttrpo/foundation/tanh.py (via the generated
    tanh_rational.pxi), the Numba kernels read the same table: no hand-made copy."""
    from fasttrpo.foundation import tanh

    assert tanh.PXI.read_text() == tanh.cython_source(), (
        "tanh_rational.pxi is out of date: run python -m fasttrpo.foundation.tanh")
    pyx = (tanh.PXI.parent / "forward.pyx").read_text()
    assert 'include "tanh_rational.pxi"' in pyx and repr(tanh.P[0]) not in pyx


def test_both_compiled_tanhs_agree_with_each_other_and_with_numpy():
    """The Numba and Cython float32 tanh give the same bits, within 1e-6 of np.tanh."""
    from fasttrpo.models.policies import GaussianMLPPolicy

    x = np.linspace(-12.0, 12.0, 4001).astype(np.float32)
    policy = GaussianMLPPolicy(1, 1, hidden_sizes=(1,), dtype=np.float32, seed=0)
    # hidden = tanh(x), output = 1 * hidden + 0 = hidden exactly
    policy.set_params(np.array([1.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32))
    cython = policy.act(x[:, None], deterministic=True)[:, 0]  # Cython forward
    numba_values = policy.forward(x[:, None])[:, 0]  # Numba kernels (mlp.forward)
    assert np.array_equal(cython, numba_values)
    assert np.abs(cython - np.tanh(x.astype(np.float64))).max() < 1e-6
