"""The Feature Fusion Block of the newsletter, built as it describes it.

The newsletter's "Moderate" section: the input "is passed through several convolutional layers with
different kernel sizes and strides", the outputs are "concatenated or summed", the result "is passed
through one or more additional convolutional layers to refine" it, and "finally ... through a
non-linear activation function". Branches with different strides give maps of different sizes, so
an alignment step (resize to the first branch's size) is needed before they can be merged; the
newsletter leaves it out. Multi-branch blocks of this kind are Inception's (Szegedy et al. 2014,
arXiv:1409.4842) with a learned merge.

Its printed code (``def init`` instead of ``__init__``, and a 1×1 convolution expecting 64 channels
after a concatenation that gives 128) is fixed by ``ConcatFusion([64, 64], 64)``.

Two ways to call it:

* one input (``in_channels`` an int): every branch sees the same map (the newsletter's description);
* several inputs (``in_channels`` a list): branch ``i`` sees input ``i`` (the list-in convention of the
  other fusion modules, used by ``create_fusion("block", ...)``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import check_channel_list, check_choice, check_inputs, check_positive_int
from .align import RESIZE_MODES, resize
from .formula import make_activation
from .layers import ConvBNAct
from .sum import sum_maps


class FeatureFusionBlock(nn.Module):
    """Parallel convolutions → align → concat or sum → refining conv → activation.

    Equation: ``B_k = ReLU(BN(conv_{k_k, s_k}(x_k)))``; ``A_k = R(B_k)`` (resized to ``B_1``'s size);
    ``M = conv1x1([A_1 ‖ … ‖ A_n])`` (``merge="concat"``) or ``M = Σ_k A_k`` (``merge="sum"``);
    ``out = act(BN(conv3x3(M)))``.

    Args:
        in_channels: an int (one input shared by every branch) or one count per input.
        out_channels: channels of every branch and of the output.
        kernel_sizes: one odd kernel size per branch. Default: (1, 3, 5) for one input, 3 per input otherwise.
        strides: one stride per branch. Default: (1, 1, 2) for one input, 1 per input otherwise.
        merge: "concat" (then a 1×1 reduction) or "sum".
        activation: the final non-linearity: a name ("relu", "sigmoid", "tanh", "identity") or a module.
        resize: how branch outputs are aligned ("bilinear", "nearest", "max", "avg").

    Example:
        >>> import torch
        >>> block = FeatureFusionBlock(3, 16)                        # one image, three branches
        >>> tuple(block(torch.randn(2, 3, 32, 32)).shape)
        (2, 16, 32, 32)
        >>> block = FeatureFusionBlock([16, 32], 16, merge="sum")    # two levels, one branch each
        >>> tuple(block([torch.randn(2, 16, 32, 32), torch.randn(2, 32, 16, 16)]).shape)
        (2, 16, 32, 32)
    """

    def __init__(self, in_channels: int | Sequence[int], out_channels: int, *,
                 kernel_sizes: Sequence[int] | None = None, strides: Sequence[int] | None = None,
                 merge: str = "concat", activation: str | nn.Module | None = "relu",
                 resize: str = "bilinear") -> None:
        super().__init__()
        self.shared_input = isinstance(in_channels, int) and not isinstance(in_channels, bool)
        if self.shared_input:
            cin = check_positive_int(in_channels, "in_channels")
            kernel_sizes = tuple(kernel_sizes) if kernel_sizes is not None else (1, 3, 5)
            strides = tuple(strides) if strides is not None else (1, 1, 2)
            if len(strides) != len(kernel_sizes):
                raise ValueError(f"give one stride per kernel size; got kernel_sizes={kernel_sizes}, strides={strides}")
            self.in_channels: list[int] = [cin] * len(kernel_sizes)
        else:
            self.in_channels = check_channel_list(in_channels)
            n = len(self.in_channels)
            kernel_sizes = tuple(kernel_sizes) if kernel_sizes is not None else (3,) * n
            strides = tuple(strides) if strides is not None else (1,) * n
            for name, values in (("kernel_sizes", kernel_sizes), ("strides", strides)):
                if len(values) != n:
                    raise ValueError(f"{name} needs one entry per input ({n}, in_channels={self.in_channels}); got {values}")
        for k in kernel_sizes:
            if check_positive_int(k, "kernel size") % 2 == 0:
                raise ValueError(f"kernel sizes must be odd so that 'same' padding keeps the size; got {kernel_sizes}")
        for s in strides:
            check_positive_int(s, "stride")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_sizes, self.strides = tuple(kernel_sizes), tuple(strides)
        self.merge = check_choice(merge, ("concat", "sum"), "merge")
        self.resize = check_choice(resize, RESIZE_MODES, "resize")
        self.branches = nn.ModuleList(
            ConvBNAct(c, out_channels, k, s) for c, k, s in zip(self.in_channels, kernel_sizes, strides)
        )
        n = len(self.branches)
        self.reduce = nn.Conv2d(n * out_channels, out_channels, 1) if merge == "concat" else nn.Identity()
        self.refine = ConvBNAct(out_channels, out_channels, 3, act=None)   # the activation comes last, below
        self.activation = make_activation(activation)

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        if self.shared_input:
            if not isinstance(x, Tensor):
                raise TypeError(
                    f"FeatureFusionBlock was built for one input map (in_channels={self.in_channels[0]}); pass one "
                    f"(B, {self.in_channels[0]}, H, W) tensor, or build it with a list of channels for several inputs"
                )
            inputs = check_inputs([x], self.in_channels[:1], who="FeatureFusionBlock") * len(self.branches)
        else:
            inputs = check_inputs(x, self.in_channels, who="FeatureFusionBlock")
        outs = [branch(t) for branch, t in zip(self.branches, inputs)]     # n × (B, C, H_k, W_k)
        hw = (int(outs[0].shape[-2]), int(outs[0].shape[-1]))
        outs = [resize(o, hw, self.resize) for o in outs]                 # n × (B, C, H_1, W_1)
        if self.merge == "concat":
            m = self.reduce(torch.cat(outs, dim=1))                       # (B, n*C, H, W) -> (B, C, H, W)
        else:
            m = sum_maps(outs)
        return self.activation(self.refine(m))

    def extra_repr(self) -> str:
        return f"kernel_sizes={self.kernel_sizes}, strides={self.strides}, merge={self.merge!r}"
