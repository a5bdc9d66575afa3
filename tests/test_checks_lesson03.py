"""Lesson 03 checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fusion_course.checks import lesson03 as L


# 3.1 -------------------------------------------------------------------------------------------
def align_ok(maps):
    return [F.interpolate(m, size=maps[0].shape[-2:], mode="bilinear", align_corners=False) for m in maps]


def align_nearest(maps):
    return [F.interpolate(m, size=maps[0].shape[-2:], mode="nearest") for m in maps]


def align_to_last(maps):
    return [F.interpolate(m, size=maps[-1].shape[-2:], mode="bilinear", align_corners=False) for m in maps]


def align_corners_true(maps):
    return [F.interpolate(m, size=maps[0].shape[-2:], mode="bilinear", align_corners=True) for m in maps]


def align_concat(maps):
    return torch.cat(align_ok(maps), dim=1)


def align_to_largest(maps):
    big = max(maps, key=lambda m: m.shape[-1] * m.shape[-2])
    return [F.interpolate(m, size=big.shape[-2:], mode="bilinear", align_corners=False) for m in maps]


def align_in_place(maps):
    out = align_ok(maps)
    maps[0].mul_(1.0).add_(1.0)
    return out


def test_31_accepts_reference():
    assert "batch 1" in L.check_align(align_ok)


@pytest.mark.parametrize("wrong", [align_nearest, align_to_last, align_corners_true, align_concat,
                                   align_to_largest, align_in_place])
def test_31_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 3.1"):
        L.check_align(wrong)


def test_31_lets_not_implemented_through():
    def todo(maps):
        raise NotImplementedError("Exercise 3.1: ...")
    with pytest.raises(NotImplementedError):
        L.check_align(todo)


# 3.2 -------------------------------------------------------------------------------------------
class BlockOk(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(2 * in_channels, in_channels, 1)

    def forward(self, x1, x2):
        return self.conv(torch.cat((x1, x2), dim=1))


class BlockAsPrinted(nn.Module):
    def init(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x1, x2):
        return self.conv(torch.cat((x1, x2), dim=1))


class BlockRenamedOnly(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x1, x2):
        return self.conv(torch.cat((x1, x2), dim=1))


class BlockSum(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x1, x2):
        return self.conv(x1 + x2)


class BlockSwapped(BlockOk):
    def forward(self, x1, x2):
        return self.conv(torch.cat((x2, x1), dim=1))


class BlockRelu(BlockOk):
    def forward(self, x1, x2):
        return F.relu(super().forward(x1, x2))


class BlockNoBias(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(2 * in_channels, in_channels, 1, bias=False)

    def forward(self, x1, x2):
        return self.conv(torch.cat((x1, x2), dim=1))


class BlockConvInForward(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.c = in_channels

    def forward(self, x1, x2):
        return nn.Conv2d(2 * self.c, self.c, 1)(torch.cat((x1, x2), dim=1))


def test_32_accepts_reference():
    assert "1×1" in L.check_fixed_block(BlockOk)


@pytest.mark.parametrize("wrong", [BlockAsPrinted, BlockRenamedOnly, BlockSum, BlockSwapped, BlockRelu,
                                   BlockNoBias, BlockConvInForward])
def test_32_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 3.2"):
        L.check_fixed_block(wrong)


def test_32_rejects_an_instance():
    with pytest.raises(AssertionError, match="the class"):
        L.check_fixed_block(BlockOk(4))


# 3.3 -------------------------------------------------------------------------------------------
def params_ok(in_channels, out_channels):
    concat = sum(in_channels) * out_channels + out_channels
    return concat, sum(c * out_channels + out_channels for c in in_channels if c != out_channels)


def params_no_bias(in_channels, out_channels):
    return sum(in_channels) * out_channels, sum(c * out_channels for c in in_channels if c != out_channels)


def params_project_all(in_channels, out_channels):
    return params_ok(in_channels, out_channels)[0], sum(c * out_channels + out_channels for c in in_channels)


def params_swapped(in_channels, out_channels):
    return params_ok(in_channels, out_channels)[::-1]


def params_hard_coded(in_channels, out_channels):
    return 14400, 10368


def test_33_accepts_reference():
    assert "configurations" in L.check_params(params_ok)


@pytest.mark.parametrize("wrong", [params_no_bias, params_project_all, params_swapped, params_hard_coded])
def test_33_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 3.3"):
        L.check_params(wrong)


def params_from_the_lesson_table(in_channels, out_channels):
    """Right only for the configuration lesson 03 prints; wrong everywhere else."""
    if (list(in_channels), out_channels) == ([32, 64, 128], 64):
        return 14400, 10368
    return params_no_bias(in_channels, out_channels)


def params_refusing_the_lesson_configuration(in_channels, out_channels):
    """Right, but raises on lesson 03's configuration: the check must never ask for it."""
    assert (list(in_channels), out_channels) != ([32, 64, 128], 64), "the check used the lesson's configuration"
    return params_ok(in_channels, out_channels)


