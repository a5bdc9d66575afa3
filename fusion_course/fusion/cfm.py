"""F3Net's Cross Feature Module (CFM): multiplicative fusion of a low-level and a high-level map.

Wei, Wang, Huang, "F3Net: Fusion, Feedback and Focus for Salient Object Detection", AAAI 2020,
arXiv:1911.11445. Plain addition or concatenation passes on the background noise of the low level
and the blur of the high level; multiplying them keeps only what *both* agree on. With
``CBR = ReLU(BN(conv3×3))`` and ``high`` first upsampled (bilinear) to ``low``'s size:

    h1 = CBR(low),   h2 = CBR(h1)
    v1 = CBR(high),  v2 = CBR(v1)
    f  = h2 ⊙ v2                                   the cross (multiplicative) fusion
    h3 = CBR(f) + h1,  h4 = CBR(h3)
    v3 = CBR(f) + v1,  v4 = CBR(v3)                returns (h4, v4)

Eight 3×3 convolutions with bias plus their BatchNorms: 296,448 parameters at 64 channels.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_inputs, check_positive_int
from .layers import ConvBNAct


def cbr(channels: int) -> ConvBNAct:
    """3×3 conv (with bias, as in the reference code) + BatchNorm + ReLU."""
    return ConvBNAct(channels, channels, 3, bias=True)


class CFM(nn.Module):
    """Cross feature module: ``forward(low, high) -> (h4, v4)``, both at ``low``'s size.

    Example:
        >>> import torch
        >>> cfm = CFM(64)
        >>> h, v = cfm(torch.randn(2, 64, 16, 16), torch.randn(2, 64, 8, 8))
        >>> tuple(h.shape), tuple(v.shape), sum(p.numel() for p in cfm.parameters())
        ((2, 64, 16, 16), (2, 64, 16, 16), 296448)
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.h1, self.h2, self.h3, self.h4 = (cbr(channels) for _ in range(4))
        self.v1, self.v2, self.v3, self.v4 = (cbr(channels) for _ in range(4))

    def cross(self, h2: Tensor, v2: Tensor) -> Tensor:
        """The fusion step, ``h2 ⊙ v2``: both paths must agree for a response. Ablations override only this."""
        return h2 * v2

    def forward(self, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
        low, high = check_inputs([low, high], [self.channels, self.channels], who="CFM (inputs: 0 = low, 1 = high)")
        if high.shape[-2:] != low.shape[-2:]:
            high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        h1 = self.h1(low)
        h2 = self.h2(h1)
        v1 = self.v1(high)
        v2 = self.v2(v1)
        fuse = self.cross(h2, v2)          # (B, C, H, W)
        h4 = self.h4(self.h3(fuse) + h1)
        v4 = self.v4(self.v3(fuse) + v1)
        return h4, v4
