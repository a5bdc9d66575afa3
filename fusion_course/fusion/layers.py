"""Building blocks that every model of the course shares: conv + BatchNorm + activation, and squeeze-and-excitation.

Written once, as in timm's ``layers/conv_bn_act.py`` and ``layers/squeeze_excite.py``, so that a reader
learns one block and finds it everywhere: in the newsletter's fusion block, F3Net's CBR, the baseline
CNN, the segmentation encoders, MobileNet's laterals and FusionNet's trunk.

``ConvBNAct`` is an ``nn.Sequential`` whose children are numbered ``0`` (conv), ``1`` (BatchNorm) and
``2`` (activation), exactly the layout of the ``nn.Sequential(conv, bn, act)`` it replaces, so state
dicts (``h1.0.weight``, ``h1.1.running_mean``) and seeded initial weights stay the same.

Blocks that were written out by hand before (``conv1``/``bn1`` attributes) gain a level in their state-dict
keys when they move onto ``ConvBNAct``; :func:`load_old_keys` lets such a module still read checkpoints
saved in the old, flat layout.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Union

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
        norm: put the BatchNorm after the convolution; ``False`` leaves ``conv`` (+ ``act``), numbered
            ``0`` (+ ``1``), e.g. to count a convolution's bare cost (MobileNet's ``1/N + 1/Dk²``).
        act: the activation class, e.g. ``nn.ReLU`` (default) or ``nn.ReLU6``; None for no activation.
        inplace: build the activation as ``act(inplace=True)`` (saves a buffer; ReLU-like only).

    Example:
        >>> import torch
        >>> block = ConvBNAct(3, 16, 3, stride=2)
        >>> [type(m).__name__ for m in block], tuple(block(torch.randn(2, 3, 32, 32)).shape)
        (['Conv2d', 'BatchNorm2d', 'ReLU'], (2, 16, 16, 16))
        >>> list(block.state_dict())[:3]
        ['0.weight', '1.weight', '1.bias']
        >>> [type(m).__name__ for m in ConvBNAct(3, 16, 1, norm=False, bias=True, act=None)]
        ['Conv2d']
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, *,
                 groups: int = 1, bias: bool = False, act: ActLayer = nn.ReLU, inplace: bool = True,
                 norm: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                      groups=groups, bias=bias),
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if act is not None:
            layers.append(act(inplace=True) if inplace else act())
        super().__init__(*layers)


def load_old_keys(module: nn.Module, renames: Mapping[str, str]) -> None:
    """Let ``module`` load state dicts saved before its hand-written layers became ``ConvBNAct`` blocks.

    ``renames`` maps an old child path to its new one, relative to ``module``: ``{"bn1": "conv1.1"}`` turns
    ``<prefix>bn1.running_mean`` into ``<prefix>conv1.1.running_mean`` before the module reads its keys. Only a
    key whose path is *exactly* an old one is renamed (``conv1.weight``, never the new ``conv1.0.weight``),
    so checkpoints in either layout load, and the old layout loads with ``strict=True``.

    Example:
        >>> import torch
        >>> block = nn.Sequential(ConvBNAct(2, 4, 3, act=None))
        >>> load_old_keys(block, {"conv": "0.0", "bn": "0.1"})
        >>> old = {"conv.weight": torch.ones(4, 2, 3, 3), "bn.weight": torch.ones(4), "bn.bias": torch.zeros(4),
        ...        "bn.running_mean": torch.zeros(4), "bn.running_var": torch.ones(4)}
        >>> block.load_state_dict(old)
        <All keys matched successfully>
        >>> block[0][0].weight.sum().item()
        72.0
    """
    table = dict(renames)

    def hook(state_dict: dict, prefix: str, *args: Any) -> None:
        for key in [k for k in state_dict if k.startswith(prefix)]:
            path, _, leaf = key[len(prefix):].rpartition(".")
            if path in table:                                # an old path: weight / bias / running_mean ...
                state_dict[f"{prefix}{table[path]}.{leaf}"] = state_dict.pop(key)

    module._register_load_state_dict_pre_hook(hook)


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
