"""F3Net as published, at teaching scale: CFM fusion, a cascaded feedback decoder and side outputs.

Wei, Wang, Huang, "F3Net: Fusion, Feedback and Focus for Salient Object Detection", AAAI 2020,
arXiv:1911.11445. The paper's network segments the salient object of a photo; it is not the
classifier the source article prints under the same name (that one is ``models.F3NetToy``).

The pieces, from input to output (level ``l`` has stride ``2**l``; levels 2..5 as in the paper):

    backbone   x (B, 3, H, W) -> c2 (H/4), c3 (H/8), c4 (H/16), c5 (H/32)
    reduce     1×1 conv + BN + ReLU per level -> ``width`` channels each
    decoder    CFM top-down:  (h4, v4) = CFM(c4, c5); (h3, v3) = CFM(c3, v4); (h2, pred) = CFM(c2, v3)
    feedback   the next sub-decoder takes the previous one's outputs (h2, h3, h4, c5) and adds
               ``resize(pred)`` to every level's input before its own top-down pass
    heads      3×3 conv -> 1 logit map per sub-decoder prediction and per level (side outputs),
               each upsampled (bilinear) to the input size

The paper uses a ResNet-50 trunk (23.5M of its 25.5M parameters) pretrained on ImageNet. No
pretrained weights ship offline, so ``SmallBackbone`` is a 4-stage CNN trained from scratch with the
same strides 4/8/16/32. The decoder is the paper's at a narrower width (16 instead of 64 channels),
so that a CPU trains it in seconds (about 177k parameters with 2 sub-decoders).

To compare decoders at an equal training budget, ``fuse`` swaps CFM's multiplicative step
``h2 ⊙ v2`` for a sum ``h2 + v2`` (same layers, same parameters) or a concatenation
``CBR1×1([h2 ‖ v2])`` (one 1×1 layer more), and ``n_decoders`` sets the number of cascaded
sub-decoders (1: no feedback; the paper uses 2).

Outputs: in eval mode ``forward`` returns the final mask logits ``(B, 1, H, W)``. In training mode
it returns a list, final prediction first, for deep supervision
(``model.default_loss()`` is the paper's: PPA on every output, weights 1 shared by the sub-decoder
predictions, then 1/2, 1/4, 1/8, 1/16 for the side outputs; see ``fusion_course.losses``)::

    [pred_N, pred_{N-1}, ..., pred_1, side_2, side_3, side_4, side_5]     each (B, 1, H, W)

where ``pred_k`` is sub-decoder ``k``'s prediction and ``side_l`` reads the last sub-decoder's
level-``l`` features.

>>> import torch
>>> from fusion_course.models.f3net import F3Net
>>> model = F3Net().eval()
>>> model(torch.randn(2, 3, 64, 64)).shape
torch.Size([2, 1, 64, 64])
>>> [tuple(o.shape) for o in model.train()(torch.randn(2, 3, 64, 64))][:3]
[(2, 1, 64, 64), (2, 1, 64, 64), (2, 1, 64, 64)]
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fusion.cfm import CFM
from ..fusion.layers import ConvBNAct
from .registry import ModelSpec

__all__ = ["F3Net", "SmallBackbone", "CrossFeatureBaseline", "SubDecoder", "cbr", "MODEL_SPECS", "LEVELS", "FUSES"]

LEVELS: tuple[str, ...] = ("c2", "c3", "c4", "c5")   # strides 4, 8, 16, 32, as in the paper
FUSES: tuple[str, ...] = ("cfm", "sum", "concat")


def cbr(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> ConvBNAct:
    """Conv + BatchNorm + ReLU, the paper's building block ("CBR"), without the conv bias BatchNorm cancels."""
    return ConvBNAct(in_channels, out_channels, kernel_size, stride)


