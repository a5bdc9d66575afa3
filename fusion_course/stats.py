"""Honest comparisons over seeds: paired differences, a 95 % confidence interval and a verdict.

A training run is one draw from a distribution (the seed picks the initial weights and the batch order),
so "model A scored higher than model B" says little until we know how much scores move between seeds.
The course compares two models the way a careful paper does:

1. train both with the **same** seeds, so seed ``s`` gives A and B the same data order and split;
2. take the **paired** differences ``d_s = a_s - b_s`` (pairing removes what the seeds share);
3. put a Student-t confidence interval on their mean,

   ``mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n)``

4. say "A better than B" only when the whole interval lies on A's side of 0.

With 3 seeds, ``t_{0.975, 2} = 4.30``, so only a difference that is large against its spread is called.
Rules such as "better on every seed" are weaker than they look: with 3 seeds a coin flip wins all three
one time in eight.

>>> from fusion_course.stats import compare
>>> c = compare([0.79, 0.80, 0.78], [0.70, 0.71, 0.70], names=("fused", "deep-only"))
>>> c.verdict
'fused better than deep-only'
>>> print(c)  # doctest: +NORMALIZE_WHITESPACE
fused − deep-only: +0.087, 95 % CI [+0.058, +0.115] over 3 paired seeds → fused better than deep-only
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Comparison", "compare", "mean_ci", "mean_sd", "t_quantile"]


def t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (scipy's ``t.ppf``)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df >= 1), got df={df}")
    from scipy.stats import t  # scipy comes with scikit-learn; imported here to keep the package light

    return float(t.ppf(q, df))


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0.0 for a single value)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("mean_sd needs at least one value")
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and its two-sided t confidence interval: ``(mean, low, high)``."""
    xs = [float(v) for v in values]
    if len(xs) < 2:
        raise ValueError(f"a confidence interval needs at least 2 values, got {len(xs)}")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"values must be finite, got {xs}")
    m, sd = mean_sd(xs)
    half = t_quantile(0.5 + confidence / 2, len(xs) - 1) * sd / math.sqrt(len(xs))
    return m, m - half, m + half


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two models over the same seeds (built by :func:`compare`)."""

    names: tuple[str, str]
    a: tuple[float, ...]
    b: tuple[float, ...]
    diff: float                # mean of a_s - b_s
    low: float                 # confidence interval of the mean difference
    high: float
    confidence: float
    higher_is_better: bool

    @property
    def n(self) -> int:
        return len(self.a)

    @property
    def better(self) -> str | None:
        """The name of the better model, or None when the interval includes 0."""
        if self.low > 0:
            return self.names[0] if self.higher_is_better else self.names[1]
        if self.high < 0:
            return self.names[1] if self.higher_is_better else self.names[0]
        return None

    @property
    def supported(self) -> bool:
        """True when the interval excludes 0, i.e. the data support a difference."""
        return self.better is not None

    @property
    def verdict(self) -> str:
        a, b = self.names
        if self.better is None:
            return f"no supported difference between {a} and {b}"
        worse = b if self.better == a else a
        return f"{self.better} better than {worse}"

    def __str__(self) -> str:
        a, b = self.names
        pct = f"{100 * self.confidence:g} %"
        return (f"{a} − {b}: {self.diff:+.3f}, {pct} CI [{self.low:+.3f}, {self.high:+.3f}] "
                f"over {self.n} paired seeds → {self.verdict}")


def compare(a: Sequence[float], b: Sequence[float], *, names: tuple[str, str] = ("A", "B"),
            higher_is_better: bool = True, confidence: float = 0.95) -> Comparison:
    """Compare two models' scores over the same seeds: paired difference, t interval, verdict.

    Args:
        a, b: one score per seed, in the same seed order (``a[i]`` and ``b[i]`` share seed ``i``).
        names: how the verdict names the two models.
        higher_is_better: False for errors and losses (MAE, loss), where lower wins.
        confidence: coverage of the interval (0.95 gives the usual 95 % interval).
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores need one value per seed for both models, got {len(a)} and {len(b)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    mean, low, high = mean_ci(diffs, confidence)
    return Comparison(tuple(names), tuple(map(float, a)), tuple(map(float, b)), mean, low, high,
                      confidence, higher_is_better)
