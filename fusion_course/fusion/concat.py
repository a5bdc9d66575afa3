"""Concatenation fusion: stack the aligned maps along channels, then mix them with a 1×1 convolution.

``out = conv1x1([F_1 ‖ F_2 ‖ … ‖ F_n])``: the most common fusion (U-Net, Ronneberger et al. 2015,
arXiv:1505.04597; the newsletter's Feature Fusion Block, fixed). The 1×1 convolution is a learned
per-pixel linear map from ``Σ C_i`` to ``out_channels`` channels, so concatenation can express any
per-pixel weighted sum, at the price of ``(Σ C_i) · out_channels`` weights.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import check_positive_int
from .align import Align, Size


class ConcatFusion(nn.Module):
    """Concatenate aligned maps along channels, then reduce with a 1×1 convolution.

    Equation: ``out = W · [R(F_1) ‖ … ‖ R(F_n)] + b`` per pixel, with ``R`` the resize to the target
    size and ``W`` of shape ``(out_channels, Σ C_i)``.

    Args:
        in_channels: channels of each input map.
        out_channels: channels of the output.
        size: target size (default: the first map's size); see ``align.target_size``.
        resize: "bilinear", "nearest", "max" or "avg".
        activation: optional module applied after the reduction (e.g. ``nn.ReLU()``).

    Example:
        >>> import torch
        >>> fuse = ConcatFusion([64, 64], 64)      # the newsletter's block, with the 128 -> 64 fix
        >>> x1, x2 = torch.randn(1, 64, 32, 32), torch.randn(1, 64, 32, 32)
        >>> tuple(fuse([x1, x2]).shape)
        (1, 64, 32, 32)
        >>> tuple(fuse.reduce.weight.shape)        # (out, Σ C_i, 1, 1)
        (64, 128, 1, 1)
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, size: Size = None,
                 resize: str = "bilinear", bias: bool = True, activation: nn.Module | None = None) -> None:
        super().__init__()
        self.align = Align(in_channels, None, size=size, resize=resize, who="ConcatFusion")
        self.in_channels = self.align.in_channels
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.reduce = nn.Conv2d(sum(self.in_channels), out_channels, 1, bias=bias)
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        x = torch.cat(self.align(maps), dim=1)   # (B, Σ C_i, H, W)
        return self.activation(self.reduce(x))   # (B, out_channels, H, W)
