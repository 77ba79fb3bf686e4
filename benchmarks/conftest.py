"""Benchmarks run single-threaded (BLAS and Numba) so figures compare per core.

``--bench-mode smoke|quick|full`` (or ``FASTTRPO_BENCH_MODE``) picks the sizes
(``benchmarks/_config.py``); CI runs ``smoke`` with ``--benchmark-disable``.
"""

import os

import pytest
from threadpoolctl import threadpool_limits


def pytest_addoption(parser):
    parser.addoption("--bench-mode", default=os.environ.get("FASTTRPO_BENCH_MODE", "full"),
                     choices=("smoke", "quick", "full"),
                     help="benchmark sizes: smoke (CI), quick, full (default)")


def pytest_configure(config):
    from benchmarks import _config

    _config.set_mode(config.getoption("--bench-mode", default="full"))


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield
