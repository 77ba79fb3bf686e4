"""The compiled-env example (examples/compiled_env.py) runs as printed and its policy learns."""

import runpy
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "compiled_env.py"


def _example() -> str:
    return EXAMPLE.read_text()


def test_compiled_env_example(tmp_path):
    source = _example()
    assert len(source.strip().splitlines()) <= 45  # "about 30 lines" and the docstring
    path = tmp_path / "compiled_point.py"  # a file, so numba's cache=True has a place to write
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
