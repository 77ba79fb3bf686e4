"""Compiled (Cython) kernels: GAE and the rollout-time MLP forward pass.

``forward`` cimports BLAS from ``scipy.linalg.cython_blas``, so importing it imports that
module, and a plain import of a submodule first runs its package's ``__init__``: all of
``scipy.linalg`` (~0.3 s, a third of ``from fasttrpo import TRPO``) for two function pointers.
`_load_cython_blas` loads the extension module on its own instead (into ``sys.modules``
under its usual name, where Cython's and Numba's BLAS look-ups find it). A later
``import scipy.linalg`` runs normally; only the attribute ``scipy.linalg.cython_blas`` is then
missing (``from scipy.linalg import cython_blas`` still works). On any surprise the
ordinary import happens instead.
"""

import importlib.machinery
import importlib.util
import sys

_BLAS = "scipy.linalg.cython_blas"


def _load_cython_blas() -> None:
    if _BLAS in sys.modules or "scipy.linalg" in sys.modules:
        return  # already there, or the package is loaded and the plain import is cheap
    try:
        linalg = importlib.util.find_spec("scipy.linalg")  # imports scipy, not scipy.linalg
        if linalg is None:
            return
        spec = importlib.machinery.PathFinder.find_spec(_BLAS, linalg.submodule_search_locations)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules[_BLAS] = module
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 (any failure: fall back to the ordinary import)
        sys.modules.pop(_BLAS, None)


_load_cython_blas()
