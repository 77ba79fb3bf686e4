"""Compiled rollouts (issue 11): ``CompiledSampler`` against the gymnasium sampler, and
``compiled=True`` end to end against fasttrpo on gymnasium envs and sb3-contrib.

- ``test_rollout``: one ``collect`` of 256 vector steps x 8 envs (smoke: 16 x 2) on each of
  the five ported tasks, same 64x64 tanh float32 policy, `VectorEnvSampler` over
  ``gym.make_vec(..., "sync", SAME_STEP)`` vs `CompiledSampler` over the port (see
  ``compiled.RolloutPair``). Group per task, so pytest-benchmark shows the pair side by side;
  ``extra_info`` holds ``steps_per_s`` and, on the compiled case, ``speedup_vs_gym`` (the gym
  median of the same session divided by the compiled one).
- ``test_e2e_compiled``: CartPole-v1 1e5 steps with the zoo hyperparameters, seeds 0, 1, 2:
  fasttrpo ``compiled=True``, fasttrpo on gymnasium envs, sb3-contrib (torch on one thread);
  ``learn()`` wall time, the rollout / update split and the 10-episode evaluation.
- ``test_compiled_seeds_script``: the many-seeds script (``python -m
  benchmarks.compiled_seeds``) on tiny sizes (a check, not a benchmark).

Run: ``python -m pytest benchmarks/test_bench_compiled.py --benchmark-only -s``
(``--bench-mode quick``: seed 0 only). Every record carries the machine line (nproc, CPU,
load average, OPENBLAS_CORETYPE) in ``extra_info["machine"]``.
"""

from functools import lru_cache

import pytest

from benchmarks import _config, compiled
from benchmarks.harness import require_sb3, run_timed

_medians: dict = {}  # (env_id, impl) -> median seconds of this session


@lru_cache(maxsize=None)
def _pair(env_id: str, n_envs: int, n_steps: int) -> compiled.RolloutPair:
    return compiled.RolloutPair(env_id, n_envs, n_steps)


def _median(benchmark):
    stats = getattr(benchmark, "stats", None)
    return None if benchmark.disabled or stats is None else stats.stats.median


@pytest.mark.parametrize("impl", compiled.IMPLS)
@pytest.mark.parametrize("env_id", compiled.ENV_IDS)
def test_rollout(benchmark, env_id, impl):
    n_envs, n_steps = _config.compiled_rollout_size()
    pair = _pair(env_id, n_envs, n_steps)
    benchmark.group = f"compiled rollout {env_id} E={n_envs}"
    info = dict(suite="compiled", kind="rollout", env_id=env_id, impl=impl, n_envs=n_envs,
                n_steps=n_steps, steps=pair.steps, dtype="float32", threads=1,
                machine=compiled.machine())
    batch = run_timed(benchmark, pair.collector(impl))
    assert batch.rewards.shape == (n_steps, n_envs)
    median = _median(benchmark)
    if median is not None:
        _medians[(env_id, impl)] = median
        info["steps_per_s"] = pair.steps / median
        gym = _medians.get((env_id, "gym"))
        if impl == "compiled" and gym is not None:
            info["speedup_vs_gym"] = gym / median
            print(f"\n{env_id} E={n_envs}: gym {pair.steps / gym:,.0f} steps/s, compiled "
                  f"{pair.steps / median:,.0f} steps/s, {gym / median:.1f}x")
    info["machine_end"] = compiled.machine()
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("variant", compiled.E2E_VARIANTS)
@pytest.mark.parametrize(("seed", "timesteps", "n_steps"), _config.compiled_e2e_cases())
def test_e2e_compiled(benchmark, seed, timesteps, n_steps, variant):
    env_id = "CartPole-v1"
    if variant == "sb3-contrib":
        require_sb3()
    benchmark.group = f"compiled e2e {env_id}"
    start = compiled.machine()
    result = benchmark.pedantic(compiled.run_variant,
                                args=(variant, env_id, seed, timesteps, n_steps),
                                rounds=1, iterations=1)
    benchmark.extra_info.update(suite="compiled", kind="e2e", env_id=env_id, impl=variant,
                                seed=seed, threads=1, machine=start,
                                machine_end=compiled.machine(), **result)
    assert result["timesteps"] >= (timesteps or 1)
    if variant != "sb3-contrib":
        # the model's own split covers learn() but for callbacks and logging
        assert result["rollout_s"] + result["update_s"] <= result["learn_s"] * 1.001
    print(f"\n{env_id} {variant} seed {seed}: learn {result['learn_s']:.2f} s "
          f"(rollout {result['rollout_s']:.2f} s, update {result['update_s']:.2f} s), "
          f"eval {result['eval_mean']:.1f}")


def test_compiled_seeds_script(tmp_path):
    """The many-seeds workflow end to end on tiny sizes (JSON, and the PNG with matplotlib)."""
    if _config.MODE != "smoke":
        pytest.skip("a check of the script; the measurement is python -m benchmarks.compiled_seeds")
    from benchmarks import compiled_seeds

    try:
        import matplotlib  # noqa: F401
        png = tmp_path / "seeds.png"
    except ImportError:
        png = None
    out = compiled_seeds.run("CartPole-v1", seeds=(0, 1), timesteps=256, n_steps=64,
                             json_path=tmp_path / "seeds.json", png_path=png)
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    assert (tmp_path / "seeds.json").exists()
    assert png is None or png.exists()
