"""``fusion-course experiment NAME --scale full``: tune each model's learning rate, then train to a plateau.

Two phases, both in a pool of worker processes (several of them can share one GPU):

1. **Tuning.** Every model trains once per peak learning rate of the module's ``LR_GRID`` with the tuning
   seed (1000, never a reported seed); the rate with the best validation score (the module's ``PRIMARY``
   metric) is kept. Test scores of tuning runs are recorded but never used to choose.
2. **Reported runs.** Every model trains with its rate for seeds 0..N-1, in seed-major order, so a file
   that stopped early (``--time-limit``) still holds complete *pairs* of seeds.

The results file is rewritten after every run (atomically), so a crash or a time limit loses at most the
runs in flight; ``--resume`` trains only what is missing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError

TUNE_SEED = 1000


def _write(doc: dict, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)


def _choose(tuning: list[dict], names: list[str], higher: bool) -> dict[str, float]:
    """Each model's learning rate: the best validation score among its tuning runs that did not diverge."""
    chosen = {}
    for name in names:
        ok = [t for t in tuning if t["model"] == name and "val_score" in t]
        if ok:
            best = (max if higher else min)(ok, key=lambda t: t["val_score"])
            chosen[name] = best["lr"]
    return chosen


def _resume(out: Path, cfg: Any) -> dict | None:
    if not out.exists():
        return None
    try:
        doc = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume: cannot read {out} ({exc}); delete it or pass another --out") from None
    if doc.get("config") != json.loads(json.dumps(dataclasses.asdict(cfg))):
        raise UsageError(f"--resume: {out} was made with another config; pass the same --set values or another --out")
    return doc


def run_full(module: Any, args: Any, cfg: Any, names: list[str], out: Path, provenance: dict) -> int:
    from ..experiments._grid import run_jobs

    started = time.monotonic()
    deadline = None if args.time_limit is None else started + args.time_limit
    metric, higher = module.PRIMARY
    old = _resume(out, cfg) if args.resume else None
    lr_from = None
    if args.lr_from:
        try:
            lr_from = json.loads(Path(args.lr_from).read_text())["chosen_lr"]
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"--lr-from {args.lr_from}: not a full-scale results file ({exc})") from None
        missing = [n for n in names if n not in lr_from]
        if missing:
            raise UsageError(f"--lr-from {args.lr_from} has no learning rate for {', '.join(missing)}")

    data = module.load_data(cfg)
    base = module.baseline(data)
    del data
    print("trivial baseline: " + "  ".join(f"{k} {v:.3f}" for k, v in base.items()), flush=True)
    doc = old or {"experiment": args.name, "scale": "full", "config": dataclasses.asdict(cfg),
                  "primary_metric": metric, "higher_is_better": higher, "lr_grid": list(module.LR_GRID),
                  "tune_seed": TUNE_SEED, "chosen_lr": {}, "tuning": [], "constant": base, "runs": []}
    doc["provenance"] = {**provenance, "wall_seconds": doc.get("provenance", {}).get("wall_seconds", 0.0)}
    spent_before = doc["provenance"]["wall_seconds"]

    def save() -> None:
        wall = spent_before + time.monotonic() - started
        doc["provenance"]["wall_seconds"] = round(wall, 1)
        # One GPU held for the whole wall time, whatever the number of processes sharing it.
        doc["provenance"]["gpu_minutes"] = round(wall / 60, 1) if args.device.startswith("cuda") else 0.0
        seeds = range(args.seeds)
        done = {(r["model"], r["seed"]) for r in doc["runs"]}
        doc["missing"] = [f"{n} seed {s}" for s in seeds for n in names if (n, s) not in done]
        doc["complete"] = not doc["missing"]
        _write(doc, out)

    def record(kind: str):
        def on_result(key, scores):
            print(f"[{kind}] " + describe(key, scores), flush=True)
            entry = {"model": key[0], "seed": key[1], "lr": key[2], **scores}
            doc["tuning" if kind == "tune" else "runs"].append(entry)
            save()
        return on_result

    common = dict(device=args.device, workers=args.workers, threads=args.threads, deadline=deadline)
    if lr_from is not None:
        doc["chosen_lr"] = {n: lr_from[n] for n in names}
        doc["lr_from"] = str(args.lr_from)
    else:
        tuned = {(t["model"], t["lr"]) for t in doc["tuning"]}
        jobs = [(n, TUNE_SEED, dataclasses.replace(cfg, lr=lr)) for n in names for lr in module.LR_GRID
                if (n, lr) not in tuned]
        run_jobs(module, jobs, on_result=record("tune"), **common)
        doc["chosen_lr"] = _choose(doc["tuning"], names, higher)
    save()
    untuned = [n for n in names if n not in doc["chosen_lr"]]
    if untuned:
        print(f"not tuned yet (time limit): {', '.join(untuned)}; run again with --resume", flush=True)
    done = {(r["model"], r["seed"]) for r in doc["runs"]}
    jobs = [(n, s, dataclasses.replace(cfg, lr=doc["chosen_lr"][n])) for s in range(args.seeds) for n in names
            if n in doc["chosen_lr"] and (n, s) not in done]
    run_jobs(module, jobs, on_result=record("run"), **common)
    save()
    print(f"wrote {out}" + ("" if doc["complete"] else f" ({len(doc['missing'])} runs missing: --resume)"))
    return 0


def describe(key: tuple, scores: dict) -> str:
    """One line per finished run: its model, seed (and learning rate) and its numeric scores."""
    lr = f" lr {key[2]:g}" if len(key) > 2 else ""
    shown = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()
                      if k not in ("curve", "monitor"))
    return f"{key[0]:22s} seed {key[1]}{lr}: {shown}"
