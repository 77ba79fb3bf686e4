"""Release artefacts (issue 28): ``python -m build`` makes an sdist and a binary wheel, and the
wheel installs and runs with no C compiler, also from a read-only installation.

Takes minutes (the build, a fresh venv, Numba's first compilation twice), so it runs only on
request: ``FASTTRPO_RELEASE_TESTS=1`` with the ``release`` extra installed (``.ci/run``'s
release step does both)::

    pip install -e ".[release]" && FASTTRPO_RELEASE_TESTS=1 python -m pytest tests/test_wheel.py

``python -m build`` builds the sdist from the source tree, then the wheel from that sdist,
unpacked in a fresh isolated build environment: the wheel exists only if the sdist builds.
The wheel is then installed into a new venv whose ``PATH`` holds that venv's ``bin`` only
(no C compiler; ``CC``/``CXX`` are ``/bin/false`` and pip takes binary wheels only), where
the README's main job runs; as a control, the sdist fails to build there. Then the installed
package is made read-only (``chmod -R a-w``; the jobs run as ``nobody`` when the test runs as
root, since root writes anyway): the kernels must cache in the user's cache folder, and a
second run must load them without compiling.
"""

import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPT_IN = "FASTTRPO_RELEASE_TESTS"
pytestmark = [
    pytest.mark.release,
    pytest.mark.skipif(os.environ.get(OPT_IN) != "1",
                       reason=f"builds and installs the wheel (minutes): set {OPT_IN}=1 "
                              "(.ci/run's release step does)"),
]
EXTENSIONS = ("forward", "gae", "rollout_step")
COMPILERS = ("cc", "gcc", "clang", "c++", "g++", "clang++", "x86_64-linux-gnu-gcc",
             "aarch64-linux-gnu-gcc")
NOBODY = 65534
# the README's first command: `pip install -e ".[yaml]" && fasttrpo train ...`
MAIN_LINE = re.search(r'^pip install -e "\.\[(\w+)\]" && (fasttrpo train .*)$',
                      (ROOT / "README.md").read_text(), re.M)
COMPILE_NOTICE = "fasttrpo: compiling the numerical kernels"
NO_CACHE_FOLDER = "Numba finds no writable folder for its cache"
MEAN_REWARD = re.compile(r"^mean reward: ([-0-9.]+) \+/- ([0-9.]+) over (\d+) episodes", re.M)


def _run(cmd, timeout=1800, **kwargs):
    """Run ``cmd``; return the completed process, failing the test with its output if it
    fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, (f"{cmd} exited {proc.returncode}\n--- stdout\n"
                                  f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def workdir():
    """A folder under the system's temporary folder that another user can enter (pytest's
    ``tmp_path`` is private to its user), removed afterwards even where made read-only."""
    path = Path(tempfile.mkdtemp(prefix="fasttrpo-release-"))
    path.chmod(0o755)
    yield path
    for folder, dirs, _ in os.walk(path):  # give the write bits back, then remove
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def dist(workdir):
    """``python -m build`` of the repository: the sdist, then the wheel built from it."""
    out = workdir / "dist"
    started = time.perf_counter()
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    seconds = time.perf_counter() - started
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    print(f"\npython -m build: {seconds:.1f} s; {sdists[0].name} {sdists[0].stat().st_size} "
          f"bytes; {wheels[0].name} {wheels[0].stat().st_size} bytes")
    return sdists[0], wheels[0]


def test_sdist_holds_the_sources_and_the_wheel_the_compiled_extensions(dist):
    sdist, wheel = dist
    # a binary wheel for this interpreter and platform, not a pure-Python one
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert re.fullmatch(rf"fasttrpo-[0-9.]+-{tag}-{tag}-linux_\w+\.whl", wheel.name), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        shipped_yml = zf.read("fasttrpo/data/trpo.yml")
        wheel_meta = zf.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    assert "Root-Is-Purelib: false" in wheel_meta
    for ext in EXTENSIONS:
        so = rf"fasttrpo/_cython/{ext}\.cpython-{tag[2:]}-[\w-]+\.so"
        assert any(re.fullmatch(so, n) for n in names), (ext, sorted(names))
        assert f"fasttrpo/_cython/{ext}.pyx" in names
    assert {"fasttrpo/py.typed", "fasttrpo/cli.py", "fasttrpo/_cython/tanh_rational.pxi"} <= names
    # the link fasttrpo/data/trpo.yml -> hyperparams/trpo.yml is shipped as the file itself
    assert shipped_yml == (ROOT / "hyperparams" / "trpo.yml").read_bytes()
    # no caches, build stamps or generated C in the wheel
    stray = [n for n in names if re.search(r"\.(nbi|nbc|pyc|c|o)$|__pycache__|stamps", n)]
    assert not stray, stray

    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1]: m for m in tf.getmembers() if "/" in m.name}
        yml = tf.extractfile(members["fasttrpo/data/trpo.yml"])
        assert yml is not None and yml.read() == shipped_yml  # a file, not a dangling link
    assert {"pyproject.toml", "setup.py", "LICENSE", "README.md",
            *(f"fasttrpo/_cython/{ext}.pyx" for ext in EXTENSIONS)} <= set(members)
    compiled = [n for n in members if re.search(r"\.(so|o|nbi|nbc|pyc)$", n)]
    assert not compiled, compiled


def _no_compiler_env(venv: Path, **extra) -> dict:
    """The environment of a machine without a C compiler: ``PATH`` is the venv's ``bin``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
                        "XDG_CACHE_HOME", "CFLAGS", "LDSHARED")}
    env.update(PATH=str(venv / "bin"), CC="/bin/false", CXX="/bin/false",
               VIRTUAL_ENV=str(venv), **extra)
    return env


