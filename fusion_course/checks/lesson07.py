"""Checks for lesson 07 (MobileNet fusion): a depthwise separable conv, its cost ratio, per-sample attention.

* 7.1 ``SeparableConv(in_channels, out_channels, kernel_size=3, stride=1)``, an ``nn.Module`` class:
  depthwise k×k conv (``groups=in_channels``, no bias) → BatchNorm → ReLU, then pointwise 1×1 conv
  (no bias) → BatchNorm → ReLU. Checked on several channel counts, kernels, strides and odd sizes
  against the layers it must contain and against the parameter count of torchvision's blocks.
* 7.2 ``cost_ratio(out_channels, kernel_size) -> float``: ``1/N + 1/Dk²``, compared with the measured
  parameter ratio of real ``nn.Conv2d`` layers.
* 7.3 ``TwoLevelAttention(channels)``: ``forward(x1, x2) -> (B, C, H, W)``, with the given
  ``self.fc = nn.Linear(2C, 2)``: ``w = softmax(fc(GAP([x1 ‖ x2])))`` per sample, ``w_0·x1 + w_1·x2``.
  Checked at batch 1, 3, 4 and 64 for one weight pair per sample and no mixing across the batch.
"""
from __future__ import annotations

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
def check_cost_ratio(fn: Any) -> str:
    """Compare ``fn(N, Dk)`` with the measured parameter ratio of real convolutions."""
    ex = "7.2"
    if not callable(fn):
        fail(ex, "a function cost_ratio(out_channels, kernel_size)", describe(fn), "pass the function itself")
    cin = 16
    for n, k in [(64, 3), (3, 5), (256, 1), (10, 7), (1, 3), (512, 3)]:
        got = call(ex, fn, n, k, what="cost_ratio")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        require(ex, isinstance(got, (int, float)) and not isinstance(got, bool), "a number", describe(got),
                "return a Python float")
        standard = k * k * cin * n                      # nn.Conv2d(cin, n, k, bias=False).weight.numel()
        separable = k * k * cin + cin * n               # depthwise (cin, 1, k, k) + pointwise (n, cin, 1, 1)
        measured = separable / standard
        if abs(float(got) - measured) > 1e-6 * measured:   # float32 answers pass, rounded ones do not
            fail(ex, f"cost_ratio({n}, {k}) to equal the measured ratio of parameters (and multiply-adds) "
                     f"of a separable vs a standard {k}×{k} conv to {n} channels", f"{float(got):.6g}",
                 "write both costs out (depthwise k·k·M, pointwise M·N, standard k·k·M·N), divide, and simplify; "
                 "the first argument is the number of output channels N, the second the kernel size")
    return "1/N + 1/Dk² matches the measured parameter ratio for 6 (N, Dk) pairs, incl. 1×1 kernels"


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


CHECKS = {"7.1": check_separable_conv, "7.2": check_cost_ratio, "7.3": check_two_level_attention}
