"""The course's statistics helper, pinned against scipy and against hand-computed values."""
import math

import pytest
from scipy import stats as sps

from fusion_course.stats import compare, holm, mean_ci, mean_sd, t_quantile


def test_t_quantile_matches_tables():
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-6)
    assert t_quantile(0.975, 1000) == pytest.approx(1.962339, abs=1e-6)


def test_mean_ci_equals_scipy_t_interval():
    data = [0.071, 0.091, 0.112, 0.076, 0.086]
    m, lo, hi = mean_ci(data)
    ref = sps.t.interval(0.95, len(data) - 1, loc=sum(data) / len(data), scale=sps.sem(data))
    assert m == pytest.approx(sum(data) / len(data))
    assert (lo, hi) == pytest.approx(ref, abs=1e-12)


def test_mean_sd_uses_the_sample_standard_deviation():
    assert mean_sd([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mean_sd([5.0]) == (5.0, 0.0)


def test_compare_is_paired():
    # Large seed-to-seed spread shared by both models, a constant gap of 0.01: pairing sees the gap.
    a = [0.50, 0.70, 0.90]
    b = [0.49, 0.69, 0.89]
    c = compare(a, b, names=("a", "b"))
    assert c.diff == pytest.approx(0.01) and c.low == pytest.approx(0.01) and c.high == pytest.approx(0.01)
    assert c.better == "a" and c.supported and c.verdict == "a better than b"


def test_compare_says_nothing_when_the_interval_includes_zero():
    c = compare([0.80, 0.70, 0.75], [0.78, 0.74, 0.74], names=("x", "y"))
    assert c.low < 0 < c.high and c.better is None and not c.supported
    assert c.verdict == "inconclusive between x and y" and c.word == "inconclusive"
    assert "95 % CI" in str(c) and "3 paired seeds" in str(c)


def test_lower_is_better_flips_the_winner():
    c = compare([0.10, 0.11, 0.12], [0.20, 0.21, 0.23], names=("ours", "theirs"), higher_is_better=False)
    assert c.better == "ours" and c.verdict == "ours better than theirs"


def test_every_seed_is_not_enough_with_three_seeds():
    # Better on every seed, yet the interval includes 0: the course does not call this a win.
    c = compare([0.52, 0.60, 0.51], [0.50, 0.50, 0.50], names=("a", "b"))
    assert all(x > y for x, y in zip(c.a, c.b)) and c.better is None


@pytest.mark.parametrize("bad", [([1.0], [2.0]), ([1.0, 2.0], [1.0]), ([1.0, math.nan], [1.0, 2.0])])
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(ValueError):
        compare(*bad)


def test_p_value_is_scipys_paired_t_test():
    a, b = [0.81, 0.84, 0.80, 0.83, 0.85], [0.80, 0.81, 0.80, 0.80, 0.82]
    assert compare(a, b).p_diff == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-9)
    # The verdict and the interval agree: "better" exactly when the 95 % interval excludes 0.
    c = compare(a, b)
    assert (c.low > 0) == (c.word == "better")


def test_equivalence_is_two_one_sided_tests():
    a = [0.801, 0.795, 0.790, 0.805, 0.799]
    b = [0.799, 0.797, 0.792, 0.801, 0.800]
    m = 0.01
    c = compare(a, b, margin=m)
    d = [x - y for x, y in zip(a, b)]
    lower = sps.ttest_1samp(d, -m, alternative="greater").pvalue      # H0: mean(d) <= -m
    upper = sps.ttest_1samp(d, +m, alternative="less").pvalue         # H0: mean(d) >= +m
    assert c.p_equiv == pytest.approx(max(lower, upper), rel=1e-9)
    assert c.word == "equivalent" and c.verdict == "A equivalent to B within ±0.01"
    # TOST at 5 % is the 90 % interval inside the margin.
    _, lo90, hi90 = mean_ci(d, 0.90)
    assert (-m < lo90 and hi90 < m) == c.equivalent


def test_a_wide_interval_is_inconclusive_not_equivalent():
    c = compare([0.80, 0.70, 0.75], [0.78, 0.74, 0.74], margin=0.01)
    assert c.word == "inconclusive"
    with pytest.raises(ValueError):
        compare([0.8, 0.7], [0.7, 0.8], margin=0.0)


def test_holm_matches_a_hand_computation():
    # p-values 0.01, 0.04, 0.03 over k = 3: sorted 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06.
    from fusion_course.stats import _holm_adjust

    assert _holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert _holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_can_only_weaken_a_claim():
    family = [compare([0.80, 0.825, 0.81], [0.78, 0.79, 0.79]), compare([0.70, 0.71, 0.74], [0.70, 0.70, 0.70]),
              compare([0.9, 0.91, 0.92], [0.5, 0.52, 0.51])]
    corrected = holm(family)
    assert [c.word for c in family] == ["better", "inconclusive", "better"]
    assert [c.word for c in corrected] == ["inconclusive", "inconclusive", "better"]
    assert all(h.p_diff >= c.p_diff for h, c in zip(corrected, family))
    assert all(h.adjusted for h in corrected) and "Holm-adjusted p" in str(corrected[0])
