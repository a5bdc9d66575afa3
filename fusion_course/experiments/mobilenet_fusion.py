"""Lesson 07's experiment: accuracy of MobileNet fusion heads at several input resolutions.

``MobileNetFusion`` (a MobileNetV3-small backbone from scratch with no fusion, concatenation, a fast-normalised
weighted sum or attention over four levels) classifies which real texture a ``texture-shapes`` object is made
of. Every model trains at the same budget at one resolution and is scored on the test split at that
resolution. The trivial baseline is chance, 1/6 (the classes are balanced).

>>> NAMES
('plain', 'concat', 'weighted', 'attention')
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["MobConfig", "FULL", "LR_GRID", "NAMES", "FUSION_OF", "load_data", "baseline", "train_model", "train"]

NAMES = ("plain", "concat", "weighted", "attention")
FUSION_OF = {"plain": "none", "concat": "concat", "weighted": "weighted", "attention": "attention"}


@dataclass(frozen=True)
class MobConfig:
    """The budget every model gets; ``size`` is the training and test resolution."""

    size: int = 64
    n_train: int = 800
    n_test: int = 600
    epochs: int = 4
    batch_size: int = 32
    lr: float = 3e-3          # AdamW, one-cycle peak
    weight_decay: float = 1e-4
    data_seed: int = 0
    n_val: int = 0            # > 0: a val split selects the best epoch (full scale); 0: the last epoch is kept
    schedule: str = "onecycle"
    patience: int = 0         # > 0: stop once val accuracy has not improved for this many epochs


#: ``fusion-course experiment mobilenet-fusion --scale full`` (``--set size=96`` for the second resolution).
FULL = MobConfig(n_train=6000, n_val=1000, n_test=1000, epochs=60, batch_size=128, schedule="cosine", patience=8)
LR_GRID = (1e-3, 3e-3, 1e-2)
PRIMARY = ("accuracy", True)


def load_data(cfg: MobConfig) -> dict[str, Any]:
    from ..data import load_dataset

    splits = (("train", cfg.n_train), ("val", cfg.n_val), ("test", cfg.n_test))
    return {split: load_dataset("texture-shapes", split, n=n, size=cfg.size, target="texture", seed=cfg.data_seed)
            for split, n in splits if n}


def baseline(data: dict[str, Any]) -> dict[str, float]:
    """Chance: the accuracy of always answering the test set's most common class."""
    from collections import Counter

    labels = [int(data["test"][i][1]) for i in range(len(data["test"]))]
    return {"accuracy": Counter(labels).most_common(1)[0][1] / len(labels)}


def train_model(name: str, seed: int, data: dict[str, Any], cfg: MobConfig, *, device: str = "cpu",
                progress: bool = True) -> tuple[dict[str, float], torch.nn.Module]:
    from ..models.mobilenet import MobileNetFusion
    from ..train import evaluate, fit
    from ._grid import learning_curve

    torch.manual_seed(seed)
    model = MobileNetFusion(num_classes=len(data["train"].classes), fusion=FUSION_OF[name], fusion_channels=64)
    start = time.perf_counter()
    val = data.get("val") if cfg.n_val else None
    history = fit(model, data["train"], val, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  optimizer="adamw", weight_decay=cfg.weight_decay, schedule=cfg.schedule, seed=seed, device=device,
                  progress=progress, verbose=False, desc=f"{name} seed {seed}", patience=cfg.patience or None)
    scores = {"accuracy": evaluate(model, data["test"], device=device)["accuracy"]}
    if val is not None:
        scores.update(learning_curve(history))
    scores["seconds"] = round(time.perf_counter() - start, 1)
    return scores, model.cpu().eval()


# The interface every experiment module shares (fusion_course.experiments._grid, `fusion-course experiment`).
Config = MobConfig
train = train_model
