"""Lesson 07's checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fusion_course.checks import check
from fusion_course.checks.lesson07 import _PYRAMIDS, CHECKS, _ConcatHead, _counted_head_macs


# ----------------------------------------------------------------------------- 7.1 reference and mistakes
class SeparableConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU())
        self.pointwise = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                       nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class GroupsLeftAtOne(SeparableConv):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__(in_channels, out_channels, kernel_size, stride)
        self.depthwise[0] = nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2, bias=False)


class MissingPointwise(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__()
        # depthwise "with a channel multiplier" straight to out_channels; no 1×1 mixing
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=in_channels, bias=False)
            if out_channels % in_channels == 0 else
            nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2, groups=in_channels, bias=False),
            nn.BatchNorm2d(out_channels if out_channels % in_channels == 0 else in_channels), nn.ReLU())

    def forward(self, x):
        return self.depthwise(x)


class MissingBatchNorm(SeparableConv):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__(in_channels, out_channels, kernel_size, stride)
        self.pointwise[1] = nn.Identity()


class StrideOnPointwise(SeparableConv):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__(in_channels, out_channels, kernel_size, 1)
        self.pointwise[0] = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)


class NoReLUBetween(SeparableConv):
    def forward(self, x):
        d = self.depthwise
        return self.pointwise(d[1](d[0](x)))


class WithBias(SeparableConv):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__(in_channels, out_channels, kernel_size, stride)
        self.pointwise[0] = nn.Conv2d(in_channels, out_channels, 1, bias=True)


def test_7_1_reference_passes(capsys):
    check("7.1", SeparableConv)
    assert "Exercise 7.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (GroupsLeftAtOne, "groups"),
    (MissingPointwise, "pointwise"),
    (MissingBatchNorm, "BatchNorm"),
    (StrideOnPointwise, "stride"),
    (NoReLUBetween, "values"),
    (WithBias, "parameters"),
])
def test_7_1_rejects_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS["7.1"](wrong)


def test_7_1_rejects_an_instance_and_lets_not_implemented_through():
    with pytest.raises(AssertionError, match="class"):
        CHECKS["7.1"](SeparableConv(4, 8))

    class Todo(nn.Module):
        def __init__(self, *args):
            super().__init__()
            raise NotImplementedError("Exercise 7.1: build the layers")

    with pytest.raises(NotImplementedError):
        CHECKS["7.1"](Todo)


# ----------------------------------------------------------------------------- 7.2
def cost_ratio(out_channels, kernel_size, multiplier):
    return multiplier / out_channels + multiplier / kernel_size**2


@pytest.mark.parametrize("wrong, words", [
    (lambda n, k, d: 1 / n + 1 / k**2, "the lesson's ratio, the case d = 1"),
    (lambda n, k, d: d / k**2 + 1 / n, "pointwise conv now reads"),
    (lambda n, k, d: 1 / k**2 + d / n, "depthwise conv itself now makes"),
    (lambda n, k, d: d / n, "only the pointwise step"),
    (lambda n, k, d: d / k**2, "only the depthwise step"),
    (lambda n, k, d: d / k + d / n**2, "play each other's part"),
    (lambda n, k, d: d * d / (n * k**2), "do not multiply"),
    (lambda n, k, d: 1 / (d / n + d / k**2), "upside down"),
    (lambda n, k, d: round(d / n + d / k**2, 2), "write out what each step multiplies"),   # rounded
])
def test_7_2_names_each_wrong_ratio(wrong, words):
    with pytest.raises(AssertionError, match="Exercise 7.2") as info:
        CHECKS["7.2"](wrong)
    assert words in str(info.value), str(info.value)


def test_7_2_hints_are_distinct_and_never_give_the_ratio():
    from fusion_course.checks.lesson07 import _RATIO_MISTAKES

    hints = [hint for _, _, hint in _RATIO_MISTAKES]
    assert len(set(hints)) == len(hints)
    for hint in hints:
        assert "d/N" not in hint and "1/N" not in hint and "/ Dk²" not in hint


def test_7_2_reference_passes_and_swapped_call_fails():
    assert "depth multiplier" in CHECKS["7.2"](cost_ratio)
    assert "depth multiplier" in CHECKS["7.2"](lambda n, k, d: torch.tensor(d / n + d / k**2))
    with pytest.raises(AssertionError):
        CHECKS["7.2"](lambda kernel_size, out_channels, d: d / out_channels + d / kernel_size**2)
    with pytest.raises(AssertionError, match="a number"):
        CHECKS["7.2"](lambda n, k, d: str(d / n))


# ----------------------------------------------------------------------------- 7.3
class TwoLevelAttention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.fc = nn.Linear(2 * channels, 2)

    def forward(self, x1, x2):
        pooled = torch.cat((x1, x2), dim=1).mean(dim=(2, 3))
        w = torch.softmax(self.fc(pooled), dim=1)
        return w[:, 0].view(-1, 1, 1, 1) * x1 + w[:, 1].view(-1, 1, 1, 1) * x2


class SharedAcrossBatch(TwoLevelAttention):
    def forward(self, x1, x2):
        w = torch.softmax(self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3))), dim=1).mean(dim=0)
        return w[0] * x1 + w[1] * x2


class SourceView(TwoLevelAttention):
    """The article's reshape: (B,) weights viewed as channels; runs when B == C, mixes samples."""

    def forward(self, x1, x2):
        c = x1.shape[1]
        w = torch.softmax(self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3))), dim=1)
        return w[:, 0].view(-1, c, 1, 1) * x1 + w[:, 1].view(-1, c, 1, 1) * x2


