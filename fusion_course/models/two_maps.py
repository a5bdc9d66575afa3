"""The tiny models of lesson 02 (two maps, one treasure): one map alone, or both fused.

The newsletter's Easy section ("Feature Fusion Block") describes two treasure maps, each showing only
part of the answer, and a tool that combines them. :class:`TwoMapsNet` is that tool at its smallest:

    A ─ encoder_A ─┐
                   ├─ fusion (concat | sum | gated) ─ flatten ─ linear ─ logits
    B ─ encoder_B ─┘

with ``inputs="A"`` or ``"B"`` dropping the other branch (the single-map baselines, same encoder and
head). The fusion operators are the course's: ``ConcatFusion`` (``W·[a‖b]``), ``SumFusion`` (``a + b``)
and ``GatedFusion`` (``g_A·a + g_B·b`` with per-sample sigmoid gates), see ``fusion_course.fusion``.

``fusion="early"`` is the baseline every fusion design must beat: no branches at all, the two maps
enter **one** encoder as the two channels of one image, so they are mixed by its very first conv
(a conv over ``[A‖B]`` equals ``conv_A(A) + conv_B(B)``: early fusion sums per-map convolutions)::

    [A ‖ B] ─ encoder (2 input channels) ─ flatten ─ linear ─ logits

The head flattens the ``(C, H/4, W/4)`` map instead of averaging it: global average pooling would
throw away *where* the mark is, which is half of the label.

Example:
    >>> import torch
    >>> net = TwoMapsNet(fusion="concat", num_classes=16)
    >>> tuple(net(torch.rand(5, 2, 16, 16)).shape)
    (5, 16)
    >>> TwoMapsNet(inputs="A", num_classes=16)(torch.rand(1, 2, 16, 16)).shape
    torch.Size([1, 16])
    >>> TwoMapsNet(fusion="early")(torch.rand(5, 2, 16, 16)).shape
    torch.Size([5, 16])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .registry import ModelSpec

__all__ = ["TwoMapsNet", "MODEL_SPECS", "FUSIONS"]

FUSIONS = ("concat", "sum", "gated", "early")


def _encoder(channels: int, in_channels: int = 1) -> nn.Sequential:
    # Two 3×3 conv + ReLU + 2×2 max-pool stages: (B, in_channels, H, W) -> (B, channels, H/4, W/4).
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
    )


class TwoMapsNet(nn.Module):
    """A tiny classifier over the two maps of the two-maps task.

    Args:
        inputs: ``"A"`` (map A only), ``"B"`` (map B only) or ``"AB"`` (both, fused).
        fusion: with ``inputs="AB"``: ``"concat"``, ``"sum"`` or ``"gated"`` (one encoder per map, fused
            after the encoders), or ``"early"`` (one encoder over both maps as two input channels).
        num_classes: number of labels (16 for 4 places × 4 digits).
        channels: width of each encoder.
        image_size: side of the input maps (multiple of 4).
    """

    def __init__(self, inputs: str = "AB", fusion: str = "concat", *, num_classes: int = 16, channels: int = 16,
                 image_size: int = 16) -> None:
        super().__init__()
        if inputs not in ("A", "B", "AB"):
            raise ValueError(f"inputs must be 'A', 'B' or 'AB', got {inputs!r}")
        if inputs == "AB" and fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two 2×2 pools), got {image_size}")
        self.inputs = inputs
        self.fusion_name = fusion if inputs == "AB" else None
        if self.fusion_name == "early":
            # One encoder whose first conv sees both maps: fusion happens at the pixels.
            self.encoders = nn.ModuleDict({"AB": _encoder(channels, in_channels=2)})
        else:
            self.encoders = nn.ModuleDict({k: _encoder(channels) for k in inputs})
        if inputs == "AB" and fusion != "early":
            from ..fusion import ConcatFusion, GatedFusion, SumFusion

            make = {"concat": ConcatFusion, "sum": SumFusion, "gated": GatedFusion}[fusion]
            self.fusion = make([channels, channels], channels)
        else:
            self.fusion = None
        self.head = nn.Linear(channels * (image_size // 4) ** 2, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 2:
            raise ValueError(f"TwoMapsNet expects (B, 2, H, W) inputs (map A, map B), got {tuple(x.shape)}")
        if self.fusion_name == "early":
            return self.head(torch.flatten(self.encoders["AB"](x), 1))  # (B, 2, H, W) -> (B, num_classes)
        # Channel 0 is map A (where), channel 1 is map B (what); keep the channel axis: (B, 1, H, W).
        feats = [self.encoders[k](x[:, "AB".index(k)].unsqueeze(1)) for k in self.inputs]
        f = feats[0] if self.fusion is None else self.fusion(feats)   # (B, C, H/4, W/4)
        return self.head(torch.flatten(f, 1))                         # (B, num_classes)

    def extra_repr(self) -> str:
        return f"inputs={self.inputs!r}, fusion={self.fusion_name!r}"


def _builder(inputs: str, fusion: str = "concat"):
    def build(in_channels: int = 2, num_classes: int = 16, image_size: int = 16, **options) -> TwoMapsNet:
        if in_channels != 2:
            raise ValueError(f"two-maps models take 2 input channels (map A, map B), got {in_channels}")
        return TwoMapsNet(inputs, fusion, num_classes=num_classes, image_size=image_size, **options)
    return build


MODEL_SPECS = [
    ModelSpec("two-maps-a", _builder("A"), "classify", "two-maps", "lesson 02: map A (where) only"),
    ModelSpec("two-maps-b", _builder("B"), "classify", "two-maps", "lesson 02: map B (what) only"),
] + [
    ModelSpec(f"two-maps-{f}", _builder("AB", f), "classify", "two-maps", f"lesson 02: both maps, {f} fusion",
              levels=("A", "B"), size_multiple=4, min_size=8)
    for f in FUSIONS
]
