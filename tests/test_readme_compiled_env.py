"""The README's complete compiled-env example runs as printed and its policy learns."""

import re
import runpy
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    start = text.index("A complete example, a point mass")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_readme_compiled_env_example(tmp_path):
    source = _example()
    assert len(source.strip().splitlines()) <= 40  # "about 30 lines"
    path = tmp_path / "readme_point.py"  # a file, so numba's cache=True has a place to write
    path.write_text(source)
    names = runpy.run_path(str(path))
    model, venv = names["model"], names["venv"]
    assert model.num_timesteps >= 20_000

    def episode_return(act) -> float:
        obs, _ = venv.reset(seed=5)
        total = 0.0
        for _ in range(100):
            obs, rewards, _, _, _ = venv.step(act(obs))
            total += float(rewards.mean())
        return total

    learned = episode_return(lambda obs: model.predict(obs, deterministic=True)[0])
    idle = episode_return(lambda obs: np.zeros((4, 1), np.float32))
    assert learned > idle + 5.0, (learned, idle)
