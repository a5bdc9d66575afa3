"""Checks for the exercises of lesson 01 (the fusion formula ``σ(w_1 F_1 + … + w_n F_n)``).

* 1.1 ``fuse(maps, weights, activation)``: the formula for any number of maps and any σ;
* 1.2 ``normalize(raw, how)``: softmax and fast normalisation (EfficientDet, arXiv:1911.09070) over the inputs;
* 1.3 ``concat_channels(maps)``: concatenation along the channel axis;
* 1.4 ``concat_shape(shapes)``: predict the shape of that concatenation without running it;
* 1.5 ``saturation_point(p)``: the ``z`` beyond which the sigmoid is saturated, ``σ(z) > p`` exactly when
  ``z > ln(p / (1 − p))``.

Every check tries several inputs (batch 1, odd and non-square sizes, 1 to 4 maps), compares with a
reference computed here, and says what differs, never the answer.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from ._tools import (EDGE_SHAPES, assert_close, assert_finite, describe, fail, maps, randn, reject_mistake, require,
                     run_answer, unchanged)

__all__ = ["CHECKS"]


_SIGMA: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def check_fuse(fn: Callable[..., Any]) -> str:
    """1.1: ``fn(maps, weights, activation)`` must return ``σ(Σ_i w_i maps[i])``."""
    ex = "1.1"
    cases = [(1, (2, 3, 4, 4)), (2, EDGE_SHAPES[0]), (3, EDGE_SHAPES[1]), (4, EDGE_SHAPES[2])]
    for k, (n, shape) in enumerate(cases):
        feats = maps([shape] * n, seed=10 * k)
        weights = [round(0.7 - 0.55 * i, 2) for i in range(n)]   # includes negative weights from n = 3 on
        z = sum(w * f for w, f in zip(weights, feats))
        for act, sigma in _SIGMA.items():
            with unchanged(ex, feats, hint="compute w_i * F_i as new tensors; do not scale the input maps in place"):
                out = run_answer(ex, fn, feats, list(weights), act, what="fuse",
                           hint="loop over all the maps: the formula must work for any number n of maps")
            if torch.is_tensor(out) and out.shape == z.shape and act != "identity" and torch.allclose(out, z, atol=1e-5):
                fail(ex, f"σ = {act} applied to the weighted sum", "the weighted sum itself (no activation)",
                     "apply the activation named by `activation` to the sum, as the last step")
            _diagnose_fuse(ex, out, feats, weights, act, sigma)
            assert_close(ex, out, sigma(z), f"output for {n} map(s) of shape {shape} with σ = {act}",
                         hint="out = σ(w_1·F_1 + … + w_n·F_n): every map times its own weight, summed, then σ; "
                              "it must work for any number of maps")
    # Weights given as a tensor must work too (learned weights are tensors).
    feats = maps([EDGE_SHAPES[0]] * 3, seed=7)
    w = torch.tensor([0.2, 0.3, 0.5])
    out = run_answer(ex, fn, feats, w, "sigmoid", what="fuse", hint="index the weights, w[i], rather than assuming a list")
    assert_close(ex, out, torch.sigmoid(0.2 * feats[0] + 0.3 * feats[1] + 0.5 * feats[2]),
                 "output with weights given as a tensor", hint="index the weights, w[i], rather than assuming a list")
    return "σ(Σ w_i F_i) for 1 to 4 maps, 4 activations, negative weights, batch 1 and odd sizes; inputs untouched"


def _diagnose_fuse(ex: str, out: Any, feats: list[torch.Tensor], weights: list[float], act: str,
                   sigma: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Name the usual ways of misplacing σ or the sum, each with its own hint."""
    z = sum(w * f for w, f in zip(weights, feats))
    once = f"σ = {act} applied once, to the whole weighted sum"
    reject_mistake(ex, out, sigma(z), sum(sigma(w * f) for w, f in zip(weights, feats)), expected=once,
                   got="σ applied to each term before summing, Σ σ(w_i·F_i)",
                   hint="first add up the weighted maps, z = w_1·F_1 + … + w_n·F_n, then apply σ to z once: "
                        "σ(a) + σ(b) is not σ(a + b)")
    reject_mistake(ex, out, sigma(z), sum(w * sigma(f) for w, f in zip(weights, feats)), expected=once,
                   got="σ applied to each map before weighting, Σ w_i·σ(F_i)",
                   hint="σ is the last step: weight the raw maps, add them up, then apply σ to the sum")
    for other, other_sigma in _SIGMA.items():
        if other != act:
            reject_mistake(ex, out, sigma(z), other_sigma(z), expected=f"σ = {act}, the activation passed in",
                           got=f"σ = {other} applied to the weighted sum",
                           hint="apply the activation the `activation` argument names (identity, relu, sigmoid "
                                "or tanh), not a fixed one")
    reject_mistake(ex, out, sigma(z), sigma(z / len(feats)), expected="σ of the weighted sum",
                   got="σ of the weighted sum divided by the number of maps (a mean)",
                   hint="the formula adds the weighted maps; it does not divide by n (the weights already say "
                        "how much each map counts)")