class MissingSoftmax(TwoLevelAttention):
    def forward(self, x1, x2):
        w = self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3)))
        return w[:, 0].view(-1, 1, 1, 1) * x1 + w[:, 1].view(-1, 1, 1, 1) * x2


class SoftmaxOverBatch(TwoLevelAttention):
    def forward(self, x1, x2):
        w = torch.softmax(self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3))), dim=0)
        return w[:, 0].view(-1, 1, 1, 1) * x1 + w[:, 1].view(-1, 1, 1, 1) * x2


class SigmoidGates(TwoLevelAttention):
    def forward(self, x1, x2):
        w = torch.sigmoid(self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3))))
        return w[:, 0].view(-1, 1, 1, 1) * x1 + w[:, 1].view(-1, 1, 1, 1) * x2


class InPlace(TwoLevelAttention):
    def forward(self, x1, x2):
        w = torch.softmax(self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3))), dim=1)
        x1.mul_(w[:, 0].view(-1, 1, 1, 1))
        return x1 + w[:, 1].view(-1, 1, 1, 1) * x2


def test_7_3_reference_passes(capsys):
    check("7.3", TwoLevelAttention)
    assert "Exercise 7.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (SharedAcrossBatch, "shared by the whole batch"),
    (SourceView, "sample 0"),
    (MissingSoftmax, "values to match"),
    (SoftmaxOverBatch, "sample 0"),
    (SigmoidGates, "values to match"),
    (InPlace, "modified in place"),
])
def test_7_3_rejects_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS["7.3"](wrong)


def test_7_3_crash_becomes_a_teaching_message():
    class FixedBatch(TwoLevelAttention):
        def forward(self, x1, x2):
            w = torch.softmax(self.fc(torch.cat((x1, x2), dim=1).mean(dim=(2, 3))), dim=1)
            return w[:, 0].view(4, 1, 1, 1) * x1 + w[:, 1].view(4, 1, 1, 1) * x2

    with pytest.raises(AssertionError, match="every batch size"):
        CHECKS["7.3"](FixedBatch)


def test_every_check_is_fast():
    import time

    for ex, answer in (("7.1", SeparableConv), ("7.2", cost_ratio), ("7.3", TwoLevelAttention)):
        start = time.perf_counter()
        CHECKS[ex](answer)
        assert time.perf_counter() - start < 5.0, ex   # well under 1 s standalone; generous under load
    assert math.isclose(cost_ratio(9, 3, 1), 2 / 9)


# ----------------------------------------------------------------------------- 7.4 predict a fusion head's cost
def head_macs(level_channels, level_sizes, channels, fuse_at):
    """The solution notebook's answer."""
    n, c = len(level_channels), channels
    pixels = [h * w for h, w in level_sizes]
    lateral_pixels = [pixels[-1]] * n if fuse_at == "coarse" else pixels
    fused_pixels = pixels[-1] if fuse_at == "coarse" else pixels[0]
    return sum(ch * c * p for ch, p in zip(level_channels, lateral_pixels)) + n * c * c * fused_pixels


def head_macs_numpy_float(level_channels, level_sizes, channels, fuse_at):
    """Written differently: NumPy, a float result, the coarse head as one product."""
    import numpy as np

    chs, hw = np.array(level_channels), np.array([h * w for h, w in level_sizes], dtype=float)
    if fuse_at.strip().lower() == "coarse":
        return float((chs.sum() + len(chs) * channels) * channels * hw[-1])
    return float((chs * hw).sum() * channels + len(chs) * channels ** 2 * hw[0])


def head_macs_tensor(level_channels, level_sizes, channels, fuse_at):
    """Written differently again: a one-element tensor, via the course's conv_macs."""
    from fusion_course.models.mobilenet import conv_macs

    n = len(level_channels)
    sizes = [tuple(s) for s in level_sizes]
    at = [sizes[-1]] * n if fuse_at == "coarse" else sizes
    total = sum(conv_macs(ch, channels, 1, s) for ch, s in zip(level_channels, at))
    total += conv_macs(n * channels, channels, 1, sizes[-1] if fuse_at == "coarse" else sizes[0])
    return torch.tensor(total)


@pytest.mark.parametrize("answer", [head_macs, head_macs_numpy_float, head_macs_tensor])
def test_7_4_accepts_right_predictions_written_differently(answer, capsys):
    check("7.4", answer)
    assert "Exercise 7.4 passed" in capsys.readouterr().out


