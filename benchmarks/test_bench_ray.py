"""The Ray sampler's benchmark script (``python -m benchmarks.ray_scaling``) on tiny sizes: a
check that it runs, not a measurement (BENCHMARKS.md's figures come from the full run)."""

import pytest


def test_ray_scaling_script_smoke():
    pytest.importorskip("ray")
    from benchmarks import ray_scaling

    records = ray_scaling.main(["--smoke"])
    assert {r["sampler"] for r in records} == {"single", "ray"}
    assert all(r["samples_per_s"] > 0 for r in records)
