"""Spatial (per-pixel) weighted fusion: one weight map per input, predicted from the inputs themselves.

Adaptively Spatial Feature Fusion (ASFF; Liu, Huang and Wang, "Learning Spatial Fusion for Single-Shot
Object Detection", arXiv:1911.09516) lets every pixel choose how much of each pyramid level it takes:

    a_i   = conv1×1_i(P_i)                        (B, 1, H, W)  one logit map per input
    α     = softmax over i of (a_1, …, a_n)       (B, n, H, W)  Σ_i α_i(x, y) = 1 at every pixel
    out   = Σ_i α_i ⊙ P_i                         (B, C, H, W)

``normalize="sigmoid"`` replaces the softmax by ``n`` independent sigmoids, ``α_i = σ(a_i)``: that is
FusionNet's published "dynamic feature fusion" (its weights need not sum to one, so the fused map's
scale depends on how many gates are open). The two modes differ only in the normalisation, so they
separate *normalised vs unnormalised* from *static vs per-pixel* in an ablation (lesson 08).

Cost: one 1×1 conv from C to 1 channel per input, ``n·C·H·W`` multiply-adds, and ``n`` scalars of
bias: small next to any 3×3 conv on the same maps.

Example:
    >>> import torch
    >>> fuse = SpatialWeightedFusion([16, 16, 16], 16)
    >>> maps = [torch.randn(2, 16, 8, 8), torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 2)]
    >>> out = fuse(maps)
    >>> tuple(out.shape), tuple(fuse.last_weights.shape)
    ((2, 16, 8, 8), (2, 3, 8, 8))
    >>> torch.allclose(fuse.last_weights.sum(dim=1), torch.ones(2, 8, 8))
    True
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ._checks import check_choice, check_positive_int
from .align import Align, Size

NORMALIZE = ("softmax", "sigmoid")


class SpatialWeightedFusion(nn.Module):
    """``out = Σ_i α_i ⊙ P_i(R(F_i))`` with per-pixel weights ``α`` predicted by a 1×1 conv per input.

    Args:
        in_channels: channels of each input map.
        out_channels: channels of the output (inputs with other counts get a 1×1 projection first).
        normalize: ``"softmax"`` (ASFF: the weights at each pixel sum to one) or ``"sigmoid"``
            (independent gates, as FusionNet published them).
        size, resize: alignment target and method (see ``align``); default: the first map's size.

    After each forward pass, ``last_weights`` holds ``α`` (detached), ``(B, n, H, W)``, for plotting.
    The logit convs start at zero, so at initialisation every pixel weighs the inputs equally
    (``1/n`` with softmax, ``1/2`` with sigmoid).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, normalize: Literal["softmax", "sigmoid"] = "softmax",
                 size: Size = None, resize: str = "nearest") -> None:
        super().__init__()
        self.normalize = check_choice(normalize, NORMALIZE, "normalize")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.align = Align(in_channels, out_channels, size=size, resize=resize, who="SpatialWeightedFusion")
        self.in_channels = self.align.in_channels
        n = len(self.in_channels)
        # One logit map per input, read from that input alone (ASFF's per-level 1×1 convs).
        self.logits = nn.ModuleList(nn.Conv2d(out_channels, 1, kernel_size=1) for _ in range(n))
        for conv in self.logits:                     # equal weights at the start, as the static fusions
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.last_weights: Tensor | None = None

    def weight_maps(self, aligned: Sequence[Tensor]) -> Tensor:
        """``α`` for aligned maps: ``(B, n, H, W)``, normalised over the inputs (softmax) or not (sigmoid)."""
        a = torch.cat([conv(m) for conv, m in zip(self.logits, aligned)], dim=1)    # (B, n, H, W)
        return torch.softmax(a, dim=1) if self.normalize == "softmax" else torch.sigmoid(a)

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        aligned = self.align(maps)                                   # n × (B, C, H, W)
        alpha = self.weight_maps(aligned)                            # (B, n, H, W)
        self.last_weights = alpha.detach()
        out = aligned[0] * alpha[:, 0:1]
        for i in range(1, len(aligned)):
            out = out + aligned[i] * alpha[:, i:i + 1]               # (B, C, H, W) ⊙ (B, 1, H, W)
        return out

    def extra_repr(self) -> str:
        return f"normalize={self.normalize!r}"
