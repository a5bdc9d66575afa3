"""The MobileNet article's three fusion examples, as printed (made runnable) and fixed.

The source article ("MobileNet Feature Fusion Explained") prints three PyTorch modules, each applied
to a ``(1, 32, 224, 224)`` input. With their indentation restored and nothing else changed:

1. :class:`FeatureFusionAsPrinted` crashes: ``conv2`` is ``Conv2d(64, 128)`` but it is applied to the
   32-channel *input* ``x``, not to ``conv1``'s 64-channel output. Fixed in :class:`FeatureFusionFixed`
   by chaining the layers, ``x2 = conv2(x1)``, as "features from two distinct layers" means; the
   concatenation then has 64 + 128 = 192 channels.
2. :class:`WeightedSumFusionAsPrinted` runs, but ``self.alpha = 0.5`` is a plain Python float: it is not
   in ``parameters()``, no optimizer sees it, and the text's "learn the relative importance" never
   happens. Fixed in :class:`WeightedSumFusionFixed`: ``alpha = sigmoid(a)`` with ``a`` an
   ``nn.Parameter`` (0.5 at start, learnable, kept in (0, 1)).
3. :class:`AttentionFusionAsPrinted` crashes: ``fc = Linear(64 * 2, 2)`` is fed the *flattened* map,
   ``128·H·W`` features per sample. The naive repair (:class:`AttentionFusionNaiveFix`) pools the map to
   128 features first, and then meets the second bug: ``w[:, 0].view(-1, 64, 1, 1)`` reshapes the
   ``(B,)`` weights of B samples into 64 *channels*. At batch 64 it runs silently and applies sample
   j's weight to channel j of *every* sample, so samples mix; at any other batch size it crashes
   (1 or 3 samples cannot fill 64 channels; 128 gives ``(2, 64, 1, 1)``, which does not broadcast
   against a batch of 128). :class:`AttentionFusionFixed` keeps the batch axis:
   ``GAP → Linear(128, 2) → softmax → view(-1, 1, 1, 1)``, one pair of weights per sample:

       w = softmax(W · GAP([x1 ‖ x2]) + b)       (B, 2), w_0 + w_1 = 1 per sample
       fused = w_0 · x1 + w_1 · x2               each sample weighted by its own w

The package's :class:`fusion_course.fusion.ChannelAttentionFusion` is the general version (n levels, a
weight per channel).

>>> import torch
>>> x = torch.randn(3, 32, 16, 16)
>>> FeatureFusionFixed()(x).shape, WeightedSumFusionFixed()(x).shape, AttentionFusionFixed()(x).shape
(torch.Size([3, 192, 16, 16]), torch.Size([3, 64, 16, 16]), torch.Size([3, 64, 16, 16]))
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = [
    "FeatureFusionAsPrinted",
    "FeatureFusionFixed",
    "WeightedSumFusionAsPrinted",
    "WeightedSumFusionFixed",
    "AttentionFusionAsPrinted",
    "AttentionFusionNaiveFix",
    "AttentionFusionFixed",
    "mixes_samples",
]


# ---------------------------------------------------------------------------------------------------
# Example 1: concatenation
# ---------------------------------------------------------------------------------------------------
class FeatureFusionAsPrinted(nn.Module):
    """Example 1 as printed: ``conv2(x)`` on the 32-channel input, but ``conv2`` expects 64 channels."""

    def __init__(self):
        super(FeatureFusionAsPrinted, self).__init__()
        self.conv1 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)  # First layer
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)  # Second layer

    def forward(self, x):
        x1 = self.conv1(x)  # Extract features from first layer
        x2 = self.conv2(x)  # Extract features from second layer
        fused = torch.cat((x1, x2), dim=1)  # Concatenate along channel dimension
        return fused


class FeatureFusionFixed(nn.Module):
    """Example 1 fixed: the second layer reads the first layer's output; concat gives 64 + 128 channels.

    >>> FeatureFusionFixed()(torch.randn(1, 32, 8, 8)).shape
    torch.Size([1, 192, 8, 8])
    """

    def __init__(self, in_channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)  # level 1
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)          # level 2, on level 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)                  # (B, 64, H, W)
        x2 = self.conv2(x1)                 # (B, 128, H, W): the fix, conv2 reads x1
        return torch.cat((x1, x2), dim=1)   # (B, 192, H, W)


# ---------------------------------------------------------------------------------------------------
# Example 2: weighted sum
# ---------------------------------------------------------------------------------------------------
class WeightedSumFusionAsPrinted(nn.Module):
    """Example 2 as printed: runs, but ``alpha`` is a float attribute, invisible to ``parameters()``."""

    def __init__(self):
        super(WeightedSumFusionAsPrinted, self).__init__()
        self.conv1 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.alpha = 0.5  # Weighting factor

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        fused = self.alpha * x1 + (1 - self.alpha) * x2  # Weighted element-wise sum
        return fused


class WeightedSumFusionFixed(nn.Module):
    """Example 2 fixed: ``alpha = sigmoid(a)``, ``a`` an ``nn.Parameter``, so alpha learns and stays in (0, 1).

    >>> m = WeightedSumFusionFixed()
    >>> round(m.alpha.item(), 3), [n for n, _ in m.named_parameters()][0]
    (0.5, 'alpha_logit')
    """

    def __init__(self, in_channels: int = 32, alpha: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        # Store the logit: sigmoid keeps alpha in (0, 1) whatever the optimizer does to it.
        self.alpha_logit = nn.Parameter(torch.logit(torch.tensor(float(alpha))))

    @property
    def alpha(self) -> torch.Tensor:
        return torch.sigmoid(self.alpha_logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        return a * self.conv1(x) + (1 - a) * self.conv2(x)   # (B, 64, H, W)


# ---------------------------------------------------------------------------------------------------
# Example 3: attention
# ---------------------------------------------------------------------------------------------------
class AttentionFusionAsPrinted(nn.Module):
    """Example 3 as printed: ``Linear(128, 2)`` receives ``128·H·W`` flattened features and crashes."""

    def __init__(self):
        super(AttentionFusionAsPrinted, self).__init__()
        self.conv1 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.fc = nn.Linear(64 * 2, 2)  # Compress concatenated features to attention logits

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        # Flatten concatenated features and compute attention weights
        concat_flat = torch.flatten(torch.cat((x1, x2), dim=1), start_dim=1)
        attention_weights = torch.softmax(self.fc(concat_flat), dim=1)
        # Broadcast weights and apply to feature maps
        fused = (attention_weights[:, 0].view(-1, 64, 1, 1) * x1
                 + attention_weights[:, 1].view(-1, 64, 1, 1) * x2)
        return fused


class AttentionFusionNaiveFix(AttentionFusionAsPrinted):
    """Example 3 with only the first crash repaired (pool before ``fc``): it now mixes samples.

    ``attention_weights[:, 0]`` has shape ``(B,)``; ``.view(-1, 64, 1, 1)`` needs B to be a multiple of 64.
    At B = 64 it gives ``(1, 64, 1, 1)``: sample j's weight multiplies channel j of every sample.
    """

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        pooled = torch.cat((x1, x2), dim=1).mean(dim=(2, 3))        # (B, 128): the naive repair
        attention_weights = torch.softmax(self.fc(pooled), dim=1)    # (B, 2)
        fused = (attention_weights[:, 0].view(-1, 64, 1, 1) * x1     # (B/64, 64, 1, 1): batch → channels!
                 + attention_weights[:, 1].view(-1, 64, 1, 1) * x2)
        return fused


class AttentionFusionFixed(nn.Module):
    """Example 3 fixed: pooled logits, softmax over the two inputs, one weight pair per sample.

    After a forward pass ``last_weights`` holds the ``(B, 2)`` weights (detached); rows sum to 1.

    >>> m = AttentionFusionFixed()
    >>> m(torch.randn(3, 32, 8, 8)).shape, torch.allclose(m.last_weights.sum(dim=1), torch.ones(3))
    (torch.Size([3, 64, 8, 8]), True)
    """

    def __init__(self, in_channels: int = 32, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=1, padding=1)
        self.fc = nn.Linear(2 * channels, 2)
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)                                          # (B, C, H, W)
        x2 = self.conv2(x)                                          # (B, C, H, W)
        pooled = torch.cat((x1, x2), dim=1).mean(dim=(2, 3))        # (B, 2C): global average pool
        w = torch.softmax(self.fc(pooled), dim=1)                   # (B, 2): w_0 + w_1 = 1 per sample
        self.last_weights = w.detach()
        # view(-1, 1, 1, 1) keeps the batch axis: sample b is scaled by its own w[b]
        return w[:, 0].view(-1, 1, 1, 1) * x1 + w[:, 1].view(-1, 1, 1, 1) * x2   # (B, C, H, W)


def mixes_samples(module: nn.Module, x: torch.Tensor, *, sample: int = 0, other: int = -1,
                  atol: float = 1e-6) -> bool:
    """True if changing sample ``other`` of the batch changes the output of sample ``sample``.

    A per-sample module (in eval mode, so BatchNorm uses its running statistics) must give sample 0
    the same output whatever the rest of the batch holds. Needs a batch of at least 2.

    >>> mixes_samples(AttentionFusionFixed().eval(), torch.randn(4, 32, 8, 8))
    False
    """
    if x.shape[0] < 2:
        raise ValueError(f"mixes_samples needs a batch of at least 2 samples, got {x.shape[0]}")
    x2 = x.clone()
    x2[other] = torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(123)) * 3.0
    with torch.no_grad():
        a, b = module(x)[sample], module(x2)[sample]
    return not torch.allclose(a, b, atol=atol)
