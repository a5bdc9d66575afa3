"""The course's statistics helper, pinned against scipy and against hand-computed values."""
import math

import pytest
from scipy import stats as sps

from fusion_course.stats import compare, mean_ci, mean_sd, t_quantile


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
    assert c.verdict == "no supported difference between x and y"
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
