"""The three TensorFlow examples of multi-level fusion, translated into PyTorch as printed, and fixed.

The source article ("How can multi-level feature fusion be implemented in TensorFlow?") prints three
Keras functions. Translated line by line (NHWC → NCHW, ``Dense`` → ``nn.Linear``, ``Conv2D`` →
``nn.Conv2d``), each keeps its flaw:

1. :func:`fusion_concatenation_as_printed`: ``relu(conv1x1_i(F_i))`` to 64 channels, then concat.
   The conv layers are *created inside the function*, so every call draws new random weights: two
   calls on the same input give different outputs, and the layers belong to no model, so no
   optimizer ever trains them.
2. :func:`fusion_weighted_sum_as_printed`: ``Σ_i σ(w_iᵀ GAP(F_i)) · F_i``. Same re-creation problem,
   and the sigmoid gates are independent: they do not sum to one (two levels can both be ≈1, doubling
   the scale, or both ≈0, erasing the signal).
3. :func:`fusion_attention_as_printed`: ``a = softmax(W GAP([F_1 ‖ … ‖ F_n]) + b)`` over *all* channels,
   then ``Σ_c a_c · X_c``: the "fused map" has ONE channel, and since the weights sum to one over all
   channels, each channel is scaled by ≈ 1/C. That is a weighted channel average, not attention.

The fixed versions are ``nn.Module`` classes whose layers are built once in ``__init__``:

- :class:`ConcatReductionFixed`: per-level 1×1 conv + ReLU (aligned to the first map's size), concat;
- :func:`weighted_sum_fixed`: ``fusion_course.fusion.GatedFusion(..., normalize=True)``: per-sample gates
  from global average pooling, divided by their sum, so they sum to one.
- :func:`channel_attention_fixed`: ``fusion_course.fusion.ChannelAttentionFusion``: per-channel weights,
  the channel count is kept.

Example:
    >>> import torch
    >>> maps = [torch.randn(2, 64, 20, 20), torch.randn(2, 64, 20, 20)]
    >>> fusion_attention_as_printed(maps).shape          # collapses to one channel
    torch.Size([2, 1, 20, 20])
    >>> ConcatReductionFixed([64, 64], 64)(maps).shape    # layers live in the module
    torch.Size([2, 128, 20, 20])
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "fusion_concatenation_as_printed",
    "fusion_weighted_sum_as_printed",
    "fusion_attention_as_printed",
    "weighted_sum_gates_as_printed",
    "FunctionAsModule",
    "ConcatReductionFixed",
    "weighted_sum_fixed",
    "channel_attention_fixed",
]


# ---------------------------------------------------------------------------------------------------
# As printed (translated faithfully). Keras creates a layer's weights on its first call; in PyTorch a
# layer gets random weights when it is constructed, so constructing it inside the function body is
# exactly the Keras behaviour: fresh random weights on every call of the function.
# ---------------------------------------------------------------------------------------------------

def fusion_concatenation_as_printed(feature_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Example 1 as printed: 1×1 conv to 64 channels + ReLU per map (a new conv every call), concat."""
    # Assuming all feature maps have the same spatial dimensions (after potential upsampling/downsampling)
    reduced_maps = []
    for fm in feature_maps:
        # Keras: tf.keras.layers.Conv2D(64, (1, 1), activation='relu')(fm)  -- a NEW layer each call
        reduced_map = F.relu(nn.Conv2d(fm.shape[1], 64, kernel_size=1)(fm))  # Reduce to 64 channels
        reduced_maps.append(reduced_map)
    fused_map = torch.cat(reduced_maps, dim=1)  # Keras concatenate(axis=-1) in NHWC = dim 1 in NCHW
    return fused_map


