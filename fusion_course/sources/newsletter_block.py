"""The newsletter's Feature Fusion Block, as printed and fixed.

The newsletter ("Feature Fusion Block", Hard section) prints a PyTorch block that concatenates two
feature maps along the channel axis and reduces them with a 1×1 convolution:

    x = conv1x1([x1 ‖ x2])        # (B, 2C, H, W) -> (B, C, H, W)

Its code has two bugs, both kept in :class:`FeatureFusionBlockAsPrinted`:

1. the constructor is spelled ``def init`` instead of ``def __init__``, so Python never calls it:
   ``FeatureFusionBlockAsPrinted(in_channels=64)`` raises ``TypeError`` (``nn.Module.__init__`` takes
   no ``in_channels``), and an instance built without arguments has no ``conv`` at all;
2. once renamed (:class:`FeatureFusionBlockRenamed`), the 1×1 conv is ``Conv2d(in_channels, in_channels)``
   but receives the concatenation, ``2 * in_channels`` channels: a ``RuntimeError`` on the first call.

:class:`FeatureFusionBlockFixed` fixes both: ``Conv2d(2 * in_channels, in_channels, 1)``.
(The course's general block, with parallel kernels and strides, is
``fusion_course.fusion.FeatureFusionBlock``.)

Example:
    >>> import torch
    >>> block = FeatureFusionBlockFixed(in_channels=64)
    >>> block(torch.randn(1, 64, 32, 32), torch.randn(1, 64, 32, 32)).shape
    torch.Size([1, 64, 32, 32])
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["FeatureFusionBlockAsPrinted", "FeatureFusionBlockRenamed", "FeatureFusionBlockFixed", "newsletter_example"]


class FeatureFusionBlockAsPrinted(nn.Module):
    """The newsletter's block exactly as printed (indentation restored). Do not use: it is the lesson."""

    # BUG 1 (as printed): `init` is an ordinary method, not the constructor. Python calls
    # nn.Module.__init__ instead, which takes no `in_channels`, and `self.conv` is never created.
    def init(self, in_channels):
        super(FeatureFusionBlockAsPrinted, self).__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def forward(self, x1, x2):
        # Assuming x1 and x2 are the features from two different layers
        # Concatenate the features along the channel dimension
        x = torch.cat((x1, x2), dim=1)
        # Apply a 1x1 convolution to reduce the number of channels
        x = self.conv(x)
        return x


class FeatureFusionBlockRenamed(nn.Module):
    """The printed block with only ``init`` renamed to ``__init__``: bug 2 is still there."""

    def __init__(self, in_channels: int):
        super().__init__()
        # BUG 2 (as printed): the input of this conv is the concatenation of two maps, 2 * in_channels.
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x = torch.cat((x1, x2), dim=1)  # (B, 2C, H, W)
        return self.conv(x)              # fails: the conv expects C channels


class FeatureFusionBlockFixed(nn.Module):
    """Concatenate two maps of ``in_channels`` channels each and reduce them back with a 1×1 conv.

    ``out = W ∗ [x1 ‖ x2] + b`` with ``W`` of shape ``(C, 2C, 1, 1)``: 2C² + C parameters.

    Args:
        in_channels: channels C of *each* input map; the output has C channels too.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        self.in_channels = in_channels
        # The fix: the conv sees the concatenation, so it takes 2 * in_channels.
        self.conv = nn.Conv2d(2 * in_channels, in_channels, kernel_size=1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        for i, x in enumerate((x1, x2)):
            if x.dim() != 4 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f"input {i} has shape {tuple(x.shape)}; expected (B, {self.in_channels}, H, W). "
                    f"Build the block with in_channels equal to the maps' channel count."
                )
        if x1.shape[0] != x2.shape[0] or x1.shape[-2:] != x2.shape[-2:]:
            raise ValueError(
                f"inputs 0 and 1 differ in batch or size: {tuple(x1.shape)} vs {tuple(x2.shape)}; "
                "resize one map to the other's size first (fusion_course.fusion.align_features)."
            )
        x = torch.cat((x1, x2), dim=1)   # (B, 2C, H, W)
        return self.conv(x)              # (B, C, H, W)


def newsletter_example(block_cls: type[nn.Module], *, seed: int = 0) -> torch.Tensor:
    """Run the newsletter's "Example usage" with ``block_cls``: in_channels=64, two (1, 64, 32, 32) maps."""
    g = torch.Generator().manual_seed(seed)
    fusion_block = block_cls(in_channels=64)
    x1 = torch.randn(1, 64, 32, 32, generator=g)  # Example feature map from layer 1
    x2 = torch.randn(1, 64, 32, 32, generator=g)  # Example feature map from layer 2
    return fusion_block(x1, x2)
