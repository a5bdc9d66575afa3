"""Lesson 06 checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusion_course.checks import check
from fusion_course.checks.lesson06 import CHECKS
from fusion_course.fusion.cfm import cbr
from fusion_course.losses import ppa_weight_map, weighted_iou


# ----------------------------------------------------------------------------- 6.1
class _CFMBase(nn.Module):
    """The exercise's __init__; subclasses supply forward."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.h1, self.h2, self.h3, self.h4 = (cbr(channels) for _ in range(4))
        self.v1, self.v2, self.v3, self.v4 = (cbr(channels) for _ in range(4))

    def paths(self, low, high, mode="bilinear"):
        if high.shape[-2:] != low.shape[-2:]:
            kw = {"align_corners": False} if mode == "bilinear" else {}
            high = F.interpolate(high, size=low.shape[-2:], mode=mode, **kw)
        h1 = self.h1(low)
        v1 = self.v1(high)
        return h1, self.h2(h1), v1, self.v2(v1)


class GoodCFM(_CFMBase):
    def forward(self, low, high):
        h1, h2, v1, v2 = self.paths(low, high)
        f = h2 * v2
        return self.h4(self.h3(f) + h1), self.v4(self.v3(f) + v1)


class AdditiveCFM(_CFMBase):
    def forward(self, low, high):
        h1, h2, v1, v2 = self.paths(low, high)
        f = h2 + v2
        return self.h4(self.h3(f) + h1), self.v4(self.v3(f) + v1)


class NoResidualCFM(_CFMBase):
    def forward(self, low, high):
        h1, h2, v1, v2 = self.paths(low, high)
        f = h2 * v2
        return self.h4(self.h3(f)), self.v4(self.v3(f))


class SwappedCFM(GoodCFM):
    def forward(self, low, high):
        h, v = super().forward(low, high)
        return v, h


class NearestCFM(_CFMBase):
    def forward(self, low, high):
        h1, h2, v1, v2 = self.paths(low, high, mode="nearest")
        f = h2 * v2
        return self.h4(self.h3(f) + h1), self.v4(self.v3(f) + v1)


class NoUpsampleCFM(_CFMBase):
    def forward(self, low, high):
        h1, v1 = self.h1(low), self.v1(high)
        f = self.h2(h1) * self.v2(v1)
        return self.h4(self.h3(f) + h1), self.v4(self.v3(f) + v1)


class OneOutputCFM(GoodCFM):
    def forward(self, low, high):
        return super().forward(low, high)[0]


class OtherLayersCFM(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, low, high):
        return self.conv(low), self.conv(low)


class UnsolvedCFM(_CFMBase):
    def forward(self, low, high):
        raise NotImplementedError("Exercise 6.1: write CFM's forward")


def test_6_1_accepts_the_reference(capsys):
    check("6.1", GoodCFM)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (AdditiveCFM, "ADDED"),
    (NoResidualCFM, "residuals"),
    (SwappedCFM, "wrong order"),
    (NearestCFM, "nearest"),
    (NoUpsampleCFM, "resize it"),
    (OneOutputCFM, "two maps"),
    (OtherLayersCFM, "layers given"),
    ("GoodCFM", "class"),
])
def test_6_1_rejects_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS["6.1"](wrong)


def test_6_1_lets_not_implemented_through():
    with pytest.raises(NotImplementedError):
        CHECKS["6.1"](UnsolvedCFM)


# ----------------------------------------------------------------------------- 6.2
def good_weight(mask):
    return 1 + 5 * (F.avg_pool2d(mask, kernel_size=31, stride=1, padding=15) - mask).abs()


@pytest.mark.parametrize("wrong, message", [
    (lambda m: 1 + 5 * (F.avg_pool2d(m, 15, 1, 7) - m).abs(), "31×31"),          # wrong kernel size
    (lambda m: 1 + 5 * (F.avg_pool2d(m, 31, 1, 0) - m[..., 15:-15, 15:-15]).abs(), "padding"),  # no padding
    (lambda m: 1 + 5 * (F.avg_pool2d(m, 31, 1, 15) - m), "absolute"),           # missing abs
    (lambda m: 5 * (F.avg_pool2d(m, 31, 1, 15) - m).abs(), "at least 1"),        # missing 1 +
    (lambda m: 1 + (F.avg_pool2d(m, 31, 1, 15) - m).abs(), "scaled by 5"),
    (lambda m: 1 + 5 * (F.avg_pool2d(m, 31, 1, 15, count_include_pad=False) - m).abs(), "count_include_pad"),
    (lambda m: torch.ones_like(m), "weight map"),                                 # hard-coded
    (lambda m: m.mul_(5).add_(1), "unchanged"),                                   # in-place on the input
])
def test_6_2_rejects_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS["6.2"](wrong)


def test_6_2_accepts_the_reference_and_the_library():
    CHECKS["6.2"](good_weight)
    CHECKS["6.2"](ppa_weight_map)


# ----------------------------------------------------------------------------- 6.3
def good_wiou(logits, mask, weight):
    p = torch.sigmoid(logits)
    inter = (weight * p * mask).sum(dim=(1, 2, 3))
    union = (weight * (p + mask)).sum(dim=(1, 2, 3))
    return 1 - (inter + 1) / (union - inter + 1)


def _variant(sigmoid=True, weighted=True, smooth=1.0, minus=True, reduce=False, detach=False):
    def fn(logits, mask, weight):
        p = torch.sigmoid(logits) if sigmoid else logits
        w = weight if weighted else 1.0
        inter = (w * p * mask).sum(dim=(1, 2, 3))
        union = (w * (p + mask)).sum(dim=(1, 2, 3))
        out = 1 - (inter + smooth) / (union - (inter if minus else 0) + smooth)
        out = out.mean() if reduce else out
        return out.detach() if detach else out
    return fn


@pytest.mark.parametrize("wrong, message", [
    (_variant(weighted=False), "weights are ignored"),
    (_variant(sigmoid=False), "sigmoid"),
    (_variant(smooth=0.0), "add 1"),
    (_variant(minus=False), "subtract the intersection"),
    (_variant(reduce=True), "keep the batch axis"),
    (_variant(detach=True), "gradients flow"),
    (lambda logits, mask, weight: 1 - good_wiou(logits, mask, weight), "loss"),
])
def test_6_3_rejects_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS["6.3"](wrong)


def test_6_3_accepts_the_reference_and_the_library():
    CHECKS["6.3"](good_wiou)
    CHECKS["6.3"](weighted_iou)


def test_checks_are_fast():
    import time

    for key, answer in [("6.1", GoodCFM), ("6.2", good_weight), ("6.3", good_wiou)]:
        start = time.perf_counter()
        CHECKS[key](answer)
        assert time.perf_counter() - start < 3.0   # well under 1 s on an idle machine; slack for a busy one
