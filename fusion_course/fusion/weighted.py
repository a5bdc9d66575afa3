"""Weighted-sum fusion: ``out = Σ_i w_i F_i`` with fixed, learned, softmax or fast-normalised weights.

The four ways of choosing the level weights ``w_i`` (one per input, or one per input and channel):

* ``"fixed"``: given numbers, never trained (the source article's hand-set weights);
* ``"learned"``: free parameters, trained by backprop, unnormalised;
* ``"softmax"``: ``w = softmax(v)`` over the inputs (EfficientDet's "attn" combination);
* ``"fast"``: ``w_i = relu(v_i) / (ε + Σ_j relu(v_j))`` with ``ε = 1e-4`` (EfficientDet's fast normalised
  fusion, Tan, Pang, Le, "EfficientDet: Scalable and Efficient Object Detection", CVPR 2020,
  arXiv:1911.09070): weights in [0, 1] that sum to 1 (up to ε), without the exponentials of softmax.
  A weight pushed below 0 by training is switched off (relu); should *every* weight of a level set
  (or of a channel, with ``per_channel``) fall to ≤ 0, the weights sum to 0 and the output is 0, so
  keep learning rates for these weights moderate (the EfficientDet default is to start them at 1).

Cost: a weighted sum reads and writes the same bytes as a plain sum. Computing it as
``w0*a + w1*b + w2*c`` creates a temporary per term; ``torch.stack(...)`` copies every map. Here the
multiply-adds are fused into one output buffer (``out = a*w0; out.addcmul_(b, w1); …``) with 0-dim
tensor weights, so the forward pass costs about as much as a plain sum and gradients still reach
the weights (``fusion-course bench fusion`` measures it).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_choice, check_finite_weights, check_positive_int, check_weights
from .align import Align, Size

MODES = ("fixed", "learned", "softmax", "fast")


def weighted_sum(maps: Sequence[Tensor], weights: Tensor) -> Tensor:
    """``Σ_i weights[i] · maps[i]`` with fused multiply-adds into one fresh buffer.

    Args:
        maps: n tensors ``(B, C, H, W)`` of one shape.
        weights: ``(n,)`` (one weight per map) or ``(n, C)`` (one per map and channel).

    Example:
        >>> import torch
        >>> a, b = torch.ones(1, 2, 2, 2), torch.full((1, 2, 2, 2), 2.0)
        >>> weighted_sum([a, b], torch.tensor([0.5, 0.25]))[0, 0, 0, 0].item()
        1.0
    """
    w = weights.to(maps[0].dtype)

    def coef(i: int) -> Tensor:
        return w[i] if w.dim() == 1 else w[i].view(1, -1, 1, 1)   # 0-dim, or (1, C, 1, 1) per channel

    out = maps[0] * coef(0)
    for i in range(1, len(maps)):
        # In place on our own buffer: mul's backward needs maps[0] and w, never `out`, so autograd is fine.
        out.addcmul_(maps[i], coef(i))
    return out


def normalize_weights(raw: Tensor, how: str | None, eps: float = 1e-4) -> Tensor:
    """Effective weights from raw ones: None (as is), "softmax" or "fast"; normalised over axis 0 (inputs)."""
    if how is None:
        return raw
    if how == "softmax":
        return torch.softmax(raw, dim=0)
    if how == "fast":
        w = F.relu(raw)
        return w / (eps + w.sum(dim=0))
    raise ValueError(f"normalize must be None, 'softmax' or 'fast'; got {how!r}")


class WeightedSumFusion(nn.Module):
    """Weighted sum of aligned, projected maps: ``out = Σ_i w_i · P_i(R(F_i))``.

    Args:
        in_channels: channels of each input map.
        out_channels: channels of the output (inputs with other counts get a 1×1 projection).
        mode: "fixed", "learned", "softmax" or "fast" (see the module docstring).
        weights: initial raw weights, ``n`` numbers (or ``(n, out_channels)`` with ``per_channel``).
            Default: zeros for "softmax" (uniform), ones otherwise ("fixed" with ones is a plain sum).
            For "softmax" they are logits, for "fast" the values before ``relu``.
        per_channel: one weight per input *and* output channel.
        learnable: for "softmax"/"fast": learn the raw weights (default) or keep them fixed. (The old name
            ``trainable`` still works, with a DeprecationWarning.)
        eps: the ε of fast normalisation.
        size, resize: alignment target and method (see ``align``).

    ``weights()`` returns the effective weights now (detached), e.g. to plot what training learned: the
    static-weights half of the contract in :mod:`fusion_course.fusion`.

    Example:
        >>> import torch
        >>> fuse = WeightedSumFusion([16, 16, 16], 16, mode="fast")
        >>> maps = [torch.randn(2, 16, 8, 8) for _ in range(3)]
        >>> tuple(fuse(maps).shape), [round(w, 4) for w in fuse.weights().tolist()]
        ((2, 16, 8, 8), [0.3333, 0.3333, 0.3333])
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *,
                 mode: Literal["fixed", "learned", "softmax", "fast"] = "fixed", weights: Any = None, per_channel: bool = False, learnable: bool = True, eps: float = 1e-4,
                 size: Size = None, resize: str = "bilinear", trainable: bool | None = None) -> None:
        super().__init__()
        if trainable is not None:
            warnings.warn("WeightedSumFusion(trainable=...) is now called learnable=...", DeprecationWarning, stacklevel=2)
            learnable = trainable
        self.mode = check_choice(mode, MODES, "mode")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.align = Align(in_channels, out_channels, size=size, resize=resize, who="WeightedSumFusion")
        self.in_channels = self.align.in_channels
        self.per_channel = bool(per_channel)
        if not eps > 0:
            raise ValueError(f"eps must be > 0 (it keeps fast normalisation away from 0/0); got {eps!r}")
        self.eps = float(eps)
        n = len(self.in_channels)
        if weights is None:
            weights = [0.0] * n if mode == "softmax" else [1.0] * n
        w = check_weights(weights, n, per_channel=out_channels if per_channel else None, who="WeightedSumFusion")
        learn = mode == "learned" or (mode in ("softmax", "fast") and learnable)
        if learn:
            self.weight = nn.Parameter(w)
        else:
            self.register_buffer("weight", w)
        self.normalize = {"fixed": None, "learned": None, "softmax": "softmax", "fast": "fast"}[mode]

    def effective_weights(self) -> Tensor:
        """The weights the forward pass multiplies by: ``(n,)`` or ``(n, out_channels)`` (differentiable)."""
        return normalize_weights(self.weight, self.normalize, self.eps)

    def weights(self) -> Tensor:
        """The effective weights, detached (for printing and plotting)."""
        return self.effective_weights().detach().clone()

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        aligned = self.align(maps)                       # n × (B, out_channels, H, W)
        # Catch diverged weights on the CPU. On a GPU the check would read a value back in every step
        # (the CPU waits for the GPU) and under torch.compile it would split the graph: skip it there.
        if not (self.weight.is_cuda or torch.compiler.is_compiling()):
            check_finite_weights(self.weight, who="WeightedSumFusion")
        return weighted_sum(aligned, self.effective_weights())

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, per_channel={self.per_channel}, eps={self.eps}"
