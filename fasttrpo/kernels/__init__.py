"""Numba kernels: pure functions over C-contiguous arrays and scalars.

``mlp``: forward / JVP / VJP of an MLP over a flat parameter vector. ``distributions``:
output-distribution maths. ``policy``: surrogate gradient, Fisher-vector product and
line-search evaluation. ``cg``: conjugate gradient. ``value``: value-function loss.

Every kernel takes the network's structure as one ``fasttrpo.models.nets.KernelLayout`` and is
compiled once per float dtype with the options of `kernel` (``cache=True``: the machine code
is kept in ``__pycache__``, or under ``NUMBA_CACHE_DIR``; ``error_model="numpy"``: a ``/``
with Python's error model blocks SIMD, and Numba compiles an overload such as ``np.dot`` once
per error model of its callers). Parallel code exists only as `parallel_variant` s, which no
serial kernel calls (``docs/design.md``, "Numba's cache"). While the kernels compile for the
first time, one line is printed to stderr (`COMPILE_NOTICE`), once per process and never when
the cache is warm.
"""

import sys
import time
import warnings
from types import FunctionType

from numba import njit
from numba.core import config, event, types

#: the ``njit`` options of every fasttrpo kernel (`kernel`): machine code cached on disk, the
#: GIL released (the critic fit runs on a worker thread beside the policy step), numpy's error
#: model (a ``/`` with Python's error model checks for zero and blocks SIMD)
KERNEL_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}

#: ``njit`` options of the kernels only other kernels call: no CPython / C wrapper to compile
INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

#: ``parallel=`` of the parallel variants: only ``prange`` loops run on threads. Numba's other
#: conversions (array expressions, ``np.dot``, reductions) would split sums over threads and
#: round differently from the serial variant; the variants must give the same bits.
PRANGE_ONLY = {"comprehension": False, "reduction": False, "inplace_binop": False,
               "setitem": False, "numpy": False, "stencil": False, "fusion": False,
               "prange": True}


def kernel(py_func=None, **options):
    """Compile ``py_func`` with `KERNEL_OPTIONS`, updated by ``options``; usable as a decorator.

    ``@kernel`` or ``@kernel(inline="always", **INTERNAL)``. Never pass ``parallel``: parallel
    code is made by `parallel_variant` only (the rule in ``docs/design.md``, "Numba's cache").
    Where Numba finds no writable folder for its cache (a read-only install and a read-only
    home), the kernel is compiled without one (every process compiles it again), with one
    warning that says how to give it a folder.
    """
    if "parallel" in options:
        raise ValueError("kernel: parallel code is made with parallel_variant")
    if py_func is None:
        return lambda func: kernel(func, **options)
    parallel = options.pop("parallel_options", None)  # from parallel_variant only
    options = {**KERNEL_OPTIONS, **options, **({"parallel": parallel} if parallel else {})}
    try:
        return njit(**options)(py_func)
    except RuntimeError as err:  # raised by Numba's cache set-up when no locator can write
        if not (options.get("cache") and "no locator available" in str(err)):
            raise
    _warn_no_cache_folder(py_func)
    return njit(**{**options, "cache": False})(py_func)


NO_CACHE_FOLDER = (
    "fasttrpo: Numba finds no writable folder for its cache ({file} and the user cache folder "
    "are read-only): the kernels compile again in every process (about 10 s each). Set "
    "NUMBA_CACHE_DIR to a writable folder to keep them."
)
_warned_no_cache_folder = False


def _warn_no_cache_folder(py_func) -> None:
    global _warned_no_cache_folder
    if not _warned_no_cache_folder:
        _warned_no_cache_folder = True
        warnings.warn(NO_CACHE_FOLDER.format(file=py_func.__code__.co_filename),
                      RuntimeWarning, stacklevel=3)


