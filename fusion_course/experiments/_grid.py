"""Run many independent training runs, in one process or in a pool of worker processes."""
from __future__ import annotations

from typing import Any, Callable, Iterable


def run_jobs(fn: Callable[[Any], tuple[Any, dict]], jobs: Iterable[Any], *, workers: int = 1,
             on_result: Callable[[Any, dict], None] | None = None) -> dict[Any, dict]:
    """``{key: scores}`` for ``fn(job) -> (key, scores)`` over ``jobs``; ``workers > 1`` uses processes.

    ``fn`` must be a module-level function (worker processes import it) that builds its own data:
    generating a seeded dataset is cheaper than sending one to every worker.
    """
    results: dict[Any, dict] = {}
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(workers)
        outcomes = pool.imap_unordered(fn, list(jobs))
    else:
        outcomes = map(fn, jobs)
    try:
        for key, scores in outcomes:
            results[key] = scores
            if on_result is not None:
                on_result(key, scores)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results
