"""The fusion formula itself: ``F_fused = σ(w_1 F_1 + w_2 F_2 + … + w_n F_n)``.

This is the equation of the source article on F3Net-style fusion: a weighted sum of the feature
maps followed by a non-linearity σ. The weights can be fixed or learned, and optionally normalised
(softmax, or EfficientDet's fast normalisation, arXiv:1911.09070) so that they sum to one; σ is
chosen by name ("identity", "relu", "sigmoid", "tanh") or given as any ``nn.Module``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from ._checks import check_choice
from .align import Size
from .weighted import WeightedSumFusion

ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def make_activation(activation: str | nn.Module | None) -> nn.Module:
    """An activation module from a name ("identity", "relu", "sigmoid", "tanh"), a module or None."""
    if activation is None:
        return nn.Identity()
    if isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, str):
        check_choice(activation, tuple(ACTIVATIONS), "activation")
        return ACTIVATIONS[activation]()
    raise TypeError(f"activation must be a name ({', '.join(ACTIVATIONS)}) or an nn.Module; got {type(activation).__name__}")


class FormulaFusion(nn.Module):
    """``σ(Σ_i w_i F_i)`` over aligned, projected maps.

    Args:
        in_channels, out_channels: as every list-in fusion.
        weights: the ``w_i`` (default: ones, or uniform logits with ``normalize="softmax"``).
        activation: σ: "identity", "relu", "sigmoid" (default), "tanh", or an ``nn.Module``.
        normalize: None (raw weights), "softmax" or "fast" (``relu(w)/(ε+Σ relu(w))``).
        learnable: train the weights (default) or keep them fixed.
        per_channel: one weight per input and output channel.

    Example:
        >>> import torch
        >>> fuse = FormulaFusion([3, 3, 3], 3, weights=[0.5, 0.3, 0.2], activation="relu", learnable=False)
        >>> maps = [torch.ones(1, 3, 4, 4), -torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4)]
        >>> out = fuse(maps)                      # relu(0.5 - 0.3 + 0.2) = 0.4
        >>> tuple(out.shape), round(out[0, 0, 0, 0].item(), 4)
        ((1, 3, 4, 4), 0.4)
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, weights: Any = None,
                 activation: str | nn.Module | None = "sigmoid", normalize: Literal["softmax", "fast"] | None = None,
                 learnable: bool = True, per_channel: bool = False, eps: float = 1e-4,
                 size: Size = None, resize: str = "bilinear") -> None:
        super().__init__()
        check_choice(normalize, (None, "softmax", "fast"), "normalize")
        mode = normalize if normalize is not None else ("learned" if learnable else "fixed")
        self.combine = WeightedSumFusion(in_channels, out_channels, mode=mode, weights=weights,
                                         per_channel=per_channel, learnable=learnable, eps=eps,
                                         size=size, resize=resize)
        self.in_channels = self.combine.in_channels
        self.out_channels = out_channels
        self.activation = make_activation(activation)

    def weights(self) -> Tensor:
        """The effective weights ``w_i`` (after normalisation), detached."""
        return self.combine.weights()

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        return self.activation(self.combine(maps))   # (B, out_channels, H, W)
