"""Gated fusion: one sigmoid gate per level and per sample, computed from the level's global average.

The TensorFlow article's "learned weighted sum" (its example 2): for each level ``i``,
``g_i = σ(a_iᵀ GAP(F_i))`` with a ``Dense(1, sigmoid, use_bias=False)`` layer per level, then
``out = Σ_i g_i F_i``. Two things are worth knowing, and both are options here:

* the gates are independent sigmoids, so they do **not** sum to one: the output's scale drifts with
  the number of levels and with training. ``normalize=True`` divides by their sum,
  ``g_i / Σ_j g_j``, so the output is a convex combination of the levels;
* the article builds its Dense layers inside a plain function, so every call creates new random
  weights that no optimiser ever sees. Here the gates are ordinary ``nn.Linear`` sub-modules.

It is squeeze-and-excitation (Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018,
arXiv:1709.01507) with one gate per *level* instead of one per channel, and it is what the
newsletter's "Hard" section calls a gating mechanism.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ._checks import check_choice, check_positive_int
from .align import Align, Size


def sample_weighted_sum(maps: Sequence[Tensor], weights: Tensor) -> Tensor:
    """``Σ_i weights[:, i] · maps[i]`` with per-sample weights ``(B, n)`` or ``(B, n, C)``.

    Each sample's weights multiply that sample's maps only (``view(B, 1, 1, 1)``, never ``view(-1, C, 1, 1)``,
    which would spread one sample's weights over C samples).
    """
    b = weights.shape[0]

    def coef(i: int) -> Tensor:
        w = weights[:, i]
        return w.view(b, 1, 1, 1) if w.dim() == 1 else w.view(b, -1, 1, 1)   # (B, 1|C, 1, 1)

    out = maps[0] * coef(0)
    for i in range(1, len(maps)):
        out.addcmul_(maps[i], coef(i))
    return out


GATE_NORMALIZE = (None, "sum")


class GatedFusion(nn.Module):
    """Per-level, per-sample sigmoid gates from global average pooling: ``out = Σ_i g_i F_i``.

    Equation: ``g_i = σ(a_iᵀ GAP(A_i) + b_i)``, with ``A_i`` the aligned, projected map; with
    ``normalize="sum"``, ``g_i ← g_i / Σ_j g_j`` (the gates of each sample sum to 1).

    Args:
        in_channels, out_channels, size, resize: as every list-in fusion.
        normalize: None (independent gates, as the article prints them) or ``"sum"`` (divide the gates by
            their sum). ``True``/``False`` mean ``"sum"``/None, as the early lessons write it.
        bias: give each gate a bias (the article's Dense layers have none).

    After a forward pass, ``last_weights`` holds the gates, ``(B, n)``, detached.

    Example:
        >>> import torch
        >>> fuse = GatedFusion([16, 32], 16, normalize="sum")
        >>> out = fuse([torch.randn(4, 16, 8, 8), torch.randn(4, 32, 4, 4)])
        >>> tuple(out.shape), tuple(fuse.last_weights.shape), bool(torch.allclose(fuse.last_weights.sum(1), torch.ones(4)))
        ((4, 16, 8, 8), (4, 2), True)
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *,
                 normalize: Literal["sum"] | bool | None = None, bias: bool = False, size: Size = None,
                 resize: str = "bilinear") -> None:
        super().__init__()
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.align = Align(in_channels, out_channels, size=size, resize=resize, who="GatedFusion")
        self.in_channels = self.align.in_channels
        if isinstance(normalize, bool):          # the earlier spelling: True / False
            normalize = "sum" if normalize else None
        self.normalize = check_choice(normalize, GATE_NORMALIZE, "normalize")
        self.gates = nn.ModuleList(nn.Linear(out_channels, 1, bias=bias) for _ in self.in_channels)
        self.last_weights: Tensor | None = None

    def gate_values(self, aligned: Sequence[Tensor]) -> Tensor:
        """The gates ``(B, n)`` for aligned maps."""
        logits = torch.cat([gate(a.mean(dim=(2, 3))) for gate, a in zip(self.gates, aligned)], dim=1)   # (B, n)
        g = torch.sigmoid(logits)
        if self.normalize:
            g = g / g.sum(dim=1, keepdim=True)   # sigmoids are > 0, so the sum is never 0
        return g

    def weights(self) -> Tensor:
        """``last_weights``, raising before the first forward pass (the name lesson 02 uses; see the contract)."""
        if self.last_weights is None:
            raise RuntimeError("GatedFusion computes its gates from the input: run a forward pass first")
        return self.last_weights

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        aligned = self.align(maps)                # n × (B, C, H, W)
        g = self.gate_values(aligned)             # (B, n)
        self.last_weights = g.detach()
        return sample_weighted_sum(aligned, g)

    def extra_repr(self) -> str:
        return f"normalize={self.normalize!r}"
