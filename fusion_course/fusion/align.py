"""Alignment: bring feature maps from different levels to one spatial size and one channel count.

Maps from different depths of a CNN differ in size (stride 4, 8, 16, ...) and in channels, so
nothing can be added or gated until they match. Two operations do it, as in every multi-level
design (FPN, Lin et al. 2017, arXiv:1612.03144; the TensorFlow article of the course):

* resize: bilinear or nearest interpolation (up or down), or max / average pooling (down only);
* project: a 1×1 convolution ``C_i -> C``, a per-pixel linear map of the channels.

Where the target is larger than a map, the map is projected first and then upsampled (the
convolution runs on fewer pixels); where it is smaller, the map is resized first. For bilinear and
nearest resizing both orders give the same result, because a 1×1 convolution and a spatial
interpolation whose weights sum to one commute. Pooling does not commute with it: pooling always
comes first, as in the article (max pooling, then the 1×1 convolution).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_channel_list, check_choice, check_inputs, check_maps, check_positive_int

RESIZE_MODES = ("bilinear", "nearest", "max", "avg")
SIZE_RULES = ("first", "last", "smallest", "largest")

Size = Union[None, int, str, Sequence[int]]


def target_size(maps: Sequence[Tensor], size: Size = None) -> tuple[int, int]:
    """The ``(H, W)`` that ``size`` names for these maps.

    ``None`` or ``"first"``: the first map's size; ``"last"``: the last map's; ``"smallest"`` /
    ``"largest"``: by pixel count; an int ``s``: ``(s, s)``; a pair: itself.

    ``"first"`` and ``"last"`` read one shape and trace under ``torch.compile`` without a graph break:
    with levels listed finest first, as every model of the course lists them, ``"first"`` fuses at the
    finest level and ``"last"`` at the coarsest, so a caller names the level and never reorders its maps.
    ``"smallest"`` and ``"largest"`` compare every map (a ``max(..., key=...)``) and so do not depend on
    the order of ``maps``.

    Example:
        >>> import torch
        >>> maps = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4), torch.zeros(1, 4, 2, 2)]
        >>> target_size(maps), target_size(maps, "last")
        ((8, 8), (2, 2))
        >>> target_size(maps, "smallest"), target_size(maps, "largest")
        ((2, 2), (8, 8))
        >>> target_size(maps, 5), target_size(maps, (6, 3))
        ((5, 5), (6, 3))
    """
    if size is None or size in ("first", "last"):
        m = maps[-1] if size == "last" else maps[0]
        return int(m.shape[-2]), int(m.shape[-1])
    if isinstance(size, str):
        check_choice(size, SIZE_RULES, "size")
        pick = min if size == "smallest" else max
        m = pick(maps, key=lambda t: t.shape[-2] * t.shape[-1])
        return int(m.shape[-2]), int(m.shape[-1])
    if isinstance(size, int) and not isinstance(size, bool):
        check_positive_int(size, "size")
        return size, size
    if isinstance(size, Sequence) and len(size) == 2:
        h, w = (check_positive_int(int(s), "size") for s in size)
        return h, w
    raise ValueError(f"size must be None, 'first', 'last', 'smallest', 'largest', an int or (H, W); got {size!r}")


def resize(x: Tensor, size: tuple[int, int], mode: str = "bilinear") -> Tensor:
    """Resize one ``(B, C, H, W)`` map to ``size`` (a no-op when it already has that size).

    ``"max"``/``"avg"`` pool with adaptive windows (ordinary ``k×k`` pooling when the ratio is an
    integer ``k``); they can only shrink a map, so asking them to grow one raises a ValueError.
    """
    check_choice(mode, RESIZE_MODES, "mode")
    h, w = size
    if x.shape[-2] == h and x.shape[-1] == w:
        return x
    if mode == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    if x.shape[-2] < h or x.shape[-1] < w:
        raise ValueError(
            f"{mode} pooling can only shrink a map, but a map of shape {tuple(x.shape)} must grow to {size}; "
            "use mode='bilinear' or 'nearest', or size='smallest' to align every map to the smallest one"
        )
    if mode == "max":
        return F.adaptive_max_pool2d(x, size)
    return F.adaptive_avg_pool2d(x, size)


def align_features(maps: Sequence[Tensor], size: Size = None, mode: str = "bilinear") -> list[Tensor]:
    """Resize every map to one spatial size (channels untouched). No parameters.

    Args:
        maps: ``(B, C_i, H_i, W_i)`` tensors with one batch size.
        size: target: None (the first map's size), "smallest", "largest", an int or ``(H, W)``.
        mode: "bilinear", "nearest", "max" or "avg" (pooling shrinks only).

    Example:
        >>> import torch
        >>> maps = [torch.randn(2, 8, 32, 32), torch.randn(2, 16, 16, 16), torch.randn(2, 32, 8, 8)]
        >>> [tuple(m.shape) for m in align_features(maps)]
        [(2, 8, 32, 32), (2, 16, 32, 32), (2, 32, 32, 32)]
        >>> [tuple(m.shape) for m in align_features(maps, size="smallest", mode="max")]
        [(2, 8, 8, 8), (2, 16, 8, 8), (2, 32, 8, 8)]
    """
    maps = check_maps(maps, who="align_features")
    hw = target_size(maps, size)
    return [resize(m, hw, mode) for m in maps]


class Align(nn.Module):
    """Resize a list of maps to one size and project each to ``out_channels`` with a 1×1 conv.

    ``A_i = P_i(R(F_i))`` where ``R`` resizes to the target size and ``P_i`` is a 1×1 convolution
    ``C_i -> out_channels`` (the identity when ``C_i == out_channels``, or when ``out_channels`` is
    None: resize only). The forward pass validates its inputs (count, rank, channels, batch).

    Args:
        in_channels: channels of each input map.
        out_channels: common channel count, or None to keep each map's channels.
        size: target size rule (see :func:`target_size`); default: the first map's size.
        resize: "bilinear", "nearest", "max" or "avg", the ``resize=`` of every fusion operator.
            (``mode=`` is the same option under its earlier name, as lesson 04 writes it.)
        bias: whether the 1×1 projections have a bias.

    Example:
        >>> import torch
        >>> align = Align([8, 16, 32], 16)
        >>> maps = [torch.randn(2, 8, 32, 32), torch.randn(2, 16, 16, 16), torch.randn(2, 32, 8, 8)]
        >>> [tuple(m.shape) for m in align(maps)]
        [(2, 16, 32, 32), (2, 16, 32, 32), (2, 16, 32, 32)]
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int | None = None, *,
                 size: Size = None, resize: str = "bilinear", bias: bool = True, who: str = "Align",
                 mode: str | None = None) -> None:
        super().__init__()
        self.in_channels = check_channel_list(in_channels)
        self.out_channels = None if out_channels is None else check_positive_int(out_channels, "out_channels")
        self.size = size
        self.resize = check_choice(resize if mode is None else mode, RESIZE_MODES, "resize")
        self.who = who
        self.proj = nn.ModuleList(
            nn.Identity() if out_channels is None or c == out_channels else nn.Conv2d(c, out_channels, 1, bias=bias)
            for c in self.in_channels
        )

    @property
    def channels(self) -> list[int]:
        """Channels of each aligned map."""
        return [self.out_channels or c for c in self.in_channels]

    def forward(self, maps: Sequence[Tensor]) -> list[Tensor]:
        maps = check_inputs(maps, self.in_channels, who=self.who)
        hw = target_size(maps, self.size)
        out = []
        for x, proj in zip(maps, self.proj):
            if isinstance(proj, nn.Identity):
                out.append(resize(x, hw, self.resize))
            elif x.shape[-2] * x.shape[-1] < hw[0] * hw[1] and self.resize in ("bilinear", "nearest"):
                out.append(resize(proj(x), hw, self.resize))   # grow after the 1×1 conv: fewer pixels to project
            else:
                out.append(proj(resize(x, hw, self.resize)))   # shrink (or pool) before the 1×1 conv
        return out

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, size={self.size!r}, resize={self.resize!r}"
