"""Channel-attention fusion: squeeze-and-excitation / selective-kernel weights over levels, per sample.

Selective Kernel Networks (Li, Wang, Hu, Yang, CVPR 2019, arXiv:1903.06586) fuse branches ``U_k`` by

    s = GAP(Σ_k U_k)                    (B, C)     squeeze
    z = ReLU(W_1 s)                     (B, d)     excitation bottleneck, d = max(C / r, d_min)
    a = softmax_over_k(W_2 z)           (B, n, C)  one weight per level and channel, per sample
    out = Σ_k a_k ⊙ U_k

which is squeeze-and-excitation (Hu, Shen, Sun, arXiv:1709.01507) with a softmax across the inputs
instead of a sigmoid per channel. Here the ``U_k`` are the aligned, projected levels.

Two bugs of the source documents are avoided on purpose. The TensorFlow article softmaxes over all
channels of the concatenation and then sums the channels, which leaves one output channel. The
MobileNet article reshapes its per-sample weights with ``view(-1, 64, 1, 1)``, which spreads one
sample's weight over 64 samples of the batch (or crashes); here every reshape keeps the batch axis,
``(B, n, C) -> (B, C, 1, 1)``, and the attention path has no BatchNorm, so a sample's output never
depends on the other samples in its batch (a test checks batch sizes 1, 3, 64 and 128).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ._checks import check_positive_int
from .align import Align, Size
from .gated import sample_weighted_sum
from .sum import sum_maps


class ChannelAttentionFusion(nn.Module):
    """Softmax attention over levels from the pooled sum of the levels (selective-kernel style).

    Args:
        in_channels, out_channels, size, resize: as every list-in fusion.
        reduction: bottleneck ratio r of the excitation MLP.
        min_hidden: lower bound d_min on the bottleneck width.
        per_channel: a weight per level *and channel* (SK, default) or one per level (SE-style).

    After a forward pass, ``last_weights`` holds ``a``: ``(B, n, C)`` (or ``(B, n)``), detached;
    it sums to 1 over the level axis.

    Example:
        >>> import torch
        >>> fuse = ChannelAttentionFusion([16, 32, 64], 32)
        >>> maps = [torch.randn(3, 16, 16, 16), torch.randn(3, 32, 8, 8), torch.randn(3, 64, 4, 4)]
        >>> tuple(fuse(maps).shape), tuple(fuse.last_weights.shape)
        ((3, 32, 16, 16), (3, 3, 32))
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, reduction: int = 4,
                 min_hidden: int = 8, per_channel: bool = True, size: Size = None,
                 resize: str = "bilinear") -> None:
        super().__init__()
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.align = Align(in_channels, out_channels, size=size, resize=resize, who="ChannelAttentionFusion")
        self.in_channels = self.align.in_channels
        self.per_channel = bool(per_channel)
        n = len(self.in_channels)
        hidden = max(out_channels // check_positive_int(reduction, "reduction"), check_positive_int(min_hidden, "min_hidden"))
        self.squeeze = nn.Sequential(nn.Linear(out_channels, hidden), nn.ReLU(inplace=True))
        self.excite = nn.Linear(hidden, n * out_channels if per_channel else n)
        self.last_weights: Tensor | None = None

    def attention(self, aligned: Sequence[Tensor]) -> Tensor:
        """Attention weights for aligned maps: ``(B, n, C)`` or ``(B, n)``, softmax over n."""
        b, n = aligned[0].shape[0], len(aligned)
        s = sum_maps(aligned).mean(dim=(2, 3))     # (B, C)
        logits = self.excite(self.squeeze(s))      # (B, n*C) or (B, n)
        if self.per_channel:
            logits = logits.view(b, n, -1)         # (B, n, C): the batch axis stays first
        return logits.softmax(dim=1)

    def weights(self) -> Tensor:
        """``last_weights``, raising before the first forward pass (an alias kept for lessons; see the contract)."""
        if self.last_weights is None:
            raise RuntimeError("ChannelAttentionFusion computes its weights from the input: run a forward pass first")
        return self.last_weights

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        aligned = self.align(maps)                 # n × (B, C, H, W)
        a = self.attention(aligned)
        self.last_weights = a.detach()
        return sample_weighted_sum(aligned, a)     # (B, C, H, W)

    def extra_repr(self) -> str:
        return f"per_channel={self.per_channel}"
