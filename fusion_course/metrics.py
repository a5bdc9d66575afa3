"""Metrics of the course: classification accuracy and the salient-object / segmentation metrics.

- ``accuracy``: fraction of correct class predictions.
- ``iou``: intersection over union of the thresholded mask, ``|P ∩ G| / |P ∪ G|``.
- ``boundary_f``: F-score of boundary pixels matched within a tolerance of ``tol`` pixels
  (the boundary measure of the DAVIS benchmark, Perazzi et al., CVPR 2016; a square window here).
- ``mae``: mean absolute error between the soft prediction and the mask (Perazzi et al., CVPR 2012).
- ``max_f_measure``: ``F_β = (1 + β²)·P·R / (β²·P + R)`` with ``β² = 0.3`` (Achanta et al., CVPR 2009),
  over 256 thresholds; the maximum of the dataset-mean curve.
- ``s_measure``: structure measure ``S = α·S_o + (1 − α)·S_r``, ``α = 0.5`` (Fan et al., "Structure-measure:
  A New Way to Evaluate Foreground Maps", ICCV 2017, arXiv:1708.00786), following the authors' code.

Predictions for masks are probabilities in [0, 1] (apply ``sigmoid`` to logits first), ``(N, 1, H, W)``
or ``(N, H, W)``; targets are binary masks of the same shape. Every metric returns a float averaged
over the images, or a per-image tensor with ``reduction="none"`` (the training loop sums those).

>>> import torch
>>> gt = torch.zeros(1, 1, 8, 8); gt[..., 2:6, 2:6] = 1
>>> round(iou(gt, gt), 3), round(mae(gt * 0.5, gt), 3), round(s_measure(gt, gt), 3)
(1.0, 0.125, 1.0)
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

EPS = torch.finfo(torch.float64).eps  # the authors' MATLAB code uses eps = 2.2e-16


def _reduce(values: torch.Tensor, reduction: str):
    if reduction == "none":
        return values
    if reduction == "mean":
        return float(values.float().mean()) if len(values) else float("nan")
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _as_maps(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pred = torch.as_tensor(pred).detach()
    target = torch.as_tensor(target).detach()
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}; "
                         "resize the prediction to the mask's size first")
    if pred.ndim == 2:                                 # a single (H, W) map
        pred, target = pred[None], target[None]
    if pred.ndim == 4:
        if pred.shape[1] != 1:
            raise ValueError(f"masks must have one channel, got {pred.shape[1]} (shape {tuple(pred.shape)})")
        pred, target = pred[:, 0], target[:, 0]        # (N, H, W)
    if pred.ndim != 3:
        raise ValueError(f"expected (N, 1, H, W), (N, H, W) or (H, W) maps, got shape {tuple(pred.shape)}")
    return pred.float(), (target > 0.5)


def accuracy(outputs: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean"):
    """Fraction of correct predictions. ``outputs``: logits ``(N, K)`` or predicted labels ``(N,)``.

    >>> accuracy(torch.tensor([[2.0, 0.1], [0.3, 0.9]]), torch.tensor([0, 0]))
    0.5
    """
    outputs = torch.as_tensor(outputs).detach()
    pred = outputs.argmax(dim=1) if outputs.ndim == 2 else outputs
    return _reduce((pred.cpu() == torch.as_tensor(targets).cpu()).float(), reduction)


def iou(pred: torch.Tensor, target: torch.Tensor, *, threshold: float = 0.5, reduction: str = "mean"):
    """Intersection over union of ``pred > threshold`` and the mask, per image (1.0 when both are empty)."""
    p, g = _as_maps(pred, target)
    p = p > threshold
    inter = (p & g).flatten(1).sum(1).float()
    union = (p | g).flatten(1).sum(1).float()
    values = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return _reduce(values, reduction)


def mae(pred: torch.Tensor, target: torch.Tensor, *, normalize: bool = False, reduction: str = "mean"):
    """Mean absolute error ``mean |pred − mask|`` per image (soft predictions, no threshold).

    ``normalize=False`` (the default, and what training monitors) compares the probabilities as they are.
    ``normalize=True`` first rescales each prediction by its own min and max, as the salient-object
    benchmarks' evaluation code does (Fan et al.'s MATLAB toolbox, and PySODMetrics, which the suite pins
    this against): use it where a number stands beside a paper's. The two differ for low-contrast maps: a
    constant 0.5 map scores 0.5 against an all-foreground mask either way, but a map spanning [0.3, 0.7]
    is stretched to [0, 1] before the error is taken.
    """
    p, g = _as_maps(pred, target)
    if normalize:
        p = _minmax(p)
    return _reduce((p - g.float()).abs().flatten(1).mean(1), reduction)


def _boundary(mask: torch.Tensor) -> torch.Tensor:
    """Pixels of a boolean mask ``(N, H, W)`` that have a 4-neighbour outside it (the inner boundary)."""
    m = mask.float()[:, None]
    eroded = -F.max_pool2d(-m, kernel_size=3, stride=1, padding=1)   # erosion = -maxpool(-x)
    # max_pool pads with -inf, so image borders do not count as boundary (the mask may touch them).
    return (m - eroded)[:, 0] > 0.5


def boundary_f(pred: torch.Tensor, target: torch.Tensor, *, tol: int = 1, threshold: float = 0.5,
               reduction: str = "mean"):
    """Boundary F-score: precision and recall of boundary pixels matched within ``tol`` pixels.

    A predicted boundary pixel counts as correct if a true boundary pixel lies within a
    ``(2·tol+1)²`` window around it (Chebyshev distance ≤ tol), and vice versa for recall;
    ``F = 2PR / (P + R)``. Images where both boundaries are empty score 1; one empty scores 0.
    """
    p, g = _as_maps(pred, target)
    bp, bg = _boundary(p > threshold), _boundary(g)
    k = 2 * int(tol) + 1
    dil = lambda b: F.max_pool2d(b.float()[:, None], kernel_size=k, stride=1, padding=int(tol))[:, 0] > 0.5
    n_p, n_g = bp.flatten(1).sum(1).float(), bg.flatten(1).sum(1).float()
    precision = (bp & dil(bg)).flatten(1).sum(1) / n_p.clamp_min(1)
    recall = (bg & dil(bp)).flatten(1).sum(1) / n_g.clamp_min(1)
    f = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    f = torch.where((n_p == 0) & (n_g == 0), torch.ones_like(f), f)
    return _reduce(f, reduction)


def _minmax(p: torch.Tensor) -> torch.Tensor:
    """Rescale each map to [0, 1] by its own min and max (constant maps are left as they are)."""
    flat = p.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
    return torch.where(hi > lo, (p - lo) / (hi - lo).clamp_min(1e-12), p)


def f_measure_curve(pred: torch.Tensor, target: torch.Tensor, *, beta2: float = 0.3, steps: int = 256,
                    normalize: bool = True) -> torch.Tensor:
    """Per-image F-measure at 256 thresholds: ``(N, 256)``; entry k counts a pixel positive if
    ``floor(255·pred) ≥ 255 − k`` (the benchmarks' order: from the strictest threshold down).

    As the salient-object evaluation code does, each map is first min-max normalised
    (``normalize=True``) and quantised to 8 bits.
    """
    p, g = _as_maps(pred, target)
    if normalize:
        p = _minmax(p)
    n = p.shape[0]
    levels = torch.floor(p.flatten(1) * (steps - 1)).long().clamp_(0, steps - 1)   # (N, P) 8-bit levels
    gf = g.flatten(1)
    # Histograms of predicted levels on object and background pixels; reversed cumulative sums give,
    # for each threshold, the true positives and all positives in one pass.
    # The histograms live on the maps' device: a model evaluated on a GPU is scored there.
    tp_hist = torch.zeros(n, steps, device=p.device).scatter_add_(1, levels, gf.float())
    all_hist = torch.zeros(n, steps, device=p.device).scatter_add_(1, levels, torch.ones_like(gf, dtype=torch.float32))
    tp = tp_hist.flip(1).cumsum(1)          # pixels with level >= 255 - k that are object
    pos = all_hist.flip(1).cumsum(1)         # all pixels with level >= 255 - k
    precision = tp / pos.clamp_min(1e-12)
    recall = tp / gf.sum(1, keepdim=True).float().clamp_min(1e-12)
    return (1 + beta2) * precision * recall / (beta2 * precision + recall).clamp_min(1e-12)


def max_f_measure(pred: torch.Tensor, target: torch.Tensor, *, beta2: float = 0.3, normalize: bool = True,
                  reduction: str = "mean"):
    """Maximum F-measure (β² = 0.3): the best threshold of the mean F curve over the images.

    With ``reduction="none"`` it returns the per-image curves ``(N, 256)``: average them over a
    whole dataset, then take the maximum, as the benchmarks do (``fit`` does this for you).
    """
    curves = f_measure_curve(pred, target, beta2=beta2, normalize=normalize)
    if reduction == "none":
        return curves
    return float(curves.mean(0).max())


# --- S-measure (Fan et al., ICCV 2017), following the authors' reference code ------------------

def _ssim_region(x: np.ndarray, y: np.ndarray) -> float:
    """The simplified SSIM of the paper's region term on one block (no sliding window)."""
    n = x.size
    mx, my = x.mean(), y.mean()
    sx = ((x - mx) ** 2).sum() / (n - 1 + EPS)
    sy = ((y - my) ** 2).sum() / (n - 1 + EPS)
    sxy = ((x - mx) * (y - my)).sum() / (n - 1 + EPS)
    alpha = 4 * mx * my * sxy
    beta = (mx ** 2 + my ** 2) * (sx + sy)
    if alpha != 0:
        return float(alpha / (beta + EPS))
    return 1.0 if beta == 0 else 0.0


def _object_score(x: np.ndarray) -> float:
    """``2·x̄ / (x̄² + 1 + σ_x + eps)`` over the pixels of one region (σ with N−1, as MATLAB's std)."""
    if x.size == 0:
        return 0.0
    mean = x.mean()
    std = x.std(ddof=1) if x.size > 1 else 0.0
    return float(2 * mean / (mean ** 2 + 1 + std + EPS))


def _s_object(pred: np.ndarray, gt: np.ndarray) -> float:
    fg = np.where(gt, pred, 0.0)
    bg = np.where(~gt, 1.0 - pred, 0.0)
    u = gt.mean()
    return float(u * _object_score(fg[gt]) + (1 - u) * _object_score(bg[~gt]))


def _round_half_up(v: float) -> int:
    """MATLAB's round (halves away from zero); Python's round sends 8.5 to 8."""
    return int(math.floor(v + 0.5))


def _s_region(pred: np.ndarray, gt: np.ndarray) -> float:
    h, w = gt.shape
    area = h * w
    if gt.sum() == 0:
        x, y = _round_half_up(w / 2), _round_half_up(h / 2)
    else:
        total = gt.sum()
        # Centroid, 1-based as in the reference code, then used as "number of columns/rows on the left/top".
        x = _round_half_up(float((gt.sum(0) * np.arange(1, w + 1)).sum() / total))
        y = _round_half_up(float((gt.sum(1) * np.arange(1, h + 1)).sum() / total))
    w1 = x * y / area
    w2 = (w - x) * y / area
    w3 = x * (h - y) / area
    w4 = 1.0 - w1 - w2 - w3
    blocks = [(slice(0, y), slice(0, x)), (slice(0, y), slice(x, w)),
              (slice(y, h), slice(0, x)), (slice(y, h), slice(x, w))]
    score = 0.0
    for weight, (rs, cs) in zip((w1, w2, w3, w4), blocks):
        p, g = pred[rs, cs], gt[rs, cs].astype(np.float64)
        if p.size:
            score += weight * _ssim_region(p, g)
    return score


def s_measure_single(pred: np.ndarray, gt: np.ndarray, *, alpha: float = 0.5, normalize: bool = True) -> float:
    """S-measure of one ``(H, W)`` prediction in [0, 1] against a binary mask.

    ``normalize`` rescales the prediction to [0, 1] by its min and max first, as the common
    evaluation code (PySODMetrics) does for 8-bit maps.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt) > 0.5
    if normalize and pred.max() > pred.min():
        pred = (pred - pred.min()) / (pred.max() - pred.min())
    y = gt.mean()
    if y == 0:
        return float(1.0 - pred.mean())
    if y == 1:
        return float(pred.mean())
    q = alpha * _s_object(pred, gt) + (1 - alpha) * _s_region(pred, gt)
    return max(0.0, q)


def s_measure(pred: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.5, normalize: bool = True,
              reduction: str = "mean"):
    """Structure measure ``S = α·S_o + (1 − α)·S_r`` (α = 0.5) of Fan et al., ICCV 2017, per image.

    ``S_o`` (object-aware) compares the foreground and background distributions of the prediction
    (high mean, low spread); ``S_r`` (region-aware) splits the mask at its centroid into 4 blocks and
    averages a simplified SSIM weighted by block area. An empty mask scores ``1 − mean(pred)``, a full
    one ``mean(pred)``.

    Checked against PySODMetrics 1.6: equal to 1e-12 except when the mask's centroid falls exactly on a
    half pixel, where this code rounds half up as the authors' MATLAB ``round`` does (PySODMetrics
    rounds half to even), so the quadrant split can move by one pixel. ``max_f_measure`` matches too.
    """
    p, g = _as_maps(pred, target)
    pn, gn = p.cpu().double().numpy(), g.cpu().numpy()
    values = torch.tensor([s_measure_single(pn[i], gn[i], alpha=alpha, normalize=normalize) for i in range(len(pn))],
                          dtype=torch.float64)
    return _reduce(values, reduction)


# name -> (function, task, larger_is_better). `fit` and `evaluate` look metrics up here.
METRICS = {
    "accuracy": (accuracy, "classify", True),
    "iou": (iou, "segment", True),
    "boundary_f": (boundary_f, "segment", True),
    "mae": (mae, "segment", False),
    "max_f": (max_f_measure, "segment", True),
    "s_measure": (s_measure, "segment", True),
}


def available_metrics() -> list[str]:
    return list(METRICS)
