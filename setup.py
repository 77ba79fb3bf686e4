"""Build script for the Cython extensions of fasttrpo.

All metadata lives in ``pyproject.toml``; this file only declares the compiled
extensions. Cython compiler directives are set once, here.

Set ``FASTTRPO_CYTHON_DEBUG=1`` at build time to turn bounds, wraparound and
memoryview-initialisation checks back on (slower; for hunting memory errors)::

    FASTTRPO_CYTHON_DEBUG=1 pip install -e ".[test]"

Builds are incremental, judged by content, not timestamps (pip builds in a new,
isolated environment each time, where every installed file is new):

- a module is cythonized again only when its ``.pyx``, a ``.pxd``/``.pxi`` of the
  package, the directives (``FASTTRPO_CYTHON_DEBUG``) or the Python version changed;
  Cython and scipy (whose ``cython_blas.pxd`` ``forward.pyx`` cimports) are build
  requirements only then (``setup_requires``, which pip installs into the build
  environment), so a rebuild with nothing to cythonize does not install them;
- a module is compiled again only when its generated C, the compiler, the flags or
  the Python changed; otherwise the in-place module from the previous build is
  copied (editable installs build in a new temporary folder each time).

What each generated file was made from is recorded in ``build/fasttrpo-stamps/``:
delete that folder (or pass ``--force`` to ``build_ext``) to rebuild everything.
"""

import glob
import hashlib
import json
import os
import shutil
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTTRPO_CYTHON_DEBUG", "0") == "1"

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
}

# Plain -O3, no -march/-mtune: wheels must run on any x86-64 / aarch64 CPU.
if sys.platform == "win32":
    EXTRA_COMPILE_ARGS = ["/O2"]
else:
    # -fno-trapping-math: we never test FP exception flags, and without it gcc will not
    # if-convert the clamp in the float tanh, so the activation loop stays scalar (2x slower).
    # Results are unchanged (no reassociation, NaN/inf semantics kept).
    EXTRA_COMPILE_ARGS = ["-O3", "-fno-trapping-math"]
    if not DEBUG:
        # no debug info (Python's CFLAGS have -g): on the ~1.5 MB C files Cython generates it
        # makes gcc ~1.5x slower (forward.c: 13.8 s -> 8.9 s); the code is the same
        EXTRA_COMPILE_ARGS.append("-g0")

CYTHON_DIR = os.path.join("fasttrpo", "_cython")
CYTHON_MODULES = ["gae", "forward", "rollout_step"]
# needed to cythonize (not to compile the generated C)
CYTHON_REQUIRES = ["Cython>=3.0", "scipy>=1.11"]
STAMP_DIR = os.path.join("build", "fasttrpo-stamps")

extensions = [
    Extension(
        f"fasttrpo._cython.{name}",
        sources=[os.path.join(CYTHON_DIR, f"{name}.pyx")],
        extra_compile_args=EXTRA_COMPILE_ARGS,
    )
    for name in CYTHON_MODULES
]


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _stamp_matches(name, record, artefact):
    """Whether ``artefact`` exists and was made from exactly ``record``."""
    try:
        with open(os.path.join(STAMP_DIR, name + ".json")) as f:
            stamp = json.load(f)
        # (through JSON so that tuples compare equal to the lists they were stored as)
        return (stamp["record"] == json.loads(json.dumps(record))
                and stamp["sha256"] == _sha256(artefact))
    except (OSError, ValueError, KeyError):
        return False


def _write_stamp(name, record, artefact):
    os.makedirs(STAMP_DIR, exist_ok=True)
    with open(os.path.join(STAMP_DIR, name + ".json"), "w") as f:
        json.dump({"record": record, "sha256": _sha256(artefact)}, f, indent=1, sort_keys=True)


def _c_file(ext):
    return os.path.splitext(ext.sources[0])[0] + ".c"


def _cython_record(ext):
    """Describe what the generated C of ``ext`` depends on, without needing Cython.

    The .pyx and every .pxd / .pxi of the package, by content. scipy's cython_blas.pxd is
    not included: its signatures are scipy's stable API, looked up by name at import.
    """
    inputs = [ext.sources[0], *sorted(glob.glob(os.path.join(CYTHON_DIR, "*.px[di]")))]
    return {
        "directives": COMPILER_DIRECTIVES,
        "inputs": {path.replace(os.sep, "/"): _sha256(path) for path in inputs},
        "python": list(sys.version_info[:2]),
    }


# Decided once, before the build requirements are asked for (pip's first hook).
TO_CYTHONIZE = {ext.name for ext in extensions
                if not _stamp_matches(ext.name + ".c", _cython_record(ext), _c_file(ext))}


class BuildExt(build_ext):
    """``build_ext`` that cythonizes and compiles only what changed (see the module docstring)."""

    def finalize_options(self):
        """Compile the modules side by side unless ``--parallel`` / ``-j`` says otherwise."""
        super().finalize_options()
        if self.parallel is None:
            self.parallel = max(1, min(os.cpu_count() or 1, len(self.extensions or ())))

    def build_extensions(self):
        """Cythonize what is out of date, then build the extensions."""
        for ext in self.extensions:
            if not ext.sources[0].endswith(".pyx"):
                continue  # already pointed at its C (build_ext running a second time)
            if self.force or ext.name in TO_CYTHONIZE:
                from Cython.Build import cythonize

                cythonize([ext], compiler_directives=COMPILER_DIRECTIVES, force=True)
                _write_stamp(ext.name + ".c", _cython_record(ext), _c_file(ext))
            else:
                print(f"{_c_file(ext)} is up to date, not cythonizing {ext.sources[0]}")
            ext.sources = [_c_file(ext), *ext.sources[1:]]
        super().build_extensions()

    def build_extension(self, ext):
        """Compile ``ext``, or copy the in-place module if it was built from the same inputs."""
        target = self.get_ext_fullpath(ext.name)
        # where an in-place (editable) build puts the module: next to its sources
        in_place = os.path.join(*ext.name.split(".")[:-1],
                                os.path.basename(self.get_ext_filename(ext.name)))
        record = {
            "c": {src.replace(os.sep, "/"): _sha256(src) for src in ext.sources},
            "compiler": [getattr(self.compiler, attr, None)
                         for attr in ("compiler_so", "linker_so")],
            "flags": [ext.extra_compile_args, ext.extra_link_args, ext.define_macros,
                      ext.undef_macros, ext.libraries, ext.library_dirs],
            "include_dirs": [*ext.include_dirs, *(self.include_dirs or [])],
            "python": [sys.version, sysconfig.get_config_var("EXT_SUFFIX")],
        }
        if (not self.force and os.path.abspath(in_place) != os.path.abspath(target)
                and _stamp_matches(ext.name + ".so", record, in_place)):
            print(f"{in_place} is up to date, not compiling {ext.name}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(in_place, target)
            return
        super().build_extension(ext)
        _write_stamp(ext.name + ".so", record, target)


setup(
    ext_modules=extensions,
    cmdclass={"build_ext": BuildExt},
    # build requirements beyond pyproject.toml's, asked for only when there is C to generate
    setup_requires=CYTHON_REQUIRES if TO_CYTHONIZE else [],
)