def _normalize_reference(raw: torch.Tensor, how: str) -> torch.Tensor:
    if how == "softmax":
        return torch.softmax(raw, dim=0)
    w = torch.relu(raw)
    return w / (1e-4 + w.sum(dim=0))


def _diagnose_normalize(ex: str, out: Any, raw: torch.Tensor, how: str, expected: torch.Tensor) -> None:
    """Name the usual mistakes of 1.2: no ε, no relu, the other normalisation, a naive exp."""
    if how == "fast" and bool((raw <= 0).all()) and torch.is_tensor(out) and not bool(torch.isfinite(out).all()):
        fail(ex, f"all-zero fast weights for raw weights {raw.tolist()} (relu makes each 0, and 0 / (ε + 0) = 0)",
             "NaN values (0 / 0)",
             "you divide by Σ_j relu(w_j) alone; add ε = 1e-4 to the denominator, so that when every raw weight "
             "is <= 0 the weights are 0 instead of 0 / 0")
    if how == "fast":
        reject_mistake(ex, out, expected, raw / (1e-4 + raw.sum(dim=0)), expected="fast-normalised weights",
                       got="weights divided by their sum without relu (negative weights stay negative)",
                       hint="fast normalisation clips negative raw weights to 0 first: "
                            "relu(w_i) / (ε + Σ_j relu(w_j))")
    other = _normalize_reference(raw, "fast" if how == "softmax" else "softmax")
    reject_mistake(ex, out, expected, other, expected=f"{how} weights for how={how!r}",
                   got=f"the {'fast' if how == 'softmax' else 'softmax'} normalisation",
                   hint="look at `how`: 'softmax' is exp(w_i)/Σ_j exp(w_j), 'fast' is relu(w_i)/(ε + Σ_j relu(w_j))")
    if how == "softmax":
        assert_finite(ex, out, f"the softmax weights for raw weights of shape {tuple(raw.shape)}",
                      hint="exp(1000) overflows to inf; subtract the largest weight first, or use torch.softmax")


def check_normalize(fn: Callable[..., Any]) -> str:
    """1.2: ``fn(raw, how)`` with ``how`` in {"softmax", "fast"}: normalise over axis 0 (the inputs)."""
    ex = "1.2"
    cases = [
        torch.tensor([1.5, 0.5, 1.0]),                     # sums to 3: normalising must change it
        torch.tensor([2.0, 1.0, -1.5]),                    # a negative weight
        torch.tensor([3.0]),                               # one input
        torch.tensor([1000.0, 999.0, 990.0]),              # large logits: a naive exp overflows
        torch.tensor([-1.0, -0.5, 0.0]),                   # every weight <= 0: fast normalisation needs its ε
        randn(4, 5, seed=3),                               # per-channel: (n inputs, C channels)
        randn(2, 3, seed=4).abs() + 0.1,                   # (n, C) with n < C: the axis matters
    ]
    for how in ("softmax", "fast"):
        for raw in cases:
            raw = raw.clone()
            with unchanged(ex, raw, hint="use torch.relu(w) / torch.softmax(...), which return new tensors, not relu_() or in-place edits"):
                out = run_answer(ex, fn, raw, how, what="normalize", hint="normalise over dim=0, the inputs")
            expected = _normalize_reference(raw, how)
            what = f"{how} weights for raw shape {tuple(raw.shape)}"
            if torch.is_tensor(out) and out.shape == raw.shape and torch.allclose(out.double(), raw.double()):
                fail(ex, f"{how}-normalised weights", "the raw weights unchanged",
                     "the effective weights must sum to 1 over the inputs")
            _diagnose_normalize(ex, out, raw, how, expected)
            if raw.ndim == 2 and torch.is_tensor(out) and out.shape == raw.shape:
                sums = out.sum(dim=0)
                require(ex, torch.allclose(sums, expected.sum(dim=0), atol=1e-3),
                        f"each column (one channel) of the {what} to sum to 1 over the inputs (axis 0)",
                        f"column sums {[round(v, 3) for v in sums.tolist()]}",
                        "normalise along dim=0, the inputs, not along the channels")
            assert_close(ex, out, expected, what,
                         hint="softmax: exp(w_i)/Σ_j exp(w_j); fast: relu(w_i)/(ε + Σ_j relu(w_j)) with ε = 1e-4",
                         atol=1e-5, rtol=1e-4)
    return "softmax and fast normalisation over the inputs: (n,) and (n, C) weights, negatives, large logits; input untouched"


