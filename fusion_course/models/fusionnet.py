"""FusionNet as published (9,063,096 parameters), and a FusionNet whose fusions are normalised.

The source README ("FusionNet: A Dynamic Feature Fusion Neural Network", tried on CIFAR-10, no
accuracy reported) combines four ideas, each from a paper:

* residual blocks (He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385);
* the README's "self-attention", which is squeeze-and-excitation (Hu et al., "Squeeze-and-Excitation
  Networks", arXiv:1709.01507): a per-channel gate ``x · σ(W2 δ(W1 GAP(x)))``, no attention between
  positions;
* a feature pyramid (Lin et al., "Feature Pyramid Networks for Object Detection", arXiv:1612.03144);
* a multi-branch output, ``(5·b1 + 2·b2 + 3·b3 + 5·b4) / 15`` with hand-fixed weights.

:class:`FusionNet` rebuilds the published network layer for layer (written here from its description;
the original repository has no licence). :class:`NormalizedFusionNet` keeps the trunk and fixes the
weak points the course teaches:

==============================  ============================================  ==================================
weak point of FusionNet          why it hurts                                  NormalizedFusionNet
==============================  ============================================  ==================================
fixed branch weights 5:2:3:5     a guess, never tuned (a TODO says so)          learned softmax weights (sum to 1)
unnormalised level weights       four independent sigmoids: the fused map's     softmax or fast-normalised weights
                                 scale drifts with how many gates are open      (EfficientDet, arXiv:1911.09070)
dynamic fusion at the coarsest   the 8×8 FPN level is shrunk to 4×4 (nearest),  fuse at the finest level: coarse
level                            so its extra resolution is thrown away         levels are upsampled to 8×8
==============================  ============================================  ==================================

(The fourth weak point, model selection on the test set, lives in the published training script; the
course's ``fusion-course train`` selects on a validation split.)

Example::

    >>> import torch
    >>> from fusion_course.models.fusionnet import FusionNet, NormalizedFusionNet
    >>> net = FusionNet()
    >>> sum(p.numel() for p in net.parameters())
    9063096
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> NormalizedFusionNet(width=0.25)(torch.randn(2, 3, 64, 64)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fusion import FPN, SpatialWeightedFusion, create_fusion
from ..fusion.layers import ConvBNAct, SqueezeExcitation, load_old_keys
from ..fusion.reorder import load_reversed_inputs
from .registry import ModelSpec

__all__ = [
    "ResidualBlock",
    "SqueezeExcitation",
    "PublishedFPN",
    "DynamicLevelFusion",
    "FusionNet",
    "NormalizedFusionNet",
    "PUBLISHED_BRANCH_WEIGHTS",
    "PUBLISHED_PARAMS",
    "ABLATION_VARIANTS",
    "build_variant",
]

#: The published output mix: (5·b1 + 2·b2 + 3·b3 + 5·b4) / 15.
PUBLISHED_BRANCH_WEIGHTS: tuple[float, float, float, float] = (5.0, 2.0, 3.0, 5.0)
#: The parameter count the source README states (and FusionNet() reproduces).
PUBLISHED_PARAMS = 9_063_096
#: How NormalizedFusionNet may weigh its FPN levels: one normalised weight per level, or one per pixel.
LEVEL_FUSIONS = ("softmax", "fast", "spatial", "spatial-sigmoid")

BRANCH_NAMES = ("b1 deep GAP", "b2 shallow gated", "b3 c6 linear", "b4 FPN fusion")


def _ch(channels: int, width: float) -> int:
    """Scale a channel count by the width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


