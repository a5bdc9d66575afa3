"""Lesson 08's checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusion_course.checks import check
from fusion_course.checks.lesson08 import CHECKS


# ----------------------------------------------------------------------------- 8.1 reference and mistakes
def rb_params(cin: int, cout: int) -> int:
    conv = lambda i, o, k: i * o * k * k + o          # weights + bias
    bn = lambda c: 2 * c                               # gamma + beta
    total = conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3) + bn(cout)
    if cin != cout:
        total += conv(cin, cout, 1) + bn(cout)
    return total


def rb_no_bn(cin, cout):
    return rb_params(cin, cout) - 2 * cout * (3 if cin != cout else 2)


def rb_no_bias(cin, cout):
    return rb_params(cin, cout) - cout * (3 if cin != cout else 2)


def rb_always_shortcut(cin, cout):
    return rb_params(cin, cout) + (cin * cout + cout + 2 * cout if cin == cout else 0)


def rb_bn_with_running_stats(cin, cout):
    return rb_params(cin, cout) + 2 * cout * (3 if cin != cout else 2)


# ----------------------------------------------------------------------------- 8.2 reference and mistakes
class BranchMixer(nn.Module):
    def __init__(self, num_branches: int) -> None:
        super().__init__()
        self.raw = nn.Parameter(torch.zeros(num_branches))

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.raw, dim=0)

    def forward(self, logits):
        w = self.weights()
        return sum(w[i] * b for i, b in enumerate(logits))


class Unnormalised(BranchMixer):
    def weights(self):
        return self.raw


class SigmoidGates(BranchMixer):
    def weights(self):
        return torch.sigmoid(self.raw)


class FixedPublished(nn.Module):
    def __init__(self, num_branches):
        super().__init__()
        self.register_buffer("w", torch.full((num_branches,), 1.0 / num_branches))

    def weights(self):
        return self.w

    def forward(self, logits):
        return sum(self.w[i] * b for i, b in enumerate(logits))


class SoftmaxOverClasses(BranchMixer):
    def forward(self, logits):
        stacked = torch.stack(logits, dim=-1)                 # (B, K, n)
        return (torch.softmax(stacked, dim=1) * self.weights()).sum(-1)


class DetachedWeights(BranchMixer):
    def forward(self, logits):
        w = self.weights().detach()
        return sum(w[i] * b for i, b in enumerate(logits))


# ----------------------------------------------------------------------------- 8.3 reference and mistakes
def _largest(maps):
    return max(((m.shape[-2], m.shape[-1]) for m in maps), key=lambda s: s[0] * s[1])


def fuse_at_finest(maps, weights):
    size = _largest(maps)
    return sum(w * F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m, w in zip(maps, weights))


def fuse_at_coarsest(maps, weights):
    size = min(((m.shape[-2], m.shape[-1]) for m in maps), key=lambda s: s[0] * s[1])
    return sum(w * F.interpolate(m, size=size, mode="nearest") for m, w in zip(maps, weights))


def fuse_at_first(maps, weights):
    size = maps[0].shape[-2:]
    return sum(w * F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m, w in zip(maps, weights))


def fuse_nearest(maps, weights):
    size = _largest(maps)
    return sum(w * F.interpolate(m, size=size, mode="nearest") for m, w in zip(maps, weights))


def fuse_ignoring_weights(maps, weights):
    size = _largest(maps)
    return sum(F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps) / len(maps)


def fuse_in_place(maps, weights):
    size = _largest(maps)
    out = None
    for m, w in zip(maps, weights):
        m.mul_(w)
        r = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        out = r if out is None else out + r
    return out


def test_reference_answers_pass(capsys):
    check("8.1", rb_params)
    check("8.2", BranchMixer)
    check("8.3", fuse_at_finest)
    out = capsys.readouterr().out
    assert out.count("passed") == 3
    assert set(CHECKS) == {"8.1", "8.2", "8.3"}


@pytest.mark.parametrize("wrong", [rb_no_bn, rb_no_bias, rb_always_shortcut, rb_bn_with_running_stats,
                                   lambda i, o: 9 * i * o + 9 * o * o, lambda i, o: 1_000, "57920"])
def test_8_1_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 8.1"):
        CHECKS["8.1"](wrong)


@pytest.mark.parametrize("wrong", [Unnormalised, SigmoidGates, FixedPublished, SoftmaxOverClasses,
                                   DetachedWeights, BranchMixer(4)])
def test_8_2_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 8.2"):
        CHECKS["8.2"](wrong)


@pytest.mark.parametrize("wrong", [fuse_at_coarsest, fuse_at_first, fuse_nearest, fuse_ignoring_weights,
                                   fuse_in_place, lambda maps, weights: maps[0]])
def test_8_3_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 8.3"):
        CHECKS["8.3"](wrong)


def test_coarsest_gets_a_teaching_hint():
    with pytest.raises(AssertionError, match="smallest map's size"):
        CHECKS["8.3"](fuse_at_coarsest)


def test_unsolved_exercises_raise_not_implemented():
    def todo(*args):
        raise NotImplementedError("Exercise 8.x: write it")

    class Todo(nn.Module):
        def __init__(self, n):
            raise NotImplementedError("Exercise 8.2: write it")

    for ex, answer in (("8.1", todo), ("8.2", Todo), ("8.3", todo)):
        with pytest.raises(NotImplementedError):
            CHECKS[ex](answer)
