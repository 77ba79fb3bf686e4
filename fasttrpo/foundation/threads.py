"""Threads: how many ``learn`` uses by default, and their limits for BLAS / OpenMP and Numba.

`default_n_threads` is the one place that turns ``n_threads=None`` into a count (the free
physical cores); `limit_threads` caps BLAS / OpenMP (threadpoolctl) and Numba for a block of
code; `use_threads` and `parallel_kernels` give the row-block kernels their threads.
"""

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import numba
from threadpoolctl import ThreadpoolController

_controller: ThreadpoolController | None = None
# OpenBLAS runs a GEMM on one thread when m * n * k <= 65536 * GEMM_MULTITHREAD_THRESHOLD (4 by
# default); below a quarter of that no BLAS threads, so a limit would change nothing
SERIAL_GEMM_WORK = 65536


# environment variables by which a user states a BLAS / OpenMP thread count
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "BLIS_NUM_THREADS")


def physical_cores(cpus: set[int]) -> int:
    """Count the physical cores behind the logical CPUs ``cpus`` (SMT siblings count once).

    From ``/sys/devices/system/cpu/cpu<k>/topology`` (package and core ids); where that is
    not readable, every CPU counts as a core.
    """
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(),
                       topology.joinpath("core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return len(cores)


def cgroup_cpu_limit() -> float | None:
    """CPUs the container's quota allows (cgroup v2 ``cpu.max``, or v1 CFS quota), or None.

    cgroup v2: the smallest ``quota / period`` of ``cpu.max`` along this process's cgroup
    path up to the root; v1: ``cpu.cfs_quota_us / cpu.cfs_period_us``. None without a quota.
    """
    limits = []
    root = Path(CGROUP_ROOT)
    try:
        path = next((line.split(":", 2)[2].strip() for line in
                     Path("/proc/self/cgroup").read_text().splitlines()
                     if line.startswith("0::")), None)
    except OSError:
        path = None
    if path is not None:  # v2: walk up to the root; each level's cpu.max caps the ones below
        folder = root / path.lstrip("/")
        while True:
            try:
                quota, period = folder.joinpath("cpu.max").read_text().split()[:2]
                if quota != "max":
                    limits.append(int(quota) / int(period))
            except (OSError, ValueError):
                pass
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
    try:  # v1
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            limits.append(quota_us / period_us)
    except (OSError, ValueError):
        pass
    return min(limits) if limits else None


#: where cgroups are mounted (a module constant so that tests can point it elsewhere)
CGROUP_ROOT = "/sys/fs/cgroup"


def default_n_threads() -> int:
    """Return the threads ``n_threads=None`` gives ``learn``: the free physical cores.

    ``usable`` is the physical cores among the CPUs this process may run on
    (``os.sched_getaffinity``), capped by a container's CPU quota (`cgroup_cpu_limit`, rounded
    down, at least 1); ``busy`` is the machine's 1-minute load average, rounded to the nearest
    integer (the runnable threads of every process; this one's own share is small when
    ``learn`` starts; nice-19 jobs count too, erring towards fewer threads). The rule:
    ``max(1, usable - busy)``. Why: on 2 cores a second thread made an update 1.6x faster
    when the other core was free and 0.73x as fast when other jobs held both (measured,
    BENCHMARKS.md "Threads"), and the results are the same bits for any count, so the
    choice may follow the machine. Read at each ``learn`` call.
    """
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not on Linux
        cpus = set(range(os.cpu_count() or 1))
    usable = physical_cores(cpus)
    limit = cgroup_cpu_limit()
    if limit is not None:
        usable = min(usable, max(1, int(limit)))
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, usable - busy)


def learn_threads(n_threads: int | None) -> tuple[int, int]:
    """Return ``(threads, kernel_threads)`` of ``learn`` for a ``n_threads`` setting.

    ``threads``: fasttrpo's own threads (2 or more: the critics are fitted on a worker thread
    while the policy step runs); ``kernel_threads``: the most the step's row-block kernels may
    use (2 or more: their parallel variants). A stated ``n_threads`` gives both. None gives
    `default_n_threads` and 1: the overlap brings most of the gain (2 cores, N = 2048: 1.6x
    an update), the parallel variants little more (1.60-1.64x to 1.69-1.77x at N = 16384,
    nothing measurable at 2048) for 2.9 CPU s more of a cold start (+32 %, a compilation of
    their own; BENCHMARKS.md "Threads", "Start-up"), so only a stated count runs them.
    """
    if n_threads is None:
        return default_n_threads(), 1
    return n_threads, n_threads


def effective_n_threads(n_threads: int | None) -> int | None:
    """Return the limit to apply for a ``n_threads`` setting.

    That is the setting itself; for None, no limit (None) when the environment states a
    thread count, else 1.

    Why 1 when nothing is stated: the products of RL-sized networks gain little from BLAS
    threads, and when the other cores are busy (parallel envs, other jobs, CI) a threaded GEMM
    waits for its workers to be scheduled. Measured on 2 cores with the other one busy: a
    2048-row forward of 11->64->64->1 takes 16 ms with OpenBLAS's 2 threads, 0.23 ms with 1.
    """
    if n_threads is not None:
        return n_threads
    global _environment_states_threads
    if _environment_states_threads is None:  # read once: predict() calls this per action
        _environment_states_threads = any(os.environ.get(name) for name in THREAD_ENV_VARS)
    return None if _environment_states_threads else 1


