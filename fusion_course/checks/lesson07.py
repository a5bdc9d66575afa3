"""Checks for lesson 07 (MobileNet fusion): a depthwise separable conv, its cost ratio, per-sample attention.

* 7.1 ``SeparableConv(in_channels, out_channels, kernel_size=3, stride=1)``, an ``nn.Module`` class:
  depthwise k×k conv (``groups=in_channels``, no bias) → BatchNorm → ReLU, then pointwise 1×1 conv
  (no bias) → BatchNorm → ReLU. Checked on several channel counts, kernels, strides and odd sizes
  against the layers it must contain and against the parameter count of torchvision's blocks.
* 7.2 ``cost_ratio(out_channels, kernel_size, multiplier) -> float``: the cost of a depthwise separable conv
  with depth multiplier ``d`` (``d`` depthwise filters per input channel) over a standard conv's, compared with the
  parameter ratio measured on real ``nn.Conv2d`` layers; eight known wrong ratios get their own hint.
* 7.3 ``TwoLevelAttention(channels)``: ``forward(x1, x2) -> (B, C, H, W)``, with the given
  ``self.fc = nn.Linear(2C, 2)``: ``w = softmax(fc(GAP([x1 ‖ x2])))`` per sample, ``w_0·x1 + w_1·x2``.
  Checked at batch 1, 3, 4 and 64 for one weight pair per sample and no mixing across the batch.
* 7.4 ``fusion_head_macs(level_channels, level_sizes, channels, fuse_at) -> int``: a prediction of the
  multiply-adds of ``MobileNetFusion``'s concat head (a lateral 1×1 conv per level, then ``ConcatFusion``'s
  1×1 conv), fused at the coarsest level (``"coarse"``, the classify head: levels pooled first) or at the
  finest (``"fine"``, the mask head), compared with the real layers' count (what ``count_macs`` counts) on four pyramids
  (MobileNetV3-small at 224×224, non-square, odd sizes, two levels). Named mistakes: FLOPs instead of
  multiply-adds, cost per pixel (no H·W), the fusion conv's input as c instead of n·c, bias additions,
  a missing lateral or fusion conv, the two heads swapped, laterals at the finest size, laterals before
  the pooling.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._tools import assert_close, assert_module, assert_shape, call, describe, fail, maps, randn, require, unchanged


def _needs_class(ex: str, cls: Any, name: str, example: str) -> None:
    if isinstance(cls, nn.Module):
        fail(ex, f"the class {name} itself", "an instance",
             f"pass the class ({example}); the check builds it with several settings")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        fail(ex, f"the nn.Module class {name}", describe(cls), f"pass the class itself: {example}")


def _run(ex: str, module: nn.Module, *inputs: torch.Tensor, what: str) -> Any:
    """Call the module; turn a crash (e.g. a reshape that assumes a batch size) into a teaching message."""
    try:
        with unchanged(ex, *inputs):
            return call(ex, module, *inputs, what=what)
    except (NotImplementedError, AssertionError):
        raise
    except RuntimeError as exc:
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        fail(ex, f"{what} to run on inputs of shape {shapes}", f"RuntimeError: {str(exc).splitlines()[0]}",
             "a module must work for every batch size and map size; look for a reshape/view that assumes one")


# ----------------------------------------------------------------------------- 7.1
def _reference_params(cin: int, cout: int, k: int) -> int:
    return k * k * cin + 2 * cin + cin * cout + 2 * cout   # depthwise + BN, pointwise + BN (no conv bias)


def check_separable_conv(cls: Any) -> str:
    """Build the learner's block for several settings; check layers, parameters, output and its values."""
    ex = "7.1"
    _needs_class(ex, cls, "SeparableConv", "check('7.1', SeparableConv)")
    settings = [(8, 16, 3, 1, (2, 9, 7)), (3, 5, 3, 2, (1, 9, 9)), (6, 6, 5, 1, (3, 5, 8)), (16, 4, 3, 2, (2, 6, 11))]
    for cin, cout, k, stride, (b, h, w) in settings:
        torch.manual_seed(0)   # the learner's layers draw from the global RNG; keep the check repeatable
        block = assert_module(ex, call(ex, cls, cin, cout, k, stride, what="SeparableConv(in, out, k, stride)"),
                              f"SeparableConv({cin}, {cout}, {k}, {stride})")
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        bns = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
        setting = f"SeparableConv({cin}, {cout}, kernel_size={k}, stride={stride})"
        pointwise = [c for c in convs if c.kernel_size == (1, 1) and c.in_channels == cin and c.out_channels == cout
                     and c.groups == 1]
        if not pointwise:
            fail(ex, f"in {setting}, a pointwise 1×1 conv from {cin} to {cout} channels",
                 "none" if not [c for c in convs if c.kernel_size == (1, 1)] else "a 1×1 conv with other channels",
                 "the depthwise step never mixes channels; a 1×1 conv after it does, and sets the output channels")
        depthwise = [c for c in convs if c.kernel_size == (k, k) and c.groups == cin == c.in_channels == c.out_channels]
        if not depthwise:
            spatial = [c for c in convs if c.kernel_size == (k, k)]
            got = (f"a {k}×{k} conv with groups={spatial[0].groups} and {spatial[0].in_channels}→"
                   f"{spatial[0].out_channels} channels" if spatial else f"no {k}×{k} conv")
            fail(ex, f"in {setting}, a depthwise {k}×{k} conv: {cin}→{cin} channels with groups={cin}", got,
                 "a depthwise conv filters each channel on its own: set groups to the number of input channels "
                 "(groups left at 1 gives a full, expensive convolution)")
        require(ex, depthwise[0].stride == (stride, stride) and pointwise[0].stride == (1, 1),
                f"in {setting}, the stride on the depthwise conv only",
                f"depthwise stride {depthwise[0].stride}, pointwise stride {pointwise[0].stride}",
                "downsample in the depthwise k×k step; a strided 1×1 conv skips pixels")
        require(ex, len(bns) >= 2, f"in {setting}, a BatchNorm2d after each conv", f"{len(bns)} BatchNorm2d layer(s)",
                "each conv is followed by BatchNorm2d and ReLU")
        n_params = sum(p.numel() for p in block.parameters())
        want = _reference_params(cin, cout, k)
        require(ex, n_params == want, f"{setting} to have {want} parameters (like torchvision's "
                "Conv2dNormActivation(depthwise) + Conv2dNormActivation(1×1))", f"{n_params}",
                "no conv bias (BatchNorm's β already shifts), two BatchNorms with γ and β, and no extra layers")
        # Values: in eval mode, with random BN statistics, the block must compute
        # relu(bn2(pw(relu(bn1(dw(x)))))).
        block.eval()
        g = torch.Generator().manual_seed(cin * 100 + cout)
        with torch.no_grad():
            for bn in bns:
                bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.3)
                bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
                bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
                bn.bias.copy_(torch.randn(bn.num_features, generator=g) * 0.3)
        bn1 = next(bn for bn in bns if bn.num_features == cin)
        bn2 = next((bn for bn in bns if bn.num_features == cout and bn is not bn1), None)
        if bn2 is None:
            fail(ex, f"in {setting}, a BatchNorm2d({cout}) after the pointwise conv", "none",
                 "the second BatchNorm normalises the pointwise conv's output channels")
        x = randn(b, cin, h, w, seed=cin + cout)
        out = _run(ex, block, x, what=setting)
        size = ((h - 1) // stride + 1, (w - 1) // stride + 1)
        assert_shape(ex, out, (b, cout, *size), f"{setting} output",
                     "padding kernel_size // 2 keeps the size at stride 1 and halves it (rounding up) at stride 2")
        with torch.no_grad():
            d, p = depthwise[0], pointwise[0]
            ref = F.relu(bn1(F.conv2d(x, d.weight, d.bias, d.stride, d.padding, groups=d.groups)))
            ref = F.relu(bn2(F.conv2d(ref, p.weight, p.bias)))
        assert_close(ex, out, ref, f"{setting} output",
                     "apply the steps in order: depthwise → BatchNorm → ReLU → pointwise → BatchNorm → ReLU; "
                     "padding kernel_size // 2")
    return "depthwise (groups=in) + pointwise 1×1, BN + ReLU, parameters match torchvision on 4 settings"


# ----------------------------------------------------------------------------- 7.2
def _separable_ratio_measured(cin: int, n: int, k: int, d: int) -> float:
    """Parameters of a separable conv with depth multiplier ``d`` over those of a standard conv, counted on layers."""
    def params(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    standard = params(nn.Conv2d(cin, n, k, bias=False))
    separable = params(nn.Conv2d(cin, d * cin, k, groups=cin, bias=False)) + params(nn.Conv2d(d * cin, n, 1, bias=False))
    return separable / standard


# (name, wrong ratio as a function of N, Dk, d, hint). The hints name the cause, never the right ratio.
_RATIO_MISTAKES = [
    ("lesson", lambda n, k, d: 1 / n + 1 / k ** 2,
     "that is the lesson's ratio, the case d = 1: with a multiplier d the depthwise conv makes d maps per input "
     "channel, and both steps change"),
    ("no_d_pointwise", lambda n, k, d: d / k ** 2 + 1 / n,
     "the depthwise step grew with d, but the pointwise conv now reads the depthwise conv's d·M output channels, not M"),
    ("no_d_depthwise", lambda n, k, d: 1 / k ** 2 + d / n,
     "the pointwise step grew with d, but the depthwise conv itself now makes d maps per input channel"),
    ("no_depthwise", lambda n, k, d: d / n,
     "only the pointwise step was counted: the depthwise conv costs something too"),
    ("no_pointwise", lambda n, k, d: d / k ** 2,
     "only the depthwise step was counted: the 1×1 pointwise conv that mixes the channels costs something too"),
    ("swapped", lambda n, k, d: d / k + d / n ** 2,
     "N and Dk play each other's part: the first argument is the number of output channels N, the second the "
     "kernel size Dk, and it is the kernel's area Dk² that a 1×1 conv saves"),
    ("product", lambda n, k, d: d * d / (n * k ** 2),
     "the two steps run one after the other, so their costs add; they do not multiply"),
    ("inverted", lambda n, k, d: 1 / (d / n + d / k ** 2),
     "upside down: the ratio is separable / standard, below 1 whenever the separable conv is the cheaper one"),
]


def check_cost_ratio(fn: Any) -> str:
    """Compare ``fn(N, Dk, d)`` with the parameter ratio measured on real convolutions, naming known wrong ratios."""
    ex = "7.2"
    if not callable(fn):
        fail(ex, "a function cost_ratio(out_channels, kernel_size, multiplier)", describe(fn), "pass the function itself")
    cin = 16
    # multipliers above 1 first: with d = 1 several wrong ratios coincide with the right one
    for n, k, d in [(64, 3, 2), (3, 5, 3), (256, 1, 4), (10, 7, 2), (1, 3, 2), (512, 3, 1), (24, 5, 1)]:
        got = call(ex, fn, n, k, d, what="cost_ratio")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        require(ex, isinstance(got, numbers.Real) and not isinstance(got, bool), "a number", describe(got),
                "return a Python float")
        measured = _separable_ratio_measured(cin, n, k, d)
        if abs(float(got) - measured) <= 1e-6 * measured:     # float32 answers pass, rounded ones do not
            continue
        expected = (f"cost_ratio({n}, {k}, {d}) to equal the measured ratio of parameters (and multiply-adds) of a "
                    f"separable {k}×{k} conv with multiplier {d} to a standard one, {n} output channels")
        for _, wrong, hint in _RATIO_MISTAKES:
            value = wrong(n, k, d)
            if abs(value - measured) > 1e-9 * measured and abs(float(got) - value) <= 1e-6 * abs(value):
                fail(ex, expected, f"{float(got):.6g}", hint)
        fail(ex, expected, f"{float(got):.6g}",
             "write out what each step multiplies per output pixel (depthwise with its d maps per channel, pointwise, "
             "and the standard conv), divide, and simplify: the map size and M cancel")
    return "the separable/standard ratio with a depth multiplier matches the measured one for 7 (N, Dk, d) triples"


# ----------------------------------------------------------------------------- 7.3
def check_two_level_attention(cls: Any) -> str:
    """Per-sample softmax weights from pooled features; no mixing across the batch; any batch size."""
    ex = "7.3"
    _needs_class(ex, cls, "TwoLevelAttention", "check('7.3', TwoLevelAttention)")
    for c, batch, (h, w) in [(4, 4, (3, 5)), (4, 1, (6, 6)), (8, 3, (5, 2)), (64, 64, (2, 3))]:
        torch.manual_seed(0)
        module = assert_module(ex, call(ex, cls, c, what="TwoLevelAttention(channels)"), "TwoLevelAttention(channels)")
        fc = getattr(module, "fc", None)
        if not isinstance(fc, nn.Linear) or (fc.in_features, fc.out_features) != (2 * c, 2):
            fail(ex, f"self.fc = nn.Linear({2 * c}, 2) as given in the exercise", describe(fc),
                 "keep the given __init__; write only the forward pass")
        with torch.no_grad():   # larger logits, so that a forgotten softmax or a wrong axis shows
            fc.weight.copy_(randn(2, 2 * c, seed=c) * 2.0)
            fc.bias.copy_(torch.tensor([0.3, -0.2]))
        module.eval()
        x1, x2 = maps([(batch, c, h, w), (batch, c, h, w)], seed=batch + c)
        what = f"TwoLevelAttention({c}) on a batch of {batch}"
        with torch.no_grad():
            out = _run(ex, module, x1, x2, what=what)
        assert_shape(ex, out, (batch, c, h, w), f"{what}: output", "the fused map has the inputs' shape")
        with torch.no_grad():
            pooled = torch.cat((x1, x2), dim=1).mean(dim=(2, 3))    # (B, 2C)
            wts = torch.softmax(fc(pooled), dim=1)                  # (B, 2)
            ref = wts[:, 0].view(-1, 1, 1, 1) * x1 + wts[:, 1].view(-1, 1, 1, 1) * x2
            alt = wts[:, 0].mean() * x1 + wts[:, 1].mean() * x2     # one weight pair for the whole batch
        if batch > 1 and torch.allclose(out, alt, atol=1e-5) and not torch.allclose(out, ref, atol=1e-5):
            fail(ex, f"{what}: one weight pair per sample", "one pair shared by the whole batch",
                 "do not average the weights over the batch: each sample keeps its own (w0, w1)")
        if batch > 1:
            # change the last sample only: the first sample's output must not move
            y1, y2 = x1.clone(), x2.clone()
            y1[-1], y2[-1] = randn(c, h, w, seed=99) * 3, randn(c, h, w, seed=98) * 3
            with torch.no_grad():
                out2 = _run(ex, module, y1, y2, what=what)
            if not torch.allclose(out[0], out2[0], atol=1e-5):
                fail(ex, f"{what}: sample 0's output to depend on sample 0 only",
                     f"it changed when only sample {batch - 1} changed",
                     "the weights mix samples: every reshape must keep the batch axis first, and the softmax runs "
                     "over the two levels of one sample, not over the batch")
        assert_close(ex, out, ref, f"{what}: output",
                     "w = softmax over the 2 levels of fc(global-average-pooled [x1 ‖ x2]); out = w0·x1 + w1·x2 "
                     "per sample (the weights of one sample sum to 1)")
    return "per-sample softmax weights at batch 1, 3, 4 and 64; no mixing across the batch"


# ----------------------------------------------------------------------------- 7.4
class _ConcatHead(nn.Module):
    """``MobileNetFusion``'s laterals and concat fusion, as its forward runs them (levels finest first)."""

    def __init__(self, level_channels: list[int], channels: int, fuse_at: str) -> None:
        super().__init__()
        from ..fusion import ConcatFusion
        from ..fusion.layers import ConvBNAct

        self.fuse_at = fuse_at
        # The same laterals as MobileNetFusion's (keys laterals.i.0/1/2, as an nn.Sequential(conv, BN, ReLU)).
        self.laterals = nn.ModuleList(ConvBNAct(ch, channels, 1, inplace=False) for ch in level_channels)
        self.fuse = ConcatFusion([channels] * len(level_channels), channels)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        if self.fuse_at == "coarse":      # task="classify": pool to the coarsest size, then the laterals
            size = levels[-1].shape[-2:]
            levels = [f if f.shape[-2:] == size else F.adaptive_avg_pool2d(f, size) for f in levels]
        return self.fuse([lat(f) for lat, f in zip(self.laterals, levels)])   # segment: at the finest size


def _counted_head_macs(level_channels: list[int], level_sizes: list[tuple[int, int]], channels: int, fuse_at: str) -> int:
    """Run the real head once and add up what ``count_macs`` counts in it: every convolution's multiply-adds.

    A conv does ``(C_in / groups) · k_h · k_w`` multiply-adds per output value; hooks read the sizes the convs
    really run at. (The same as ``fusion_course.profiling.count_macs``, which only counts convolutions, linear
    layers and matrix products, without its first-call set-up time; the tests compare the two.)
    """
    head = _ConcatHead(level_channels, channels, fuse_at).eval()
    total = [0]

    def count(conv: nn.Conv2d, inputs: Any, out: torch.Tensor) -> None:
        total[0] += out.numel() * (conv.in_channels // conv.groups) * conv.kernel_size[0] * conv.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in head.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            head([torch.zeros(1, ch, h, w) for ch, (h, w) in zip(level_channels, level_sizes)])
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def _head_mistakes(chs: list[int], sizes: list[tuple[int, int]], c: int, fuse_at: str) -> dict[str, int]:
    """What each wrong analysis predicts (the right count is measured, not computed here)."""
    n = len(chs)
    native = [h * w for h, w in sizes]
    fine_hw, coarse_hw = native[0], native[-1]
    fused_hw = coarse_hw if fuse_at == "coarse" else fine_hw
    lateral_hw = [coarse_hw] * n if fuse_at == "coarse" else native
    laterals = sum(ch * c * hw for ch, hw in zip(chs, lateral_hw))
    fusion = n * c * c * fused_hw
    right = laterals + fusion
    other_laterals = sum(ch * c * hw for ch, hw in zip(chs, native if fuse_at == "coarse" else [coarse_hw] * n))
    other = other_laterals + n * c * c * (fine_hw if fuse_at == "coarse" else coarse_hw)
    return {
        "swapped": other,
        "flops": 2 * right,
        "per pixel": sum(chs) * c + n * c * c,
        "concat c": laterals + c * c * fused_hw,
        "bias": right + c * fused_hw,
        "all biases": right + c * fused_hw + sum(c * hw for hw in lateral_hw),
        "no fusion": laterals,
        "no laterals": fusion,
        "all at finest": (sum(chs) + n * c) * c * fine_hw,
        "laterals before pooling": sum(ch * c * hw for ch, hw in zip(chs, native)) + fusion,
    }


_HEAD_HINTS = {
    "swapped": "the two heads are swapped: 'coarse' is the classify head (every level pooled to the coarsest size, "
               "everything runs there), 'fine' the mask head (laterals at each level's own size, fusion at the finest)",
    "flops": "count_macs counts multiply-adds, one per weight per output pixel; FLOPs count the multiply and the add "
             "separately and are twice as many",
    "per pixel": "a 1×1 conv repeats its work at EVERY output pixel: the count grows with the H·W it runs at",
    "concat c": "the fusion conv reads the concatenation of all n lateral maps: n·c input channels, not c",
    "bias": "the counter counts convolutions, linear layers and matrix products only: bias additions, BatchNorm, "
            "ReLU, pooling and resizing count 0",
    "all biases": "the counter counts convolutions, linear layers and matrix products only: bias additions, BatchNorm, "
                  "ReLU, pooling and resizing count 0",
    "no fusion": "after the laterals, ConcatFusion's 1×1 conv (n·c → c channels) runs too",
    "no laterals": "every level first goes through its own lateral 1×1 conv (C_i → c channels)",
    "all at finest": "in the 'fine' head each lateral runs at its own level's size, before any upsampling; only the "
                     "concatenation and its 1×1 conv run at the finest size",
    "laterals before pooling": "the 'coarse' head pools every level to the coarsest size BEFORE its lateral, so the "
                               "laterals run on the small map (that is what keeps it cheap)",
}

_PYRAMIDS = [   # (level channels, level sizes finest first, fusion channels): what the check measures
    ([16, 24, 48, 576], [(56, 56), (28, 28), (14, 14), (7, 7)], 64),     # MobileNetV3-small at 224×224
    ([16, 24, 48, 576], [(24, 32), (12, 16), (6, 8), (3, 4)], 32),       # a 96×128 input: non-square
    ([24, 32, 96], [(15, 15), (8, 8), (4, 4)], 48),                      # odd sizes, three levels
    ([8, 20], [(9, 7), (5, 4)], 12),                                     # two levels
]


def _as_count(value: Any) -> int | None:
    """An integer count from an int, a NumPy integer, a whole float or a one-element tensor (else None)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        value = float(value)
        return int(round(value)) if abs(value - round(value)) <= 1e-9 * max(1.0, abs(value)) else None
    return None


def check_fusion_head_macs(fn: Any) -> str:
    """Compare the prediction with ``count_macs`` of the real laterals + ``ConcatFusion``, both heads, 4 pyramids."""
    ex = "7.4"
    if not callable(fn):
        fail(ex, "a function fusion_head_macs(level_channels, level_sizes, channels, fuse_at)", describe(fn),
             "pass the function itself to check(...), without calling it")
    for i, (chs, sizes, c) in enumerate(_PYRAMIDS):
        for fuse_at in ("coarse", "fine"):
            args_chs = list(chs) if i % 2 == 0 else tuple(chs)                 # lists and tuples both arrive
            args_sizes = [tuple(s) if i % 2 == 0 else list(s) for s in sizes]
            shown = f"fusion_head_macs({list(chs)}, {[tuple(s) for s in sizes]}, {c}, {fuse_at!r})"
            got = call(ex, fn, args_chs, args_sizes, c, fuse_at, what="fusion_head_macs")
            if list(args_chs) != list(chs) or [tuple(s) for s in args_sizes] != [tuple(s) for s in sizes]:
                fail(ex, "the level lists left unchanged", "your function changed them",
                     "work on copies: the lists describe the pyramid the check measures next")
            count = _as_count(got)
            if count is None:
                fail(ex, f"{shown} to return a whole number of multiply-adds", describe(got),
                     "return an int (a float with no fractional part is fine)")
            true = _counted_head_macs(chs, sizes, c, fuse_at)
            if count == true:
                continue
            side = "more" if count > true else "fewer"
            expected = f"{shown} to equal the multiply-adds count_macs counts on the real layers"
            got_text = f"{count:,} ({side} than counted)"
            for name, value in _head_mistakes(chs, sizes, c, fuse_at).items():
                if value != true and count == value:
                    fail(ex, expected, got_text, _HEAD_HINTS[name])
            fail(ex, expected, got_text,
                 "add up the multiply-adds of every 1×1 conv at the size it runs at: the n laterals (C_i → c), then "
                 "the fusion conv (n·c → c); the pooling, BatchNorm, ReLU, resizing and biases count 0")
    return "multiply-adds match count_macs for both heads on 4 pyramids (MobileNetV3-small at 224, non-square, odd, 2 levels)"


CHECKS = {"7.1": check_separable_conv, "7.2": check_cost_ratio, "7.3": check_two_level_attention,
          "7.4": check_fusion_head_macs}
