"""The one-line stderr notice while the Numba kernels compile for the first time."""

import os
import subprocess
import sys
import textwrap

from fasttrpo.kernels import COMPILE_NOTICE

# two kernels (the value function's forward pass and its loss gradient): the notice is printed
# once per process however many kernels compile
SCRIPT = textwrap.dedent("""
    import numpy as np
    from fasttrpo.models.value_function import ValueFunction
    vf = ValueFunction(3, (4,), dtype=np.float32, seed=0)
    obs = np.zeros((5, 3), dtype=np.float32)
    vf.predict(obs)
    vf.loss_grad(obs, np.zeros(5))
    print("done")
""")


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    return result.stderr


def test_notice_once_when_cold_never_when_warm(tmp_path):
    notice = COMPILE_NOTICE.format(dtype=" for float32")
    cold = _run(tmp_path)
    assert cold.count("fasttrpo: compiling") == 1, cold
    assert notice in cold.splitlines(), cold
    assert any(tmp_path.rglob("*.nbi"))  # the kernels went to this (then empty) cache
    warm = _run(tmp_path)
    assert "fasttrpo: compiling" not in warm, warm


def test_stale_kernel_caches_are_removed_when_a_source_changes(tmp_path, monkeypatch):
    """Numba keys a cache on the function's own file only: a source change anywhere in the
    package must drop every cached kernel (a caller would keep an inlined old callee)."""
    import os

    from fasttrpo.foundation.numba_cache import MARKER, invalidate_stale_cache

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)  # (with it, Numba caches elsewhere)
    package = tmp_path / "pkg"
    (package / "kernels" / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "kernels" / "b.py").write_text("y = 2\n")
    cached = [package / "kernels" / "__pycache__" / name for name in ("b.f-1.py311.nbi",
                                                                      "b.f-1.py311.1.nbc")]
    for path in cached:
        path.write_bytes(b"machine code")
    assert invalidate_stale_cache(package)  # no fingerprint yet: the caches are not trusted
    assert not any(path.exists() for path in cached)
    assert (package / "__pycache__" / MARKER).exists()
    for path in cached:
        path.write_bytes(b"machine code")
    assert not invalidate_stale_cache(package)  # nothing changed: the caches stay
    assert all(path.exists() for path in cached)
    stat = (package / "a.py").stat()
    os.utime(package / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert invalidate_stale_cache(package)  # another file changed: every cache goes
    assert not any(path.exists() for path in cached)
