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
def gate_summary(gates):
    total = gates.sum(dim=1, keepdim=True)                     # (B, 1, H, W): how open, pixel by pixel
    used = total > 0
    shares = torch.where(used, gates / total.clamp_min(1e-30), torch.zeros_like(gates))
    return float(total.mean()), shares.sum(dim=(0, 2, 3)) / used.sum()


def gs_raw(gates):
    return float(gates.sum(1).mean()), gates.mean(dim=(0, 2, 3))


def gs_ratio_of_means(gates):
    m = gates.mean(dim=(0, 2, 3))
    return float(gates.sum(1).mean()), m / m.sum()


def gs_softmax(gates):
    return float(gates.sum(1).mean()), torch.softmax(gates, dim=1).mean(dim=(0, 2, 3))


def gs_nan(gates):
    return float(gates.sum(1).mean()), (gates / gates.sum(1, keepdim=True)).mean(dim=(0, 2, 3))


def gs_zero_pixels_counted(gates):
    total = gates.sum(dim=1, keepdim=True)
    shares = torch.where(total > 0, gates / total.clamp_min(1e-30), torch.zeros_like(gates))
    return float(total.mean()), shares.mean(dim=(0, 2, 3))


def gs_open_mean(gates):
    return float(gates.mean()), gate_summary(gates)[1]


def gs_open_max(gates):
    return float(gates.sum(1).max()), gate_summary(gates)[1]


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
    check("8.2", gate_summary)
    check("8.3", fuse_at_finest)
    check("8.4", matched_width)
    out = capsys.readouterr().out
    assert out.count("passed") == 4
    assert set(CHECKS) == {"8.1", "8.2", "8.3", "8.4"}


@pytest.mark.parametrize("wrong", [rb_no_bn, rb_no_bias, rb_always_shortcut, rb_bn_with_running_stats,
                                   lambda i, o: 9 * i * o + 9 * o * o, lambda i, o: 1_000, "57920"])
def test_8_1_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 8.1"):
        CHECKS["8.1"](wrong)


@pytest.mark.parametrize("wrong, words", [
    (gs_raw, "raw gates' means"),
    (gs_ratio_of_means, "ratio of means"),
    (gs_softmax, "softmax"),
    (gs_nan, "0/0"),
    (gs_zero_pixels_counted, "do not count them"),
    (gs_open_mean, "SUM of the gates"),
    (gs_open_max, "not their maximum"),
    (lambda gates: gate_summary(gates)[1], "a pair"),
    (lambda gates: (gate_summary(gates)[0], gate_summary(gates)[1][:-1]), "one per level"),
])
def test_8_2_names_each_wrong_reading(wrong, words):
    with pytest.raises(AssertionError, match="Exercise 8.2") as info:
        CHECKS["8.2"](wrong)
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("wrong", [fuse_at_coarsest, fuse_at_first, fuse_nearest, fuse_ignoring_weights,
                                   fuse_in_place, lambda maps, weights: maps[0]])
def test_8_3_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 8.3"):
        CHECKS["8.3"](wrong)


def test_8_1_is_counted_by_hand():
    from fusion_course.models.fusionnet import ResidualBlock

    original_init = nn.Module.__init__

    def ask_the_package(cin, cout):
        return sum(p.numel() for p in ResidualBlock(cin, cout).parameters())

    def ask_torch_layer_by_layer(cin, cout):
        return rb_params(cin, cout) + 0 * nn.Conv2d(cin, cout, 3).weight.numel()

    for answer, built in ((ask_the_package, "ResidualBlock"), (ask_torch_layer_by_layer, "Conv2d")):
        with pytest.raises(AssertionError, match=f"builds {built} and asks PyTorch"):
            CHECKS["8.1"](answer)
    assert nn.Module.__init__ is original_init                              # the spy is removed
    check("8.1", rb_params)                                                # and a count by hand still passes


def test_8_3_first_map_assumed_finest_gets_its_own_hint():
    with pytest.raises(AssertionError, match="FIRST map's size") as info:
        CHECKS["8.3"](fuse_at_first)
    assert "published choice" not in str(info.value)


