"""The source article's toy "F3Net" (exactly as printed), and a corrected variant.

The source article calls its model F3Net, but it is a three-conv classifier, not the F3Net of Wei,
Wang and Huang ("F3Net: Fusion, Feedback and Focus for Salient Object Detection", AAAI 2020,
arXiv:1911.11445), which is a salient-object segmenter (see ``fusion_course.models.f3net``).

:class:`F3NetToy` is the printed code: three 3×3 convs (32, 64, 128 channels, all stride 1), the three
maps resized to the last one's size, concatenated (224 channels), a 1×1 fusion conv to 128 channels,
flattened into ``Linear(128*8*8, 10)``. Two consequences the lessons show:

- the classifier only accepts 8×8 inputs (any other size fails with a shape error in ``fc``);
- every conv keeps the resolution, so the "resize for fusion" ``F.interpolate`` does nothing: all
  three levels already have the same size and see nearly the same (small) receptive field.

:class:`F3NetToyFixed` makes the multi-level fusion real: stride-2 convs build a pyramid
(H, H/2, H/4), the finer levels are area-pooled to the coarsest size before concatenation, and global
average pooling before ``fc`` lets it take any input size ≥ 8. ``fusion="none"`` drops the finer levels
(an ablation with the same layers), ``fusion="sum"`` adds 1×1-projected levels instead of concatenating.

>>> import torch
>>> F3NetToy()(torch.rand(2, 3, 8, 8)).shape, sum(p.numel() for p in F3NetToy().parameters())
(torch.Size([2, 10]), 203978)
>>> F3NetToyFixed(in_channels=1)(torch.rand(2, 1, 32, 32)).shape
torch.Size([2, 10])
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .registry import ModelSpec


class F3NetToy(nn.Module):
    """The source article's model, line for line (``in_channels`` and ``num_classes`` added, defaults as printed).

    Args:
        in_channels: 3 as printed; 1 for grey digits.
        num_classes: 10 as printed.

    Shapes: ``(B, C, 8, 8) → (B, 10)``. Other sizes raise a ``RuntimeError`` in ``fc`` (it expects
    ``128·8·8 = 8192`` features). 203,978 parameters with 3 input channels.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        # Feature extraction layers
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        # Fusion layer
        self.fusion = nn.Conv2d(32 + 64 + 128, 128, kernel_size=1)
        # Classification layer: hard-wires an 8x8 input
        self.fc = nn.Linear(128 * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = F.relu(self.conv1(x))
        f2 = F.relu(self.conv2(f1))
        f3 = F.relu(self.conv3(f2))
        # Resize features for fusion (a no-op: every conv has stride 1, so f1, f2, f3 share a size)
        f1 = F.interpolate(f1, size=f3.shape[2:])
        f2 = F.interpolate(f2, size=f3.shape[2:])
        # Feature fusion
        fused = torch.cat([f1, f2, f3], dim=1)      # (B, 224, H, W)
        fused = F.relu(self.fusion(fused))          # (B, 128, H, W)
        fused = fused.view(fused.size(0), -1)       # (B, 128*H*W): only 8192 fits fc
        output = self.fc(fused)
        return output


class F3NetToyFixed(nn.Module):
    """The toy with real multi-level fusion and any input size ≥ 8.

    Levels: ``f1 = relu(conv1(x))`` at H, ``f2 = relu(conv2(f1))`` at H/2 (stride 2),
    ``f3 = relu(conv3(f2))`` at H/4 (stride 2). Fusion at the coarsest size ``s = size(f3)``:

    - ``"concat"``: ``relu(conv1x1([pool_s(f1) ‖ pool_s(f2) ‖ f3]))`` (the printed design, made real);
    - ``"sum"``: ``relu(P1·pool_s(f1) + P2·pool_s(f2) + P3·f3)`` with 1×1 projections ``P_i``;
    - ``"none"``: ``relu(conv1x1(f3))``: no fusion, the same depth (the ablation).

    ``pool_s`` is adaptive average pooling (area down-sampling: every fine pixel contributes). Then
    global average pooling and ``fc`` (``fused_channels → num_classes``).

    Args:
        in_channels: image channels. num_classes: logits.
        widths: channels of conv1..conv3. fused_channels: channels after fusion.
        fusion: ``"concat"``, ``"sum"`` or ``"none"``.
    """

    FUSIONS = ("concat", "sum", "none")

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, widths: Sequence[int] = (32, 64, 128),
                 fused_channels: int = 128, fusion: str = "concat") -> None:
        super().__init__()
        if fusion not in self.FUSIONS:
            raise ValueError(f"fusion must be one of {self.FUSIONS}, got {fusion!r}")
        if len(widths) != 3:
            raise ValueError(f"widths must give 3 levels, got {list(widths)}")
        c1, c2, c3 = widths
        self.fusion_mode = fusion
        self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1, stride=2)   # H -> H/2
        self.conv3 = nn.Conv2d(c2, c3, kernel_size=3, padding=1, stride=2)   # H/2 -> H/4
        if fusion == "concat":
            self.fusion = nn.Conv2d(c1 + c2 + c3, fused_channels, kernel_size=1)
        elif fusion == "sum":
            self.proj = nn.ModuleList(nn.Conv2d(c, fused_channels, kernel_size=1) for c in widths)
        else:
            self.fusion = nn.Conv2d(c3, fused_channels, kernel_size=1)
        self.fc = nn.Linear(fused_channels, num_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three levels ``[f1 (B, c1, H, W), f2 (B, c2, H/2, W/2), f3 (B, c3, H/4, W/4)]``."""
        f1 = F.relu(self.conv1(x))
        f2 = F.relu(self.conv2(f1))
        f3 = F.relu(self.conv3(f2))
        return [f1, f2, f3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1, f2, f3 = self.features(x)
        size = f3.shape[-2:]
        if self.fusion_mode == "none":
            fused = F.relu(self.fusion(f3))
        else:
            # Align the finer levels to the coarsest one by area pooling (a real resize now).
            a1 = F.adaptive_avg_pool2d(f1, size)                             # (B, c1, H/4, W/4)
            a2 = F.adaptive_avg_pool2d(f2, size)                             # (B, c2, H/4, W/4)
            if self.fusion_mode == "concat":
                fused = F.relu(self.fusion(torch.cat([a1, a2, f3], dim=1)))  # (B, fused, H/4, W/4)
            else:
                fused = F.relu(self.proj[0](a1) + self.proj[1](a2) + self.proj[2](f3))
        return self.fc(fused.mean(dim=(2, 3)))                               # GAP: (B, fused) -> logits


def _build_toy(in_channels: int = 3, num_classes: int = 10) -> F3NetToy:
    return F3NetToy(in_channels, num_classes)


def _build_fixed(in_channels: int = 3, num_classes: int = 10, **options) -> F3NetToyFixed:
    return F3NetToyFixed(in_channels, num_classes, **options)


_LEVELS = ("edges: conv1, 32 channels", "textures: conv2, 64 channels", "shapes: conv3, 128 channels")

MODEL_SPECS = [
    ModelSpec(
        name="f3net-toy",
        builder=_build_toy,
        task="classify",
        default_dataset="digits",
        description="the source article's toy F3Net as printed (3 stride-1 convs, concat, 1x1; 8x8 inputs only)",
        levels=_LEVELS,
        image_sizes=(8,),
    ),
    ModelSpec(
        name="f3net-toy-fixed",
        builder=_build_fixed,
        task="classify",
        default_dataset="digits",
        description="the toy with real multi-level fusion (stride-2 pyramid, pooled concat, any size >= 8)",
        levels=("edges: conv1, 32 channels, full size", "textures: conv2, 64 channels, 1/2 size",
                "shapes: conv3, 128 channels, 1/4 size"),
        min_size=8,
        options={"fusion": "concat"},
    ),
]
