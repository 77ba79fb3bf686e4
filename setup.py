"""Build script for the Cython extensions of fasttrpo.

All metadata lives in ``pyproject.toml``; this file only declares the compiled
extensions. Cython compiler directives are set once, here.

Set ``FASTTRPO_CYTHON_DEBUG=1`` at build time to turn bounds, wraparound and
memoryview-initialisation checks back on (slower; for hunting memory errors)::

    FASTTRPO_CYTHON_DEBUG=1 pip install -e ".[test]"
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

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

CYTHON_MODULES = ["gae", "forward", "rollout_step"]

extensions = [
    Extension(
        f"fasttrpo._cython.{name}",
        sources=[os.path.join("fasttrpo", "_cython", f"{name}.pyx")],
        extra_compile_args=EXTRA_COMPILE_ARGS,
    )
    for name in CYTHON_MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=COMPILER_DIRECTIVES,
        # Always regenerate the C code: cythonize's timestamp check cannot see
        # that the directives changed when FASTTRPO_CYTHON_DEBUG flips.
        force=True,
    ),
)
