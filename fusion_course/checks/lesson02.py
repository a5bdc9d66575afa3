"""Checks for the exercises of lesson 02 (two maps, one treasure).

* 2.1 ``gated_fuse(a, b, gate_logits)``: a per-sample gate between two maps, ``g·a + (1 − g)·b`` with ``g = σ(logit)``;
* 2.2 ``accuracy_from_confusion(cm)``: accuracy from a confusion matrix (rows = true class, columns = predicted);
* 2.3 ``mistake_kinds(pred, target, num_what)``: the share of predictions with both parts right, only the
  place wrong, only the digit wrong, both wrong, for labels ``where · num_what + what``.

The gate is the simplest form of the gating fusion the newsletter's Hard section mentions (a gated sum as
in ``fusion_course.fusion.GatedFusion`` and AFF, arXiv:2009.14082).
"""
from __future__ import annotations

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


def _as_float(ex: str, value: Any, what: str) -> float:
    if torch.is_tensor(value):
        if value.numel() != 1:
            fail(ex, f"{what} as one number", describe(value), "reduce to a single number (a float)")
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        fail(ex, f"{what} as a number", describe(value), "return a float")


def check_accuracy_from_confusion(fn: Callable[..., Any]) -> str:
    """2.2: ``fn(cm)`` with ``cm[i, j]`` = number of samples of true class i predicted as j."""
    ex = "2.2"
    g = generator(7)
    cases = [
        torch.tensor([[50, 0], [0, 50]]),
        torch.tensor([[90, 10], [5, 5]]),                          # imbalanced: accuracy ≠ mean recall
        torch.tensor([[3, 1, 0], [2, 8, 4], [0, 0, 1]]),          # not symmetric: rows and columns differ
        torch.randint(0, 20, (16, 16), generator=g),
        torch.tensor([[7]]),
    ]
    for cm in cases:
        before = cm.clone()
        out = run_answer(ex, fn, cm, what="accuracy_from_confusion", hint="cm is a (K, K) tensor of counts")
        require(ex, torch.equal(cm, before), "the confusion matrix left unchanged", "it was modified in place",
                "compute new values instead of editing cm")
        got = _as_float(ex, out, "the accuracy")
        expected = float(cm.diagonal().sum()) / float(cm.sum())
        recall = (cm.diagonal().double() / cm.sum(1).clamp(min=1).double()).mean().item()
        if abs(got - expected) > 1e-6 and abs(got - recall) < 1e-6:
            fail(ex, f"accuracy {expected:.4f} for a {tuple(cm.shape)} matrix", f"{got:.4f}, the mean per-class recall",
                 "accuracy counts every sample once: correct predictions over all predictions")
        require(ex, abs(got - expected) < 1e-6, f"accuracy {expected:.4f} for a {tuple(cm.shape)} matrix",
                f"{got:.4f}", "correct predictions sit on the diagonal; divide by the number of samples, the sum of all entries")
    return "accuracy from 1×1 to 16×16 confusion matrices, imbalanced classes included"


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
            fail(ex, "place and digit decoded as where = label // num_what, what = label % num_what",
                 "place and digit swapped", "the label is where · num_what + what")
        assert_close(ex, got, expected, f"shares for {len(target)} predictions with num_what = {num_what}",
                     hint="decode both pred and target into (where, what), compare each part, count the 4 cases",
                     atol=1e-9)
    return "the 4 kinds of outcome for 5 prediction sets (1 to 300 samples, num_what 2 to 5); inputs untouched"


CHECKS = {"2.1": check_gated_fuse, "2.2": check_accuracy_from_confusion, "2.3": check_mistake_kinds}