def test_coarsest_gets_a_teaching_hint():
    with pytest.raises(AssertionError, match="smallest map's size"):
        CHECKS["8.3"](fuse_at_coarsest)


def test_unsolved_exercises_raise_not_implemented():
    def todo(*args):
        raise NotImplementedError("Exercise 8.x: write it")

    for ex, answer in (("8.1", todo), ("8.2", todo), ("8.3", todo), ("8.4", todo)):
        with pytest.raises(NotImplementedError):
            CHECKS[ex](answer)


# ----------------------------------------------------------------------------- 8.4 reference and mistakes
def n_params(model):
    return sum(p.numel() for p in model.parameters())


def matched_width(target_params):
    """The solution notebook's answer: predict with width², count, correct."""
    from fusion_course.models.fusionnet import build_variant

    width, best = 0.125, None
    for _ in range(8):
        params = n_params(build_variant("normalized", 1, 12, width=width))
        error = abs(params / target_params - 1)
        if best is None or error < best[0]:
            best = (error, width)
        if error < 0.005:
            break
        width *= (target_params / params) ** 0.5
    return best[1]


def matched_width_bisection(target_params):
    """Another right design: bisection on the width, returned as a NumPy float."""
    import numpy as np
    from fusion_course.models.fusionnet import build_variant

    low, high = 0.02, 0.5
    for _ in range(14):
        mid = (low + high) / 2
        if n_params(build_variant("normalized", 1, 12, width=mid)) < target_params:
            low = mid
        else:
            high = mid
    return np.float64((low + high) / 2)


def matched_width_square_law(target_params):
    """Another right analysis, without a search: parameters grow with width², from one count (a tensor back)."""
    from fusion_course.models.fusionnet import build_variant

    base = n_params(build_variant("normalized", 1, 12, width=0.125))
    return torch.tensor(0.125 * (target_params / base) ** 0.5)


@pytest.mark.parametrize("answer", [matched_width, matched_width_bisection, matched_width_square_law])
def test_8_4_accepts_right_designs(answer, capsys):
    check("8.4", answer)
    assert "Exercise 8.4 passed" in capsys.readouterr().out


BASE = 143_525      # normalized at width 0.125, 1 input channel, 12 classes: what lesson 08 prints


@pytest.mark.parametrize("wrong, words", [
    (lambda target: 0.125, "the ablation's own width"),
    (lambda target: 0.125 * target / BASE, "SQUARE of the width"),
    (lambda target: 0.125 * (BASE / target) ** 0.5, "upside down"),
    (lambda target: 0.125 * BASE / target, "upside down"),
    (lambda target: 0.125 * (target / BASE) ** 0.25, "count the parameters of the model your width builds"),
    (lambda target: float(target), "looks like a parameter count"),
    (lambda target: -0.1, "width multiplier"),
    (lambda target: 2.5, "already the full model"),
    (lambda target: "0.1", "a width (a number)"),
    (lambda target: None, "a width (a number)"),
    (lambda: 0.1, "to accept"),
    (0.105, "a function matched_width"),
])
def test_8_4_rejects_wrong_controls_with_their_own_hint(wrong, words):
    with pytest.raises(AssertionError) as info:
        CHECKS["8.4"](wrong)
    assert words in str(info.value), str(info.value)


def test_8_4_never_shows_a_right_width():
    """The message gives the count the learner's width builds, never a width that would pass."""
    with pytest.raises(AssertionError) as info:
        CHECKS["8.4"](lambda target: 0.125)
    message = str(info.value)
    assert "0.105" not in message and "0.1053" not in message and "width 0.125" in message


def test_8_4_targets_can_be_matched_and_the_check_is_fast():
    import time

    from fusion_course.models.fusionnet import build_variant

    assert n_params(build_variant("normalized", 1, 12, width=0.125)) == BASE
    start = time.perf_counter()
    CHECKS["8.4"](matched_width)
    assert time.perf_counter() - start < 2.0


def test_8_4_unsolved_is_one_line():
    def matched_width(target_params):
        raise NotImplementedError("Exercise 8.4: find a width whose normalized model has the target's parameter count")

    with pytest.raises(NotImplementedError) as info:
        check("8.4", matched_width)
    assert len(info.value._render_traceback_()) == 1
