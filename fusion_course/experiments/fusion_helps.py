"""Lesson 05's experiment: does fusing encoder levels help a dense task?

One encoder, five decoders (``fusion_course.models.decoders``) at an equal parameter budget, trained on
``texture-shapes`` masks (a shape visible only as a change of real texture) and scored on the test split
by IoU and boundary F@1px. Every model must beat a trivial baseline that ignores the input: the mean
training mask, thresholded at the value that maximises IoU on the validation split.

The lesson runs ``deep`` against one fused decoder over three seeds live on the CPU;
``fusion-course experiment fusion-helps`` runs all five decoders over more seeds and writes the JSON
that the lesson loads.

>>> cfg = SegConfig(size=32, n_train=64, n_val=32, n_test=32, epochs=1)
>>> data = load_data(cfg)
>>> [len(data[s]) for s in ("train", "val", "test")]
[64, 32, 32]
>>> sorted(constant_mask_baseline(data))
['boundary_f', 'iou', 'threshold']
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SegConfig", "FULL", "LR_GRID", "load_data", "constant_mask_baseline", "train_decoder", "train"]


@dataclass(frozen=True)
class SegConfig:
    """The experiment's scale. Defaults: the smallest scale where the deep-only decoder clearly learns."""

    size: int = 64            # image side; at 64 the deepest level (stride 16) is 4×4
    n_train: int = 1500       # training images (texture-shapes, data seed 0)
    n_val: int = 300          # selects the best epoch
    n_test: int = 500         # scored once, at the end
    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-2          # peak of the one-cycle schedule (Adam)
    budget: int = 130_000     # parameters of every model (fit_width picks each decoder's width)
    data_seed: int = 0
    schedule: str = "onecycle"  # learning-rate schedule over `epochs` ("cosine" at full scale)
    patience: int = 0         # > 0: stop once val IoU has not improved for this many epochs (epochs is a cap)


#: ``fusion-course experiment fusion-helps --scale full``: twice the data, trained to a plateau on a GPU.
FULL = SegConfig(n_train=3000, n_val=500, n_test=1000, epochs=60, batch_size=64, schedule="cosine", patience=8)
#: Peak learning rates tried for every decoder at full scale (chosen on val IoU, tuning seed only).
LR_GRID = (3e-3, 1e-2, 3e-2)
#: The metric that selects epochs and learning rates, and whether higher is better.
PRIMARY = ("iou", True)


TEST_METRICS = ("iou", "boundary_f")


def load_data(cfg: SegConfig) -> dict[str, Any]:
    """The train / val / test splits of ``texture-shapes`` masks at ``cfg``'s scale."""
    from ..data import load_dataset

    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    return {split: load_dataset("texture-shapes", split, n=n, size=cfg.size, target="mask", seed=cfg.data_seed)
            for split, n in sizes.items()}


def _stack_masks(ds) -> torch.Tensor:
    return torch.stack([ds[i][1] for i in range(len(ds))])        # (N, 1, H, W)


def constant_mask_baseline(data: dict[str, Any]) -> dict[str, float]:
    """Test scores of a "model" that ignores the image: the mean training mask, thresholded.

    The threshold is chosen on val (the one that maximises val IoU), as a trained model's epoch is.
    A decoder that does not beat this has learned nothing about the image.
    """
    from .. import metrics

    prior = _stack_masks(data["train"]).mean(0, keepdim=True)    # (1, 1, H, W): P(object) per pixel
    val, test = _stack_masks(data["val"]), _stack_masks(data["test"])

    def score(t: float, masks: torch.Tensor, fn) -> float:
        pred = (prior > t).float().expand_as(masks)
        return float(fn(pred, masks))

    candidates = [i / 100 for i in range(100)]                     # thresholds 0.00, 0.01, ..., 0.99
    best = max(candidates, key=lambda t: score(t, val, metrics.iou))
    return {"threshold": best, "iou": score(best, test, metrics.iou),
            "boundary_f": score(best, test, metrics.boundary_f)}


def train_decoder(decoder: str, seed: int, data: dict[str, Any], cfg: SegConfig, *,
                  device: str = "cpu", progress: bool = True) -> tuple[dict[str, float], torch.nn.Module]:
    """Train one ``SegmentationNet`` and return its test metrics and the trained model.

    The seed fixes the initial weights and the batch order; ``fit`` keeps the epoch with the best val IoU.
    """
    from .. import metrics
    from ..models.decoders import SegmentationNet, fit_width
    from ..train import evaluate, fit
    from ._grid import learning_curve

    torch.manual_seed(seed)
    net = SegmentationNet(decoder, width=fit_width(decoder, cfg.budget))
    start = time.perf_counter()
    history = fit(net, data["train"], data["val"], epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  schedule=cfg.schedule, metrics=["iou"], seed=seed, device=device, progress=progress,
                  verbose=False, desc=f"{decoder} seed {seed}", channels_last=True, patience=cfg.patience or None)
    # channels_last (NHWC) halves the CPU time of these small convolutions; the arithmetic is the same.
    scores = evaluate(net, data["test"], metrics={m: getattr(metrics, m) for m in TEST_METRICS}, channels_last=True,
                      device=device)
    scores = {m: scores[m] for m in TEST_METRICS}
    scores["best_epoch"] = int(history.best["epoch"])
    if cfg.patience:      # a full-scale run also records how it got there
        scores.update(learning_curve(history))
    scores["seconds"] = round(time.perf_counter() - start, 1)
    return scores, net.cpu().eval()


# The interface every experiment module shares (fusion_course.experiments._grid, `fusion-course experiment`).
Config, baseline = SegConfig, constant_mask_baseline
NAMES = ("deep", "sum", "concat", "weighted", "fpn")
train = train_decoder
