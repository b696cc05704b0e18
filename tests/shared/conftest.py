"""Shared fixtures for the entropykit-shared tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """The matrices in the unit tests are small: one thread per pool avoids the torch (OpenMP)
    and numpy (OpenBLAS) thread pools spinning against each other and against other processes on
    a 2-core machine, which can turn milliseconds into seconds. Benchmarks keep every thread."""
    if request.node.get_closest_marker("bench") is not None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)
