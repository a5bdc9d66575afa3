"""Feature Pyramid Network: top-down fusion of named levels, each output at its own resolution.

Lin, Dollár, Girshick, He, Hariharan, Belongie, "Feature Pyramid Networks for Object Detection",
CVPR 2017, arXiv:1612.03144. For levels ``C_1 … C_L`` ordered from finest to coarsest:

    I_L = lateral_L(C_L)                                   1×1 conv ("inner" block), with bias
    I_i = lateral_i(C_i) + nearest_upsample(I_{i+1}, size of lateral_i(C_i))
    P_i = output_i(I_i)                                    3×3 conv ("layer" block), with bias

so every output level carries both the fine detail of its own level and the context of all coarser
ones. This implementation computes exactly what ``torchvision.ops.FeaturePyramidNetwork`` computes
(without ``extra_blocks``), and ``load_torchvision`` copies a torchvision FPN's weights into it; the
test suite checks the two agree to float precision. It takes and returns an ``OrderedDict`` of named
levels, like torchvision's.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_channel_list, check_choice, check_inputs, check_positive_int


class FPN(nn.Module):
    """Feature pyramid: ``OrderedDict`` of named maps (finest first) in, same names out.

    Args:
        in_channels_list: channels of each level, finest first.
        out_channels: channels of every output level.
        upsample: "nearest" (as the paper and torchvision) or "bilinear".

    Example:
        >>> import torch
        >>> from collections import OrderedDict
        >>> fpn = FPN([16, 32, 64], 32)
        >>> feats = OrderedDict(c2=torch.randn(1, 16, 32, 32), c3=torch.randn(1, 32, 16, 16), c4=torch.randn(1, 64, 8, 8))
        >>> [(k, tuple(v.shape)) for k, v in fpn(feats).items()]
        [('c2', (1, 32, 32, 32)), ('c3', (1, 32, 16, 16)), ('c4', (1, 32, 8, 8))]
    """

    def __init__(self, in_channels_list: Sequence[int], out_channels: int, *, upsample: str = "nearest") -> None:
        super().__init__()
        self.in_channels = check_channel_list(in_channels_list, name="in_channels_list")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.upsample = check_choice(upsample, ("nearest", "bilinear"), "upsample")
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in self.in_channels)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in self.in_channels)
        for m in self.modules():   # torchvision's initialisation, so a fresh FPN behaves like theirs
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                nn.init.zeros_(m.bias)

    def _up(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        if self.upsample == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: Mapping[str, Tensor]) -> "OrderedDict[str, Tensor]":
        if not isinstance(x, Mapping):
            raise TypeError(
                f"FPN takes an OrderedDict of named levels (finest first), e.g. OrderedDict(c2=..., c3=...); "
                f"got {type(x).__name__}; wrap a list as OrderedDict((str(i), f) for i, f in enumerate(maps))"
            )
        names = list(x.keys())
        feats = check_inputs(list(x.values()), self.in_channels, who="FPN")
        last_inner = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(feats) - 2, -1, -1):
            lateral = self.inner_blocks[idx](feats[idx])                       # (B, C_out, H_i, W_i)
            top_down = self._up(last_inner, (int(lateral.shape[-2]), int(lateral.shape[-1])))
            last_inner = lateral + top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        return OrderedDict(zip(names, results))

    def load_torchvision(self, tv_fpn: nn.Module) -> "FPN":
        """Copy the weights of a ``torchvision.ops.FeaturePyramidNetwork`` with the same channels.

        torchvision wraps each convolution in a ``Conv2dNormActivation`` (keys ``inner_blocks.0.0.weight``);
        plain ``Conv2d`` blocks (older versions) work too. Returns ``self``.
        """
        def conv_of(block: nn.Module) -> nn.Conv2d:
            return block if isinstance(block, nn.Conv2d) else next(m for m in block.modules() if isinstance(m, nn.Conv2d))

        if len(tv_fpn.inner_blocks) != len(self.inner_blocks):
            raise ValueError(f"the torchvision FPN has {len(tv_fpn.inner_blocks)} levels, this one {len(self.inner_blocks)}")
        for mine_list, theirs_list in ((self.inner_blocks, tv_fpn.inner_blocks), (self.layer_blocks, tv_fpn.layer_blocks)):
            for i, (mine, theirs) in enumerate(zip(mine_list, theirs_list)):
                theirs = conv_of(theirs)
                if theirs.weight.shape != mine.weight.shape:
                    raise ValueError(f"level {i}: torchvision weight {tuple(theirs.weight.shape)} vs ours {tuple(mine.weight.shape)}")
                mine.weight.data.copy_(theirs.weight.data)
                mine.bias.data.copy_(theirs.bias.data)
        return self

    def extra_repr(self) -> str:
        return f"in_channels_list={self.in_channels}, out_channels={self.out_channels}, upsample={self.upsample!r}"
