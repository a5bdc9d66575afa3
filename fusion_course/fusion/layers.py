"""Building blocks that every model of the course shares: conv + BatchNorm + activation, and squeeze-and-excitation.

Written once, as in timm's ``layers/conv_bn_act.py`` and ``layers/squeeze_excite.py``, so that a reader
learns one block and finds it everywhere: in the newsletter's fusion block, F3Net's CBR, the baseline
CNN, the segmentation encoders, MobileNet's laterals and FusionNet's trunk.

``ConvBNAct`` is an ``nn.Sequential`` whose children are numbered ``0`` (conv), ``1`` (BatchNorm) and
``2`` (activation), exactly the layout of the ``nn.Sequential(conv, bn, act)`` it replaces, so state
dicts (``h1.0.weight``, ``h1.1.running_mean``) and seeded initial weights stay the same.
"""
from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ActLayer = Union[Callable[..., nn.Module], None]


class ConvBNAct(nn.Sequential):
    """``act(BN(conv_{k×k, stride s}(x)))`` with 'same' padding ``k // 2``.

    Batch normalisation (Ioffe & Szegedy, arXiv:1502.03167) subtracts the per-channel batch mean, so a
    bias on the convolution before it cancels out: ``bias=False`` by default. Some published models keep
    it (F3Net's reference code, FusionNet's trunk), and so parameter counts can match them, ``bias=True``.

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size: an odd ``k`` (1, 3, 5, ...).
        stride: the convolution's stride.
        groups: ``in_channels`` for a depthwise convolution (MobileNet, arXiv:1704.04861).
        bias: give the convolution a bias.
        act: the activation class, e.g. ``nn.ReLU`` (default) or ``nn.ReLU6``; None for no activation.
        inplace: build the activation as ``act(inplace=True)`` (saves a buffer; ReLU-like only).

    Example:
        >>> import torch
        >>> block = ConvBNAct(3, 16, 3, stride=2)
        >>> [type(m).__name__ for m in block], tuple(block(torch.randn(2, 3, 32, 32)).shape)
        (['Conv2d', 'BatchNorm2d', 'ReLU'], (2, 16, 16, 16))
        >>> list(block.state_dict())[:3]
        ['0.weight', '1.weight', '1.bias']
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, *,
                 groups: int = 1, bias: bool = False, act: ActLayer = nn.ReLU, inplace: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                      groups=groups, bias=bias),
            nn.BatchNorm2d(out_channels),
        ]
        if act is not None:
            layers.append(act(inplace=True) if inplace else act())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al., arXiv:1709.01507): ``x · σ(W2 δ(W1 GAP(x)))``.

    One gate per *channel*, computed from the channel's global average; positions never attend to each
    other. ``W1: C → C/r`` and ``W2: C/r → C`` are linear maps without bias, as published.

    Args:
        channels: ``C``.
        reduction: ``r``; the hidden width is ``max(1, C // r)``.

    Example:
        >>> import torch
        >>> se = SqueezeExcitation(256)
        >>> tuple(se(torch.randn(2, 256, 4, 4)).shape), sum(p.numel() for p in se.parameters())
        ((2, 256, 4, 4), 8192)
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        squeeze = x.mean(dim=(2, 3))                                   # (B, C)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(squeeze))))      # (B, C)
        return x * gate[:, :, None, None]                              # (B, C, H, W)
