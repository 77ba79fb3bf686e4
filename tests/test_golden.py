"""Golden runs: fixed seeds must give the same final parameters as the stored arrays.

``tests/data/golden.npz`` was written by this file's ``__main__`` block; any refactor must
leave these runs bit-identical. Regenerated on purpose once since it was first written:
when the samplers moved to per-env noise streams and row-invariant acting (issue 13, the
Ray sampler), which changes every rollout's noise. BLAS kernels differ between CPU types
(OpenBLAS picks Haswell or SkylakeX kernels, or what ``OPENBLAS_CORETYPE`` says), and a
different kernel rounds differently, so
there is one file per OpenBLAS architecture (``golden.npz``: Haswell; ``golden-<arch>.npz``
for the others, each written where the code was first checked bit-identical to
``golden.npz`` under ``OPENBLAS_CORETYPE=Haswell``), compared bit for bit under its own
architecture. Under an architecture without a file the arrays must agree to within float32
round-off growth over these short runs (the Pendulum run, with normalisation and L-BFGS,
drifts past that between Haswell and SkylakeX kernels, hence the per-architecture files).

Regenerated on purpose a second time, both files: TRPO's defaults became sb3-contrib's trust
region (``damped_step_length=True``, ``kl_per_action_dim=True``; issue 16), and the
Fisher-vector product, the surrogate gradient and the linearisation's forward passes work on
fixed 64-row blocks, summed in order (issue 12: the same bits on any number of threads).
"""

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from fasttrpo import TRPO

from toy_envs import MatchEnv

GOLDEN = Path(__file__).parent / "data" / "golden.npz"


def _golden_file() -> Path:
    """The file of this machine's OpenBLAS architecture, else the Haswell one."""
    specific = GOLDEN.with_name(f"golden-{_openblas_architecture()}.npz")
    return specific if specific.exists() else GOLDEN

RUNS = {
    "cartpole": (
        "CartPole-v1",
        dict(n_envs=2, n_steps=64, batch_size=32, n_critic_updates=3, seed=0,
             policy_kwargs=dict(net_arch=[16, 16])),
        512,
    ),
    "pendulum": (
        "Pendulum-v1",
        dict(n_steps=128, batch_size=64, n_critic_updates=2, seed=1, gamma=0.9,
             normalize_obs=True, normalize_reward=True, vf_optimizer="lbfgs",
             policy_kwargs=dict(net_arch=[16], log_std_init=-0.5)),
        384,
    ),
    "multidiscrete": (
        "multidiscrete",
        dict(n_steps=64, batch_size=16, n_critic_updates=2, seed=2, sub_sampling_factor=2,
             target_kl=0.02, policy_kwargs=dict(net_arch=[8], activation_fn="relu")),
        256,
    ),
}


def _openblas_architecture() -> str:
    found = [i.get("architecture") or "" for i in threadpool_info()
             if i.get("internal_api") == "openblas"]
    return ",".join(sorted(set(found))) or "none"


def run(name: str) -> dict[str, np.ndarray]:
    env_id, kwargs, steps = RUNS[name]
    env = MatchEnv("multidiscrete") if env_id == "multidiscrete" else env_id
    model = TRPO("MlpPolicy", env, **kwargs)
    model.learn(steps)
    out = {f"{name}/policy": model.policy.get_params(),
           f"{name}/value": model.value_function.get_params()}
    if model.obs_normalizer is not None:
        for key, value in model.obs_normalizer.state_dict().items():
            out[f"{name}/obs_rms/{key}"] = np.asarray(value)
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_golden_run_is_unchanged(name):
    stored = np.load(_golden_file())
    got = run(name)
    assert got, name
    same_blas = str(stored["openblas_architecture"]) == _openblas_architecture()
    for key, value in got.items():
        want = stored[key]
        assert value.dtype == want.dtype and value.shape == want.shape, key
        if same_blas:
            np.testing.assert_array_equal(value, want, err_msg=key)
        else:
            np.testing.assert_allclose(value, want, rtol=2e-3, atol=2e-4, err_msg=key)


if __name__ == "__main__":  # regenerate: only when a change of results is intended
    arrays = {"openblas_architecture": np.array(_openblas_architecture())}
    for run_name in RUNS:
        arrays.update(run(run_name))
    path = GOLDEN if _openblas_architecture() == "Haswell" else \
        GOLDEN.with_name(f"golden-{_openblas_architecture()}.npz")
    np.savez(path, **arrays)
    print(f"wrote {path}: {sorted(arrays)} ({arrays['openblas_architecture']})")
