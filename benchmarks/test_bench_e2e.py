"""End to end: fasttrpo vs sb3-contrib with the rl-baselines3-zoo TRPO hyperparameters.

CartPole-v1 (1e5 steps) and Pendulum-v1 (1e5; sb3-contrib with the zoo's gSDE and without it,
fasttrpo has no gSDE) per seed; Hopper-v5 (1e6) is marked ``slow``. The timed value is one
whole run (construction, ``learn``, evaluation); ``extra_info`` holds ``learn_s`` (the wall
time quoted), the learning curve and the deterministic evaluation returns. See ``e2e.py``.

Run: ``python -m pytest benchmarks/test_bench_e2e.py --benchmark-only -m "not slow"``.
"""

import pytest

from benchmarks import _config, e2e
from benchmarks.harness import require_sb3


def _params():
    params = []
    for env_id, lib, seed, timesteps, n_steps in _config.e2e_cases():
        slow = env_id.startswith("Hopper") and _config.MODE != "smoke"
        marks = [pytest.mark.slow] if slow else []
        ident = f"{env_id}-{lib.replace(' ', '_')}-seed{seed}"
        params.append(pytest.param(env_id, lib, seed, timesteps, n_steps, id=ident, marks=marks))
    return params


@pytest.mark.parametrize(("env_id", "lib", "seed", "timesteps", "n_steps"), _params())
def test_e2e(benchmark, env_id, lib, seed, timesteps, n_steps):
    if env_id.startswith("Hopper"):
        pytest.importorskip("mujoco", reason="Hopper needs the bench extra (mujoco)")
    if lib == "fasttrpo":
        def run():
            return e2e.run_fasttrpo(env_id, seed, timesteps, n_steps)
    else:
        require_sb3()

        def run():
            return e2e.run_sb3(env_id, seed, timesteps, n_steps, use_sde="no-gSDE" not in lib)
    benchmark.group = f"e2e {env_id}"
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(suite="e2e", env_id=env_id, impl=lib, seed=seed, threads=1,
                                zoo_score=e2e.ZOO_SCORE.get(env_id), **result)
    assert result["timesteps"] >= (timesteps or 1)
    print(f"\n{env_id} {lib} seed {seed}: learn {result['learn_s']:.1f} s, "
          f"eval {result['eval_mean']:.1f}")