_environment_states_threads: bool | None = None


def _get_controller(refresh: bool) -> ThreadpoolController:
    # Building a controller scans the loaded libraries (~1 ms); reuse it on hot paths
    # (predict) and rebuild it where that is cheap relative to the work (learn), so BLAS
    # libraries loaded later are seen.
    global _controller
    if _controller is None or refresh:
        _controller = ThreadpoolController()
    return _controller


def gemm_may_thread(n_rows: int, layer_sizes) -> bool:
    """Tell whether a forward pass may run a multi-threaded matrix product.

    True when a forward pass of ``n_rows`` rows through an MLP with ``layer_sizes`` has a
    matrix product large enough for BLAS to use several threads.
    """
    widest = max(int(a) * int(b) for a, b in pairwise(layer_sizes))
    return n_rows * widest > SERIAL_GEMM_WORK


@contextmanager
def limit_threads(n_threads: int | None, refresh: bool = False) -> Iterator[None]:
    """Run the block with at most ``n_threads`` threads in every BLAS / OpenMP pool.

    The limit applies to every pool that threadpoolctl finds and to Numba's parallel layer (if
    it has been launched); the previous limits are restored after.

    Parameters
    ----------
    n_threads : int or None
        None leaves everything as the environment set it (``OMP_NUM_THREADS``,
        ``OPENBLAS_NUM_THREADS``, ``NUMBA_NUM_THREADS``...).
    refresh : bool, default False
        Rescan the loaded libraries first (costs ~1 ms).
    """
    if n_threads is None:
        yield
        return
    with _get_controller(refresh).limit(limits=n_threads):
        if not _numba_pool_running():
            yield
            return
        with _numba_threads(n_threads):
            yield


@contextmanager
def _numba_threads(n_threads: int) -> Iterator[None]:
    """Set this thread's Numba thread count (at most ``NUMBA_NUM_THREADS``), then restore it."""
    previous = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _numba_pool_running() -> bool:
    """Whether Numba's parallel threading layer has been launched.

    fasttrpo's kernels are serial; the limit matters only for ``parallel=True`` code that
    already runs. Calling ``numba.set_num_threads`` would otherwise launch the layer (for
    the OpenMP layer: load libgomp and start its threads, which makes a later ``fork`` of
    the process unsafe) just to set a limit nothing uses.
    """
    from numba.np.ufunc import parallel

    return bool(getattr(parallel, "_is_initialized", True))


#: the smallest batch whose row-block kernels (the policy step's forward passes, surrogate
#: gradient and Fisher-vector products) run in parallel: 4 blocks (measured on 2 cores, 15 CG
#: iterations of 11-64-64-3: 2 threads 1.52x faster at 256 rows, 1.75x at 512, 1.86x at 4096;
#: BENCHMARKS.md "Threads")
PARALLEL_MIN_ROWS = 256

_local = threading.local()
# Numba's "workqueue" threading layer (its fallback without TBB or OpenMP) aborts the process
# when two threads launch parallel kernels at once: one launch at a time, and the others run
# the serial variants (the same results)
_parallel_launch = threading.Lock()


def product_threads() -> int:
    """Threads the calling thread's parallel kernels may use now (1: serial); `use_threads`."""
    threads = getattr(_local, "threads", 1)
    reserved = getattr(_local, "reserved", None)
    return threads - reserved() if reserved is not None else threads


@contextmanager
def use_threads(n_threads: int, reserved: Callable[[], int] | None = None) -> Iterator[None]:
    """Let the parallel kernels called from this thread use ``n_threads`` threads.

    ``reserved()``, asked at each kernel launch, says how many of them are busy elsewhere at
    that moment (a worker fitting the critics): the kernels use the rest.
    """
    previous = (getattr(_local, "threads", 1), getattr(_local, "reserved", None))
    _local.threads, _local.reserved = max(1, int(n_threads)), reserved
    try:
        yield
    finally:
        _local.threads, _local.reserved = previous


@contextmanager
def parallel_kernels(worth_it: bool) -> Iterator[bool]:
    """Yield whether to call a ``parallel=True`` kernel now, with Numba's threads set for it.

    True when ``worth_it`` (the caller's size test), `product_threads` is at least 2 and no
    other thread is running a parallel kernel; the caller then calls the parallel variant,
    else the serial one (bit-identical results, by construction of the kernels).
    """
    threads = product_threads()
    if not worth_it or threads < 2 or not _parallel_launch.acquire(blocking=False):
        yield False
        return
    try:
        with _numba_threads(threads):
            yield True
    finally:
        _parallel_launch.release()
