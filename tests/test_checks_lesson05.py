"""Lesson 05 checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import statistics

import pytest
import torch
import torch.nn.functional as F

from fusion_course.checks import lesson05 as L


# 5.1 -------------------------------------------------------------------------------------------
def b_ok(mask):
    eroded = -F.max_pool2d(-mask.float(), 3, stride=1, padding=1)
    return (mask > 0.5) & ~(eroded > 0.5)


def b_whole_mask(mask):
    return mask > 0.5


def b_four_neighbours(mask):
    m = mask.float()
    pad = F.pad(m, (1, 1, 1, 1), value=1.0)
    eroded = torch.minimum(torch.minimum(pad[..., :-2, 1:-1], pad[..., 2:, 1:-1]),
                           torch.minimum(pad[..., 1:-1, :-2], pad[..., 1:-1, 2:]))
    eroded = torch.minimum(eroded, m)
    return (m > 0.5) & ~(eroded > 0.5)


def b_zero_padding(mask):
    m = F.pad(mask.float(), (1, 1, 1, 1), value=0.0)
    eroded = -F.max_pool2d(-m, 3, stride=1)
    return (mask > 0.5) & ~(eroded > 0.5)


def b_outer(mask):
    dilated = F.max_pool2d(mask.float(), 3, stride=1, padding=1)
    return (dilated > 0.5) & ~(mask > 0.5)


def b_in_place(mask):
    out = b_ok(mask)
    mask.zero_()
    return out


def test_51_accepts_reference():
    assert "border" in L.check_boundary(b_ok)


@pytest.mark.parametrize("wrong", [b_whole_mask, b_four_neighbours, b_zero_padding, b_outer, b_in_place])
def test_51_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 5.1"):
        L.check_boundary(wrong)


# 5.2 -------------------------------------------------------------------------------------------
def iou_ok(logits, mask):
    p, t = logits > 0, mask > 0.5
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return float(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).mean())


def iou_pooled(logits, mask):
    p, t = logits > 0, mask > 0.5
    return float((p & t).sum() / (p | t).sum().clamp_min(1))


def iou_threshold_half_on_logits(logits, mask):
    return iou_ok(logits - 0.5, mask)


def iou_nan_when_empty(logits, mask):
    p, t = logits > 0, mask > 0.5
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return float((inter / union).mean())


def iou_soft(logits, mask):
    p = torch.sigmoid(logits)
    inter = (p * mask).flatten(1).sum(1)
    union = (p + mask - p * mask).flatten(1).sum(1)
    return float((inter / union.clamp_min(1e-6)).mean())


def iou_dice(logits, mask):
    p, t = logits > 0, mask > 0.5
    inter = (p & t).flatten(1).sum(1).float()
    total = p.flatten(1).sum(1).float() + t.flatten(1).sum(1).float()
    return float(torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total)).mean())


def test_52_accepts_reference():
    assert "per-image" in L.check_iou(iou_ok)


@pytest.mark.parametrize("wrong", [iou_pooled, iou_threshold_half_on_logits, iou_nan_when_empty, iou_soft, iou_dice])
def test_52_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 5.2"):
        L.check_iou(wrong)


# 5.3 -------------------------------------------------------------------------------------------
def ms_ok(values):
    if len(values) < 2:
        raise ValueError("need at least 2 values")
    return statistics.mean(values), statistics.stdev(values)


def ms_population(values):
    if len(values) < 2:
        raise ValueError("need at least 2 values")
    return statistics.mean(values), statistics.pstdev(values)


def ms_no_error(values):
    if not values:
        return 0.0, 0.0
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def ms_variance(values):
    if len(values) < 2:
        raise ValueError("need at least 2 values")
    return statistics.mean(values), statistics.variance(values)


def ms_swapped(values):
    return ms_ok(values)[::-1]


def test_53_accepts_reference():
    assert "n − 1" in L.check_mean_std(ms_ok)


@pytest.mark.parametrize("wrong", [ms_population, ms_no_error, ms_variance, ms_swapped])
def test_53_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 5.3"):
        L.check_mean_std(wrong)


def test_not_implemented_passes_through():
    def todo(*args):
        raise NotImplementedError("Exercise 5.x")
    for fn in (L.check_boundary, L.check_iou, L.check_mean_std, L.check_equal_budget):
        with pytest.raises(NotImplementedError):
            fn(todo)


def test_52_names_the_batch_in_words():
    with pytest.raises(AssertionError) as info:
        L.check_iou(lambda logits, mask: 0.123)
    message = str(info.value)
    assert "batch of 1 image," in message and "1 images" not in message


# 5.4 -------------------------------------------------------------------------------------------
def _params(decoder, width):
    from fusion_course.models.decoders import SegmentationNet
    from fusion_course.profiling import count_params

    return count_params(SegmentationNet(decoder, width=width))


def _closest(decoder, budget, *, decoder_only=False, first_above=False):
    """A search of one's own: widths 4..256, by bisection on the (monotone) parameter count."""
    from fusion_course.models.decoders import SegmentationNet
    from fusion_course.profiling import count_params

    def count(w):
        net = SegmentationNet(decoder, width=w)
        return count_params(net) - (count_params(net.encoder) if decoder_only else 0)

    lo, hi = 4, 256
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < budget else (lo, mid)
    if first_above:
        return hi
    return lo if abs(count(lo) - budget) <= abs(count(hi) - budget) else hi


