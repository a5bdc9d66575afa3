"""Honest comparisons over seeds: paired differences, a 95 % confidence interval and a verdict.

A training run is one draw from a distribution (the seed picks the initial weights and the batch order),
so "model A scored higher than model B" says little until we know how much scores move between seeds.
The course compares two models the way a careful paper does:

1. train both with the **same** seeds, so seed ``s`` gives A and B the same data order and split;
2. take the **paired** differences ``d_s = a_s - b_s`` (pairing removes what the seeds share);
3. put a Student-t confidence interval on their mean,

   ``mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n)``

4. give one of four verdicts, and only these:

   * **better** / **worse**: the whole 95 % interval lies on one side of 0;
   * **equivalent within ±m**: both one-sided tests (TOST, Schuirmann 1987) reject a difference of ``m`` or
     more at the 5 % level, i.e. the 90 % interval lies inside ``(−m, +m)``. The margin ``m`` says what
     difference would not matter, and it is declared *before* looking at the results;
   * **inconclusive**: neither, the data cannot tell (an interval that straddles 0 is not evidence of
     "no difference": it is absence of evidence).

With 3 seeds, ``t_{0.975, 2} = 4.30``, so only a difference that is large against its spread is called.
Rules such as "better on every seed" are weaker than they look: with 3 seeds a coin flip wins all three
one time in eight. When one question is asked of many pairs (five decoders against one), some interval
will exclude 0 by luck; :func:`holm` corrects a family of comparisons (Holm 1979) so that the chance of
any false "better" stays at 5 %.

>>> from fusion_course.stats import compare, holm
>>> c = compare([0.79, 0.80, 0.78], [0.70, 0.71, 0.70], names=("fused", "deep-only"))
>>> c.verdict
'fused better than deep-only'
>>> print(c)  # doctest: +NORMALIZE_WHITESPACE
fused − deep-only: +0.087, 95 % CI [+0.072, +0.101] over 3 paired seeds → fused better than deep-only
>>> e = compare([0.801, 0.795, 0.790, 0.805], [0.799, 0.797, 0.792, 0.801], names=("sum", "concat"), margin=0.01)
>>> e.verdict
'sum equivalent to concat within ±0.01'
>>> [x.verdict for x in holm([c, e])]
['fused better than deep-only', 'sum equivalent to concat within ±0.01']
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Comparison", "compare", "holm", "mean_ci", "mean_sd", "t_quantile", "t_sf"]


def t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (scipy's ``t.ppf``)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df >= 1), got df={df}")
    from scipy.stats import t  # scipy comes with scikit-learn; imported here to keep the package light

    return float(t.ppf(q, df))


def t_sf(x: float, df: int) -> float:
    """``P(T > x)`` for Student's t with ``df`` degrees of freedom (scipy's ``t.sf``)."""
    from scipy.stats import t

    return float(t.sf(x, df))


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
    """A paired comparison of two models over the same seeds (built by :func:`compare`).

    ``p_diff`` is the two-sided p-value of "the mean difference is 0"; ``p_equiv`` the TOST p-value of
    "the difference is at least ``margin``" (``None`` without a margin). :func:`holm` replaces both by
    their family-adjusted values; ``verdict`` reads them, so it never contradicts them.
    """

    names: tuple[str, str]
    a: tuple[float, ...]
    b: tuple[float, ...]
    diff: float                # mean of a_s - b_s
    low: float                 # confidence interval of the mean difference
    high: float
    confidence: float
    higher_is_better: bool
    margin: float | None = None       # equivalence margin, declared before looking
    p_diff: float = 1.0
    p_equiv: float | None = None
    alpha: float = 0.05
    adjusted: bool = False            # True once holm() has corrected p_diff and p_equiv for a family

    @property
    def n(self) -> int:
        return len(self.a)

    @property
    def better(self) -> str | None:
        """The name of the better model, or None when the data do not support a difference."""
        if self.p_diff >= self.alpha or self.diff == 0:
            return None
        a_wins = (self.diff > 0) == self.higher_is_better
        return self.names[0] if a_wins else self.names[1]

    @property
    def supported(self) -> bool:
        """True when the data support a difference (the interval excludes 0, after correction if any)."""
        return self.better is not None

    @property
    def equivalent(self) -> bool:
        """True when both one-sided tests reject a difference of ``margin`` or more."""
        return self.margin is not None and self.p_equiv is not None and self.p_equiv < self.alpha

    @property
    def word(self) -> str:
        """The verdict for the first model in one word: better, worse, equivalent or inconclusive."""
        if self.better is not None:
            return "better" if self.better == self.names[0] else "worse"
        return "equivalent" if self.equivalent else "inconclusive"

    @property
    def verdict(self) -> str:
        a, b = self.names
        word = self.word
        if word in ("better", "worse"):
            return f"{a} {word} than {b}"
        if word == "equivalent":
            return f"{a} equivalent to {b} within ±{self.margin:g}"
        return f"inconclusive between {a} and {b}"

    def __str__(self) -> str:
        a, b = self.names
        pct = f"{100 * self.confidence:g} %"
        # The interval is the plain 95 % one; after holm() the verdict reads the family-adjusted p-value.
        holm_note = ""
        if self.adjusted:
            holm_note = f", Holm-adjusted p {self.p_diff:.2g}"
            if self.p_equiv is not None:
                holm_note += f" (equivalence p {self.p_equiv:.2g})"
        return (f"{a} − {b}: {self.diff:+.3f}, {pct} CI [{self.low:+.3f}, {self.high:+.3f}] "
                f"over {self.n} paired seeds{holm_note} → {self.verdict}")


def compare(a: Sequence[float], b: Sequence[float], *, names: tuple[str, str] = ("A", "B"),
            higher_is_better: bool = True, confidence: float = 0.95,
            margin: float | None = None) -> Comparison:
    """Compare two models' scores over the same seeds: paired difference, t interval, verdict.

    Args:
        a, b: one score per seed, in the same seed order (``a[i]`` and ``b[i]`` share seed ``i``).
        names: how the verdict names the two models.
        higher_is_better: False for errors and losses (MAE, loss), where lower wins.
        confidence: coverage of the interval (0.95 gives the usual 95 % interval; the tests use
            ``alpha = 1 - confidence``).
        margin: the equivalence margin ``m`` (> 0, in the metric's units), declared before looking. With it,
            a difference the data cannot call is tested for equivalence: both one-sided t tests (TOST)
            of ``mean(d) ≤ −m`` and ``mean(d) ≥ +m``, whose larger p-value is ``p_equiv``.
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores need one value per seed for both models, got {len(a)} and {len(b)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if margin is not None and not margin > 0:
        raise ValueError(f"an equivalence margin must be positive, got {margin}")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    mean, low, high = mean_ci(diffs, confidence)
    n = len(diffs)
    _, sd = mean_sd(diffs)
    se = sd / math.sqrt(n)
    df = n - 1
    if se > 0:
        p_diff = min(1.0, 2 * t_sf(abs(mean) / se, df))
        p_equiv = None if margin is None else max(t_sf((mean + margin) / se, df), t_sf((margin - mean) / se, df))
    else:   # every seed gave the same difference: the t statistic is infinite
        p_diff = 0.0 if mean != 0 else 1.0
        p_equiv = None if margin is None else (0.0 if abs(mean) < margin else 1.0)
    return Comparison(tuple(names), tuple(map(float, a)), tuple(map(float, b)), mean, low, high,
                      confidence, higher_is_better, margin, p_diff, p_equiv, 1 - confidence)


def _holm_adjust(ps: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: sorted ascending, ``p_(i) · (k − i)``, made monotone, capped at 1."""
    k = len(ps)
    order = sorted(range(k), key=lambda i: ps[i])
    adjusted, running = [0.0] * k, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """Correct a family of comparisons for multiplicity (Holm 1979): the same comparisons, adjusted.

    Asking "is A better than B?" of k pairs at the 5 % level gives up to k chances of a false "better";
    Holm's step-down procedure multiplies the smallest p-value by k, the next by k − 1, and so on, keeping
    the chance of *any* false claim in the family at 5 % (it is never less powerful than Bonferroni). The
    differences and equivalence p-values are corrected separately, as two families.

    >>> from fusion_course.stats import compare, holm
    >>> c = [compare([0.80, 0.825, 0.81], [0.78, 0.79, 0.79]), compare([0.70, 0.71, 0.74], [0.70, 0.70, 0.70])]
    >>> [round(x.p_diff, 3) for x in c], [round(x.p_diff, 3) for x in holm(c)]
    ([0.038, 0.3], [0.075, 0.3])
    >>> [x.word for x in c], [x.word for x in holm(c)]
    (['better', 'inconclusive'], ['inconclusive', 'inconclusive'])
    """
    from dataclasses import replace

    comparisons = list(comparisons)
    p_diff = _holm_adjust([c.p_diff for c in comparisons])
    with_margin = [i for i, c in enumerate(comparisons) if c.p_equiv is not None]
    p_equiv = dict(zip(with_margin, _holm_adjust([comparisons[i].p_equiv for i in with_margin])))
    return [replace(c, p_diff=p_diff[i], p_equiv=p_equiv.get(i, c.p_equiv), adjusted=True)
            for i, c in enumerate(comparisons)]
