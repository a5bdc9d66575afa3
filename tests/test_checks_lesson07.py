"""Lesson 07's checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fusion_course.checks import check
from fusion_course.checks.lesson07 import CHECKS


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
def cost_ratio(out_channels, kernel_size):
    return 1 / out_channels + 1 / kernel_size**2


@pytest.mark.parametrize("wrong", [
    lambda n, k: 1 / n,                       # forgets the depthwise term
    lambda n, k: 1 / k + 1 / n**2,            # arguments swapped in the formula
    lambda n, k: 1 / k**2,                    # forgets the pointwise term
    lambda n, k: 1 / (n * k**2),              # multiplies instead of adds
    lambda n, k: n + k**2,                    # the inverse-ish saving factor
    lambda n, k: round(1 / n + 1 / k**2, 2),  # rounded
])
def test_7_2_rejects_mistakes(wrong):
    with pytest.raises(AssertionError, match="Exercise 7.2"):
        CHECKS["7.2"](wrong)


def test_7_2_reference_passes_and_swapped_call_fails():
    assert "1/N" in CHECKS["7.2"](cost_ratio)
    assert "1/N" in CHECKS["7.2"](lambda n, k: torch.tensor(1 / n + 1 / k**2))
    with pytest.raises(AssertionError):
        CHECKS["7.2"](lambda kernel_size, out_channels: 1 / out_channels + 1 / kernel_size**2)
    with pytest.raises(AssertionError, match="a number"):
        CHECKS["7.2"](lambda n, k: str(1 / n))


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
    assert math.isclose(cost_ratio(9, 3), 2 / 9)
