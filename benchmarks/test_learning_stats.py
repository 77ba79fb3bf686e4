"""Exact checks of the many-seeds estimators (``learning_stats.py``): fast, no torch."""

import numpy as np
import pytest

from benchmarks import learning_stats as ls


def test_iqm_known_arrays():
    assert ls.iqm([1, 2, 3, 4]) == 2.5  # n=4: drop one each end
    assert ls.iqm([8, 1, 100, 2, 3, 4, 5, -50]) == 3.5  # n=8: middle four 2,3,4,5
    assert ls.iqm([1, 2, 3, 4, 5]) == 3.0  # n=5: drop one each end
    assert ls.iqm([7.0]) == 7.0 and ls.iqm([1, 3]) == 2.0  # too few to trim
    rows = np.array([[1, 2, 3, 4], [10, 0, 0, 10]])
    np.testing.assert_array_equal(ls.iqm(rows, axis=1), [2.5, 5.0])


def test_iqm_matches_trim_mean():
    stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(3).normal(size=(6, 13))
    np.testing.assert_allclose(ls.iqm(x, axis=1), stats.trim_mean(x, 0.25, axis=1))


def test_ci_of_constant_sample_is_the_constant():
    for stat in ls.STATS:
        lo, hi = ls.bootstrap_ci([4.5] * 8, stat, n_resamples=200)
        assert lo == hi == 4.5


def test_ci_contains_the_estimate_and_is_reproducible():
    x = np.array([-120.0, -95.0, -300.0, -101.0, -99.0, -130.0, -88.0, -97.0])
    for stat in ls.STATS:
        lo, hi = ls.bootstrap_ci(x, stat, n_resamples=2000, seed=5)
        assert lo <= ls.ESTIMATORS[stat](x) <= hi
        assert (lo, hi) == ls.bootstrap_ci(x, stat, n_resamples=2000, seed=5)
    assert ls.bootstrap_ci(x, "mean", 2000, seed=5) != ls.bootstrap_ci(x, "mean", 2000, seed=6)


def test_summary_and_verdicts():
    s = ls.summarize([1.0, 2.0, 3.0, 4.0], n_resamples=500)
    assert s["mean"]["value"] == 2.5 and s["median"]["value"] == 2.5 and s["iqm"]["value"] == 2.5
    assert ls.overlap_verdict((1, 2), (2, 3)) == "overlap"
    assert ls.overlap_verdict((3.5, 4), (1, 3)) == "fasttrpo higher"
    assert ls.overlap_verdict((0, 0.5), (1, 3)) == "fasttrpo lower"


def test_time_to_score():
    curve = [{"timesteps": 100, "wall_s": 1.0, "episodes": 5, "mean_last10": 600.0},
             {"timesteps": 200, "wall_s": 2.0, "episodes": 12, "mean_last10": 400.0},
             {"timesteps": 300, "wall_s": 3.0, "episodes": 20, "mean_last10": 500.0}]
    assert ls.time_to_score(curve, 500.0) == (300, 3.0)
    assert ls.time_to_score(curve, 501.0) == (None, None)


def test_table_from_runs(tmp_path):
    import json

    for lib, base in (("fasttrpo", 100.0), ("sb3", 10.0)):
        for seed in range(4):
            path = tmp_path / lib / "CartPole-v1" / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            score = base + seed
            path.write_text(json.dumps({
                "seed": seed, "timesteps": 1000, "learn_s": 1.0,
                "eval": {"det": {"mean": score}, "stoch": {"mean": score}},
                "curve": [{"timesteps": 1000, "wall_s": 1.0, "episodes": 10,
                           "mean_last10": score}]}))
    stats = ls.compute(ls.load_runs(tmp_path), n_resamples=200)
    libs = stats["CartPole-v1"]["libs"]
    assert libs["fasttrpo"]["verdict"] == {"det": "fasttrpo higher", "stoch": "fasttrpo higher"}
    assert "verdict" not in libs["sb3"]
    table = ls.markdown_table(stats)
    assert "| CartPole-v1 | fasttrpo | 4 | 1,000 | 102 [" in table
    assert len(table.strip().splitlines()) == 4


def test_other_runs_folder(tmp_path):
    """``--root DIR`` (e.g. the 1e6 study's folder): its runs only, the report written into
    it, and a second pass does not take the report for a run."""
    import json

    for lib in ("fasttrpo", "sb3"):
        for seed in (200, 201):
            path = tmp_path / lib / "Hopper-v5" / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({
                "seed": seed, "timesteps": 1_000_000, "learn_s": 300.0,
                "eval": {"det": {"mean": 3000.0}, "stoch": {"mean": 2500.0}}, "curve": [],
                "machine": {"nproc": 1, "cpu": "x", "OPENBLAS_CORETYPE": None,
                            "loadavg": [1.0, 1.0, 1.0]}}))
    for _ in range(2):
        assert ls.main(["--root", str(tmp_path), "--no-plot"]) == 0
        text = (tmp_path / "learning_stats.md").read_text()
        assert "| Hopper-v5 | fasttrpo | 2 | 1,000,000 | 3000 [" in text
        assert set(ls.load_runs(tmp_path)) == {"Hopper-v5"}


def test_report_keeps_the_hand_written_sections():
    """``python -m benchmarks.report`` rewrites BENCHMARKS.md: the sections it does not
    generate (learning quality, threads, Ray) come back where they stood."""
    from benchmarks.report import keep_hand_sections

    report = "# T\n\n## A\nnew a\n## C\nnew c\n## Reproduce\nr\n"
    previous = "# T\n\n## A\nold a\n## B\nhand b\n## C\nold c\n## D\nhand d\n## Reproduce\nr\n"
    merged = keep_hand_sections(report, previous)
    assert merged == ("# T\n\n## A\nnew a\n## B\nhand b\n## C\nnew c\n## D\nhand d\n"
                      "## Reproduce\nr\n")
    assert keep_hand_sections(report, "") == report
