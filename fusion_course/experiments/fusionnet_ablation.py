"""Lesson 08's experiment: FusionNet's ablation on a 32×32 task that needs fine detail *and* global shape.

The task is ``texture-shapes`` at 32×32 with ``target="both"``: which shape (circle, square, triangle,
cross) is cut from which real texture (brick, grass, gravel), 12 classes. The shape is visible only as
a change of texture (every crop has the same mean and contrast), so naming the class needs the fine,
local statistics of the early layers (which texture) and the context of the deep ones (which outline),
the situation where fusing levels can pay. Two trivial baselines frame every model: the majority
class and a logistic regression on the raw pixels.

Models: ``plain CNN`` (the course's ``SmallCNN`` with widths chosen to match the FusionNet variants'
parameter count, no fusion) and every variant of
:data:`fusion_course.models.fusionnet.ABLATION_VARIANTS` at ``width`` (each changes one thing relative
to ``normalized``). Each trains with AdamW and a one-cycle schedule, keeps its best **validation**
epoch, and is scored on the test split once.

>>> NAMES[:4]
('plain CNN', 'published', 'normalized', 'fixed branch w.')
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ..models.fusionnet import ABLATION_VARIANTS

__all__ = ["FusionNetConfig", "FULL", "LR_GRID", "half_accuracies", "NAMES", "PLAIN_WIDTHS", "load_data", "baseline", "build_model", "train_model", "train"]

NAMES = ("plain CNN", *ABLATION_VARIANTS)
#: SmallCNN widths with about as many parameters as the FusionNet variants at width 0.125 (about 144k).
PLAIN_WIDTHS = (40, 80, 160)


@dataclass(frozen=True)
class FusionNetConfig:
    """The budget every model gets (the lesson's live runs use these defaults)."""

    size: int = 32             # image side in pixels
    shapes: int = 4            # circle, square, triangle, cross
    textures: int = 3          # brick, grass, gravel: 4 × 3 = 12 classes
    n_train: int = 3000
    n_val: int = 500
    n_test: int = 1000
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-2           # AdamW, one-cycle peak
    weight_decay: float = 1e-4
    width: float = 0.125       # FusionNet channel multiplier (1/8 of every layer)
    data_seed: int = 0
    schedule: str = "onecycle"
    patience: int = 0          # > 0: stop once val accuracy has not improved for this many epochs
    plain_widths: tuple[int, ...] = PLAIN_WIDTHS   # the plain CNN's widths, matched to the variants' parameters
    object_scale: tuple[float, float] = (0.45, 0.8)  # the shape's outer radius, fraction of half the image side


#: ``fusion-course experiment fusionnet-ablation --scale full``: width 0.25 with a plain CNN of matched size,
#: 20,000 training images, trained to a plateau on val accuracy (the "without bK" variants stay CPU-scale).
FULL = FusionNetConfig(n_train=20000, n_val=2000, n_test=2000, epochs=60, batch_size=128, width=0.25,
                       plain_widths=(80, 160, 320), schedule="cosine", patience=8)
FULL_NAMES = ("plain CNN", "published", "normalized", "coarse fusion", "per-pixel softmax", "no fusion (b3 only)")
LR_GRID = (1e-3, 3e-3, 1e-2)
PRIMARY = ("accuracy", True)


def load_data(cfg: FusionNetConfig) -> dict[str, Any]:
    """The three splits of the 12-class task, one grey channel, generated from ``cfg.data_seed``."""
    from ..data import load_dataset

    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    return {split: load_dataset("texture-shapes", split, n=n, size=cfg.size, target="both", shapes=cfg.shapes,
                                textures=cfg.textures, channels=1, seed=cfg.data_seed,
                                scale_range=tuple(cfg.object_scale))
            for split, n in sizes.items()}


def _pixels(ds) -> tuple[Any, Any]:
    return ds.images.reshape(len(ds), -1).numpy(), ds.targets.numpy()


def baseline(data: dict[str, Any]) -> dict[str, float]:
    """Test accuracy of the majority class (of the training labels) and of logistic regression on raw pixels."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    (xtr, ytr), (xte, yte) = _pixels(data["train"]), _pixels(data["test"])
    majority = np.bincount(ytr).argmax()
    with warnings.catch_warnings():
        # 100 L-BFGS steps: more change its score by well under a point (it stays at chance).
        warnings.simplefilter("ignore", ConvergenceWarning)
        logreg = LogisticRegression(max_iter=100).fit(xtr, ytr)
    return {"accuracy": float((yte == majority).mean()), "logreg_accuracy": float(logreg.score(xte, yte))}


def build_model(name: str, num_classes: int, cfg: FusionNetConfig) -> torch.nn.Module:
    """``plain CNN`` or one of the FusionNet ablation variants, for one grey input channel."""
    from ..models.baseline import SmallCNN
    from ..models.fusionnet import build_variant

    if name == "plain CNN":
        return SmallCNN(1, num_classes, widths=tuple(cfg.plain_widths))
    return build_variant(name, 1, num_classes, width=cfg.width)


def train_model(name: str, seed: int, data: dict[str, Any], cfg: FusionNetConfig, *, device: str = "cpu",
                progress: bool = True) -> tuple[dict[str, float], torch.nn.Module]:
    """Train one model from seed ``seed``; scores: best-epoch val accuracy, test accuracy, seconds."""
    from ..train import evaluate, fit
    from ._grid import learning_curve

    torch.manual_seed(seed)
    model = build_model(name, data["train"].num_classes, cfg)
    start = time.perf_counter()
    history = fit(model, data["train"], data["val"], epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  optimizer="adamw", weight_decay=cfg.weight_decay, schedule=cfg.schedule, seed=seed,
                  device=device, progress=progress, verbose=False, desc=f"{name} seed {seed}",
                  patience=cfg.patience or None)
    seconds = round(time.perf_counter() - start, 1)
    scores = {"val_accuracy": history.best["val_accuracy"], "accuracy": evaluate(model, data["test"], device=device)["accuracy"],
              "seconds": seconds}
    if cfg.patience:      # full scale: which half of the label is wrong, the published gates, the learning curve
        model.to(device)
        scores.update(half_accuracies(model, data["test"], cfg.textures), **learning_curve(history))
        scores.update(gate_statistics(model, data["test"]))
    return scores, model.cpu().eval()


@torch.no_grad()
def gate_statistics(model: torch.nn.Module, test: Any, n: int = 500) -> dict[str, float]:
    """For the published model: the per-pixel sum of its four level gates, and the share of gates that are
    neither shut (< 0.05) nor fully open (> 0.95), over ``n`` test images. Empty for other models."""
    fusion = getattr(model, "dynamic_fusion", None)
    if fusion is None:
        return {}
    model.eval()
    dev = next(model.parameters()).device
    model(test.images[:n].to(dev))
    w = fusion.last_weights                                   # (B, levels, H, W), each in (0, 1)
    s = w.sum(dim=1)
    return {"gate_sum_mean": float(s.mean()), "gate_sum_min": float(s.min()), "gate_sum_max": float(s.max()),
            "gate_share_between": float(((w > 0.05) & (w < 0.95)).float().mean())}


@torch.no_grad()
def half_accuracies(model: torch.nn.Module, test: Any, textures: int) -> dict[str, float]:
    """Accuracy on each half of the label: class = shape · ``textures`` + texture."""
    model.eval()
    dev = next(model.parameters()).device
    pred = torch.cat([model(test.images[i:i + 500].to(dev)).argmax(1).cpu() for i in range(0, len(test), 500)])
    return {"shape_accuracy": float((pred // textures == test.targets // textures).float().mean()),
            "texture_accuracy": float((pred % textures == test.targets % textures).float().mean())}


# The interface every experiment module shares (fusion_course.experiments._grid, `fusion-course experiment`).
Config = FusionNetConfig
train = train_model
