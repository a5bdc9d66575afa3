"""Checks for lesson 03 (the Feature Fusion Block).

3.1 ``align_to_first(maps)``: resize every map to the first map's size (bilinear).
3.2 ``FixedFusionBlock``: the newsletter's block with both bugs fixed.
3.3 ``concat_vs_sum_params(in_channels, out_channels)``: predict the parameters of ConcatFusion and SumFusion.
3.4 ``per_input_projections(weight, bias, maps)``: the identity ``W [F_1 ‖ … ‖ F_n] + b = Σ W_i F_i + b``: split a
    concatenation's 1×1 conv into one projection per input, each from its own input, adding up to it.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._tools import assert_close, assert_shape, describe, fail, maps, reject_mistake, require, run_answer, unchanged


# ------------------------------------------------------------------------------------------- 3.1
def check_align(fn: Callable) -> str:
    ex = "3.1"
    cases = [
        [(1, 4, 16, 16), (1, 8, 8, 8), (1, 2, 4, 4)],            # batch 1, halving sizes
        [(2, 3, 9, 13), (2, 5, 5, 7), (2, 6, 3, 4)],             # odd, non-square
        [(3, 2, 6, 10), (3, 2, 12, 20)],                         # the first map is the *smaller* one
    ]
    for k, shapes in enumerate(cases):
        xs = maps(shapes, seed=10 + k)
        with unchanged(ex, xs, hint="return new tensors; do not resize the inputs in place"):
            out = run_answer(ex, fn, xs, what="align_to_first(maps)")
        require(ex, isinstance(out, (list, tuple)), "a list with one aligned map per input",
                f"{type(out).__name__}", "return a list, e.g. [resize(m) for m in maps] (do not concatenate)")
        require(ex, len(out) == len(xs), f"{len(xs)} maps", f"{len(out)} maps", "one aligned map per input map")
        h, w = shapes[0][-2:]
        for i, (o, x) in enumerate(zip(out, xs)):
            assert_shape(ex, o, (x.shape[0], x.shape[1], h, w), what=f"aligned map {i}",
                         hint="the target size is the FIRST map's (H, W); the channels stay as they are")
            ref = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
            assert_close(ex, o, ref, what=f"aligned map {i}",
                         hint="use bilinear interpolation with align_corners=False (the PyTorch default for "
                              "F.interpolate's bilinear mode)")
    return "three cases incl. batch 1, odd and non-square sizes, and a first map smaller than the others"


# ------------------------------------------------------------------------------------------- 3.2
def check_fixed_block(cls: Any) -> str:
    ex = "3.2"
    require(ex, isinstance(cls, type) and issubclass(cls, nn.Module), "the class FixedFusionBlock (an nn.Module subclass)",
            f"{type(cls).__name__}", "pass the class itself: check(\"3.2\", FixedFusionBlock)")
    for c, shape in [(64, (1, 64, 32, 32)), (8, (2, 8, 5, 7)), (3, (3, 3, 6, 4))]:
        torch.manual_seed(0)
        try:
            block = cls(in_channels=c)
        except TypeError as err:
            fail(ex, "FixedFusionBlock(in_channels=...) to build the block", f"TypeError: {err}",
                 "Python only runs a constructor named __init__ (two underscores on each side)")
        n_params = sum(p.numel() for p in block.parameters())
        require(ex, n_params > 0, "a block with a trainable 1×1 conv", "a block with no parameters",
                "create the conv inside __init__ and assign it to self, so that it is registered")
        x1, x2 = maps([shape, shape], seed=c)
        with unchanged(ex, x1, x2):
            out = run_answer(ex, block, x1, x2, what="block(x1, x2)",
                       hint="after torch.cat the 1×1 conv sees the channels of BOTH maps")
        assert_shape(ex, out, shape, what="block(x1, x2)",
                     hint="the 1×1 conv maps the concatenation back to in_channels channels")
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        require(ex, len(convs) == 1, "exactly one Conv2d (the 1×1 reduction)", f"{len(convs)} Conv2d layers")
        conv = convs[0]
        require(ex, tuple(conv.weight.shape) == (c, 2 * c, 1, 1), f"a 1×1 conv with weight shape ({c}, {2 * c}, 1, 1)",
                f"weight shape {tuple(conv.weight.shape)}",
                "concatenating two maps of C channels gives 2C: the conv takes 2C in and gives C out")
        require(ex, n_params == 2 * c * c + c, f"{2 * c * c + c} parameters (2C² weights + C biases)", f"{n_params}",
                "keep the conv's bias (the newsletter's conv has one) and add nothing else")
        ref = F.conv2d(torch.cat([x1, x2], dim=1), conv.weight, conv.bias)
        assert_close(ex, out, ref, what="block(x1, x2)",
                     hint="concatenate (x1, x2) in this order along dim=1, then apply the conv; no activation")
    return "builds with in_channels=64, 8, 3; one 1×1 conv 2C→C; output = conv(cat(x1, x2))"


# ------------------------------------------------------------------------------------------- 3.3
def check_params(fn: Callable) -> str:
    ex = "3.3"
    from ..fusion import ConcatFusion, SumFusion
    from ..profiling import count_params

    # Not the lesson's own configuration ([32, 64, 128] -> 64, whose table prints the answer): an answer
    # copied from the lesson must fail, and only the arithmetic passes.
    cases = [([24, 48, 96], 48), ([16, 16], 16), ([8, 24, 40], 12), ([3], 5)]
    for in_ch, out_ch in cases:
        got = run_answer(ex, fn, list(in_ch), out_ch, what="concat_vs_sum_params(in_channels, out_channels)")
        require(ex, isinstance(got, (tuple, list)) and len(got) == 2, "a pair (concat_params, sum_params)",
                f"{got!r}", "return two integers")
        expected = (count_params(ConcatFusion(in_ch, out_ch)), count_params(SumFusion(in_ch, out_ch)))
        if tuple(got) == expected[::-1] and expected[0] != expected[1]:
            fail(ex, "(concat, sum) in this order", "(sum, concat) for "
                 f"in_channels={in_ch}, out_channels={out_ch}")
        require(ex, int(got[0]) == expected[0], f"concat params for in_channels={in_ch}, out_channels={out_ch}",
                f"{got[0]}", "one 1×1 conv from Σ C_i channels to out_channels, with a bias")
        require(ex, int(got[1]) == expected[1], f"sum params for in_channels={in_ch}, out_channels={out_ch}",
                f"{got[1]}",
                "one 1×1 conv (with bias) per input whose channels differ from out_channels; an input that already "
                "has out_channels needs no projection")
    return "4 configurations, incl. inputs that need no projection"


# ------------------------------------------------------------------------------------------- 3.4
def check_split(fn: Callable) -> str:
    """3.4: ``fn(weight, bias, maps)`` -> one output per input, each from its own input only, summing to the concat conv."""
    ex = "3.4"
    cases = [([3, 5, 2], 4, (2, 7, 5)), ([6, 6], 3, (1, 4, 4)), ([1, 4, 2, 3], 5, (3, 3, 6))]
    for k, (in_ch, out_ch, (b, h, w)) in enumerate(cases):
        torch.manual_seed(30 + k)
        conv = nn.Conv2d(sum(in_ch), out_ch, kernel_size=1)
        weight, bias = conv.weight.detach().clone(), conv.bias.detach().clone()
        xs = maps([(b, c, h, w) for c in in_ch], seed=50 + k)
        with unchanged(ex, weight, bias, xs):
            out = run_answer(ex, fn, weight, bias, xs, what="per_input_projections(weight, bias, maps)",
                             hint="weight is (C_out, ΣC_i, 1, 1): input i meets the C_i columns that follow those of "
                                  "the inputs before it; split along dim 1, by in_channels, not into equal parts")
        require(ex, isinstance(out, (list, tuple)) and len(out) == len(in_ch), f"a list of {len(in_ch)} maps",
                describe(out), "return one projected map per input, in the order of the inputs")
        for i, o in enumerate(out):
            assert_shape(ex, o, (b, out_ch, h, w), what=f"projection {i}",
                         hint="every block produces all the output channels: split W along its INPUT axis (dim 1)")
        expected = F.conv2d(torch.cat(xs, dim=1), weight, bias)
        total = sum(o.detach() for o in out)
        reject_mistake(ex, total, expected, expected + (len(in_ch) - 1) * bias.view(1, -1, 1, 1),
                       expected="the bias b counted once in the sum", got=f"b added to all {len(in_ch)} projections",
                       hint="b belongs to the sum, not to every term: add it to one projection only")
        # Each projection must come from its own input alone: change one input, the others must not move.
        for j in range(len(in_ch)):
            poked = [x + 1.0 if i == j else x for i, x in enumerate(xs)]
            again = run_answer(ex, fn, weight, bias, poked, what="per_input_projections(weight, bias, maps)")
            for i, (o, o2) in enumerate(zip(out, again)):
                if i != j and torch.is_tensor(o2) and not torch.allclose(o.detach(), o2.detach(), atol=1e-5):
                    fail(ex, f"projection {i} to depend on input {i} only", f"it changes when input {j} changes",
                         "compute each projection from its own input and its own block of W, without concatenating")
        assert_close(ex, total, expected, what=f"Σ projections for in_channels={in_ch}",
                     hint="projection i uses the columns of W that meet input i, in the order of the concatenation; "
                          "the bias is added once in the whole sum")
    return "3 concat convs (2 to 4 inputs, equal and unequal widths): Σ W_i F_i + b = W [F_1 ‖ … ‖ F_n] + b; each term from its own input"


CHECKS = {"3.1": check_align, "3.2": check_fixed_block, "3.3": check_params, "3.4": check_split}