def ebw_ok(budget):
    return {d: _closest(d, budget) for d in ("deep", "concat")}


def ebw_same_width(budget):
    w = _closest("concat", budget)
    return {"deep": w, "concat": w}


def ebw_swapped(budget):
    right = ebw_ok(budget)
    return {"deep": right["concat"], "concat": right["deep"]}


def ebw_decoder_only(budget):
    return {d: _closest(d, budget, decoder_only=True) for d in ("deep", "concat")}


def ebw_first_above(budget):
    return {d: _closest(d, budget, first_above=True) for d in ("deep", "concat")}


def ebw_fit_width(budget):
    from fusion_course.models.decoders import fit_width

    return {d: fit_width(d, budget) for d in ("deep", "concat")}


def ebw_through_the_model(budget):
    from fusion_course.models.decoders import SegmentationNet

    return {d: SegmentationNet(d, param_budget=budget).width for d in ("deep", "concat")}


def test_54_accepts_a_search_of_ones_own():
    assert "without fit_width" in L.check_equal_budget(ebw_ok)


@pytest.mark.parametrize("wrong, words", [
    (ebw_same_width, "one width for both is not one budget"),
    (ebw_swapped, "swapped"),
    (ebw_decoder_only, "encoder's"),
    (ebw_first_above, "first width at or above"),
    (ebw_fit_width, "asks fit_width"),
    (ebw_through_the_model, "asks fit_width"),
    (lambda budget: {"deep": 35.5, "concat": 31}, "an int width"),
    (lambda budget: (35, 31), "a dict"),
    (lambda budget: {"deep": 20, "concat": 20 + budget // 10**6}, "one width for both"),
    (lambda budget: {"deep": 10, "concat": 12}, "closest to the budget"),
])
def test_54_names_each_wrong_answer(wrong, words):
    with pytest.raises(AssertionError, match="Exercise 5.4") as info:
        L.check_equal_budget(wrong)
    assert words in str(info.value), str(info.value)


def test_54_deep_gets_the_wider_map():
    """What the exercise asks the learner to predict, on the lesson's budget: the concat conv costs more per channel."""
    widths = ebw_ok(130_000)
    assert widths["deep"] > widths["concat"]
    assert abs(_params("deep", widths["deep"]) - 130_000) < 1_000


# Stubs and hints of the hard level give the goal, never the code ------------------------------
@pytest.mark.parametrize("name", ["05_does_fusion_help", "06_f3net", "07_mobilenet_fusion", "08_fusionnet"])
def test_hard_exercise_stubs_and_hints_hold_no_code(name):
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "exercises" / f"{name}.ipynb"
    text = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"])
    for code in ("max_pool2d", "1 + 5", "inter + 1", "1 / out_channels", "1/N + 1/", "C_in·C_out·k"):
        assert code not in text, f"{path.name} gives away {code!r}"
