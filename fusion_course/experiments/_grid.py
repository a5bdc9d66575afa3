"""Train every (model, seed) pair of an experiment, in one process or in a pool of worker processes.

Every experiment module exposes the same interface: ``Config`` (a dataclass), ``NAMES``, ``load_data(cfg)``,
``baseline(data)`` and ``train(name, seed, data, cfg, *, device, progress) -> (scores, model)``. ``run_grid``
works with any of them, so ``fusion-course experiment`` needs no code per experiment. ``run_jobs`` is the
general form: a list of ``(name, seed, cfg)`` jobs (each with its own config, e.g. its own learning rate),
an optional deadline after which no new job starts, and several processes sharing one GPU.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import time
from typing import Any, Callable, Sequence

Job = tuple[str, int, Any]          # (model name, seed, config)
Key = tuple[str, int, float]        # (model name, seed, learning rate)


@functools.lru_cache(maxsize=4)
def _data(module_name: str, cfg: Any) -> Any:
    # A worker trains many jobs on the same data: generate it once per process (it is seeded, so every
    # process builds the same splits). The learning rate is not part of the data's identity.
    module = importlib.import_module(module_name)
    return module.load_data(cfg)


def _one(job: tuple[str, str, int, dict, str, int]) -> tuple[Key, dict]:
    # Runs in a worker process: it builds its own data, which is seeded and cheaper than sending it.
    import torch

    module_name, name, seed, cfg_dict, device, threads = job
    torch.set_num_threads(threads)
    module = importlib.import_module(module_name)
    cfg = module.Config(**cfg_dict)
    data_cfg = dataclasses.replace(cfg, lr=0.0) if hasattr(cfg, "lr") else cfg
    try:
        scores, _ = module.train(name, seed, _data(module_name, _hashable(data_cfg)), cfg, device=device,
                                 progress=False)
    except FloatingPointError as exc:   # a learning rate of the grid that diverges is a result, not a crash
        scores = {"failed": str(exc)}
    return (name, seed, getattr(cfg, "lr", 0.0)), scores


def _hashable(cfg: Any) -> Any:
    # Configs are frozen dataclasses; lists read back from JSON become tuples so the cache can key on them.
    fixed = {f.name: tuple(v) if isinstance(v := getattr(cfg, f.name), list) else v for f in dataclasses.fields(cfg)}
    return type(cfg)(**fixed)


def run_jobs(module: Any, jobs: Sequence[Job], *, device: str = "cpu", workers: int = 1, threads: int = 2,
             on_result: Callable[[Key, dict], None] | None = None,
             deadline: float | None = None) -> dict[Key, dict]:
    """``{(name, seed, lr): scores}`` for each job, in ``workers`` processes of ``threads`` threads each.

    Jobs start in the order given. With ``deadline`` (a ``time.monotonic()`` value) no job starts after
    it; the jobs already running finish, and the ones never started are simply missing from the result.
    """
    packed = [(module.__name__, n, s, dataclasses.asdict(c), device, threads) for n, s, c in jobs]
    results: dict[Key, dict] = {}

    def done(key: Key, scores: dict) -> None:
        results[key] = scores
        if on_result is not None:
            on_result(key, scores)

    def may_start() -> bool:
        return deadline is None or time.monotonic() < deadline

    if workers <= 1:
        for job in packed:
            if not may_start():
                break
            done(*_one(job))
        return results
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(workers)
    try:
        pending, queue = [], list(packed)
        while queue or pending:
            while queue and len(pending) < workers and may_start():
                pending.append(pool.apply_async(_one, (queue.pop(0),)))
            if queue and not may_start():
                queue.clear()                       # past the deadline: start nothing new
            ready = [p for p in pending if p.ready()]
            for p in ready:
                pending.remove(p)
                done(*p.get())
            if not ready:
                time.sleep(0.2)
    finally:
        pool.close()
        pool.join()
    return results


def run_grid(module: Any, names: Sequence[str], seeds: Sequence[int], cfg: Any, *, device: str = "cpu",
             workers: int = 1, threads: int = 2,
             on_result: Callable[[tuple[str, int], dict], None] | None = None) -> dict[tuple[str, int], dict]:
    """``{(name, seed): scores}`` for every pair, in ``workers`` processes of ``threads`` CPU threads each."""
    jobs = [(n, s, cfg) for n in names for s in seeds]
    report = None if on_result is None else (lambda key, scores: on_result(key[:2], scores))
    out = run_jobs(module, jobs, device=device, workers=workers, threads=threads, on_result=report)
    return {key[:2]: scores for key, scores in out.items()}


def learning_curve(history: Any) -> dict[str, Any]:
    """What a full-scale run records of its training: the monitored val metric per epoch and where it peaked.

    ``best_epoch`` < ``epochs`` means the run stopped improving before it stopped training (a plateau).
    """
    return {"val_score": float(history.best[history.monitor]), "monitor": history.monitor,
            "best_epoch": int(history.best["epoch"]), "epochs": len(history.epochs),
            "curve": [round(float(v), 5) for v in history[history.monitor]]}