def check_concat(fn: Callable[..., Any]) -> str:
    """1.3: ``fn(maps)`` must concatenate ``(B, C_i, H, W)`` maps along the channel axis."""
    ex = "1.3"
    cases = [
        [(2, 2, 4, 4), (2, 2, 4, 4)],               # equal sizes everywhere: only the values tell the axes apart
        [(1, 3, 5, 7), (1, 2, 5, 7)],
        [(2, 4, 6, 6), (2, 4, 6, 6), (2, 1, 6, 6)],
        [(3, 2, 3, 2), (3, 5, 3, 2)],
    ]
    for k, shapes in enumerate(cases):
        feats = maps(shapes, seed=20 + k)
        with unchanged(ex, feats):
            out = run_answer(ex, fn, feats, what="concat_channels",
                       hint="maps with different channel counts can only be joined along the channel axis, 1")
        expected = torch.cat(feats, dim=1)
        if torch.is_tensor(out) and out.ndim == 5:
            fail(ex, f"a 4-D tensor of shape {tuple(expected.shape)}", f"a 5-D tensor {tuple(out.shape)}",
                 "torch.stack adds a new axis; concatenation joins along an existing one")
        assert_close(ex, out, expected, f"concatenation of maps with shapes {shapes}",
                     hint="(B, C, H, W): batch is axis 0, channels axis 1; fusion concatenates channels")
    return "channel concatenation of 2-3 maps with different channel counts, batch 1 and odd sizes"


def check_concat_shape(fn: Callable[..., Any]) -> str:
    """1.4: ``fn(shapes)`` returns the shape of the channel concatenation and rejects mismatched maps."""
    ex = "1.4"
    cases = [
        [(1, 3, 5, 7), (1, 2, 5, 7)],
        [(2, 16, 8, 8), (2, 32, 8, 8), (2, 64, 8, 8)],
        [(4, 1, 9, 3)],
        [(3, 7, 2, 11), (3, 7, 2, 11)],
    ]
    for shapes in cases:
        out = run_answer(ex, fn, [tuple(s) for s in shapes], what="concat_shape", hint="shapes are (B, C, H, W) tuples")
        expected = tuple(torch.cat([torch.empty(s) for s in shapes], dim=1).shape)
        try:
            got = tuple(int(v) for v in out)
        except TypeError:
            fail(ex, f"a shape like {tuple(expected)} (a tuple of 4 ints)", describe(out))
        require(ex, got == expected, f"shape {expected} for inputs {shapes}", f"{got}",
                "batch, height and width stay; the channel counts add up")
    for bad in ([(2, 3, 8, 8), (2, 3, 8, 7)], [(2, 3, 8, 8), (1, 3, 8, 8)]):
        try:
            out = fn([tuple(s) for s in bad])
        except NotImplementedError:
            raise
        except ValueError:
            continue
        fail(ex, f"ValueError for maps that cannot be concatenated along channels: {bad}",
             f"no error (returned {out!r})", "every dimension except the channels must match; raise ValueError otherwise")
    return "output shapes for 1-3 maps, and a ValueError when batch, height or width differ"


def check_saturation_point(fn: Callable[..., Any]) -> str:
    """1.5: ``fn(p)`` returns the ``z*`` with ``σ(z) > p`` exactly when ``z > z*``: the logit ``ln(p / (1 − p))``."""
    ex = "1.5"
    import math

    for p in (0.99, 0.9, 0.75, 0.999, 0.6, 0.2):
        out = run_answer(ex, fn, p, what="saturation_point(p)", hint="p is a float between 0 and 1")
        try:
            got = float(out)
        except (TypeError, ValueError):
            fail(ex, "one number z*", describe(out), "return a float (or a one-element tensor)")
        expected = math.log(p / (1 - p))
        if abs(got - expected) < 1e-6:
            continue
        mistakes = [
            (p, "p itself: z compared with p instead of σ(z)", "σ(z) > p is a condition on σ(z): solve σ(z*) = p for z*"),
            (1 / (1 + math.exp(-p)), "σ(p): the sigmoid applied, not inverted",
             "you need the z whose sigmoid equals p: the inverse of σ"),
            (math.log(p), "ln(p): the 1 − p part is missing", "from p = 1 / (1 + e^(−z)), solve for e^(−z) first"),
            (-expected, "the right size with the wrong sign", "σ(z) grows with z, so for p > 0.5 the point is positive"),
            (math.atanh(p), "atanh(p): the tanh's inverse", "the sigmoid is not the tanh: σ(z) = 1 / (1 + e^(−z))"),
        ]
        for value, got_text, hint in mistakes:
            if abs(got - value) < 1e-6:
                fail(ex, f"z* for p = {p}", got_text, hint)
        fail(ex, f"z* for p = {p} (σ(z*) = p)", f"{got:.4g}, whose sigmoid is {1 / (1 + math.exp(-got)):.4g}",
             "solve p = 1 / (1 + e^(−z)) for z")
    return "the saturation point for p = 0.2 to 0.999: σ(z) > p exactly when z > z*"


CHECKS = {"1.1": check_fuse, "1.2": check_normalize, "1.3": check_concat, "1.4": check_concat_shape,
          "1.5": check_saturation_point}
