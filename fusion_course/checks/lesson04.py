"""Checks for lesson 04 (multi-level fusion).

4.1 ``NormalizedWeightedSum(n)``: a learned weighted sum with fast-normalised weights.
4.2 ``GateFusion(channels, n)``: the TensorFlow article's example 2, fixed (layers built once, gates normalised).
4.3 ``pool_to_coarsest(maps)``: align levels by max pooling them down to the smallest map's size.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._tools import assert_close, assert_shape, fail, maps, require, run_answer, unchanged

EPS = 1e-4


def _build(ex: str, cls: Any, *args: Any, name: str) -> nn.Module:
    require(ex, isinstance(cls, type) and issubclass(cls, nn.Module), f"the class {name} (an nn.Module subclass)",
            f"{type(cls).__name__}", f"pass the class itself: check(\"{ex}\", {name})")
    try:
        return cls(*args)
    except TypeError as err:
        fail(ex, f"{name}{args} to build the module", f"TypeError: {err}", "keep the constructor's signature")


# ------------------------------------------------------------------------------------------- 4.1
def check_weighted(cls: Any) -> str:
    ex = "4.1"
    for n, shape in [(3, (2, 4, 6, 6)), (2, (1, 3, 5, 7)), (4, (3, 2, 4, 9))]:
        torch.manual_seed(0)
        fuse = _build(ex, cls, n, name="NormalizedWeightedSum")
        params = [p for p in fuse.parameters() if p.requires_grad]
        require(ex, len(params) == 1 and params[0].numel() == n,
                f"exactly one trainable parameter with {n} raw weights (one per input)",
                f"{[tuple(p.shape) for p in params]}",
                "store the raw weights as nn.Parameter in __init__ (a plain tensor is not trained)")
        raw = params[0]
        start = raw.detach().flatten()
        require(ex, bool((start > 0).all()) and bool(torch.allclose(start, start[0].expand_as(start))),
                "raw weights that start equal and positive (every level starts with weight ≈ 1/n)",
                f"{[round(v, 3) for v in start.tolist()]}", "initialise them with torch.ones(n)")
        xs = maps([shape] * n, seed=n)
        # 1) at the start, every input counts the same: n copies of one map return that map
        with unchanged(ex, xs):
            out = run_answer(ex, fuse, [xs[0]] * n, what="fuse([x] * n)")
        assert_close(ex, out, xs[0], what="fusing n copies of one map", atol=1e-3,
                     hint="normalised weights sum to one, so n copies of a map must give the map back; start "
                          "all raw weights at the same positive value (e.g. ones)")
        # 2) set the raw weights (some negative) and compare with the formula
        with torch.no_grad():
            vals = torch.linspace(-0.5, 2.0, n)
            raw.copy_(vals.view_as(raw))
        w = F.relu(vals)
        w = w / (EPS + w.sum())
        expected = sum(wi * x for wi, x in zip(w, xs))
        out = run_answer(ex, fuse, xs, what="fuse(maps)")
        assert_close(ex, out, expected, what=f"output with raw weights {[round(v, 2) for v in vals.tolist()]}",
                     hint="w = relu(raw) / (1e-4 + sum(relu(raw))), then sum w_i * maps[i]; negative raw "
                          "weights must count as 0")
        # 2b) every raw weight <= 0 (training can get there): relu zeroes them all and ε keeps 0 / 0 away
        with torch.no_grad():
            raw.copy_(torch.linspace(-1.0, 0.0, n).view_as(raw))
        out = run_answer(ex, fuse, xs, what="fuse(maps)")
        if torch.is_tensor(out) and not bool(torch.isfinite(out).all()):
            fail(ex, "an all-zero output when every raw weight is <= 0", "NaN values (0 / 0)",
                 "add ε = 1e-4 to the denominator: relu(raw) / (1e-4 + Σ relu(raw))")
        assert_close(ex, out, torch.zeros_like(xs[0]), what="output when every raw weight is <= 0",
                     hint="negative raw weights count as 0 (relu), so the weights and the output are all 0")
        # 3) gradients reach the raw weights. At positive, unequal raw weights and against a random target,
        # every raw weight has a clearly non-zero gradient (at [-0.5, 2] it would be 0 up to ε).
        _check_gradients(ex, fuse, raw, xs, seed=n)
    return "n = 3, 2, 4 inputs incl. batch 1 and odd sizes; relu + normalisation; gradients reach the weights"


def _check_gradients(ex: str, fuse: nn.Module, raw: nn.Parameter, xs: list[torch.Tensor], seed: int) -> None:
    """The raw weights' gradient must equal the formula's, at a configuration where it is far from 0."""
    n = len(xs)
    with torch.no_grad():
        raw.copy_(torch.linspace(0.5, 1.5, n).view_as(raw))
    target = maps([xs[0].shape], seed=100 + seed)[0]
    ref_raw = raw.detach().flatten().clone().requires_grad_(True)
    w = F.relu(ref_raw)
    w = w / (EPS + w.sum())
    (sum(wi * x for wi, x in zip(w, xs)) * target).sum().backward()
    raw.grad = None
    try:
        (run_answer(ex, fuse, xs, what="fuse(maps)") * target).sum().backward()
    except RuntimeError as err:
        if isinstance(err, NotImplementedError):
            raise
        fail(ex, "backward() through your module to work", f"RuntimeError: {str(err).splitlines()[0][:160]}",
             "compute the weights from the parameter with torch operations (no .item(), no detach)")
    require(ex, raw.grad is not None and bool(torch.isfinite(raw.grad).all()) and bool(raw.grad.abs().sum() > 0),
            "a gradient on the raw weights after backward()", "no gradient",
            "compute the weights from the parameter with torch operations (no .item(), no detach)")
    assert_close(ex, raw.grad.flatten(), ref_raw.grad, what=f"gradient of the raw weights (raw = "
                 f"{[round(v, 2) for v in ref_raw.tolist()]})", atol=1e-4, rtol=1e-3,
                 hint="the gradient flows through relu and the division by (1e-4 + Σ relu(raw)): compute the "
                      "weights from the parameter in forward, every call")


# ------------------------------------------------------------------------------------------- 4.2
def check_gates(cls: Any) -> str:
    ex = "4.2"
    for c, n, shape in [(8, 2, (2, 8, 6, 6)), (5, 3, (1, 5, 7, 3)), (4, 4, (3, 4, 5, 5))]:
        torch.manual_seed(1)
        fuse = _build(ex, cls, c, n, name="GateFusion")
        linears = [m for m in fuse.modules() if isinstance(m, nn.Linear)]
        require(ex, len(linears) == n, f"{n} nn.Linear gate layers built in __init__ (one per level)",
                f"{len(linears)}", "create the Dense/Linear layers once, in __init__ (e.g. an nn.ModuleList); "
                "layers made inside forward are new random layers on every call and are never trained")
        for lin in linears:
            require(ex, tuple(lin.weight.shape) == (1, c) and lin.bias is None,
                    f"each gate Linear({c}, 1, bias=False), like the article's Dense(1, use_bias=False)",
                    f"weight {tuple(lin.weight.shape)}, bias {'yes' if lin.bias is not None else 'no'}")
        xs = maps([shape] * n, seed=c + n)
        with unchanged(ex, xs):
            a = run_answer(ex, fuse, xs, what="fuse(maps)")
        b = run_answer(ex, fuse, xs, what="fuse(maps)")
        assert_shape(ex, a, shape, what="fuse(maps)")
        assert_close(ex, b, a, what="a second call on the same input",
                     hint="the same input must give the same output: build every layer in __init__")
        logits = torch.cat([lin(x.mean(dim=(2, 3))) for lin, x in zip(linears, xs)], dim=1)     # (B, n)
        g = torch.sigmoid(logits)
        g = g / g.sum(dim=1, keepdim=True)
        expected = sum(g[:, i].view(-1, 1, 1, 1) * x for i, x in enumerate(xs))
        assert_close(ex, a, expected, what="fuse(maps)",
                     hint="g_i = sigmoid(gate_i(mean of map i over H and W)), divided by the sum of the gates of "
                          "the same sample, then sum g_i * map_i; gate i belongs to level i")
        same = run_answer(ex, fuse, [xs[0]] * n, what="fuse([x] * n)")
        assert_close(ex, same, xs[0], what="fusing n copies of one map",
                     hint="normalised gates sum to one per sample")
    return "2, 3, 4 levels incl. batch 1 and odd sizes; layers built once; gates normalised per sample"


# ------------------------------------------------------------------------------------------- 4.3
def check_pool(fn: Callable) -> str:
    ex = "4.3"
    cases = [
        [(1, 4, 16, 16), (1, 8, 8, 8), (1, 2, 4, 4)],
        [(2, 3, 6, 9), (2, 5, 12, 18), (2, 6, 24, 36)],          # the smallest map comes first
        [(3, 2, 10, 6), (3, 4, 5, 3), (3, 1, 20, 12)],           # smallest in the middle, odd, non-square
    ]
    for k, shapes in enumerate(cases):
        xs = maps(shapes, seed=20 + k)
        with unchanged(ex, xs, hint="return new tensors; do not modify the inputs"):
            out = run_answer(ex, fn, xs, what="pool_to_coarsest(maps)")
        require(ex, isinstance(out, (list, tuple)) and len(out) == len(xs), f"a list of {len(xs)} maps",
                f"{type(out).__name__}", "return one pooled map per input")
        small = min(shapes, key=lambda s: s[-1] * s[-2])[-2:]
        for i, (o, x) in enumerate(zip(out, xs)):
            assert_shape(ex, o, (x.shape[0], x.shape[1], *small), what=f"pooled map {i}",
                         hint="the target is the SMALLEST map's (H, W), wherever it is in the list")
            assert_close(ex, o, F.adaptive_max_pool2d(x, small), what=f"pooled map {i}",
                         hint="use max pooling (the article's choice), not averaging or interpolation")
    return "three cases, smallest map first / middle / last, incl. batch 1 and non-square maps"


CHECKS = {"4.1": check_weighted, "4.2": check_gates, "4.3": check_pool}
