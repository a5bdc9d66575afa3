"""Sum fusion: align and project every map to ``out_channels``, then add them.

``out = Σ_i P_i(R(F_i))``: the fusion of ResNet shortcuts (He et al. 2015, arXiv:1512.03385) and of
the FPN's top-down pathway (Lin et al. 2017, arXiv:1612.03144). It has no parameters beyond the 1×1
projections ``P_i`` (the identity when ``C_i == out_channels``) and is the cost baseline that
``fusion-course bench fusion`` compares every other operator with.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ._checks import check_positive_int
from .align import Align, Size


def sum_maps(maps: Sequence[Tensor]) -> Tensor:
    """``maps[0] + maps[1] + …`` into one fresh tensor (in-place adds after the first: no temporaries)."""
    if len(maps) == 1:
        return maps[0]
    out = maps[0] + maps[1]
    for m in maps[2:]:
        out += m   # safe for autograd: `out` is our own fresh tensor and add's backward does not need it
    return out


class SumFusion(nn.Module):
    """Element-wise sum of the aligned, projected maps.

    Equation: ``out = Σ_i P_i(R(F_i))``.

    Example:
        >>> import torch
        >>> fuse = SumFusion([16, 32], 16)
        >>> tuple(fuse([torch.randn(2, 16, 8, 8), torch.randn(2, 32, 4, 4)]).shape)
        (2, 16, 8, 8)
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, size: Size = None,
                 resize: str = "bilinear") -> None:
        super().__init__()
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.align = Align(in_channels, out_channels, size=size, resize=resize, who="SumFusion")
        self.in_channels = self.align.in_channels

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        return sum_maps(self.align(maps))   # (B, out_channels, H, W)