class ResidualBlock(nn.Module):
    """Two 3×3 conv + BN with an identity (or 1×1 conv + BN) shortcut; stride 1 (He et al., 1512.03385).

    ``y = relu(BN(conv3(relu(BN(conv3(x))))) + shortcut(x))``. As published, every convolution has a
    bias even though a BatchNorm follows it (the bias is redundant; it is kept so the count matches).

    Example::

        >>> ResidualBlock(32, 64)(torch.randn(1, 32, 16, 16)).shape
        torch.Size([1, 64, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # Published: biases before BatchNorm, and ReLUs that are not in place.
        self.conv1 = ConvBNAct(in_channels, out_channels, 3, bias=True, inplace=False)   # conv + BN + ReLU
        self.conv2 = ConvBNAct(out_channels, out_channels, 3, bias=True, act=None)       # conv + BN
        if in_channels != out_channels:
            self.shortcut: nn.Module = ConvBNAct(in_channels, out_channels, 1, bias=True, act=None)
        else:
            self.shortcut = nn.Identity()
        # Checkpoints saved when the block had conv1/bn1/conv2/bn2 attributes still load (shortcut.0/.1 kept its keys).
        load_old_keys(self, {"conv1": "conv1.0", "bn1": "conv1.1", "conv2": "conv2.0", "bn2": "conv2.1"})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return F.relu(out + self.shortcut(x))


class PublishedFPN(nn.Module):
    """The published feature pyramid: list in, list out (finest first).

    ``P_top = conv3(lat(C_top))`` and ``P_i = conv3(lat(C_i) + up(P_{i+1}))``. Unlike torchvision's
    ``FeaturePyramidNetwork`` (which passes the *pre-smoothing* sum ``lat(C_i) + up(inner_{i+1})``
    down), the published top-down path carries the smoothed output ``P_{i+1}``, so the 3×3 convs are
    chained. Same parameters (1×1 laterals and 3×3 outputs, with bias): 2,607,104 at 64/128/256/512 → 256.

    Example::

        >>> fpn = PublishedFPN([64, 128], 32)
        >>> [p.shape[-1] for p in fpn([torch.randn(1, 64, 8, 8), torch.randn(1, 128, 4, 4)])]
        [8, 4]
    """

    def __init__(self, in_channels_list: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels_list)
        self.output = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels_list
        )

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != len(self.lateral):
            raise ValueError(f"PublishedFPN expects {len(self.lateral)} maps, got {len(features)}")
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        outs = [self.output[-1](laterals[-1])]
        for i in range(len(laterals) - 2, -1, -1):
            up = F.interpolate(outs[0], size=laterals[i].shape[-2:], mode="nearest")
            outs.insert(0, self.output[i](laterals[i] + up))
        return outs


class DynamicLevelFusion(nn.Module):
    """The published "dynamic feature fusion": per-pixel sigmoid weights, one per level, *unnormalised*.

    All levels are resized (nearest) to the **smallest** level's size, concatenated, and a small
    1×1-conv network predicts a weight map per level::

        R_i = resize(P_i, smallest size)                       # (B, C, h, w)
        a   = σ(conv1×1(relu(conv1×1([R_1 ‖ … ‖ R_n]))))      # (B, n, h, w), each in (0, 1)
        out = Σ_i a_i ⊙ R_i                                     # Σ_i a_i is anywhere in (0, n)

    Two weak points: the weights do not sum to one, so the scale of ``out`` changes with the number
    of open gates; and shrinking to the smallest level throws away the finest level's resolution.

    Example::

        >>> fuse = DynamicLevelFusion(256, 4)
        >>> maps = [torch.randn(1, 256, s, s) for s in (8, 4, 4, 4)]
        >>> fuse(maps).shape
        torch.Size([1, 256, 4, 4])
    """

    def __init__(self, channels: int, num_levels: int) -> None:
        super().__init__()
        hidden = max(1, channels // 8)
        self.reduce = nn.Conv2d(channels * num_levels, hidden, 1)
        self.expand = nn.Conv2d(hidden, num_levels, 1)
        self.last_weights: torch.Tensor | None = None   # (B, n, h, w), kept for plots

    def weight_maps(self, maps: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(a, resized)``: the weights ``(B, n, h, w)`` for these maps and the maps resized to ``(h, w)``."""
        h = min(m.shape[-2] for m in maps)
        w = min(m.shape[-1] for m in maps)
        resized = [F.interpolate(m, size=(h, w), mode="nearest") for m in maps]
        a = torch.sigmoid(self.expand(F.relu(self.reduce(torch.cat(resized, dim=1)))))  # (B, n, h, w)
        return a, resized

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        a, resized = self.weight_maps(maps)
        self.last_weights = a.detach()
        out = a[:, 0:1] * resized[0]
        for i in range(1, len(resized)):
            out = out + a[:, i:i + 1] * resized[i]               # (B, C, h, w)
        return out