@pytest.mark.parametrize("chs, sizes, c", _PYRAMIDS)
@pytest.mark.parametrize("fuse_at", ["coarse", "fine"])
def test_7_4_the_check_counts_what_count_macs_counts(chs, sizes, c, fuse_at):
    from fusion_course.profiling import count_macs

    head = _ConcatHead(chs, c, fuse_at)
    measured = count_macs(head, [torch.zeros(1, ch, h, w) for ch, (h, w) in zip(chs, sizes)])
    assert _counted_head_macs(chs, sizes, c, fuse_at) == measured == head_macs(chs, sizes, c, fuse_at)


def test_7_4_the_check_head_is_mobilenet_fusions_head():
    """The check's head runs the layers MobileNetFusion runs: same count as the lesson's model on its own levels."""
    from fusion_course.models.mobilenet import MobileNetFusion
    from fusion_course.profiling import count_macs

    torch.manual_seed(0)
    model = MobileNetFusion(num_classes=6, fusion="concat").eval()
    with torch.no_grad():
        levels = model.features(torch.zeros(1, 3, 224, 224))
    chs, sizes = model.level_channels, [tuple(f.shape[-2:]) for f in levels]
    assert (chs, sizes, 64) == _PYRAMIDS[0]
    pooled = [torch.nn.functional.adaptive_avg_pool2d(f, sizes[-1]) for f in levels]
    coarse = sum(count_macs(lat, f) for lat, f in zip(model.laterals, pooled))
    coarse += count_macs(model.fuse, [lat(f) for lat, f in zip(model.laterals, pooled)][::-1])
    assert coarse == _counted_head_macs(chs, sizes, 64, "coarse")


def _mistake(kind):
    def wrong(level_channels, level_sizes, channels, fuse_at):
        n, c = len(level_channels), channels
        pixels = [h * w for h, w in level_sizes]
        coarse = fuse_at == "coarse"
        if kind == "swapped":
            coarse = not coarse
        lat_px = [pixels[-1]] * n if coarse else pixels
        fused_px = pixels[-1] if coarse else pixels[0]
        if kind == "all at finest" and not coarse:
            lat_px = [pixels[0]] * n
        if kind == "laterals before pooling" and coarse:
            lat_px = pixels
        laterals = sum(ch * c * p for ch, p in zip(level_channels, lat_px))
        fusion = (c if kind == "concat c" else n * c) * c * fused_px
        if kind == "per pixel":
            return sum(level_channels) * c + n * c * c
        total = {"no fusion": laterals, "no laterals": fusion}.get(kind, laterals + fusion)
        if kind == "bias":
            total += c * fused_px
        return 2 * total if kind == "flops" else total
    return wrong


@pytest.mark.parametrize("kind, words", [
    ("swapped", "the two heads are swapped"),
    ("flops", "FLOPs count the multiply and the add"),
    ("per pixel", "at EVERY output pixel"),
    ("concat c", "n·c input channels"),
    ("bias", "bias additions"),
    ("no fusion", "ConcatFusion's 1×1 conv"),
    ("no laterals", "its own lateral"),
    ("all at finest", "before any upsampling"),
    ("laterals before pooling", "BEFORE its lateral"),
])
def test_7_4_names_each_wrong_analysis_without_the_count(kind, words):
    with pytest.raises(AssertionError) as info:
        CHECKS["7.4"](_mistake(kind))
    message = str(info.value)
    assert words in message, message
    shown = [(chs, sizes, c, w) for chs, sizes, c in _PYRAMIDS for w in ("coarse", "fine")
             if f"fusion_head_macs({list(chs)}, {[tuple(s) for s in sizes]}, {c}, {w!r})" in message]
    assert len(shown) == 1
    true = _counted_head_macs(*shown[0])
    assert f"{true:,}" not in message and str(true) not in message      # the counted value is never shown


@pytest.mark.parametrize("wrong, words", [
    (lambda chs, sizes, c, where: "58,204,160", "whole number"),
    (lambda chs, sizes, c, where: 1.5e6 + 0.25, "whole number"),
    (lambda chs, sizes, c, where: None, "whole number"),
    (lambda chs, sizes, c: 0, "to accept"),
    (12345, "a function fusion_head_macs"),
    (lambda chs, sizes, c, where: 1, "fewer than counted"),
])
def test_7_4_wrong_types_and_signatures_are_explained(wrong, words):
    with pytest.raises(AssertionError, match=words):
        CHECKS["7.4"](wrong)


def test_7_4_an_answer_that_changes_the_lists_is_caught():
    def pops(level_channels, level_sizes, channels, fuse_at):
        out = head_macs(level_channels, level_sizes, channels, fuse_at)
        level_sizes.reverse()
        return out

    with pytest.raises(AssertionError, match="left unchanged"):
        CHECKS["7.4"](pops)


def test_7_4_unsolved_is_one_line_and_the_check_is_fast():
    import time

    def todo(*args):
        raise NotImplementedError("Exercise 7.4: add up the multiply-adds of every 1×1 conv at the size where it runs")

    with pytest.raises(NotImplementedError) as info:
        check("7.4", todo)
    assert len(info.value._render_traceback_()) == 1
    start = time.perf_counter()
    CHECKS["7.4"](head_macs)
    with pytest.raises(AssertionError):
        CHECKS["7.4"](_mistake("flops"))
    assert time.perf_counter() - start < 2.0
