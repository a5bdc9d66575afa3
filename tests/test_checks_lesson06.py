"""Lesson 06 checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats as sps
from torch import nn

from fusion_course.checks import check
from fusion_course.checks.lesson06 import _VERDICT_CASES, CHECKS, _paired, _t_cdf
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


class AlignCornersCFM(_CFMBase):
    def forward(self, low, high):
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=True)
        h1, h2, v1, v2 = self.paths(low, high)
        f = h2 * v2
        return self.h4(self.h3(f) + h1), self.v4(self.v3(f) + v1)


class InputResidualCFM(_CFMBase):
    def forward(self, low, high):
        h1, h2, v1, v2 = self.paths(low, high)
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        f = h2 * v2
        return self.h4(self.h3(f) + low), self.v4(self.v3(f) + high)


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
    (AlignCornersCFM, "align_corners=True"),
    (InputResidualCFM, "residuals come from the module's inputs"),
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


# ----------------------------------------------------------------------------- 6.4 read a confidence interval
def _interval(d, quantile, spread):
    m = sum(d) / len(d)
    return m - quantile * spread, m + quantile * spread


def _say(low, high, lower_is_better=True):
    if high < 0:
        return "a better" if lower_is_better else "b better"
    if low > 0:
        return "b better" if lower_is_better else "a better"
    return "no evidence"


def verdict_loops(a, b):
    """The solution notebook's answer: plain Python and SciPy's t quantile."""
    d = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    sd = (sum((x - mean) ** 2 for x in d) / (n - 1)) ** 0.5
    return _say(*_interval(d, sps.t.ppf(0.975, n - 1), sd / n ** 0.5))


def verdict_numpy_shouting(a, b):
    """Written differently: NumPy arrays, and the verdict in capitals with extra spaces and a full stop."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    half = sps.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    word = _say(d.mean() - half, d.mean() + half)
    return "  " + word.upper().replace(" ", "  ") + ". "


def verdict_scipy_ttest(a, b):
    """Written differently again: SciPy's paired t-test and its confidence interval, 'A is better'."""
    ci = sps.ttest_rel(list(a), list(b)).confidence_interval(0.95)
    return {"a better": "A is better", "b better": "B is better"}.get(_say(ci.low, ci.high), "No evidence")


def verdict_statistics_tstat(a, b):
    """Written differently again: the t statistic against the quantile, with the statistics module."""
    d = [x - y for x, y in zip(a, b)]
    t_stat = statistics.mean(d) / (statistics.stdev(d) / math.sqrt(len(d)))
    if abs(t_stat) <= sps.t.ppf(0.975, len(d) - 1):
        return "no evidence"
    return "a better" if t_stat < 0 else "b better"


def _paired_with(quantile=None, ddof=1, se=True, q=0.975, df_n=False, higher_is_better=False):
    def verdict(a, b):
        d = [x - y for x, y in zip(a, b)]
        n = len(d)
        k = quantile if quantile is not None else sps.t.ppf(q, n if df_n else n - 1)
        spread = float(np.std(d, ddof=ddof)) / (math.sqrt(n) if se else 1.0)
        return _say(*_interval(d, k, spread), lower_is_better=not higher_is_better)
    return verdict


def by_means(a, b):
    return "a better" if np.mean(a) < np.mean(b) else "b better"


def every_seed(a, b):
    if all(x < y for x, y in zip(a, b)):
        return "a better"
    if all(x > y for x, y in zip(a, b)):
        return "b better"
    return "no evidence"


def welch(a, b):
    r = sps.ttest_ind(list(a), list(b), equal_var=False)
    ci = r.confidence_interval(0.95)
    return _say(ci.low, ci.high)


def student_two_sample(a, b):
    ci = sps.ttest_ind(list(a), list(b)).confidence_interval(0.95)
    return _say(ci.low, ci.high)


@pytest.mark.parametrize("answer", [verdict_loops, verdict_numpy_shouting, verdict_scipy_ttest, verdict_statistics_tstat])
def test_6_4_accepts_right_analyses_written_differently(answer, capsys):
    check("6.4", answer)
    assert "Exercise 6.4 passed" in capsys.readouterr().out


