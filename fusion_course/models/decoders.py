"""Segmentation decoders for lesson 05: does fusing encoder levels help a dense task?

One encoder, several decoders, one question. The encoder has four stride-2 stages (default
16/32/48/64 channels), so its deepest map is 1/16 of the input: plenty of context, little detail.
Each decoder turns the encoder's levels ``C1 … C4`` (strides 2, 4, 8, 16) into mask logits:

* ``"deep"``: only ``C4``, projected and upsampled (the decoder of a plain classifier-style trunk);
* ``"sum"``: ``Σ_i P_i(up(C_i))`` (``fusion_course.fusion.SumFusion``);
* ``"concat"``: ``W [up(C_1) ‖ … ‖ up(C_4)]`` (``ConcatFusion``);
* ``"weighted"``: ``Σ_i w_i P_i(up(C_i))``, ``w_i = relu(v_i) / (ε + Σ_j relu(v_j))``: fast-normalised
  weights (``WeightedSumFusion(mode="fast")``, EfficientDet, Tan et al., arXiv:1911.09070);
* ``"fpn"``: a top-down pathway ``P_i = conv3×3(conv1×1(C_i) + up(inner_{i+1}))`` (``FPN``, Lin et al.,
  "Feature Pyramid Networks for Object Detection", arXiv:1612.03144), using its finest output.

Every decoder then applies the same head at stride 2 (3×3 conv + BN + ReLU, 1×1 conv to one logit)
and bilinear upsampling to the input size. The fused map's width is chosen per decoder so that all
models have (nearly) the same number of parameters (``param_budget``): a difference in IoU then comes
from *which* levels the decoder sees, not from a bigger model.

Example:
    >>> import torch
    >>> net = SegmentationNet("fpn")
    >>> net(torch.randn(2, 3, 48, 48)).shape
    torch.Size([2, 1, 48, 48])
    >>> [tuple(f.shape) for f in net.encoder(torch.randn(1, 3, 48, 48))]
    [(1, 16, 24, 24), (1, 32, 12, 12), (1, 48, 6, 6), (1, 64, 3, 3)]
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..fusion.layers import ConvBNAct
from ..profiling import count_params
from .registry import ModelSpec

__all__ = ["DECODERS", "Encoder", "SegmentationNet", "count_params", "fit_width", "build_segmenter", "MODEL_SPECS"]

DECODERS = ("deep", "sum", "concat", "weighted", "fpn")

# Default budget: the encoder (≈116k) plus a decoder of ≈14k; lesson 05 prints every model's count.
DEFAULT_BUDGET = 130_000


class Encoder(nn.Module):
    """Stride-2 stages, each ``CBR(stride 2) → CBR``; returns every stage's map (finest first).

    Args:
        in_channels: image channels.
        channels: channels of each stage; ``len(channels)`` stages, stage i has stride ``2**(i+1)``.
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (16, 32, 48, 64)):
        super().__init__()
        if len(channels) < 1:
            raise ValueError("channels must list at least one stage")
        self.channels = [int(c) for c in channels]
        stages, c_prev = [], in_channels
        for c in self.channels:
            stages.append(nn.Sequential(ConvBNAct(c_prev, c, 3, stride=2), ConvBNAct(c, c, 3)))
            c_prev = c
        self.stages = nn.ModuleList(stages)

    @property
    def stride(self) -> int:
        return 2 ** len(self.stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)                 # (B, C_i, H / 2^(i+1), W / 2^(i+1))
            feats.append(x)
        return feats


