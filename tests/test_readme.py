"""Every Python block of README.md runs on its own, in a new process and an empty folder
(issue 24): its imports, names and files are its own. Training is cut to 2048 steps
(`readme_block.py`), the only difference from a user's run. A block that needs files the
README makes with shell commands just before it (``policy.npz`` from ``fasttrpo export``)
finds them made the same way."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def _block_id(index: int) -> str:
    first = next(line for line in BLOCKS[index].splitlines()
                 if line and not line.startswith(("import", "from", "#")))
    return f"{index}-{re.sub(r'[^a-z0-9]+', '_', first.lower())[:30].strip('_')}"


def _prepare(block: str, folder: Path) -> None:
    """Make the files a block reads that the README made just before it with shell commands."""
    if "runtime.load(\"policy.npz\")" in block:
        from fasttrpo import TRPO

        TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0).export(
            folder / "policy.npz")


# the Ray block needs the ray extra: run with the optional tests (.ci/run's second pass)
CASES = [pytest.param(i, id=_block_id(i), marks=[pytest.mark.optional_deps]
                      if "RaySampler" in block else []) for i, block in enumerate(BLOCKS)]


@pytest.mark.parametrize("index", CASES)
def test_readme_python_block_runs_alone(index, tmp_path):
    block = BLOCKS[index]
    if "RaySampler" in block:
        require("ray")
        require("mujoco")
    _prepare(block, tmp_path)
    path = tmp_path / "block.py"
    path.write_text(block)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = subprocess.run([sys.executable, str(HERE / "readme_block.py"), str(path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README block {index}:\n{block}\n{proc.stderr[-3000:]}"


def test_every_block_is_found():
    # the README is an overview: its one Python block is the quick start (the guide's pages
    # and examples/ hold the rest, run by docs/run_examples.py and tests/test_examples.py)
    assert len(BLOCKS) >= 1 and "model.learn(" in BLOCKS[0]