class SmallBackbone(nn.Module):
    """A 4-stage CNN trained from scratch, with the strides of a ResNet's last four stages (4/8/16/32).

    Stage 2 is a stem of two stride-2 CBRs; stages 3-5 are one stride-2 CBR then one stride-1 CBR.
    Returns an ``OrderedDict`` ``{"c2": (B, C2, H/4, W/4), ..., "c5": (B, C5, H/32, W/32)}``
    (sizes round up for inputs that are not multiples of 32).

    >>> feats = SmallBackbone(3, (16, 24, 32, 48))(torch.randn(1, 3, 64, 64))
    >>> {k: tuple(v.shape) for k, v in feats.items()}
    {'c2': (1, 16, 16, 16), 'c3': (1, 24, 8, 8), 'c4': (1, 32, 4, 4), 'c5': (1, 48, 2, 2)}
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (16, 24, 32, 48)) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 4 or min(channels) < 1:
            raise ValueError(f"SmallBackbone: channels must be 4 positive ints (one per stage), got {channels}")
        self.channels = channels
        c2, c3, c4, c5 = channels
        self.stages = nn.ModuleDict({
            "c2": nn.Sequential(cbr(in_channels, c2 // 2 or 1, 3, 2), cbr(c2 // 2 or 1, c2, 3, 2)),  # stride 4
            "c3": nn.Sequential(cbr(c2, c3, 3, 2), cbr(c3, c3)),                                   # stride 8
            "c4": nn.Sequential(cbr(c3, c4, 3, 2), cbr(c4, c4)),                                   # stride 16
            "c5": nn.Sequential(cbr(c4, c5, 3, 2), cbr(c5, c5)),                                   # stride 32
        })

    def forward(self, x: Tensor) -> "OrderedDict[str, Tensor]":
        feats: OrderedDict[str, Tensor] = OrderedDict()
        for name, stage in self.stages.items():
            x = stage(x)
            feats[name] = x
        return feats


class CrossFeatureBaseline(CFM):
    """CFM's layout with its multiplicative step replaced: the decoder baselines of the lesson.

    Same eight CBRs as CFM (``fusion_course.fusion.CFM``); only the fusion step differs::

        "sum":    fuse = h2 + v2                    (same parameters as CFM)
        "concat": fuse = CBR_1×1([h2 ‖ v2])         (2·C·C + 2·C more: a 1×1 conv without bias + BN)

    then, as in CFM, ``h3 = CBR(fuse) + h1``, ``h4 = CBR(h3)``, ``v3 = CBR(fuse) + v1``, ``v4 = CBR(v3)``.
    Call it like CFM: ``forward(low, high) -> (h4, v4)``; ``high`` is resized (bilinear) to ``low``.

    >>> h, v = CrossFeatureBaseline(8, "concat")(torch.randn(2, 8, 16, 16), torch.randn(2, 8, 8, 8))
    >>> tuple(h.shape), tuple(v.shape)
    ((2, 8, 16, 16), (2, 8, 16, 16))
    """

    def __init__(self, channels: int, fuse: str = "sum") -> None:
        if fuse not in ("sum", "concat"):
            raise ValueError(f"CrossFeatureBaseline: fuse must be 'sum' or 'concat', got {fuse!r}")
        super().__init__(channels)   # CFM's eight CBRs, created in the same order (same initial weights)
        self.fuse = fuse
        c = self.channels
        self.mix = cbr(2 * c, c, kernel_size=1) if fuse == "concat" else None

    def cross(self, h2: Tensor, v2: Tensor) -> Tensor:
        return h2 + v2 if self.mix is None else self.mix(torch.cat([h2, v2], dim=1))  # (B, C, H, W)


def _cross_block(channels: int, fuse: str) -> nn.Module:
    if fuse == "cfm":
        return CFM(channels)   # the course's CFM (lesson 06 teaches it step by step)
    return CrossFeatureBaseline(channels, fuse)


class SubDecoder(nn.Module):
    """One top-down pass of three cross blocks (5→4, 4→3, 3→2), optionally fed back a prediction.

    ``forward(feats, feedback=None)`` takes ``[h2, h3, h4, v5]`` (each ``(B, C, H_l, W_l)``) and, when
    ``feedback`` (``(B, C, H_2, W_2)``, the previous sub-decoder's prediction features) is given,
    adds it, resized to each level, to every level's input, as the paper's cascaded feedback decoder
    does. Returns the refined ``[h2, h3, h4, v5]`` and this pass's prediction features ``(B, C, H_2, W_2)``.
    """

    def __init__(self, channels: int, fuse: str = "cfm") -> None:
        super().__init__()
        if fuse not in FUSES:
            raise ValueError(f"SubDecoder: fuse must be one of {FUSES}, got {fuse!r}")
        self.block45 = _cross_block(channels, fuse)
        self.block34 = _cross_block(channels, fuse)
        self.block23 = _cross_block(channels, fuse)

    def forward(self, feats: Sequence[Tensor], feedback: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        h2, h3, h4, v5 = feats
        if feedback is not None:
            # Feedback: the coarse prediction of the last pass corrects every level's input. Deep levels
            # get it downsampled (smoothed), shallow ones at their own resolution.
            h2, h3, h4, v5 = (f + F.interpolate(feedback, size=f.shape[-2:], mode="bilinear", align_corners=False)
                              for f in (h2, h3, h4, v5))
        h4, v4 = self.block45(h4, v5)
        h3, v3 = self.block34(h3, v4)
        h2, pred = self.block23(h2, v3)
        return [h2, h3, h4, v5], pred


class F3Net(nn.Module):
    """F3Net (arXiv:1911.11445): backbone, 1×1 reductions, cascaded feedback decoder, side outputs.

    Args:
        in_channels: image channels.
        num_classes: 1 (one logit map: salient or not). 2 is accepted and means the same binary task.
        width: the common channel count of every level after the 1×1 reductions (64 in the paper).
        backbone_channels: channels of the four backbone stages (strides 4, 8, 16, 32).
        fuse: ``"cfm"`` (the paper's multiplicative Cross Feature Module), ``"sum"`` or ``"concat"``.
        n_decoders: number of cascaded sub-decoders; 1 means no feedback, the paper uses 2.

    Returns (forward): eval mode, the final logits ``(B, 1, H, W)``; training mode, the list
    ``[pred_N, ..., pred_1, side_2, side_3, side_4, side_5]`` of ``(B, 1, H, W)`` logits.

    >>> m = F3Net(width=16, fuse="sum", n_decoders=1)
    >>> len(m(torch.randn(2, 3, 32, 32))), m.n_decoders
    (5, 1)
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1, *, width: int = 16,
                 backbone_channels: Sequence[int] = (16, 24, 32, 48), fuse: str = "cfm",
                 n_decoders: int = 2) -> None:
        super().__init__()
        if num_classes not in (1, 2):
            raise ValueError(f"F3Net segments one salient object: num_classes must be 1 (or 2, read as the same "
                             f"binary task), got {num_classes}")
        if fuse not in FUSES:
            raise ValueError(f"F3Net: fuse must be one of {FUSES}, got {fuse!r}")
        if int(n_decoders) < 1:
            raise ValueError(f"F3Net: n_decoders must be >= 1 (1 = no feedback, 2 = the paper), got {n_decoders}")
        if int(width) < 1:
            raise ValueError(f"F3Net: width must be a positive int, got {width}")
        self.in_channels, self.width, self.fuse, self.n_decoders = int(in_channels), int(width), fuse, int(n_decoders)
        self.backbone = SmallBackbone(in_channels, backbone_channels)
        self.reduce = nn.ModuleDict({name: cbr(c, width, kernel_size=1)
                                     for name, c in zip(LEVELS, self.backbone.channels)})
        self.decoders = nn.ModuleList(SubDecoder(width, fuse) for _ in range(self.n_decoders))
        # One prediction head per sub-decoder (the paper's linearp1, linearp2) and one per level.
        self.pred_heads = nn.ModuleList(nn.Conv2d(width, 1, 3, padding=1) for _ in range(self.n_decoders))
        self.side_heads = nn.ModuleList(nn.Conv2d(width, 1, 3, padding=1) for _ in LEVELS)

    def features(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """The decoder's internals: (last ``[h2, h3, h4, v5]``, every sub-decoder's prediction features)."""
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"F3Net expects images (B, {self.in_channels}, H, W), got {got}")
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"F3Net downsamples 32×: inputs must be at least 32×32, got {tuple(x.shape[-2:])}")
        feats = [self.reduce[name](f) for name, f in self.backbone(x).items()]   # 4 × (B, width, H_l, W_l)
        preds: list[Tensor] = []
        feedback = None
        for decoder in self.decoders:
            feats, feedback = decoder(feats, feedback)
            preds.append(feedback)                                                  # (B, width, H/4, W/4)
        return feats, preds

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        size = x.shape[-2:] if isinstance(x, Tensor) else None
        feats, preds = self.features(x)

        def up(t: Tensor) -> Tensor:
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)   # (B, 1, H, W)

        final = up(self.pred_heads[-1](preds[-1]))
        if not self.training:
            return final
        earlier = [up(head(p)) for head, p in zip(self.pred_heads[-2::-1], preds[-2::-1])]
        sides = [up(head(f)) for head, f in zip(self.side_heads, feats)]
        return [final, *earlier, *sides]

    def default_loss(self, bce: bool = False, *, loss: str | None = None):
        """The paper's training loss for this model: PPA (or ``loss``, e.g. ``"bce"``) with deep supervision."""
        from ..losses import DeepSupervisionLoss

        return DeepSupervisionLoss(loss or ("bce" if bce else "ppa"), n_main=self.n_decoders)


def _build_f3net(in_channels: int = 3, num_classes: int = 1, **options) -> F3Net:
    return F3Net(in_channels, 1 if num_classes in (1, 2) else num_classes, **options)


MODEL_SPECS = [
    ModelSpec(
        name="f3net",
        builder=_build_f3net,
        task="segment",
        default_dataset="saliency",
        description="F3Net (AAAI 2020): CFM fusion, cascaded feedback decoder, side outputs; small backbone from scratch",
        levels=("c2: stride 4, fine detail", "c3: stride 8", "c4: stride 16", "c5: stride 32, object extent"),
        size_multiple=32,
        min_size=32,
        options={"width": 16, "backbone_channels": (16, 24, 32, 48), "fuse": "cfm", "n_decoders": 2},
    ),
]
