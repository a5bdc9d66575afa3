"""Attentional feature fusion (AFF) and iterative AFF (iAFF).

Dai, Gieseke, Oehmcke, Wu, Barnard, "Attentional Feature Fusion", WACV 2021, arXiv:2009.14082.

The multi-scale channel attention module (MS-CAM) mixes a *global* context (global average pooling,
like squeeze-and-excitation) with a *local* one (the same bottleneck applied at every pixel with
1×1 convolutions), so the attention map ``M`` has a value per sample, channel and pixel:

    L(X) = BN(PWConv_2(ReLU(BN(PWConv_1(X)))))              (B, C, H, W)   local context
    G(X) = BN(PWConv_2'(ReLU(BN(PWConv_1'(GAP(X))))))        (B, C, 1, 1)   global context
    M(X) = σ(L(X) + G(X))                                    broadcast to (B, C, H, W)

AFF fuses two maps by a soft selection between them, ``Z = M(X + Y) ⊙ X + (1 − M(X + Y)) ⊙ Y``.
iAFF notices that the initial ``X + Y`` is itself a fusion and replaces it by a first AFF:
``X' = M_1(X + Y) ⊙ X + (1 − M_1(X + Y)) ⊙ Y``, then ``Z = M_2(X') ⊙ X + (1 − M_2(X')) ⊙ Y``.

With more than two inputs the pairs are fused left to right, ``Z ← AFF_i(Z, F_i)``, each step with its
own MS-CAM. The global branch's BatchNorm sees one value per sample and channel, so training with a
batch of one cannot work (PyTorch refuses it); ``norm=False`` drops the BatchNorms.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ._checks import check_positive_int
from .align import Align, Size
from .layers import ConvBNAct, load_old_keys


def _bottleneck(channels: int, hidden: int, norm: bool) -> nn.Sequential:
    """``BN(PWConv_2(ReLU(BN(PWConv_1(x)))))``: two ``ConvBNAct`` 1×1 steps, the second without activation."""
    # A bias before BatchNorm is removed by its mean subtraction (its gradient is exactly 0): none then.
    block = nn.Sequential(
        ConvBNAct(channels, hidden, 1, bias=not norm, norm=norm),                # PWConv_1 (+ BN) + ReLU
        ConvBNAct(hidden, channels, 1, bias=not norm, norm=norm, act=None),      # PWConv_2 (+ BN)
    )
    # Checkpoints saved when the bottleneck was one flat nn.Sequential (conv, BN, ReLU, conv, BN) still load.
    old = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1"} if norm else {"0": "0.0", "2": "1.0"}
    load_old_keys(block, old)
    return block


class MSCAM(nn.Module):
    """Multi-scale channel attention: ``M(X) = σ(L(X) + G(X))``, same shape as ``X``.

    Example:
        >>> import torch
        >>> cam = MSCAM(64, reduction=4)
        >>> tuple(cam(torch.randn(2, 64, 8, 8)).shape)
        (2, 64, 8, 8)
    """

    def __init__(self, channels: int, reduction: int = 4, *, norm: bool = True) -> None:
        super().__init__()
        hidden = max(check_positive_int(channels, "channels") // check_positive_int(reduction, "reduction"), 1)
        self.norm = norm
        self.local_att = _bottleneck(channels, hidden, norm)
        self.global_att = nn.Sequential(nn.AdaptiveAvgPool2d(1), _bottleneck(channels, hidden, norm))

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.norm and x.shape[0] == 1:
            raise ValueError(
                f"MS-CAM got a batch of one, shape {tuple(x.shape)}, in training mode: the BatchNorm of its global "
                "branch sees a single value per channel; train with batch size >= 2, call .eval() for inference, "
                "or build the module with norm=False"
            )
        return (self.local_att(x) + self.global_att(x)).sigmoid()   # (B, C, H, W) + (B, C, 1, 1)


class AFF(nn.Module):
    """Attentional feature fusion of the aligned, projected maps: ``Z = M ⊙ X + (1 − M) ⊙ Y``.

    Args:
        in_channels, out_channels, size, resize: as every list-in fusion (two or more inputs).
        reduction: the MS-CAM bottleneck ratio r (the paper uses 4).
        norm: BatchNorm in the MS-CAM (as published).

    ``last_weights`` holds the last step's attention map ``M`` ``(B, C, H, W)``, detached.

    Example:
        >>> import torch
        >>> fuse = AFF([64, 64], 64)
        >>> tuple(fuse([torch.randn(2, 64, 16, 16), torch.randn(2, 64, 8, 8)]).shape)
        (2, 64, 16, 16)
    """

    iterative = False

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, reduction: int = 4, norm: bool = True,
                 size: Size = None, resize: str = "bilinear") -> None:
        super().__init__()
        name = type(self).__name__
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.align = Align(in_channels, out_channels, size=size, resize=resize, who=name)
        self.in_channels = self.align.in_channels
        if len(self.in_channels) < 2:
            raise ValueError(f"{name} fuses two or more maps; got in_channels={self.in_channels}")
        steps = len(self.in_channels) - 1
        self.cams = nn.ModuleList(MSCAM(out_channels, reduction, norm=norm) for _ in range(steps))
        if self.iterative:
            self.cams2 = nn.ModuleList(MSCAM(out_channels, reduction, norm=norm) for _ in range(steps))
        self.last_weights: Tensor | None = None

    @staticmethod
    def select(m: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """``m ⊙ x + (1 − m) ⊙ y``, written as ``y + m ⊙ (x − y)`` (one product instead of two)."""
        return y + m * (x - y)

    def fuse_pair(self, step: int, x: Tensor, y: Tensor) -> Tensor:
        m = self.cams[step](x + y)
        if self.iterative:
            m = self.cams2[step](self.select(m, x, y))
        self.last_weights = m.detach()
        return self.select(m, x, y)

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        aligned = self.align(maps)                  # n × (B, C, H, W)
        z = aligned[0]
        for step, y in enumerate(aligned[1:]):
            z = self.fuse_pair(step, z, y)
        return z


class IAFF(AFF):
    """Iterative attentional feature fusion: the initial ``X + Y`` is replaced by a first AFF.

    Example:
        >>> import torch
        >>> fuse = IAFF([32, 64], 64)
        >>> tuple(fuse([torch.randn(2, 32, 16, 16), torch.randn(2, 64, 8, 8)]).shape)
        (2, 64, 16, 16)
    """

    iterative = True
