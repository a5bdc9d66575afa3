"""A small convolutional classifier with no fusion: the baseline every fusion model must beat.

Three conv blocks (3×3 conv → BatchNorm → ReLU, max-pool between blocks), global average pooling and
a linear layer, in the VGG tradition (Simonyan & Zisserman, arXiv:1409.1556). Only the deepest
feature map reaches the classifier, so whatever the earlier levels saw must survive the trip there:
exactly what fusion models try to avoid needing.

>>> import torch
>>> m = SmallCNN(in_channels=1, num_classes=10)
>>> m(torch.rand(2, 1, 8, 8)).shape, m(torch.rand(2, 1, 32, 32)).shape
(torch.Size([2, 10]), torch.Size([2, 10]))
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..fusion.layers import ConvBNAct
from .registry import ModelSpec


class SmallCNN(nn.Module):
    """Conv classifier without fusion: ``(B, C, H, W) → (B, num_classes)`` for any ``H, W ≥ 1``.

    Args:
        in_channels: image channels (1 for digits, 3 for RGB).
        num_classes: number of logits.
        widths: channels of the conv blocks; a 2×2 max-pool sits between consecutive blocks
            (skipped once the map is 1 pixel wide, so 8×8 digits work).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        chans = [in_channels, *widths]
        self.blocks = nn.ModuleList(ConvBNAct(a, b, 3) for a, b in zip(chans[:-1], chans[1:]))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.fc = nn.Linear(chans[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            if i > 0 and min(x.shape[-2:]) > 1:
                x = self.pool(x)                    # halve the resolution between levels
            x = block(x)
        x = x.mean(dim=(2, 3))                      # global average pooling: (B, C)
        return self.fc(x)


MODEL_SPECS = [
    ModelSpec(
        name="baseline",
        builder=SmallCNN,   # the class takes (in_channels, num_classes, **options)
        task="classify",
        default_dataset="digits",
        description="small CNN, 3 conv blocks, global pooling, no fusion (the baseline)",
        levels=(),
    ),
]
