"""Numba kernels: pure functions over C-contiguous arrays and scalars.

``mlp``: forward / JVP / VJP of an MLP over a flat parameter vector. ``distributions``:
output-distribution maths. ``policy``: surrogate gradient, Fisher-vector product and
line-search evaluation. ``cg``: conjugate gradient. ``value``: value-function loss.

Every kernel takes the network's structure as one ``fasttrpo.nets.KernelLayout`` and is
compiled once per float dtype (``cache=True``: the machine code is kept in ``__pycache__``, or
under ``NUMBA_CACHE_DIR``). All compile with ``error_model="numpy"``: a ``/`` with Python's
error model blocks SIMD, and Numba compiles an overload such as ``np.dot`` once per error model
of its callers. While the kernels compile for the first time, one line is printed
to stderr (`COMPILE_NOTICE`), once per process and never when the cache is warm.
"""

import sys
from types import FunctionType

from numba import njit
from numba.core import event, types

#: ``njit`` options of the kernels only other kernels call: no CPython / C wrapper to compile
INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

def parallel_variant(py_func, **options):
    """Compile ``py_func`` with ``parallel=True`` as a function of its own for Numba's cache.

    Two dispatchers of one Python function share its cache entries (the cache is keyed by the
    function's qualified name and signature, not by ``parallel``): the serial and the parallel
    compilation would load each other's machine code. The variant is a copy of the function
    named ``<name>_parallel``, so each has its own entry.
    """
    clone = FunctionType(py_func.__code__, py_func.__globals__, f"{py_func.__name__}_parallel",
                         py_func.__defaults__, py_func.__closure__)
    clone.__qualname__ = f"{py_func.__qualname__}_parallel"
    clone.__module__, clone.__doc__ = py_func.__module__, py_func.__doc__
    return njit(parallel=True, **options)(clone)


COMPILE_NOTICE = (
    "fasttrpo: compiling the numerical kernels{dtype} (first run only, 10-20 s; "
    "cached afterwards)"
)


class _CompileNotice(event.Listener):
    """Prints `COMPILE_NOTICE` when Numba starts compiling a fasttrpo function.

    Numba emits ``numba:compile`` only for a real compilation, not when it loads a function
    from its cache, so a warm cache stays silent.
    """

    def __init__(self) -> None:
        self.printed = False

    def on_start(self, ev: event.Event) -> None:
        if self.printed:
            return
        module = getattr(ev.data["dispatcher"].py_func, "__module__", None) or ""
        if not module.startswith("fasttrpo."):
            return
        self.printed = True
        dtypes = [str(arg.dtype) for arg in ev.data["args"] if isinstance(arg, types.Array)]
        suffix = f" for {dtypes[0]}" if dtypes else ""
        print(COMPILE_NOTICE.format(dtype=suffix), file=sys.stderr, flush=True)

    def on_end(self, ev: event.Event) -> None:
        pass


event.register("numba:compile", _CompileNotice())
