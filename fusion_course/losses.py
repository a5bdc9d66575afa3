"""The pixel position aware (PPA) loss of F3Net, and deep supervision over side outputs.

Wei, Wang, Huang, "F3Net: Fusion, Feedback and Focus for Salient Object Detection", AAAI 2020,
arXiv:1911.11445, Sec. 3.4.

Plain binary cross-entropy treats every pixel alike, so a saliency network learns the easy interior
of an object and blurs its outline. PPA gives each pixel a weight that grows near the boundary of the
ground-truth mask ``g``:

    w = 1 + 5 · | avgpool_31×31(g) − g |        (stride 1, padding 15: same size as g)

Far from a boundary the 31×31 window holds one class only, so the local mean equals the pixel and
``w = 1``; on a straight boundary about half the window disagrees with the pixel (``w ≈ 3.5``), and
at a convex corner about three quarters do (``w`` up to ≈ 4.75).
The loss adds a weighted BCE and a weighted IoU, where ``p = sigmoid(logits)``:

    wBCE = Σ w · bce(logits, g) / Σ w
    wIoU = 1 − (Σ w·p·g + 1) / (Σ w·(p + g) − Σ w·p·g + 1)
    PPA  = wBCE + wIoU        (sums per image, then the mean over the batch)

The released code computes the BCE term with ``F.binary_cross_entropy_with_logits(..., reduce='none')``.
``reduce`` is a legacy boolean argument: the string ``'none'`` is truthy, so torch reads it as
``reduce=True`` and returns the *mean* BCE, a scalar. ``(w * scalar).sum() / w.sum()`` is then that
scalar again: the boundary weighting of the BCE term does nothing. This module uses
``reduction='none'``; tests/test_losses.py shows the difference against the real torch function.

>>> import torch
>>> from fusion_course.losses import ppa_loss, ppa_weight_map
>>> mask = torch.zeros(2, 1, 64, 64); mask[:, :, 16:48, 16:48] = 1
>>> ppa_weight_map(mask).shape, round(float(ppa_weight_map(mask).max()), 2)
(torch.Size([2, 1, 64, 64]), 4.67)
>>> ppa_loss(torch.zeros(2, 1, 64, 64), mask).shape
torch.Size([])
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DEEP_SUPERVISION_WEIGHTS",
    "ppa_weight_map",
    "weighted_bce",
    "weighted_iou",
    "bce_iou_loss",
    "ppa_released_loss",
    "ppa_loss",
    "bce_loss",
    "deep_supervision_loss",
    "DeepSupervisionLoss",
]

# Weights of the final prediction and of the side outputs at levels 2, 3, 4, 5 (paper, Eq. 9).
DEEP_SUPERVISION_WEIGHTS: tuple[float, ...] = (1.0, 1 / 2, 1 / 4, 1 / 8, 1 / 16)


def _check_pair(logits: Tensor, mask: Tensor, what: str) -> None:
    if not isinstance(logits, Tensor) or not isinstance(mask, Tensor):
        raise TypeError(f"{what}: expected two tensors (logits, mask), got {type(logits).__name__} and "
                        f"{type(mask).__name__}")
    if mask.dim() != 4:
        raise ValueError(f"{what}: the mask must be (B, 1, H, W), got shape {tuple(mask.shape)}; "
                         f"add the channel axis with mask.unsqueeze(1)")
    if logits.shape != mask.shape:
        raise ValueError(f"{what}: logits {tuple(logits.shape)} and mask {tuple(mask.shape)} differ in shape; "
                         f"resize the logits to the mask (deep_supervision_loss does it for side outputs)")


def ppa_weight_map(mask: Tensor, *, kernel_size: int = 31, strength: float = 5.0) -> Tensor:
    """Boundary weight ``w = 1 + strength · |avgpool_k×k(mask) − mask|`` with stride 1, padding k // 2.

    Args:
        mask: ground truth ``(B, 1, H, W)`` in [0, 1].
        kernel_size: the odd window of the local mean (31 in the paper).
        strength: how much more a boundary pixel counts (5 in the paper).

    Returns:
        ``(B, 1, H, W)`` weights ≥ 1, the same size as ``mask``.

    ``count_include_pad=True`` (torch's default, as in the paper's code) counts the zero padding,
    so a foreground pixel near the image border also gets a weight above 1.

    >>> m = torch.zeros(1, 1, 40, 40); m[..., 10:30, 10:30] = 1
    >>> w = ppa_weight_map(m); w.shape, float(w[0, 0, 20, 20]) > 1.0, float(w[0, 0, 0, 0]) > 1.0
    (torch.Size([1, 1, 40, 40]), True, True)
    """
    if not isinstance(mask, Tensor) or mask.dim() != 4:
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"ppa_weight_map: expected a mask of shape (B, 1, H, W), got {shape}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"ppa_weight_map: kernel_size must be odd and positive, got {kernel_size}")
    pad = kernel_size // 2
    # A k×k box mean is a k×1 mean of 1×k means (zero padding counted in both, as in the k×k pool), so
    # two 1-D pools give F.avg_pool2d(mask, k, stride=1, padding=k // 2) to float rounding at 2k
    # instead of k² adds per pixel: 62 instead of 961 for the paper's 31×31 window.
    local_mean = F.avg_pool2d(mask, kernel_size=(kernel_size, 1), stride=1, padding=(pad, 0))
    local_mean = F.avg_pool2d(local_mean, kernel_size=(1, kernel_size), stride=1, padding=(0, pad))  # (B, 1, H, W)
    return 1.0 + strength * (local_mean - mask).abs()


def weighted_bce(logits: Tensor, mask: Tensor, weight: Tensor) -> Tensor:
    """Per-image ``Σ w·bce / Σ w`` (shape ``(B,)``), with the per-pixel BCE (``reduction='none'``)."""
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")  # (B, 1, H, W)
    return (weight * bce).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))


def weighted_iou(logits: Tensor, mask: Tensor, weight: Tensor) -> Tensor:
    """Per-image ``1 − (Σ w·p·g + 1) / (Σ w·(p+g) − Σ w·p·g + 1)`` with ``p = sigmoid(logits)`` (shape ``(B,)``).

    The +1 smooths the ratio so an empty mask predicted empty costs 0, not 0/0.
    """
    prob = torch.sigmoid(logits)
    inter = (weight * prob * mask).sum(dim=(1, 2, 3))
    union = (weight * (prob + mask)).sum(dim=(1, 2, 3))
    return 1.0 - (inter + 1.0) / (union - inter + 1.0)


def ppa_loss(logits: Tensor, mask: Tensor, weight: Tensor | None = None) -> Tensor:
    """Pixel position aware loss ``wBCE + wIoU``, averaged over the batch (a scalar).

    Args:
        logits: ``(B, 1, H, W)`` raw scores (before the sigmoid).
        mask: ``(B, 1, H, W)`` ground truth in [0, 1].
        weight: ``ppa_weight_map(mask)``, when already computed (deep supervision reuses it).

    >>> g = torch.zeros(1, 1, 32, 32); g[..., 8:24, 8:24] = 1
    >>> round(float(ppa_loss(torch.where(g > 0, 8.0, -8.0), g)), 3)   # a confident, correct prediction
    0.001
    """
    _check_pair(logits, mask, "ppa_loss")
    if weight is None:
        weight = ppa_weight_map(mask)
    return (weighted_bce(logits, mask, weight) + weighted_iou(logits, mask, weight)).mean()


def bce_loss(logits: Tensor, mask: Tensor) -> Tensor:
    """Plain binary cross-entropy over all pixels: the baseline PPA is compared with."""
    _check_pair(logits, mask, "bce_loss")
    return F.binary_cross_entropy_with_logits(logits, mask)


def bce_iou_loss(logits: Tensor, mask: Tensor) -> Tensor:
    """BCE + IoU with every pixel weighted 1: PPA's two terms without its boundary weighting.

    Lesson 06 uses it to separate PPA's two changes to plain BCE: the added IoU term, and the weights.
    """
    _check_pair(logits, mask, "bce_iou_loss")
    ones = torch.ones_like(mask)
    return (weighted_bce(logits, mask, ones) + weighted_iou(logits, mask, ones)).mean()


def ppa_released_loss(logits: Tensor, mask: Tensor, weight: Tensor | None = None) -> Tensor:
    """PPA as the released F3Net code computes it: ``reduce='none'`` makes its BCE the plain mean.

    ``F.binary_cross_entropy_with_logits(..., reduce='none')`` reads the legacy boolean ``reduce`` as
    True and returns the scalar mean BCE, so ``(w·bce).sum() / w.sum()`` is that scalar again: only the
    IoU term is boundary-weighted. Kept to measure what the slip costs, not to train with.
    """
    _check_pair(logits, mask, "ppa_released_loss")
    if weight is None:
        weight = ppa_weight_map(mask)
    mean_bce = F.binary_cross_entropy_with_logits(logits, mask)       # what reduce='none' returned
    return mean_bce + weighted_iou(logits, mask, weight).mean()


_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "ppa": ppa_loss, "bce": bce_loss, "bce_iou": bce_iou_loss, "ppa_released": ppa_released_loss}


def deep_supervision_loss(
    outputs: Tensor | Sequence[Tensor],
    mask: Tensor,
    *,
    loss: str | Callable[[Tensor, Tensor], Tensor] = "ppa",
    weights: Sequence[float] = DEEP_SUPERVISION_WEIGHTS,
    n_main: int = 1,
) -> Tensor:
    """Weighted sum of a loss over a network's outputs: final prediction first, then side outputs.

    Each output is resized (bilinear) to the mask's size before the loss. The first ``n_main``
    outputs are main predictions (with F3Net's cascaded decoder, one per sub-decoder); they share the
    first weight equally, as the paper's code does with ``(loss1u + loss2u) / 2``. The side outputs
    that follow get ``weights[1], weights[2], ...``, by default 1/2, 1/4, 1/8, 1/16:

        L = weights[0] · mean_{k < n_main} ℓ(out_k) + Σ_j weights[j] · ℓ(out_{n_main + j − 1})

    Args:
        outputs: a tensor (one prediction) or a list of ``(B, 1, h, w)`` logits.
        mask: ``(B, 1, H, W)`` ground truth in [0, 1].
        loss: ``"ppa"``, ``"bce"``, ``"bce_iou"``, ``"ppa_released"`` or a callable ``(logits, mask) -> scalar``.
        weights: the main weight, then one weight per side output.
        n_main: how many leading outputs are main predictions.

    >>> g = torch.zeros(2, 1, 64, 64); g[..., 20:44, 20:44] = 1
    >>> outs = [torch.zeros(2, 1, 64, 64), torch.zeros(2, 1, 16, 16), torch.zeros(2, 1, 8, 8)]
    >>> deep_supervision_loss(outs, g).shape
    torch.Size([])
    """
    if isinstance(outputs, Tensor):
        # A model in eval mode returns the final prediction alone: score it as the main output.
        outputs, n_main = [outputs], 1
    outputs = list(outputs)
    fn = _LOSSES.get(loss) if isinstance(loss, str) else loss
    if fn is None:
        raise ValueError(f"deep_supervision_loss: unknown loss {loss!r}; use one of {sorted(_LOSSES)} or a callable")
    if not 1 <= n_main <= len(outputs):
        raise ValueError(f"deep_supervision_loss: n_main={n_main} but {len(outputs)} outputs were given")
    n_side = len(outputs) - n_main
    if n_side > len(weights) - 1:
        raise ValueError(
            f"deep_supervision_loss: {n_side} side outputs but only {len(weights) - 1} side weights "
            f"({tuple(weights)}); pass weights= with one weight for the main prediction and one per side output"
        )
    size = mask.shape[-2:]
    if fn in (ppa_loss, ppa_released_loss):   # one weight map serves every output
        weight, weighted = ppa_weight_map(mask), fn
        fn = lambda out, m: weighted(out, m, weight)  # noqa: E731
    total = mask.new_zeros(())
    for k, out in enumerate(outputs):
        if not isinstance(out, Tensor) or out.dim() != 4:
            raise ValueError(f"deep_supervision_loss: output {k} must be a (B, 1, h, w) tensor, got "
                             f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}")
        if out.shape[-2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        w = weights[0] / n_main if k < n_main else weights[k - n_main + 1]
        total = total + w * fn(out, mask)
    return total


class DeepSupervisionLoss:
    """``deep_supervision_loss`` as a callable ``(outputs, mask) -> scalar``, e.g. for ``train.fit(loss=...)``.

    >>> crit = DeepSupervisionLoss("ppa", n_main=2)
    >>> crit
    DeepSupervisionLoss(loss='ppa', n_main=2, weights=(1.0, 0.5, 0.25, 0.125, 0.0625))
    """

    def __init__(self, loss: str | Callable[[Tensor, Tensor], Tensor] = "ppa", *, n_main: int = 1,
                 weights: Sequence[float] = DEEP_SUPERVISION_WEIGHTS) -> None:
        if isinstance(loss, str) and loss not in _LOSSES:
            raise ValueError(f"DeepSupervisionLoss: unknown loss {loss!r}; use one of {sorted(_LOSSES)} or a callable")
        self.loss, self.n_main, self.weights = loss, int(n_main), tuple(float(w) for w in weights)

    def __call__(self, outputs: Tensor | Sequence[Tensor], mask: Tensor) -> Tensor:
        return deep_supervision_loss(outputs, mask, loss=self.loss, weights=self.weights, n_main=self.n_main)

    def __repr__(self) -> str:
        name = self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", "custom")
        return f"DeepSupervisionLoss(loss={name!r}, n_main={self.n_main}, weights={self.weights})"