def _init_head(module: nn.Module, method: str) -> None:
    """Published head initialisation: Xavier (b1, b4) or Kaiming-uniform (b2) weights, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if method == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _GAP(nn.Module):
    """Global average pooling of one or more maps, concatenated: list of (B, C_i, H_i, W_i) -> (B, ΣC_i)."""

    def forward(self, *maps: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1)


class DeepHead(nn.Module):
    """Branch 1: GAP(c4 ‖ c5 ‖ c6) → FC → ReLU → FC."""

    def __init__(self, in_features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.pool = _GAP()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        _init_head(self, "xavier")

    def forward(self, c4: torch.Tensor, c5: torch.Tensor, c6: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(self.pool(c4, c5, c6))))


class ShallowGatedHead(nn.Module):
    """Branch 2: GAP(c1p ‖ c2p) → sigmoid gate (C → C/8 → C, with bias) multiplied in → FC → ReLU → FC."""

    def __init__(self, in_features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.pool = _GAP()
        self.gate = nn.Sequential(
            nn.Linear(in_features, max(1, in_features // 8)), nn.ReLU(),
            nn.Linear(max(1, in_features // 8), in_features), nn.Sigmoid(),
        )
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        _init_head(nn.ModuleList([self.fc1, self.fc2]), "kaiming")

    def forward(self, c1p: torch.Tensor, c2p: torch.Tensor) -> torch.Tensor:
        v = self.pool(c1p, c2p)                                 # (B, C1 + C2)
        v = v * self.gate(v)
        return self.fc2(F.relu(self.fc1(v)))


class LinearHead(nn.Module):
    """Branch 3: GAP(c6) → FC."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.pool = _GAP()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, c6: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(c6))


