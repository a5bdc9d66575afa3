"""Build any list-in / map-out fusion module by name.

    fuse = create_fusion("weighted", in_channels=[16, 32, 64], out_channels=32, mode="fast")
    out = fuse([f1, f2, f3])     # (B, 32, H_1, W_1)

The FPN (ordered dict in and out) and CFM (two maps in, two out) have other signatures and are not
in the registry; build them directly.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from .aff import AFF, IAFF
from .attention import ChannelAttentionFusion
from .block import FeatureFusionBlock
from .concat import ConcatFusion
from .formula import FormulaFusion
from .gated import GatedFusion
from .spatial import SpatialWeightedFusion
from .sum import SumFusion
from .weighted import WeightedSumFusion

# name -> class; each is called as cls(in_channels, out_channels, **options).
FUSIONS: dict[str, Callable[..., nn.Module]] = {
    "sum": SumFusion,
    "concat": ConcatFusion,
    "weighted": WeightedSumFusion,
    "formula": FormulaFusion,
    "gated": GatedFusion,
    "attention": ChannelAttentionFusion,
    "spatial": SpatialWeightedFusion,
    "aff": AFF,
    "iaff": IAFF,
    "block": FeatureFusionBlock,
}


def available_fusions() -> list[str]:
    """Names accepted by :func:`create_fusion`, in registry order.

    >>> available_fusions()
    ['sum', 'concat', 'weighted', 'formula', 'gated', 'attention', 'spatial', 'aff', 'iaff', 'block']
    """
    return list(FUSIONS)


def create_fusion(name: str, in_channels: Sequence[int], out_channels: int, **options: Any) -> nn.Module:
    """Build the fusion module registered as ``name``; keyword ``options`` go to its constructor.

    Example:
        >>> import torch
        >>> fuse = create_fusion("weighted", [16, 32, 64], 32, mode="fast")
        >>> maps = [torch.randn(2, 16, 32, 32), torch.randn(2, 32, 16, 16), torch.randn(2, 64, 8, 8)]
        >>> tuple(fuse(maps).shape)
        (2, 32, 32, 32)
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}; choose one of: {', '.join(FUSIONS)}")
    try:
        return FUSIONS[key](in_channels, out_channels, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"create_fusion({name!r}): {exc}; see help({FUSIONS[key].__name__}) for its options") from None
        raise
