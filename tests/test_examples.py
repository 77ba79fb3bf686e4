"""Every example runs as pasted (examples/), and the README's quick start is one of them."""

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write their files where they run
    return runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_readme_quick_start_is_the_example():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Training API.*?```python\n(.*?)```", readme, re.S).group(1)
    assert block.strip() in (EXAMPLES / "quickstart.py").read_text()


def test_quickstart(tmp_path, monkeypatch):
    names = _run("quickstart.py", tmp_path, monkeypatch)
    assert (tmp_path / "cartpole.zip").exists() and names["model"].num_timesteps == 100_352
    assert int(names["action"]) in (0, 1)


def test_custom_env(tmp_path, monkeypatch):
    names = _run("custom_env.py", tmp_path, monkeypatch)
    assert names["mean"] > -60  # doing nothing scores about -100


def test_callbacks(tmp_path, monkeypatch):
    names = _run("callbacks.py", tmp_path, monkeypatch)
    assert (tmp_path / "best_cartpole" / "best_model.zip").exists()
    assert names["evaluation"].best_mean_reward >= 475
    assert names["model"].num_timesteps < 100_000  # the threshold stopped it


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_export_c(tmp_path, monkeypatch):
    names = _run("export_c.py", tmp_path, monkeypatch)  # asserts C == predict itself
    assert np.isclose(names["in_c"], names["in_python"], atol=1e-4)
    assert list(tmp_path.iterdir()) == []  # nothing left in the working directory
    assert sorted(p.name for p in names["build"].iterdir()) == [
        "main.c", "pendulum_policy.c", "pendulum_policy.h", "policy"]


def test_constrained(tmp_path, monkeypatch):
    names = _run("constrained.py", tmp_path, monkeypatch)
    assert names["costs"]["CPO"] < 0.5 * names["costs"]["TRPO"]


@pytest.mark.optional_deps
def test_ray_sampler(tmp_path):
    """The Ray example as printed, on a local Ray, its training cut to 2048 steps."""
    require("ray")
    require("mujoco")
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(here), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = subprocess.run([sys.executable, str(here / "readme_block.py"),
                           str(EXAMPLES / "ray_sampler.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "total_timesteps" in proc.stdout  # verbose=1 printed its training table


def test_navigation(tmp_path, monkeypatch):
    require("mujoco")
    names = _run("navigation.py", tmp_path, monkeypatch)
    assert names["model"].num_timesteps == 8_000
    assert names["obs"].shape == (60,)
    costs = np.asarray(names["costs"])
    assert costs.shape == (2, 2) and (costs[:, 0] <= costs[:, 1]).all()  # hazards <= total