class PyramidHead(nn.Module):
    """Branch 4's classifier: GAP(fused map) → FC → ReLU → Dropout(0.5) → FC."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.pool = _GAP()
        self.fc1 = nn.Linear(in_features, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)
        _init_head(self, "xavier")

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(self.pool(fused)))))


def _check_input(x: torch.Tensor, in_channels: int, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a tensor of shape (B, {in_channels}, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{name} expects input of shape (B, {in_channels}, H, W), got {tuple(x.shape)}; "
            f"pass images with {in_channels} channels (build the model with in_channels=... otherwise)"
        )
    if min(x.shape[-2:]) < 8:
        raise ValueError(
            f"{name} pools three times (stride 8), so inputs must be at least 8×8; got "
            f"{x.shape[-2]}×{x.shape[-1]}. Resize the images (e.g. to 32×32)"
        )


def _build_trunk(model: nn.Module, in_channels: int, width: float, spatial_dropout: float) -> dict[str, int]:
    """Add the published trunk's stages to ``model`` as children; return their channel counts.

    stem: 3×3 conv + BN + ReLU, max-pool → c1p  (H/2)
    layer1: RB 32→64, max-pool → c2p            (H/4)
    layer2: RB 64→128, max-pool → c3p           (H/8)
    layer3: RB 128→256 + SE → c4                (H/8, no pool)
    layer4: RB 256→512 + SE → c5                (H/8, no pool)
    conv2: 3×3 512→256 + BN + ReLU + Dropout2d → c6
    """
    c = {k: _ch(v, width) for k, v in dict(c1=32, c2=64, c3=128, c4=256, c5=512, c6=256).items()}
    # Published: every conv keeps its bias even before BatchNorm, and the ReLUs are not in place.
    model.stem = nn.Sequential(OrderedDict(
        conv=ConvBNAct(in_channels, c["c1"], 3, bias=True, inplace=False), pool=nn.MaxPool2d(2),
    ))
    model.layer1 = nn.Sequential(OrderedDict(block=ResidualBlock(c["c1"], c["c2"]), pool=nn.MaxPool2d(2)))
    model.layer2 = nn.Sequential(OrderedDict(block=ResidualBlock(c["c2"], c["c3"]), pool=nn.MaxPool2d(2)))
    model.layer3 = nn.Sequential(OrderedDict(block=ResidualBlock(c["c3"], c["c4"]), se=SqueezeExcitation(c["c4"])))
    model.layer4 = nn.Sequential(OrderedDict(block=ResidualBlock(c["c4"], c["c5"]), se=SqueezeExcitation(c["c5"])))
    model.conv2 = nn.Sequential(OrderedDict(
        conv=ConvBNAct(c["c5"], c["c6"], 3, bias=True, inplace=False), drop=nn.Dropout2d(spatial_dropout),
    ))
    for stage in (model.stem, model.conv2):
        # Checkpoints saved before the stem and conv2 used ConvBNAct: ``stem.bn.*`` is now ``stem.conv.1.*``.
        load_old_keys(stage, {"conv": "conv.0", "bn": "conv.1"})
    return c


def _trunk_features(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    c1p = model.stem(x)         # (B, 32, H/2, W/2)
    c2p = model.layer1(c1p)     # (B, 64, H/4, W/4)
    c3p = model.layer2(c2p)     # (B, 128, H/8, W/8)
    c4 = model.layer3(c3p)      # (B, 256, H/8, W/8)
    c5 = model.layer4(c4)       # (B, 512, H/8, W/8)
    c6 = model.conv2(c5)        # (B, 256, H/8, W/8)
    return {"c1p": c1p, "c2p": c2p, "c3p": c3p, "c4": c4, "c5": c5, "c6": c6}


class FusionNet(nn.Module):
    """FusionNet as published: 9,063,096 parameters at ``width=1``, 3 input channels, 10 classes.

    Trunk (for a 32×32 input): c1p 32×16×16, c2p 64×8×8, c3p 128×4×4, c4 256×4×4 (RB + SE),
    c5 512×4×4 (RB + SE), c6 256×4×4. Branches, each giving logits ``b_k`` of shape (B, K):

    1. ``b1 = FC(ReLU(FC(GAP(c4 ‖ c5 ‖ c6))))``            1024 → 256 → K
    2. ``b2 = FC(ReLU(FC(g ⊙ v)))``, ``v = GAP(c1p ‖ c2p)``,  ``g = σ(FC(ReLU(FC(v))))``   96 → 128 → K
    3. ``b3 = FC(GAP(c6))``                                  256 → K
    4. ``b4 = head(GAP(DynamicLevelFusion(FPN(c2p, c3p, c4, c5))))``   fused at the smallest size

    Output: ``(5·b1 + 2·b2 + 3·b3 + 5·b4) / 15`` with the weights fixed (a buffer, not learned).

    Args:
        in_channels: image channels (3 for CIFAR-10).
        num_classes: number of logits.
        width: channel multiplier for every layer (1.0 = published; 0.25 trains on a CPU).
        spatial_dropout: Dropout2d after conv2 (published 0.2).

    Example::

        >>> FusionNet()(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, width: float = 1.0,
                 spatial_dropout: float = 0.2) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        self.in_channels = in_channels
        c = _build_trunk(self, in_channels, width, spatial_dropout)
        self.branch1 = DeepHead(c["c4"] + c["c5"] + c["c6"], _ch(256, width), num_classes)
        self.branch2 = ShallowGatedHead(c["c1"] + c["c2"], _ch(128, width), num_classes)
        self.branch3 = LinearHead(c["c6"], num_classes)
        fpn_channels = _ch(256, width)
        self.fpn = PublishedFPN([c["c2"], c["c3"], c["c4"], c["c5"]], fpn_channels)
        self.dynamic_fusion = DynamicLevelFusion(fpn_channels, 4)
        self.branch4 = PyramidHead(fpn_channels, _ch(128, width), num_classes)
        w = torch.tensor(PUBLISHED_BRANCH_WEIGHTS)
        self.register_buffer("branch_weights", w / w.sum())      # fixed: never trained

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The trunk's maps c1p, c2p, c3p, c4, c5, c6."""
        _check_input(x, self.in_channels, type(self).__name__)
        return _trunk_features(self, x)

    def branch_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four branches' logits ``[b1, b2, b3, b4]``, each (B, K)."""
        f = self.features(x)
        b1 = self.branch1(f["c4"], f["c5"], f["c6"])
        b2 = self.branch2(f["c1p"], f["c2p"])
        b3 = self.branch3(f["c6"])
        pyramid = self.fpn([f["c2p"], f["c3p"], f["c4"], f["c5"]])   # finest first: 8×8, 4×4, 4×4, 4×4
        b4 = self.branch4(self.dynamic_fusion(pyramid))
        return [b1, b2, b3, b4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack(self.branch_logits(x), dim=0)              # (4, B, K)
        return (self.branch_weights[:, None, None] * logits).sum(0)     # (B, K)


class NormalizedFusionNet(nn.Module):
    """FusionNet with normalised, learned fusions, built from ``fusion_course.fusion`` modules.

    Same trunk and branch heads as :class:`FusionNet`; three changes, each with a switch for ablations:

    * **branch weights** (``branch_weights="learned"``): ``out = Σ_k softmax(β)_k · b_k``, one learned
      scalar per branch, summing to one (a ``WeightedSumFusion(mode="softmax")`` over the branch
      logits); ``"fixed"`` keeps the published 5:2:3:5 (renormalised over the kept branches).
    * **level weights** (``level_fusion="softmax"`` or ``"fast"``): ``F = Σ_i w_i P_i`` with
      ``w = softmax(α)`` or the fast-normalised ``relu(α) / (ε + Σ relu(α))`` (EfficientDet,
      arXiv:1911.09070) instead of four free sigmoids. ``"spatial"`` keeps the published idea of one
      weight *per pixel* but normalises it (``α = softmax_i(conv1×1_i(P_i))``, ASFF, arXiv:1911.09516);
      ``"spatial-sigmoid"`` is the published per-pixel sigmoid gates, at the fine level. Together they
      separate "normalised" from "static" in the ablation.
    * **where to fuse** (``fuse_at="fine"``): coarse levels are upsampled to the finest FPN level
      (8×8 for a 32×32 input); ``"coarse"`` resizes everything to the coarsest level, as published.
      ``level_resize`` picks the upsampling: ``"nearest"`` (default, like the FPN's own top-down path)
      or ``"bilinear"``. On an H100 in eager fp32 (NCHW) the bilinear upsampling kernel took 90 % of
      the training step (3,210 vs 13,841 images/s; ``docs/benchmarks.md``), so nearest is the default.

    ``branches`` keeps a subset of the four branches (1-based), e.g. ``(1, 2, 3)`` drops the FPN branch
    (its FPN and fusion are then not built, so their parameters disappear too). The FPN is the
    package's :class:`fusion_course.fusion.FPN` (torchvision's form), the fusions come from
    :func:`fusion_course.fusion.create_fusion`. At ``width=1`` this has fewer parameters than
    FusionNet (the 1×1-conv weight predictor is gone; a handful of scalar weights replace it).

    Example::

        >>> net = NormalizedFusionNet()
        >>> sum(p.numel() for p in net.parameters()) <= 9_063_096
        True
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
        >>> net.branch_weight_values().sum().item()     # softmax: sums to one
        1.0
    """

    # Version 2 hands the FPN levels to the level fusion finest first for both fuse_at settings; version 1
    # (before December 2026) listed them coarsest first for fuse_at="coarse". A version-1 checkpoint loads
    # with its level weights reordered (load_reversed_inputs), so each learned weight still meets its level.
    _version = 2

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, width: float = 1.0,
                 branches: Sequence[int] = (1, 2, 3, 4), branch_weights: str = "learned",
                 level_fusion: str = "softmax", fuse_at: str = "fine", level_resize: str = "nearest",
                 spatial_dropout: float = 0.2) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        kept = tuple(sorted(set(int(b) for b in branches)))
        if not kept or any(b not in (1, 2, 3, 4) for b in kept):
            raise ValueError(f"branches must be a non-empty subset of (1, 2, 3, 4), got {tuple(branches)}")
        if branch_weights not in ("learned", "fixed"):
            raise ValueError(f"branch_weights must be 'learned' or 'fixed', got {branch_weights!r}")
        if level_fusion not in LEVEL_FUSIONS:
            raise ValueError(f"level_fusion must be one of {', '.join(map(repr, LEVEL_FUSIONS))}, got {level_fusion!r}")
        if fuse_at not in ("fine", "coarse"):
            raise ValueError(f"fuse_at must be 'fine' or 'coarse', got {fuse_at!r}")
        if level_resize not in ("bilinear", "nearest"):
            raise ValueError(f"level_resize must be 'bilinear' or 'nearest', got {level_resize!r}")
        self.in_channels = in_channels
        self.branches = kept
        self.branch_weights_mode = branch_weights
        self.fuse_at = fuse_at
        c = _build_trunk(self, in_channels, width, spatial_dropout)
        if 1 in kept:
            self.branch1 = DeepHead(c["c4"] + c["c5"] + c["c6"], _ch(256, width), num_classes)
        if 2 in kept:
            self.branch2 = ShallowGatedHead(c["c1"] + c["c2"], _ch(128, width), num_classes)
        if 3 in kept:
            self.branch3 = LinearHead(c["c6"], num_classes)
        if 4 in kept:
            fpn_channels = _ch(256, width)
            self.fpn = FPN([c["c2"], c["c3"], c["c4"], c["c5"]], fpn_channels)
            # The levels come finest first (P2..P5), and the fusion names the level it works at. Fine:
            # size="first", coarse levels upsampled to P2 (8×8 for a 32×32 input). Coarse (the published
            # choice, for ablation): size="last", every level shrunk (nearest) to P5's 4×4. ("first"/"last"
            # rather than "largest"/"smallest": they read one shape, where max(..., key=...) would stop
            # torch.compile's tracing with a graph break.)
            size = "first" if fuse_at == "fine" else "last"
            resize = level_resize if fuse_at == "fine" else "nearest"
            if level_fusion.startswith("spatial"):       # one weight per level and pixel
                normalize = "sigmoid" if level_fusion == "spatial-sigmoid" else "softmax"
                self.level_fusion = create_fusion("spatial", [fpn_channels] * 4, fpn_channels,
                                                  normalize=normalize, size=size, resize=resize)
            else:                                         # one weight per level
                self.level_fusion = create_fusion("weighted", [fpn_channels] * 4, fpn_channels,
                                                  mode=level_fusion, size=size, resize=resize)
            self.branch4 = PyramidHead(fpn_channels, _ch(128, width), num_classes)
            if fuse_at == "coarse":
                load_reversed_inputs(self, "level_fusion")
        # Branch logits (B, K) are fused as (B, K, 1, 1) maps by the same weighted-sum operator.
        if branch_weights == "learned":
            self.branch_fusion = create_fusion("weighted", [num_classes] * len(kept), num_classes, mode="softmax")
        else:
            published = [PUBLISHED_BRANCH_WEIGHTS[b - 1] for b in kept]
            fixed = [w / sum(published) for w in published]
            self.branch_fusion = create_fusion("weighted", [num_classes] * len(kept), num_classes,
                                               mode="fixed", weights=fixed)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The trunk's maps c1p, c2p, c3p, c4, c5, c6."""
        _check_input(x, self.in_channels, type(self).__name__)
        return _trunk_features(self, x)

    def pyramid(self, f: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """FPN levels P2..P5 (finest first) from the trunk maps."""
        inputs = OrderedDict(p2=f["c2p"], p3=f["c3p"], p4=f["c4"], p5=f["c5"])
        return list(self.fpn(inputs).values())

    def fuse_levels(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """Normalised weighted sum of the FPN levels, at the finest (or, for ablation, coarsest) size."""
        return self.level_fusion(levels)   # (B, C, 8, 8) fine / (B, C, 4, 4) coarse at 32×32

    def branch_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of the kept branches, in order, each (B, K)."""
        f = self.features(x)
        out = []
        if 1 in self.branches:
            out.append(self.branch1(f["c4"], f["c5"], f["c6"]))
        if 2 in self.branches:
            out.append(self.branch2(f["c1p"], f["c2p"]))
        if 3 in self.branches:
            out.append(self.branch3(f["c6"]))
        if 4 in self.branches:
            out.append(self.branch4(self.fuse_levels(self.pyramid(f))))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = [b[:, :, None, None] for b in self.branch_logits(x)]     # each (B, K, 1, 1)
        return self.branch_fusion(logits).flatten(1)           # (B, K)

    def branch_weight_values(self) -> torch.Tensor:
        """The effective (normalised) weight of each kept branch, a 1-D tensor summing to one."""
        return self.branch_fusion.weights()

    def level_weight_values(self) -> torch.Tensor:
        """The effective weights of the FPN levels P2..P5 (finest first).

        For per-pixel (``"spatial"``) level fusion: the weights of the last forward pass, averaged over
        its images and pixels.
        """
        if 4 not in self.branches:
            raise ValueError("this model has no FPN branch (branch 4 was dropped)")
        if not isinstance(self.level_fusion, SpatialWeightedFusion):     # static weights: weights()
            w = self.level_fusion.weights()
        elif self.level_fusion.last_weights is None:                        # input-dependent: last_weights
            raise ValueError("per-pixel level weights exist only after a forward pass: run the model on a batch first")
        else:
            w = self.level_fusion.last_weights.mean(dim=(0, 2, 3))      # (B, 4, H, W) -> (4,)
        return w


# --- registry -----------------------------------------------------------------------------------------

MODEL_SPECS = [
    ModelSpec(
        name="fusionnet",
        builder=FusionNet,          # the class takes (in_channels, num_classes, **options)
        task="classify",
        default_dataset="digits",
        description="FusionNet as published (9,063,096 params at width 1): fixed 5:2:3:5 branch mix, "
                    "unnormalised dynamic fusion at the coarsest FPN level",
        levels=("c1p", "c2p", "c3p", "c4", "c5", "c6"),
        size_multiple=8,
        min_size=8,
        options={"width": 1.0},
    ),
    ModelSpec(
        name="fusionnet-normalized",
        builder=NormalizedFusionNet,
        task="classify",
        default_dataset="digits",
        description="FusionNet with learned softmax branch weights and normalised level weights fused "
                    "at the finest FPN level (fewer params than FusionNet)",
        levels=("c1p", "c2p", "c3p", "c4", "c5", "c6"),
        size_multiple=8,
        min_size=8,
        options={"width": 1.0, "branch_weights": "learned", "level_fusion": "softmax", "fuse_at": "fine"},
    ),
]


# --- ablation variants (lesson 08) ---------------------------------------------------------------------

#: name -> (model class, keyword options): the ablation of lesson 08. Every NormalizedFusionNet
#: variant changes one thing relative to "normalized" (all three repairs on).
ABLATION_VARIANTS: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "published": (FusionNet, {}),
    "normalized": (NormalizedFusionNet, {}),
    "fixed branch w.": (NormalizedFusionNet, {"branch_weights": "fixed"}),
    "coarse fusion": (NormalizedFusionNet, {"fuse_at": "coarse"}),
    "per-pixel softmax": (NormalizedFusionNet, {"level_fusion": "spatial"}),
    "per-pixel sigmoid": (NormalizedFusionNet, {"level_fusion": "spatial-sigmoid"}),
    "without b1": (NormalizedFusionNet, {"branches": (2, 3, 4)}),
    "without b2": (NormalizedFusionNet, {"branches": (1, 3, 4)}),
    "without b3": (NormalizedFusionNet, {"branches": (1, 2, 4)}),
    "without b4": (NormalizedFusionNet, {"branches": (1, 2, 3)}),
    "no fusion (b3 only)": (NormalizedFusionNet, {"branches": (3,)}),
}


def build_variant(name: str, in_channels: int = 3, num_classes: int = 10, *, width: float = 1.0) -> nn.Module:
    """Build one of :data:`ABLATION_VARIANTS` at a given width, e.g. ``build_variant("without b2", 1, 10, width=0.125)``."""
    if name not in ABLATION_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of: {', '.join(ABLATION_VARIANTS)}")
    cls, options = ABLATION_VARIANTS[name]
    return cls(in_channels, num_classes, width=width, **options)


# The architecture table and its drawing live with the other tables (viz) and drawings (diagrams); lesson 08
# imports them from here. Loaded on first use: neither is needed to build or train a model.
_MOVED = {"architecture_table": "viz", "format_table": "viz", "draw_architecture": "diagrams"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        module = importlib.import_module(f"fusion_course.{_MOVED[name]}")
        return getattr(module, "format_architecture" if name == "format_table" else name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
