"""Lesson 06's experiment: which of F3Net's three ideas pays at teaching scale, and why.

A teaching-scale F3Net (``fusion_course.models.F3Net``: a 4-stage CNN from scratch, width 16) trained on
the ``saliency`` task at one budget, with one change per variant:

* **fusion**: the decoder's cross step is a sum, a concatenation or CFM's product;
* **feedback**: one sub-decoder or two, and a parameter-matched control (one sub-decoder made wider
  until it has as many parameters as two) so that "feedback helps" cannot be "more parameters help";
* **focus**: plain BCE, BCE + an unweighted IoU term, PPA (boundary-weighted BCE + IoU), and PPA as the
  released code computes it (``reduce='none'`` makes its BCE an unweighted mean).

Every variant must beat a constant prediction, the mean training mask, which ignores the image.

>>> sorted(VARIANTS)[:3]
['CFM', 'CFM + feedback', 'CFM, BCE']
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SalConfig", "FULL", "LR_GRID", "VARIANTS", "load_data", "constant_baseline", "train_variant", "train"]

# name: (fuse, n_decoders, loss, width)
VARIANTS: dict[str, tuple[str, int, str, int]] = {
    "sum": ("sum", 1, "ppa", 16),
    "concat": ("concat", 1, "ppa", 16),
    "CFM": ("cfm", 1, "ppa", 16),
    "CFM + feedback": ("cfm", 2, "ppa", 16),
    "CFM, wider": ("cfm", 1, "ppa", 22),           # ≈ the parameters of "CFM + feedback", one sub-decoder
    "CFM, BCE": ("cfm", 1, "bce", 16),
    "CFM, BCE + IoU": ("cfm", 1, "bce_iou", 16),
    "CFM, PPA as released": ("cfm", 1, "ppa_released", 16),
}
METRICS = ("mae", "max_f", "s_measure")


@dataclass(frozen=True)
class SalConfig:
    """The budget every variant gets."""

    size: int = 64           # saliency images are 64×64
    n_train: int = 1000
    n_test: int = 500
    epochs: int = 3
    batch_size: int = 64
    lr: float = 5e-3         # peak of the one-cycle schedule (Adam)
    data_seed: int = 0
    n_val: int = 0           # > 0: a val split selects the best epoch (full scale); 0: the last epoch is kept
    schedule: str = "onecycle"
    patience: int = 0        # > 0: stop once val MAE has not improved for this many epochs (epochs is a cap)


#: ``fusion-course experiment f3net-ablation --scale full``: 4× the data, trained to a plateau on val MAE.
FULL = SalConfig(n_train=4000, n_val=500, n_test=1000, epochs=60, batch_size=64, schedule="cosine", patience=8)
LR_GRID = (1e-3, 3e-3, 1e-2)
#: Lesson 06's primary metric, chosen before the full runs: MAE (lower is better).
PRIMARY = ("mae", False)


def load_data(cfg: SalConfig) -> dict[str, Any]:
    from ..data import load_dataset

    data = {"train": load_dataset("saliency", "train", n=cfg.n_train, seed=cfg.data_seed),
            "test": load_dataset("saliency", "test", n=cfg.n_test, seed=cfg.data_seed)}
    if cfg.n_val:
        data["val"] = load_dataset("saliency", "val", n=cfg.n_val, seed=cfg.data_seed)
    return data


def build(name: str, seed: int) -> torch.nn.Module:
    from ..models import F3Net

    fuse, n_decoders, _, width = VARIANTS[name]
    torch.manual_seed(seed)
    return F3Net(fuse=fuse, n_decoders=n_decoders, width=width)


def constant_baseline(data: dict[str, Any]) -> dict[str, float]:
    """Test scores of the mean training mask, the same prediction for every image."""
    from .. import metrics

    train = torch.stack([data["train"][i][1] for i in range(len(data["train"]))])
    test = torch.stack([data["test"][i][1] for i in range(len(data["test"]))])
    pred = train.mean(0, keepdim=True).expand_as(test).contiguous()
    return {"mae": float(metrics.mae(pred, test)), "max_f": float(metrics.max_f_measure(pred, test)),
            "s_measure": float(metrics.s_measure(pred, test))}


def train_variant(name: str, seed: int, data: dict[str, Any], cfg: SalConfig, *, device: str = "cpu",
                  progress: bool = True) -> tuple[dict[str, float], torch.nn.Module]:
    """Train one variant at the common budget; return its test scores and the model (eval mode)."""
    from ..train import evaluate, fit
    from ._grid import learning_curve

    model = build(name, seed)
    start = time.perf_counter()
    val = data.get("val") if cfg.n_val else None
    history = fit(model, data["train"], val, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  schedule=cfg.schedule, loss=model.default_loss(loss=VARIANTS[name][2]), seed=seed, device=device,
                  progress=progress, verbose=False, restore_best=val is not None, desc=f"{name} (seed {seed})",
                  metrics=["mae"] if val is not None else None, patience=cfg.patience or None)
    scores = evaluate(model, data["test"], metrics=list(METRICS), device=device)
    scores = {m: scores[m] for m in METRICS}
    if val is not None:   # full scale: also the MAE as the benchmarks compute it, to stand beside the paper's
        from functools import partial

        from ..metrics import mae

        bench = evaluate(model, data["test"], metrics={"mae": partial(mae, normalize=True)}, device=device)
        scores["mae_minmax"] = bench["mae"]
        scores.update(learning_curve(history))
    scores["seconds"] = round(time.perf_counter() - start, 1)
    return scores, model.cpu().eval()


# The interface every experiment module shares (fusion_course.experiments._grid, `fusion-course experiment`).
Config, baseline = SalConfig, constant_baseline
NAMES = tuple(VARIANTS)
train = train_variant
