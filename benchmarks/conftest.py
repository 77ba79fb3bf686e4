"""Benchmarks run single-threaded (BLAS and Numba) so figures compare per core."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield
