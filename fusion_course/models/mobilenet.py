"""MobileNet building blocks from scratch, and multi-level feature fusion on a MobileNet backbone.

Papers:
    Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
    Applications", 2017, arXiv:1704.04861 (depthwise separable convolution, the 1/N + 1/Dk² cost).
    Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
    arXiv:1801.04381 (the inverted residual block).
    Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244 (the backbone used here).

A standard k×k convolution from M to N channels costs ``Dk²·M·N·Df²`` multiply-adds on a Df×Df map.
A depthwise separable one splits it into a depthwise k×k convolution (one filter per input channel,
``groups=M``: ``Dk²·M·Df²``) and a pointwise 1×1 convolution that mixes channels (``M·N·Df²``), so

    cost(separable) / cost(standard) = 1/N + 1/Dk²          (≈ 1/8 to 1/9 for 3×3 kernels)

This module holds:

* :class:`DepthwiseSeparableConv` and :class:`InvertedResidual`, written out step by step; the tests
  prove they have the parameter count and output shape of torchvision's blocks.
* :class:`MobileNetFusion`: a torchvision ``mobilenet_v3_small`` / ``mobilenet_v2`` (random init, no
  download), its levels taken with ``create_feature_extractor``, and a light fusion head for
  classification (fuse at the coarsest level) or masks (fuse at the finest level).

>>> import torch
>>> m = MobileNetFusion(num_classes=4, fusion="weighted")
>>> m(torch.randn(2, 3, 96, 96)).shape
torch.Size([2, 4])
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fusion.layers import ConvBNAct, load_old_keys
from ..fusion.reorder import load_reversed_inputs
from .registry import ModelSpec

__all__ = [
    "DepthwiseSeparableConv",
    "InvertedResidual",
    "MobileNetFusion",
    "separable_cost_ratio",
    "conv_macs",
    "BACKBONES",
    "FUSIONS",
    "MODEL_SPECS",
]


def separable_cost_ratio(out_channels: int, kernel_size: int) -> float:
    """Cost of a depthwise separable conv relative to a standard one: ``1/N + 1/Dk²`` (MobileNet v1, eq. 5).

    It holds for parameters (without bias) and for multiply-adds, at any input channels M and map size Df,
    because both costs share the factor ``Dk²·M·Df²``.

    >>> round(separable_cost_ratio(256, 3), 4)   # 1/256 + 1/9
    0.115
    """
    if out_channels < 1 or kernel_size < 1:
        raise ValueError(f"out_channels and kernel_size must be >= 1, got {out_channels} and {kernel_size}")
    return 1.0 / out_channels + 1.0 / kernel_size**2


def conv_macs(in_channels: int, out_channels: int, kernel_size: int, out_size: int | tuple[int, int],
              *, groups: int = 1) -> int:
    """Multiply-adds of one convolution: ``Dk² · (M/groups) · N · H_out · W_out`` (bias adds not counted).

    >>> conv_macs(32, 64, 3, 56)                  # standard 3×3
    57802752
    >>> conv_macs(32, 32, 3, 56, groups=32) + conv_macs(32, 64, 1, 56)   # depthwise + pointwise
    7325696
    """
    h, w = (out_size, out_size) if isinstance(out_size, int) else out_size
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    return kernel_size * kernel_size * (in_channels // groups) * out_channels * h * w


# ----------------------------------------------------------------------------- building blocks
class DepthwiseSeparableConv(nn.Module):
    """Depthwise k×k conv (one filter per channel) → BN → act, then pointwise 1×1 conv → BN → act.

    The two steps of MobileNet v1 (arXiv:1704.04861, Fig. 3): the depthwise step filters each input
    channel on its own (``groups=in_channels``: spatial mixing, no channel mixing); the pointwise step is
    a 1×1 conv that mixes channels (no spatial mixing). Together they replace a k×k conv at
    ``1/N + 1/Dk²`` of its cost. Each step is one :class:`~fusion_course.fusion.layers.ConvBNAct`, as
    torchvision writes it: ``Conv2dNormActivation(M, M, k, groups=M)`` then ``Conv2dNormActivation(M, N, 1)``,
    with the same parameters.

    Args:
        in_channels: M, channels of the input.
        out_channels: N, channels of the output.
        kernel_size: Dk of the depthwise filter (odd; padding keeps the size at stride 1).
        stride: stride of the depthwise step (the pointwise step never downsamples).
        norm: put a BatchNorm after each conv.
        activation: activation class after each step (``None``: none, e.g. to count pure conv cost).
        bias: conv bias; ``None`` means "only when there is no norm", torchvision's rule.

    >>> block = DepthwiseSeparableConv(32, 64)
    >>> block(torch.randn(2, 32, 56, 56)).shape
    torch.Size([2, 64, 56, 56])
    >>> [type(m).__name__ for m in block.depthwise], tuple(block.depthwise[0].weight.shape)
    (['Conv2d', 'BatchNorm2d', 'ReLU'], (32, 1, 3, 3))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, *,
                 norm: bool = True, activation: Callable[..., nn.Module] | None = nn.ReLU,
                 bias: bool | None = None) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that padding keeps the map size, got {kernel_size}")
        bias = (not norm) if bias is None else bias
        self.in_channels, self.out_channels = in_channels, out_channels
        # Step 1, depthwise: groups=in_channels gives each channel its own Dk×Dk filter,
        # weight shape (M, 1, Dk, Dk): Dk²·M parameters instead of Dk²·M·N.
        self.depthwise = ConvBNAct(in_channels, in_channels, kernel_size, stride, groups=in_channels, bias=bias,
                                   norm=norm, act=activation, inplace=False)
        # Step 2, pointwise: a 1×1 conv, weight (N, M, 1, 1): M·N parameters, mixes the channels.
        self.pointwise = ConvBNAct(in_channels, out_channels, 1, bias=bias, norm=norm, act=activation, inplace=False)
        # Checkpoints saved when the steps were six flat layers (depthwise, norm1, act1, ...) still load.
        load_old_keys(self, {"depthwise": "depthwise.0", "norm1": "depthwise.1",
                             "pointwise": "pointwise.0", "norm2": "pointwise.1"})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DepthwiseSeparableConv expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.depthwise(x)          # (B, M, H/s, W/s): filter each channel alone
        return self.pointwise(x)       # (B, N, H/s, W/s): mix channels


class InvertedResidual(nn.Module):
    """MobileNet v2's inverted residual: expand 1×1 → depthwise 3×3 → project 1×1 (linear), + skip.

    "Inverted" because the block is wide in the middle and narrow at its ends (a ResNet bottleneck is the
    reverse): the cheap depthwise conv works on ``t·M`` channels, the skip connects the narrow ends.
    The projection has no activation (a "linear bottleneck", arXiv:1801.04381 §3.2): ReLU on few
    channels destroys information. The skip is used when ``stride == 1`` and ``M == N``.

        y = x + BN(W_proj · ReLU6(BN(DW(ReLU6(BN(W_exp · x))))))     (skip case)

    Same parameters and output shape as ``torchvision.models.mobilenetv2.InvertedResidual``.

    Args:
        in_channels: M.
        out_channels: N.
        stride: 1 or 2, applied by the depthwise step.
        expand_ratio: t; the hidden width is ``round(t·M)``; t = 1 skips the expansion conv.
        kernel_size: Dk of the depthwise step.
        activation: the activation class (ReLU6 in MobileNet v2).

    >>> block = InvertedResidual(24, 24, stride=1, expand_ratio=6)
    >>> block(torch.randn(2, 24, 28, 28)).shape
    torch.Size([2, 24, 28, 28])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float, *,
                 kernel_size: int = 3, activation: Callable[..., nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if expand_ratio < 1:
            raise ValueError(f"expand_ratio must be >= 1, got {expand_ratio}")
        hidden = int(round(in_channels * expand_ratio))
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.use_residual = stride == 1 and in_channels == out_channels
        # expand: 1×1, M → t·M (skipped when t = 1, as in MobileNet v2's first block)
        self.expand = None if expand_ratio == 1 else ConvBNAct(in_channels, hidden, 1, act=activation, inplace=False)
        # depthwise: k×k, one filter per hidden channel; the only spatial (and strided) step
        self.depthwise = ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden, act=activation, inplace=False)
        # project: 1×1, t·M → N, linear (no activation)
        self.project = ConvBNAct(hidden, out_channels, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"InvertedResidual expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h = self.expand(x) if self.expand is not None else x   # (B, t·M, H, W)
        h = self.depthwise(h)                                  # (B, t·M, H/s, W/s)
        h = self.project(h)                                    # (B, N, H/s, W/s)
        return x + h if self.use_residual else h


# ----------------------------------------------------------------------------- the fusion model
# Levels per backbone: the last layer of each stride (4, 8, 16, 32) in torchvision's `features`.
# mobilenet_v3_small at 224: (16,56,56), (24,28,28), (48,14,14), (576,7,7).
BACKBONES: dict[str, tuple[str, ...]] = {
    "mobilenet_v3_small": ("features.1", "features.3", "features.8", "features.12"),
    "mobilenet_v2": ("features.3", "features.6", "features.13", "features.18"),
}

# Our fusion names → (name for fusion_course.fusion.create_fusion, its options).
FUSIONS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "none": None,                                   # the last level alone: the plain backbone
    "concat": ("concat", {}),                       # [F1‖…‖Fn] → 1×1 conv
    "weighted": ("weighted", {"mode": "fast"}),     # Σ relu(w_i)·F_i / (ε + Σ relu(w_j)), BiFPN
    "attention": ("attention", {}),                 # per-sample weights from pooled features
}


def _build_backbone(name: str, in_channels: int, bn_momentum: float | None) -> nn.Module:
    import torchvision

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    net = getattr(torchvision.models, name)(weights=None)   # random init: nothing is downloaded
    if in_channels != 3:
        # The stem conv is the only layer that sees the input channels: rebuild it for C inputs.
        stem = net.features[0][0]
        net.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, stem.kernel_size, stem.stride,
                                       stem.padding, bias=False)
    if bn_momentum is not None:
        # torchvision's MobileNetV3 uses BatchNorm momentum 0.01, tuned for ImageNet's ~10⁵ steps. After a
        # few hundred steps the running statistics would still be mostly their initial (0, 1), and eval-mode
        # accuracy would sit at chance while training accuracy climbs. 0.1 (PyTorch's default) catches up.
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = bn_momentum
    return net.features


class MobileNetFusion(nn.Module):
    """A MobileNet backbone plus a light multi-level fusion head, for classification or masks.

    The backbone's levels (strides 4, 8, 16, 32) come from ``create_feature_extractor``. Each level gets
    a *lateral* 1×1 conv + BN + ReLU to ``fusion_channels`` (few channels, so the head stays cheap),
    then a fusion module from :mod:`fusion_course.fusion` combines them:

    * ``task="classify"``: levels are average-pooled to the coarsest level's size *before* their lateral
      conv and fused there (7×7 at 224), then global-average-pooled into a small MLP classifier.
      Working at the coarsest resolution is what keeps the head's latency small.
    * ``task="segment"``: laterals run at each level's own size and are fused at the finest level
      (stride 4); a 1×1 conv predicts mask logits, upsampled to the input size.

    ``fusion="none"`` keeps the same head on the last level alone: the plain backbone, so that any
    difference in the comparison table is the fusion's.

    Args:
        in_channels: image channels.
        num_classes: classes (classify); ignored for masks (one logit map).
        backbone: ``"mobilenet_v3_small"`` or ``"mobilenet_v2"`` (random init).
        fusion: ``"none"``, ``"concat"``, ``"weighted"`` or ``"attention"``.
        task: ``"classify"`` → logits ``(B, num_classes)``; ``"segment"`` → mask logits ``(B, 1, H, W)``.
        levels: node names to fuse, finest first (default: the four stride levels of the backbone).
        fusion_channels: width of the laterals and of the fused map.
        hidden: width of the classifier's hidden layer.
        dropout: dropout before the last linear layer.
        fusion_options: extra keyword options for the fusion module.
        bn_momentum: BatchNorm momentum of the backbone (``None``: torchvision's, 0.01 for v3). The
            default 0.1 suits short training runs (see ``_build_backbone``).

    >>> m = MobileNetFusion(num_classes=3, fusion="concat")
    >>> [tuple(f.shape) for f in m.features(torch.randn(1, 3, 224, 224))]
    [(1, 16, 56, 56), (1, 24, 28, 28), (1, 48, 14, 14), (1, 576, 7, 7)]
    >>> m(torch.randn(1, 3, 224, 224)).shape
    torch.Size([1, 3])
    >>> MobileNetFusion(task="segment", fusion="weighted")(torch.randn(2, 3, 64, 96)).shape
    torch.Size([2, 1, 64, 96])
    """

    # Version 2 hands the classification head's levels to the fusion finest first, like every other model of
    # the course; version 1 (before December 2026) handed them coarsest first. A version-1 checkpoint loads
    # with its fusion weights reordered (load_reversed_inputs), so each learned weight still meets its level.
    _version = 2

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, backbone: str = "mobilenet_v3_small",
                 fusion: str = "concat", task: str = "classify", levels: Sequence[str] | None = None,
                 fusion_channels: int = 64, hidden: int = 256, dropout: float = 0.2,
                 fusion_options: dict[str, Any] | None = None, bn_momentum: float | None = 0.1) -> None:
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor

        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of: {', '.join(FUSIONS)}")
        if task not in ("classify", "segment"):
            raise ValueError(f"task must be 'classify' or 'segment', got {task!r}")
        if in_channels < 1 or num_classes < 1 or fusion_channels < 1:
            raise ValueError(f"in_channels, num_classes and fusion_channels must be >= 1, got "
                             f"{in_channels}, {num_classes}, {fusion_channels}")
        self.backbone_name, self.fusion_name, self.task = backbone, fusion, task
        self.in_channels = in_channels
        all_levels = tuple(levels) if levels is not None else BACKBONES.get(backbone, ())
        features = _build_backbone(backbone, in_channels, bn_momentum)
        # "none" needs only the last level; asking for fewer nodes lets FX drop nothing here (the last
        # level is the end of the trunk) but keeps the returned dict to what the head uses.
        used = all_levels if fusion != "none" else all_levels[-1:]
        self.level_names = used
        # torchvision's `features` is an nn.Sequential, so nodes are "0", "1", ...: strip "features."
        nodes = {name.removeprefix("features."): f"level{i}" for i, name in enumerate(used)}
        self.extractor = create_feature_extractor(features, return_nodes=nodes)
        self.level_channels = self._probe_channels(in_channels)

        c = fusion_channels
        # Lateral 1×1 convs: every level to `c` channels, so the fusion works on a common, small width.
        self.laterals = nn.ModuleList(ConvBNAct(ch, c, 1) for ch in self.level_channels)
        if FUSIONS[fusion] is None:
            self.fuse: nn.Module | None = None
        else:
            from .. import fusion as fusion_lib

            fname, fopts = FUSIONS[fusion]
            self.fuse = fusion_lib.create_fusion(fname, [c] * len(used), c, **{**fopts, **(fusion_options or {})})
        if task == "classify" and self.fuse is not None:
            load_reversed_inputs(self, "fuse")
        if task == "classify":
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),               # (B, c)
                nn.Linear(c, hidden), nn.Hardswish(inplace=True),
                nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        else:
            self.head = nn.Conv2d(c, 1, 1)                          # mask logits at the fused size

    @torch.no_grad()
    def _probe_channels(self, in_channels: int) -> list[int]:
        was_training = self.extractor.training
        self.extractor.eval()   # eval: the probe must not move BatchNorm's running statistics
        out = self.extractor(torch.zeros(1, in_channels, 64, 64))
        self.extractor.train(was_training)
        return [int(t.shape[1]) for t in out.values()]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's levels, finest first: a list of ``(B, C_i, H_i, W_i)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"MobileNetFusion expects images (B, {self.in_channels}, H, W), got {tuple(x.shape)}; "
                             "pass a batch (add a batch dimension with x[None] for one image)")
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"MobileNetFusion needs inputs of at least 32×32 (it downsamples 32×), "
                             f"got {tuple(x.shape[-2:])}; resize the images")
        return list(self.extractor(x).values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = self.features(x)
        if self.task == "classify":
            size = levels[-1].shape[-2:]
            # Pool the fine levels down to the coarsest size *before* the laterals: the 1×1 convs then
            # run on 7×7 maps instead of 56×56 ones, which is most of why the head is cheap.
            levels = [f if f.shape[-2:] == size else F.adaptive_avg_pool2d(f, size) for f in levels]
            lat = [conv(f) for conv, f in zip(self.laterals, levels)]          # each (B, c, h, w)
            fused = lat[0] if self.fuse is None else self.fuse(lat)         # (B, c, h, w), every level at h×w
            return self.head(fused)                                           # (B, num_classes)
        lat = [conv(f) for conv, f in zip(self.laterals, levels)]              # native sizes
        fused = lat[0] if self.fuse is None else self.fuse(lat)                # (B, c, H/4, W/4), finest size
        logits = self.head(fused)                                              # (B, 1, h, w)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- registry
def _builder(fusion: str, task: str) -> Callable[..., nn.Module]:
    def build(in_channels: int = 3, num_classes: int = 10, **options: Any) -> nn.Module:
        return MobileNetFusion(in_channels, num_classes, fusion=fusion, task=task, **options)

    build.__name__ = f"mobilenet_{fusion}_{task}"
    return build


_DESCRIBE = {
    "none": "plain MobileNetV3-small (last level only)",
    "concat": "MobileNetV3-small + concat/1×1 fusion of 4 levels",
    "weighted": "MobileNetV3-small + fast-normalised weighted sum of 4 levels",
    "attention": "MobileNetV3-small + per-sample attention over 4 levels",
}

MODEL_SPECS = [
    ModelSpec(
        name=f"mobilenet-{'plain' if fusion == 'none' else fusion}",
        builder=_builder(fusion, "classify"),
        task="classify",
        default_dataset="texture-shapes",
        description=_DESCRIBE[fusion] + ", classifier",
        levels=BACKBONES["mobilenet_v3_small"] if fusion != "none" else BACKBONES["mobilenet_v3_small"][-1:],
        min_size=32,
        options={"fusion_channels": 64},
    )
    for fusion in FUSIONS
] + [
    ModelSpec(
        name=f"mobilenet-{'plain' if fusion == 'none' else fusion}-mask",
        builder=_builder(fusion, "segment"),
        task="segment",
        default_dataset="saliency",
        description=_DESCRIBE[fusion] + ", mask head at stride 4 (stride 32 for plain)",
        levels=BACKBONES["mobilenet_v3_small"] if fusion != "none" else BACKBONES["mobilenet_v3_small"][-1:],
        min_size=32,
        options={"fusion_channels": 32},
    )
    for fusion in ("none", "concat", "weighted")
]