def weighted_sum_gates_as_printed(feature_maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The gates Example 2 computes, one ``(B, 1)`` tensor per map (new Dense layers each call)."""
    weights = []
    for fm in feature_maps:
        # Keras: Dense(1, activation='sigmoid', use_bias=False)(tf.reduce_mean(fm, axis=[1, 2]))
        w = torch.sigmoid(nn.Linear(fm.shape[1], 1, bias=False)(fm.mean(dim=(2, 3))))  # (B, 1)
        weights.append(w)
    return weights


def fusion_weighted_sum_as_printed(feature_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Example 2 as printed: ``Σ_i σ(w_iᵀ GAP(F_i)) · F_i``; the gates are not normalised."""
    weights = weighted_sum_gates_as_printed(feature_maps)
    weighted_sum = 0
    for i, fm in enumerate(feature_maps):
        # tf.expand_dims twice: (B, 1) -> (B, 1, 1, 1) so it broadcasts over the map
        weighted_sum = weighted_sum + fm * weights[i][:, :, None, None]
    return weighted_sum


def fusion_attention_as_printed(feature_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Example 3 as printed: softmax over all concatenated channels, then a sum over them: 1 channel."""
    concatenated = torch.cat(list(feature_maps), dim=1)          # (B, C, H, W), C = Σ C_i
    pooled = concatenated.mean(dim=(2, 3))                       # (B, C) global average pooling
    # Keras: Dense(C, activation='softmax')(pooled)  -- a NEW layer each call; softmax over ALL C channels
    attention_weights = torch.softmax(nn.Linear(concatenated.shape[1], concatenated.shape[1])(pooled), dim=1)
    weighted_features = concatenated * attention_weights[:, :, None, None]   # (B, C, H, W)
    fused_map = weighted_features.sum(dim=1, keepdim=True)       # (B, 1, H, W): the channels are gone
    return fused_map


class FunctionAsModule(nn.Module):
    """Wrap a fusion function in an ``nn.Module``, the way one would drop it into a model.

    With the printed examples the wrapper has **no parameters**: the layers are made and thrown away
    inside each call, so ``torch.optim.Adam(module.parameters())`` has nothing to train.
    """

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, feature_maps: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fn(feature_maps)


# ---------------------------------------------------------------------------------------------------
# Fixed: layers built once, in __init__, so they are parameters of the model and are trained.
# ---------------------------------------------------------------------------------------------------

class ConcatReductionFixed(nn.Module):
    """Example 1 fixed: ``[relu(P_1 F_1) ‖ … ‖ relu(P_n F_n)]`` with each 1×1 conv ``P_i`` built once.

    Maps of other sizes are first resized (bilinear) to the first map's size, the alignment the
    article says is needed but does not show. Output channels: ``n * reduced_channels``.

    Args:
        in_channels: channels of each input map.
        reduced_channels: channels each map is reduced to (the article's 64).
    """

    def __init__(self, in_channels: Sequence[int], reduced_channels: int = 64):
        super().__init__()
        if len(in_channels) < 1:
            raise ValueError("in_channels must list at least one map's channel count")
        self.in_channels = [int(c) for c in in_channels]
        self.reduce = nn.ModuleList(nn.Conv2d(c, reduced_channels, kernel_size=1) for c in self.in_channels)

    def forward(self, feature_maps: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(feature_maps) != len(self.reduce):
            raise ValueError(f"expected {len(self.reduce)} feature maps, got {len(feature_maps)}")
        size = feature_maps[0].shape[-2:]
        reduced = []
        for i, (fm, conv) in enumerate(zip(feature_maps, self.reduce)):
            if fm.dim() != 4 or fm.shape[1] != self.in_channels[i]:
                raise ValueError(
                    f"input {i} has shape {tuple(fm.shape)}; expected (B, {self.in_channels[i]}, H, W)"
                )
            if fm.shape[-2:] != size:  # align to the first (finest) map, as the article says to
                fm = F.interpolate(fm, size=size, mode="bilinear", align_corners=False)
            reduced.append(F.relu(conv(fm)))   # (B, reduced, H, W)
        return torch.cat(reduced, dim=1)       # (B, n * reduced, H, W)


def weighted_sum_fixed(in_channels: Sequence[int], out_channels: int | None = None) -> nn.Module:
    """Example 2 fixed: per-sample level gates from global average pooling, normalised to sum to one.

    Returns ``fusion_course.fusion.GatedFusion(in_channels, out_channels, normalize=True)``.
    """
    from ..fusion import GatedFusion

    out = int(out_channels if out_channels is not None else in_channels[0])
    return GatedFusion(list(in_channels), out, normalize=True)


def channel_attention_fixed(in_channels: Sequence[int], out_channels: int | None = None) -> nn.Module:
    """Example 3 fixed: channel attention that keeps the channels (``ChannelAttentionFusion``)."""
    from ..fusion import ChannelAttentionFusion

    out = int(out_channels if out_channels is not None else in_channels[0])
    return ChannelAttentionFusion(list(in_channels), out)
