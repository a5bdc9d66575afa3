"""Train every (model, seed) pair of an experiment, in one process or in a pool of worker processes.

Every experiment module exposes the same interface: ``Config`` (a dataclass), ``NAMES``, ``load_data(cfg)``,
``baseline(data)`` and ``train(name, seed, data, cfg, *, device, progress) -> (scores, model)``. ``run_grid``
works with any of them, so ``fusion-course experiment`` needs no code per experiment.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Sequence


def _one(job: tuple[str, str, int, dict, str, int]) -> tuple[tuple[str, int], dict]:
    # Runs in a worker process: it builds its own data, which is seeded and cheaper than sending it.
    import torch

    module_name, name, seed, cfg_dict, device, threads = job
    torch.set_num_threads(threads)
    module = importlib.import_module(module_name)
    cfg = module.Config(**cfg_dict)
    scores, _ = module.train(name, seed, module.load_data(cfg), cfg, device=device, progress=False)
    return (name, seed), scores


def run_grid(module: Any, names: Sequence[str], seeds: Sequence[int], cfg: Any, *, device: str = "cpu",
             workers: int = 1, threads: int = 2,
             on_result: Callable[[tuple[str, int], dict], None] | None = None) -> dict[tuple[str, int], dict]:
    """``{(name, seed): scores}`` for every pair, in ``workers`` processes of ``threads`` CPU threads each."""
    jobs = [(module.__name__, n, s, dataclasses.asdict(cfg), device, threads) for n in names for s in seeds]
    results: dict[tuple[str, int], dict] = {}
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(workers)
        outcomes = pool.imap_unordered(_one, jobs)
    else:
        outcomes = map(_one, jobs)
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