class _DeepOnly(nn.Module):
    """The no-fusion baseline: project the deepest map and upsample it to the finest level's size."""

    def __init__(self, in_channels: Sequence[int], out_channels: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels[-1], out_channels, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        deep = self.proj(feats[-1])                                   # (B, D, H/16, W/16)
        return F.interpolate(deep, size=feats[0].shape[-2:], mode="bilinear", align_corners=False)


class _FPNFinest(nn.Module):
    """``fusion_course.fusion.FPN`` over the levels; keeps only its finest output (stride 2)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int):
        super().__init__()
        from ..fusion import FPN

        self.names = [f"c{i + 1}" for i in range(len(in_channels))]
        self.fpn = FPN(list(in_channels), out_channels)
        # Only the finest output is used, so the 3×3 output convs of the coarser levels would be
        # parameters that never see a gradient: drop them, so the budget buys only what is used.
        for i in range(1, len(self.fpn.layer_blocks)):
            self.fpn.layer_blocks[i] = nn.Identity()

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        out = self.fpn(OrderedDict(zip(self.names, feats)))
        return out[self.names[0]]                                     # (B, D, H/2, W/2)


def _make_fusion(decoder: str, in_channels: Sequence[int], width: int) -> nn.Module:
    from .. import fusion

    if decoder == "deep":
        return _DeepOnly(in_channels, width)
    if decoder == "sum":
        return fusion.SumFusion(list(in_channels), width)
    if decoder == "concat":
        return fusion.ConcatFusion(list(in_channels), width)
    if decoder == "weighted":
        return fusion.WeightedSumFusion(list(in_channels), width, mode="fast")
    if decoder == "fpn":
        return _FPNFinest(in_channels, width)
    raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")


class SegmentationNet(nn.Module):
    """Encoder + one decoder: ``logits = up(head(fuse(C_1, …, C_n)))``, shape ``(B, 1, H, W)``.

    Args:
        decoder: one of ``DECODERS``.
        in_channels: image channels.
        channels: encoder stage channels.
        width: channels of the fused map; ``None``: chosen by :func:`fit_width` to meet ``param_budget``.
        param_budget: total parameters to aim for when ``width`` is None.
        out_channels: logit channels (1: a binary mask).
    """

    def __init__(self, decoder: str = "fpn", *, in_channels: int = 3, channels: Sequence[int] = (16, 32, 48, 64),
                 width: int | None = None, param_budget: int = DEFAULT_BUDGET, out_channels: int = 1):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        if width is None:
            width = fit_width(decoder, param_budget, in_channels=in_channels, channels=channels)
        self.decoder_name = decoder
        self.width = int(width)
        self.encoder = Encoder(in_channels, channels)
        self.fuse = _make_fusion(decoder, self.encoder.channels, self.width)
        self.head = nn.Sequential(ConvBNAct(self.width, self.width, 3), nn.Conv2d(self.width, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
        s = self.encoder.stride
        if x.shape[-2] % s or x.shape[-1] % s:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} is not a multiple of the encoder's stride {s}; "
                f"crop or resize the images to a multiple of {s} (e.g. 48 or 64)"
            )
        feats = self.encoder(x)                     # n × (B, C_i, H/2^(i+1), W/2^(i+1))
        fused = self.fuse(feats)                    # (B, width, H/2, W/2)
        logits = self.head(fused)                   # (B, 1, H/2, W/2)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"decoder={self.decoder_name!r}, width={self.width}"


def fit_width(decoder: str, param_budget: int, *, in_channels: int = 3,
              channels: Sequence[int] = (16, 32, 48, 64), lo: int = 4, hi: int = 256) -> int:
    """The fused-map width whose model has the parameter count closest to ``param_budget``.

    Parameters grow monotonically with the width, so a binary search finds it in a few builds.
    """
    def params(w: int) -> int:
        return count_params(SegmentationNet(decoder, in_channels=in_channels, channels=channels, width=w))

    if params(lo) >= param_budget:
        return lo
    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if params(mid) < param_budget:
            a = mid
        else:
            b = mid
    return a if abs(params(a) - param_budget) <= abs(params(b) - param_budget) else b


def build_segmenter(decoder: str):
    """A registry builder for ``decoder``: ``builder(in_channels=C, num_classes=K, **options)``."""

    def builder(in_channels: int = 3, num_classes: int = 1, **options) -> SegmentationNet:
        # Binary masks: one logit per pixel. num_classes 1 or 2 both mean "foreground vs background".
        if num_classes not in (1, 2):
            raise ValueError(f"the segmentation decoders predict a binary mask; num_classes must be 1 or 2, "
                             f"got {num_classes}")
        return SegmentationNet(decoder, in_channels=in_channels, **options)

    builder.__name__ = f"build_seg_{decoder}"
    return builder


_DESCRIPTIONS = {
    "deep": "4-stage encoder, decoder on the deepest level only (no fusion)",
    "sum": "4-stage encoder, decoder sums all levels (1×1 projections + upsampling)",
    "concat": "4-stage encoder, decoder concatenates all levels + 1×1 reduction",
    "weighted": "4-stage encoder, decoder with fast-normalised level weights",
    "fpn": "4-stage encoder, FPN top-down decoder (finest output)",
}

MODEL_SPECS = [
    ModelSpec(name=f"seg-{d}", builder=build_segmenter(d), task="segment", default_dataset="texture-shapes",
              description=_DESCRIPTIONS[d], levels=("c1", "c2", "c3", "c4") if d != "deep" else ("c4",),
              size_multiple=16, min_size=16, options={"param_budget": DEFAULT_BUDGET})
    for d in DECODERS
]