# (wrong analysis, words of its own hint)
WRONG_ANALYSES = [
    (by_means, "comparing the two means"),
    (every_seed, "winning on every seed"),
    (welch, "share seed i"),
    (student_two_sample, "share seed i"),
    (_paired_with(quantile=1.96), "not the normal 1.96"),
    (_paired_with(q=0.95), "2.5 % in each tail"),
    (_paired_with(df_n=True), "n − 1 degrees of freedom (the mean used up one)"),
    (_paired_with(ddof=0), "ddof=1"),
    (_paired_with(se=False), "standard error"),
    (_paired_with(quantile=4.303), "depends on the number of seeds"),
    (_paired_with(higher_is_better=True), "LOWER is better"),
]


@pytest.mark.parametrize("wrong, words", WRONG_ANALYSES, ids=[
    "means", "every-seed", "welch", "two-sample", "z", "one-sided", "df-n", "ddof0", "sd-not-se", "fixed-t", "direction"])
def test_6_4_names_each_wrong_analysis(wrong, words):
    with pytest.raises(AssertionError) as info:
        CHECKS["6.4"](wrong)
    message = str(info.value)
    assert message.startswith("Exercise 6.4: expected verdict(") and words in message, message
    # the message never gives the right verdict of the case it shows: only the answer that came back is quoted
    right = [v for v in ("'a better'", "'b better'", "'no evidence'") if v in message]
    assert len(right) == 1 and f"got {right[0]}" in message, message


def test_6_4_each_wrong_analysis_fails_differently():
    """The crafted cases give every wrong analysis its own pattern of verdicts (so its own diagnosis)."""
    cases = [(tuple(round(x + y, 4) for x, y in zip(b, d)), b) for b, d in _VERDICT_CASES]
    patterns = [tuple(_normalise(w(a, b)) for a, b in cases) for w, _ in WRONG_ANALYSES[:2] + WRONG_ANALYSES[3:]]
    right = tuple(verdict_loops(a, b) for a, b in cases)
    assert right not in patterns and len(set(patterns)) == len(patterns)
    assert {"a better", "b better", "no evidence"} <= set(right)


def _normalise(word):
    return word.strip().lower()


def test_6_4_reference_reads_every_case_like_the_course_compare():
    from fusion_course.stats import compare

    for b, d in _VERDICT_CASES:
        a = [round(x + y, 4) for x, y in zip(b, d)]
        c = compare(a, b, names=("a", "b"), higher_is_better=False)
        expected = {"a": "a better", "b": "b better", None: "no evidence"}[c.better]
        assert _paired(a, b) == expected
        n = len(a)
        stat = abs(c.diff) / (statistics.stdev([x - y for x, y in zip(a, b)]) / math.sqrt(n))
        assert abs(stat - sps.t.ppf(0.975, n - 1)) > 0.1       # no case sits on the edge of the interval


@pytest.mark.parametrize("x, df", [(0.0, 2), (1.96, 2), (4.3, 2), (-2.5, 4), (3.1, 3), (12.0, 5), (2.2, 2.73), (0.4, 30)])
def test_6_4_t_distribution_without_scipy_matches_scipy(x, df):
    assert math.isclose(_t_cdf(x, df), sps.t.cdf(x, df), rel_tol=1e-12, abs_tol=1e-14)


@pytest.mark.parametrize("wrong, words", [
    (lambda a, b: 1, "one of the strings"),
    (lambda a, b: "a wins", "one of the strings"),
    (lambda a, b: None, "one of the strings"),
    (lambda a: "no evidence", "to accept"),
    ("no evidence", "a function verdict"),
])
def test_6_4_wrong_types_and_signatures_are_explained(wrong, words):
    with pytest.raises(AssertionError, match=words):
        CHECKS["6.4"](wrong)


def test_6_4_an_answer_that_reorders_the_seeds_is_caught():
    def sorts(a, b):
        a.sort() if isinstance(a, list) else None
        return verdict_loops(a, b)

    with pytest.raises(AssertionError, match="never reorder them"):
        CHECKS["6.4"](sorts)


def test_6_4_unsolved_is_one_line():
    def verdict(a, b):
        raise NotImplementedError("Exercise 6.4: return 'a better', 'b better' or 'no evidence', read from a 95 % interval on the difference")

    with pytest.raises(NotImplementedError) as info:
        check("6.4", verdict)
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and "not attempted yet" in lines[0]


def test_6_4_is_fast():
    import time

    start = time.perf_counter()
    CHECKS["6.4"](verdict_loops)
    with pytest.raises(AssertionError):
        CHECKS["6.4"](welch)
    assert time.perf_counter() - start < 2.0
