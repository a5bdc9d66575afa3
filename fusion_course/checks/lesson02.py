"""Checks for the exercises of lesson 02 (two maps, one treasure).

* 2.1 ``gated_fuse(a, b, gate_logits)``: a per-sample gate between two maps, ``g·a + (1 − g)·b`` with ``g = σ(logit)``;
* 2.2 ``paired_interval(x, y)``: the paired 95 % t interval of two models' scores over the same seeds, as
  ``fusion_course.stats.compare`` computes it (mean difference, low, high);
* 2.3 ``mistake_kinds(pred, target, num_what)``: the share of predictions with both parts right, only the
  place wrong, only the digit wrong, both wrong, for labels ``where · num_what + what``.

The gate is the simplest form of the gating fusion the newsletter's Hard section mentions (a gated sum as
in ``fusion_course.fusion.GatedFusion`` and AFF, arXiv:2009.14082).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ._tools import EDGE_SHAPES, assert_close, describe, fail, generator, maps, randn, require, run_answer, unchanged

__all__ = ["CHECKS"]


def check_gated_fuse(fn: Callable[..., Any]) -> str:
    """2.1: ``fn(a, b, gate_logits)`` with ``a, b (B, C, H, W)`` and ``gate_logits (B,)``."""
    ex = "2.1"
    # (4, 4, 3, 3): batch == channels, so a gate broadcast over the channel axis is not caught by a shape error.
    shapes = list(EDGE_SHAPES) + [(4, 4, 3, 3)]
    for k, shape in enumerate(shapes):
        a, b = maps([shape, shape], seed=30 + 2 * k)
        logits = randn(shape[0], seed=90 + k) * 2
        with unchanged(ex, a, b, logits):
            out = run_answer(ex, fn, a, b, logits, what="gated_fuse",
                       hint="reshape the (B,) gate to (B, 1, 1, 1) so each sample's gate multiplies that sample only")
        g = torch.sigmoid(logits).view(-1, 1, 1, 1)           # (B,) -> (B, 1, 1, 1)
        expected = g * a + (1 - g) * b
        if torch.is_tensor(out) and out.shape == a.shape:
            raw = logits.view(-1, 1, 1, 1)
            if torch.allclose(out, raw * a + (1 - raw) * b, atol=1e-5):
                fail(ex, "a gate between 0 and 1", "the raw logits used as the gate",
                     "squash the logits with a sigmoid first: g = σ(logit)")
            if torch.allclose(out, (1 - g) * a + g * b, atol=1e-5):
                fail(ex, "g to weigh map a and (1 − g) to weigh map b", "the two maps swapped",
                     "out = g·a + (1 − g)·b")
        assert_close(ex, out, expected, f"gated fusion for maps of shape {shape}",
                     hint="out = g·a + (1 − g)·b, with one gate g = σ(logit) per sample, shape (B, 1, 1, 1)")
    # Extreme gates: a fully open gate gives a, a closed one gives b.
    a, b = maps([(2, 3, 4, 5), (2, 3, 4, 5)], seed=5)
    out = run_answer(ex, fn, a, b, torch.tensor([40.0, -40.0]), what="gated_fuse", hint="keep the gate per sample")
    assert_close(ex, out, torch.stack([a[0], b[1]]), "output for gate logits (+40, −40)",
                 hint="a gate of 1 must return map a, a gate of 0 map b")
    return "σ-gated sum per sample on 5 shapes incl. batch 1 and batch = channels; extreme gates; inputs untouched"


def _paired_reference(x: list[float], y: list[float], t: float) -> tuple[float, float, float]:
    d = torch.tensor(x, dtype=torch.float64) - torch.tensor(y, dtype=torch.float64)
    half = t * float(d.std(unbiased=True)) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean()) - half, float(d.mean()) + half


def check_paired_interval(fn: Callable[..., Any]) -> str:
    """2.2: ``fn(x, y)`` -> ``(mean difference, low, high)``, the paired 95 % t interval of ``x − y``."""
    ex = "2.2"
    from ..stats import t_quantile

    cases = [
        ([0.81, 0.84, 0.79], [0.78, 0.80, 0.77]),                 # 3 seeds, as in lesson 02
        ([0.62, 0.70, 0.66, 0.59, 0.64], [0.61, 0.66, 0.67, 0.55, 0.60]),
        ([0.90, 0.88], [0.91, 0.85]),                             # 2 seeds: t = 12.7
        ([0.50, 0.72, 0.61, 0.55], [0.47, 0.70, 0.58, 0.53]),     # a large seed effect that pairing removes
    ]
    for x, y in cases:
        n = len(x)
        out = run_answer(ex, fn, list(x), list(y), what="paired_interval(x, y)",
                         hint="x and y are lists of scores, one per seed, in the same seed order")
        try:
            got = tuple(float(v) for v in out)
        except (TypeError, ValueError):
            fail(ex, "three numbers (mean difference, low, high)", describe(out))
        require(ex, len(got) == 3, "three numbers (mean difference, low, high)", f"{len(got)} numbers")
        t = t_quantile(0.975, n - 1)
        ref = _paired_reference(x, y, t)
        close = lambda a, b: all(abs(u - v) < 1e-6 for u, v in zip(a, b))  # noqa: E731
        if close(got, ref):
            continue
        mx, my = sum(x) / n, sum(y) / n
        sx = float(torch.tensor(x, dtype=torch.float64).std())
        sy = float(torch.tensor(y, dtype=torch.float64).std())
        unpaired = t * math.sqrt(sx ** 2 / n + sy ** 2 / n)
        d = torch.tensor(x, dtype=torch.float64) - torch.tensor(y, dtype=torch.float64)
        sd0 = float(d.std(unbiased=False))
        mistakes = [
            ((mx - my, mx - my - unpaired, mx - my + unpaired), "an unpaired interval (each model's spread on its own)",
             "take the differences seed by seed, d_s = x_s − y_s, and put the interval on their mean: pairing "
             "removes what a seed does to both models"),
            ((ref[0], ref[0] - t * sd0 / math.sqrt(n), ref[0] + t * sd0 / math.sqrt(n)),
             "the spread computed with ddof=0", "the sample standard deviation divides by n − 1 (ddof=1, unbiased)"),
            ((ref[0], ref[0] - 1.96 * (ref[2] - ref[0]) / t, ref[0] + 1.96 * (ref[2] - ref[0]) / t),
             "the normal quantile 1.96", f"with {n} seeds use Student's t with n − 1 degrees of freedom: "
             "t_quantile(0.975, n - 1)"),
            ((ref[0], ref[0] - (ref[2] - ref[0]) / math.sqrt(n), ref[0] + (ref[2] - ref[0]) / math.sqrt(n)),
             "the spread divided by n instead of √n", "the standard error of a mean is s_d / √n"),
        ]
        for values, got_text, hint in mistakes:
            if close(got, values):
                fail(ex, f"the paired 95 % interval for {n} seeds", got_text, hint)
        fail(ex, f"the paired 95 % interval for x = {x}, y = {y}",
             "(" + ", ".join(f"{v:+.4f}" for v in got) + ")",
             "mean of d_s = x_s − y_s, plus and minus t_quantile(0.975, n − 1) · sd(d) / √n; return (mean, low, high)")
    return "paired t intervals for 2 to 5 seeds, incl. a large seed effect that only pairing removes"


def _kinds_reference(pred: torch.Tensor, target: torch.Tensor, num_what: int) -> torch.Tensor:
    pw, pt = pred // num_what, pred % num_what
    tw, tt = target // num_what, target % num_what
    ok_w, ok_t = pw == tw, pt == tt
    counts = torch.stack([(ok_w & ok_t).sum(), (~ok_w & ok_t).sum(), (ok_w & ~ok_t).sum(), (~ok_w & ~ok_t).sum()])
    return counts.double() / len(target)


def check_mistake_kinds(fn: Callable[..., Any]) -> str:
    """2.3: ``fn(pred, target, num_what)`` -> 4 shares: both right, wrong place only, wrong digit only, both wrong."""
    ex = "2.3"
    g = generator(11)
    cases = []
    for n, num_where, num_what in [(200, 4, 4), (1, 4, 3), (97, 2, 5), (300, 4, 2)]:
        k = num_where * num_what
        target = torch.randint(0, k, (n,), generator=g)
        pred = torch.where(torch.rand(n, generator=g) < 0.5, target, torch.randint(0, k, (n,), generator=g))
        cases.append((pred, target, num_what))
    # A case that tells "place" from "digit": only the digit is ever wrong.
    target = torch.arange(12)
    pred = (target // 3) * 3 + (target + 1) % 3
    cases.append((pred, target, 3))
    for pred, target, num_what in cases:
        with unchanged(ex, pred, target):
            out = run_answer(ex, fn, pred, target, num_what, what="mistake_kinds",
                       hint="pred and target are (N,) tensors of labels where · num_what + what")
        try:
            got = torch.as_tensor([float(v) for v in out], dtype=torch.float64)
        except (TypeError, ValueError):
            fail(ex, "4 numbers (both right, wrong place only, wrong digit only, both wrong)", describe(out))
        require(ex, got.numel() == 4, "4 shares (both right, wrong place only, wrong digit only, both wrong)",
                f"{got.numel()} values")
        expected = _kinds_reference(pred, target, num_what)
        if abs(float(got.sum()) - 1) > 1e-6:
            fail(ex, "shares that add up to 1", f"values adding up to {float(got.sum()):.4g}",
                 "divide the counts by the number of predictions")
        if torch.allclose(got, expected[[0, 2, 1, 3]], atol=1e-9) and not torch.allclose(got, expected, atol=1e-9):
            # Both mistakes give exactly these numbers, so the message names both.
            fail(ex, "the shares in the order [both right, wrong place only, wrong digit only, both wrong], with "
                 "where = label // num_what and what = label % num_what",
                 "the two middle shares swapped: either the shares are in the wrong order, or place and digit are "
                 "decoded the wrong way round", "check both: the order of the list you return, and the decoding "
                 "(the label is where · num_what + what)")
        assert_close(ex, got, expected, f"shares for {len(target)} predictions with num_what = {num_what}",
                     hint="decode both pred and target into (where, what), compare each part, count the 4 cases",
                     atol=1e-9)
    return "the 4 kinds of outcome for 5 prediction sets (1 to 300 samples, num_what 2 to 5); inputs untouched"


CHECKS = {"2.1": check_gated_fuse, "2.2": check_paired_interval, "2.3": check_mistake_kinds}
