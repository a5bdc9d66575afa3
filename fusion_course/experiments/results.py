"""Read a lesson's results file and say what it shows: scores per seed, verdicts, learning curves.

The lessons load the full-scale files (``docs/results/<name>_full.json``, made by
``fusion-course experiment NAME --scale full`` on a GPU) for their conclusions, and these helpers keep the
loading, the plateau check and the curves out of the notebooks:

>>> doc = {"runs": [{"model": "a", "seed": 0, "iou": 0.7, "best_epoch": 9, "epochs": 17, "curve": [0.5, 0.7]},
...                 {"model": "a", "seed": 1, "iou": 0.8, "best_epoch": 20, "epochs": 20, "curve": [0.6, 0.8]}]}
>>> scores(doc, "iou")
{'a': [0.7, 0.8]}
>>> plateau(doc)["share"]
0.5
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "load", "scores", "plateau", "plot_curves", "describe"]

#: The folder of results files inside a clone of the course.
RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def load(name: str) -> dict[str, Any]:
    """The results file ``docs/results/<name>.json`` as a dict (a clear error when it is missing)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with `fusion-course experiment ... --out {path}` "
                                "(see the file's lesson) or restore it from the course's repository")
    return json.loads(path.read_text())


def scores(doc: dict[str, Any], metric: str) -> dict[str, list[float]]:
    """``{model: [score of seed 0, seed 1, ...]}`` for one metric, seeds in order (so lists pair up)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for run in doc["runs"]:
        if metric in run:
            out.setdefault(run["model"], []).append((run["seed"], float(run[metric])))
    return {m: [v for _, v in sorted(runs)] for m, runs in out.items()}


def plateau(doc: dict[str, Any]) -> dict[str, Any]:
    """How many runs stopped improving before they stopped training (best val epoch < last epoch)."""
    runs = [r for r in doc["runs"] if "best_epoch" in r and "epochs" in r]
    early = sum(r["best_epoch"] < r["epochs"] for r in runs)
    return {"runs": len(runs), "plateaued": early, "share": early / len(runs) if runs else float("nan"),
            "median_epochs": sorted(r["epochs"] for r in runs)[len(runs) // 2] if runs else 0}


def describe(doc: dict[str, Any]) -> str:
    """One line of provenance: command, GPU, torch, date, GPU-minutes."""
    p = doc["provenance"]
    gpu = p.get("hardware", {}).get("gpu", "CPU")
    return (f"{p['command']}\n  on {gpu}, torch {p['versions']['torch']}, {p['date']}, "
            f"{p.get('gpu_minutes', 0):.1f} GPU-minutes")


def plot_curves(doc: dict[str, Any], models: list[str] | None = None, *, ax: Any = None, ylabel: str | None = None):
    """The validation curve of every run (one colour per model, one line per seed), its best epoch marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    runs = [r for r in doc["runs"] if "curve" in r and (models is None or r["model"] in models)]
    # Colours follow ``models`` when given, so two panels of the same models share their colours.
    names = list(models) if models is not None else list(dict.fromkeys(r["model"] for r in runs))
    colours = plt.get_cmap("tab10")
    for r in runs:
        c = colours(names.index(r["model"]) % 10)
        epochs = range(1, len(r["curve"]) + 1)
        ax.plot(epochs, r["curve"], color=c, lw=1, alpha=0.7, label=r["model"] if r["seed"] == 0 else None)
        ax.plot(r["best_epoch"], r["curve"][r["best_epoch"] - 1], "o", color=c, ms=3)
    ax.set(xlabel="epoch", ylabel=ylabel or (runs[0]["monitor"] if runs else ""))
    ax.legend(fontsize=7, ncol=2)
    return ax