def parallel_variant(serial, calls=None, **options):
    """Compile the source of the kernel ``serial`` again, as a parallel variant of its own.

    The rule (``docs/design.md``, "Numba's cache"): a function compiled without ``parallel``
    never calls a parallel one. Numba writes into each cache entry the initialisers to run
    when it is loaded, and a serial caller inherits the parallel callee's (the start of the
    threading layer) only when the callee was compiled in the same process, not when it was
    loaded from the cache: the caller's entry, read by a later process, then runs parallel
    code with no threading layer (a segfault, issue 22). So every caller of parallel code is a
    parallel variant itself (its own compilation registers the initialiser) or Python.

    Parameters
    ----------
    serial : numba Dispatcher
        A kernel made by `kernel`; its Python function is compiled again with
        ``parallel=PRANGE_ONLY`` (its ``prange`` loops on Numba's threads, everything else as
        in the serial variant, hence the same bits).
    calls : dict of str to Dispatcher, optional
        The kernels this variant calls instead of the serial ones: global name in
        ``serial``'s module -> parallel variant (each must be one).
    **options
        ``njit`` options beyond `KERNEL_OPTIONS` (``serial``'s ``inline`` and `INTERNAL`
        ones are kept).

    Returns
    -------
    numba Dispatcher named ``<name>_parallel``. A copy of the function of its own, because
    Numba keys a cache entry by the function's qualified name, not by ``parallel``: two
    dispatchers of one function would load each other's machine code.
    """
    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: plain Python functions, nothing parallel
        return serial
    py_func = serial.py_func
    namespace = py_func.__globals__
    if calls:
        for name, variant in calls.items():
            if name not in namespace:
                raise ValueError(f"parallel_variant: {py_func.__name__} calls no kernel {name!r}")
            if not is_parallel(variant):
                raise ValueError(f"parallel_variant: {name!r} replaced by a serial kernel")
        namespace = {**namespace, **calls}
    clone = FunctionType(py_func.__code__, namespace, f"{py_func.__name__}_parallel",
                         py_func.__defaults__, py_func.__closure__)
    clone.__qualname__ = f"{py_func.__qualname__}_parallel"
    clone.__module__, clone.__doc__ = py_func.__module__, py_func.__doc__
    inherited = {key: value for key, value in serial.targetoptions.items()
                 if key in ("inline", *INTERNAL)}
    return kernel(clone, parallel_options=dict(PRANGE_ONLY), **{**inherited, **options})


def is_parallel(dispatcher) -> bool:
    """Whether a Numba dispatcher compiles with ``parallel`` (any option set)."""
    return bool(getattr(dispatcher, "targetoptions", {}).get("parallel"))


COMPILE_NOTICE = (
    "fasttrpo: compiling the numerical kernels{dtype} (first run only, about 10 s; "
    "cached afterwards)"
)


class _CompileNotice(event.Listener):
    """Prints `COMPILE_NOTICE` when Numba starts compiling a fasttrpo function; times it.

    Numba emits ``numba:compile`` only for a real compilation, not when it loads a function
    from its cache, so a warm cache stays silent. The seconds spent in outermost fasttrpo
    compilations (a kernel's compile includes its callees') add up in `compile_seconds`.
    """

    def __init__(self) -> None:
        self.printed = False
        self.depth = 0
        self.started = 0.0
        self.seconds = 0.0

    def on_start(self, ev: event.Event) -> None:
        module = getattr(ev.data["dispatcher"].py_func, "__module__", None) or ""
        if not module.startswith("fasttrpo."):
            return
        if self.depth == 0:
            self.started = time.perf_counter()
        self.depth += 1
        if self.printed:
            return
        self.printed = True
        dtypes = [str(arg.dtype) for arg in ev.data["args"]
                  if isinstance(arg, types.Array) and isinstance(arg.dtype, types.Float)]
        # the running statistics are float64 whatever the networks' dtype: they name none
        network_kernel = module != "fasttrpo.kernels.statistics"
        suffix = f" for {dtypes[0]}" if dtypes and network_kernel else ""
        print(COMPILE_NOTICE.format(dtype=suffix), file=sys.stderr, flush=True)

    def on_end(self, ev: event.Event) -> None:
        module = getattr(ev.data["dispatcher"].py_func, "__module__", None) or ""
        if not module.startswith("fasttrpo.") or self.depth == 0:
            return
        self.depth -= 1
        if self.depth == 0:
            self.seconds += time.perf_counter() - self.started


_notice = _CompileNotice()
event.register("numba:compile", _notice)


def compile_seconds() -> float:
    """Seconds this process spent compiling fasttrpo's kernels (0 on a warm cache)."""
    return _notice.seconds
