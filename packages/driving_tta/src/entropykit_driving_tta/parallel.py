"""Process-parallel map for rollouts and scoring (one helper for every fan-out)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def resolve_workers(workers: int) -> int:
    """``workers`` processes, or every core for 0 (at least 1)."""
    n = int(workers)
    if n < 0:
        raise ValueError(f"workers must be >= 0 (0: all cores), got {workers}")
    return n if n > 0 else (os.cpu_count() or 1)


def pmap(
    fn: Callable[[Any], T], jobs: Sequence[Any], workers: int = 1, desc: str | None = None
) -> Iterator[T]:
    """``fn`` over ``jobs`` in order, in up to ``workers`` processes (0: all cores), with a
    progress bar when ``desc`` is given. The results do not depend on ``workers``."""
    n = min(resolve_workers(workers), max(len(jobs), 1))
    pool = ProcessPoolExecutor(max_workers=n) if n > 1 else None
    try:
        results = pool.map(fn, jobs) if pool is not None else map(fn, jobs)
        if desc is not None:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(jobs), desc=desc)
        yield from results
    finally:
        if pool is not None:
            pool.shutdown()