def _cache_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run as ``nobody`` when this test runs as root (root ignores missing write bits,
    so a read-only folder is read-only only for another user)."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    assert setpriv, "the read-only check runs as root: it needs setpriv (util-linux)"
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]


def test_wheel_runs_the_main_job_without_a_compiler_and_caches_when_read_only(dist, workdir):
    sdist, wheel = dist
    assert MAIN_LINE, "README.md: the main command `pip install -e \".[yaml]\" && ...` moved"
    extra, main_cmd = MAIN_LINE.groups()

    venv = workdir / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    env = _no_compiler_env(venv)
    found = {name: shutil.which(name, path=env["PATH"]) for name in COMPILERS}
    assert not any(found.values()), found  # the PATH really has no compiler
    python = str(venv / "bin" / "python")
    # control: with that PATH (CC/CXX left to Python's defaults) the sdist cannot be built,
    # so the wheel's install below owes nothing to a compiler
    control = subprocess.run([python, "-m", "pip", "install", "--no-deps", str(sdist)],
                             env={k: v for k, v in env.items() if k not in ("CC", "CXX")},
                             capture_output=True, text=True, timeout=1800)
    output = control.stdout + control.stderr
    assert control.returncode != 0, output[-3000:]
    assert "Failed building wheel for fasttrpo" in output and "No such file or directory" in \
        output, output[-3000:]

    # install: binary wheels only, so nothing (fasttrpo or a dependency) can be compiled
    started = time.perf_counter()
    _run([python, "-m", "pip", "install", "--only-binary=:all:", f"{wheel}[{extra}]"], env=env)
    install_seconds = time.perf_counter() - started

    # the README's main job, from a folder that is not the repository
    run = workdir / "run"
    run.mkdir()
    argv = main_cmd.split()
    assert argv[0] == "fasttrpo" and argv[-2] == "--save", main_cmd
    started = time.perf_counter()
    proc = _run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=run, env=env)
    job_seconds = time.perf_counter() - started
    reward = MEAN_REWARD.search(proc.stdout)
    assert reward, proc.stdout[-2000:]
    assert COMPILE_NOTICE in proc.stderr  # the first run compiled the kernels ...
    saved = run / f"{argv[-1]}.zip"
    assert saved.is_file() and saved.stat().st_size > 0
    assert zipfile.is_zipfile(io.BytesIO(saved.read_bytes()))
    package = Path(_run([python, "-c", "import fasttrpo, os; print(os.path.dirname("
                                       "fasttrpo.__file__))"], env=env, cwd=run).stdout.strip())
    assert package.is_relative_to(venv), package  # the installed copy, not the repository's
    in_tree = _cache_files(package)
    assert in_tree  # ... into the installed package's __pycache__ (writable here)
    print(f"\nno-compiler venv: pip install {install_seconds:.1f} s; `{main_cmd}` "
          f"{job_seconds:.1f} s: {reward.group(0)}")

    # --- read-only installation: the kernels cache in the user's cache folder
    for path in [package, *package.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    home = workdir / "home"
    ro_run = workdir / "ro-run"
    for folder in (home, ro_run):
        folder.mkdir()
        if os.geteuid() == 0:
            os.chown(folder, NOBODY, NOBODY)
    ro_env = _no_compiler_env(venv, HOME=str(home))
    probe = _as_unprivileged([python, "-c", f"import os; print(os.access({str(package)!r}, "
                                            "os.W_OK))"])
    assert _run(probe, env=ro_env).stdout.strip() == "False"
    short = [str(venv / "bin" / "fasttrpo"), "train", "CartPole-v1", "--seed", "0",
             "--timesteps", "2048", "--save", "ro"]
    first = _run(_as_unprivileged(short), cwd=ro_run, env=ro_env)
    assert COMPILE_NOTICE in first.stderr  # the in-tree entries are not usable: compiled again
    assert NO_CACHE_FOLDER not in first.stderr
    assert MEAN_REWARD.search(first.stdout), first.stdout[-2000:]
    user_cache = _cache_files(home / ".cache")
    assert user_cache and all(p.is_relative_to(home / ".cache" / "numba") for p in user_cache)
    assert _cache_files(package) == in_tree  # nothing written into the installation
    second = _run(_as_unprivileged(short), cwd=ro_run, env=ro_env)
    assert COMPILE_NOTICE not in second.stderr, second.stderr[-2000:]  # loaded, not compiled
    assert _cache_files(home / ".cache") == user_cache
    assert (ro_run / "ro.zip").is_file()
    print(f"read-only install: {len(user_cache)} cache files under $HOME/.cache/numba, "
          "second run compiled nothing")