def test_33_does_not_use_the_configuration_the_lesson_prints():
    with pytest.raises(AssertionError, match="Exercise 3.3"):
        L.check_params(params_from_the_lesson_table)
    assert "configurations" in L.check_params(params_refusing_the_lesson_configuration)


def test_33_wrong_answers_get_the_right_diagnosis():
    with pytest.raises(AssertionError, match="in this order"):
        L.check_params(params_swapped)
    with pytest.raises(AssertionError, match="no projection"):
        L.check_params(params_project_all)
    with pytest.raises(AssertionError, match="with a bias"):
        L.check_params(params_no_bias)


# 3.4 (issue 24: the concat identity) ------------------------------------------------------------
def split_ok(weight, bias, maps):
    blocks = torch.split(weight, [m.shape[1] for m in maps], dim=1)
    return [F.conv2d(m, w, bias if i == 0 else None) for i, (m, w) in enumerate(zip(maps, blocks))]


def split_shared_bias(weight, bias, maps):
    """A right answer written another way: every projection carries b / n."""
    blocks = torch.split(weight, [m.shape[1] for m in maps], dim=1)
    return [F.conv2d(m, w, bias / len(maps)) for m, w in zip(maps, blocks)]


def split_bias_everywhere(weight, bias, maps):
    blocks = torch.split(weight, [m.shape[1] for m in maps], dim=1)
    return [F.conv2d(m, w, bias) for m, w in zip(maps, blocks)]


def split_output_axis(weight, bias, maps):
    n = len(maps)
    return [F.conv2d(torch.cat(maps, 1), weight[i::n]) for i in range(n)]


def split_equal_chunks(weight, bias, maps):
    blocks = torch.chunk(weight, len(maps), dim=1)
    return [F.conv2d(m, w, bias if i == 0 else None) for i, (m, w) in enumerate(zip(maps, blocks))]


def split_via_concat(weight, bias, maps):
    """Right sum, but every term is computed from the whole concatenation."""
    full = F.conv2d(torch.cat(maps, 1), weight, bias)
    return [full / len(maps)] * len(maps)


def split_reversed(weight, bias, maps):
    widths = [m.shape[1] for m in maps]
    blocks = torch.split(weight, widths[::-1], dim=1)[::-1]
    return [F.conv2d(m, w, bias if i == 0 else None) for i, (m, w) in enumerate(zip(maps, blocks))]


def test_34_accepts_reference():
    assert "each term from its own input" in L.check_split(split_ok)
    L.check_split(split_shared_bias)


@pytest.mark.parametrize("wrong, words", [
    (split_bias_everywhere, "b added to all"),
    (split_output_axis, "INPUT axis"),
    (split_equal_chunks, "not into equal parts"),
    (split_via_concat, r"to depend on input \d only"),
    (split_reversed, "Exercise 3.4"),
])
def test_34_rejects_with_the_cause(wrong, words):
    with pytest.raises(AssertionError, match=words):
        L.check_split(wrong)
