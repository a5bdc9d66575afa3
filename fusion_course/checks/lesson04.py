"""Checks for lesson 04 (multi-level fusion).

4.1 ``NormalizedWeightedSum(n)``: a learned weighted sum with fast-normalised weights.
4.2 ``GateFusion(channels, n)``: the TensorFlow article's example 2, fixed (layers built once, gates normalised).
4.3 ``pool_to_coarsest(maps)``: align levels by max pooling them down to the smallest map's size.
4.4 ``top_down(laterals)``: the FPN's top-down pass (Lin et al., arXiv:1612.03144), the inner maps
    ``I_L = lat_L``, ``I_i = lat_i + up(I_{i+1})`` with nearest upsampling.
4.5 ``bifpn_td_node(p_in, p_coarser, raw)``: one top-down BiFPN node (Tan, Pang, Le, arXiv:1911.09070),
    ``(ŵ_1 p_in + ŵ_2 up(p_coarser))`` with fast-normalised weights ``ŵ = relu(w) / (ε + Σ relu(w))``.
4.6 ``sk_weights(branches, w1, b1, w2, b2)``: selective-kernel attention weights (Li et al., arXiv:1903.06586),
    ``softmax over k of W2 relu(W1 GAP(Σ_k U_k) + b1) + b2``, shape ``(B, n, C)``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._tools import assert_close, assert_shape, describe, fail, maps, reject_mistake, require, run_answer, unchanged

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
        if n > 1 and len(params) == n and all(p.numel() == 1 for p in params):
            fail(ex, f"one trainable parameter holding all {n} raw weights, shape ({n},)",
                 f"{n} separate one-number parameters (an nn.ParameterList?)",
                 "keep the raw weights in ONE nn.Parameter of shape (n,): the normalisation needs them as one "
                 "vector, and the exercise asks for a single parameter")
        require(ex, len(params) == 1 and params[0].numel() == n,
                f"exactly one trainable parameter with {n} raw weights (one per input)",
                f"{[tuple(p.shape) for p in params]}",
                "store the raw weights as one nn.Parameter in __init__" + (
                    " (a plain tensor is not trained)" if not params else ""))
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
        raw_gates = torch.sigmoid(logits)
        reject_mistake(ex, a, expected, sum(raw_gates[:, i].view(-1, 1, 1, 1) * x for i, x in enumerate(xs)),
                       expected="gates that sum to one per sample (a weighted average of the levels)",
                       got="the sigmoid gates used as they are, without normalising them",
                       hint="independent sigmoids can sum to anything between 0 and n, which rescales the output; "
                            "make them a weighted average")
        reject_mistake(ex, a, expected, sum(torch.softmax(logits, 1)[:, i].view(-1, 1, 1, 1) * x for i, x in enumerate(xs)),
                       expected="sigmoid gates divided by their sum", got="a softmax over the gate logits",
                       hint="the article's gates are sigmoids: keep them, and normalise by dividing by their sum")
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
        [(1, 3, 10, 10), (1, 2, 7, 7), (1, 4, 4, 4)],            # ratios 2.5 and 1.75: not whole numbers
    ]
    for k, shapes in enumerate(cases):
        xs = maps(shapes, seed=20 + k)
        with unchanged(ex, xs, hint="return new tensors; do not modify the inputs"):
            out = run_answer(ex, fn, xs, what="pool_to_coarsest(maps)")
        require(ex, isinstance(out, (list, tuple)) and len(out) == len(xs), f"a list of {len(xs)} maps",
                f"{type(out).__name__}", "return one pooled map per input")
        small = min(shapes, key=lambda s: s[-1] * s[-2])[-2:]
        for i, (o, x) in enumerate(zip(out, xs)):
            ratio = (x.shape[-2] / small[0], x.shape[-1] / small[1])
            whole = all(float(r).is_integer() for r in ratio)
            assert_shape(ex, o, (x.shape[0], x.shape[1], *small), what=f"pooled map {i}",
                         hint="the target is the SMALLEST map's (H, W), wherever it is in the list" if whole else
                         f"this map is {ratio[0]:g}× the smallest one: a pooling kernel of a whole number of pixels "
                         "cannot give the target size, so pool to the target size itself")
            assert_close(ex, o, F.adaptive_max_pool2d(x, small), what=f"pooled map {i}",
                         hint="use max pooling (the article's choice), not averaging or interpolation")
    return "four cases, smallest map first / middle / last, non-integer size ratios, batch 1 and non-square maps"


# ------------------------------------------------------------------------------------------- 4.4
def _nearest(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=tuple(like.shape[-2:]), mode="nearest")


def _top_down_reference(lat: list[torch.Tensor]) -> list[torch.Tensor]:
    inner = [None] * len(lat)
    inner[-1] = lat[-1]
    for i in range(len(lat) - 2, -1, -1):
        inner[i] = lat[i] + _nearest(inner[i + 1], lat[i])
    return inner


def check_top_down(fn: Callable) -> str:
    ex = "4.4"
    cases = [
        [(2, 3, 16, 16), (2, 3, 8, 8), (2, 3, 4, 4)],                   # exact halves
        [(1, 4, 15, 9), (1, 4, 8, 5), (1, 4, 4, 3), (1, 4, 2, 2)],      # odd sizes: ×2 overshoots
        [(3, 2, 6, 10), (3, 2, 3, 5)],                                  # two levels, batch 3
    ]
    for k, shapes in enumerate(cases):
        lat = maps(shapes, seed=40 + 5 * k)
        with unchanged(ex, lat, hint="build new tensors (inner = lateral + ...), do not add into the laterals in place"):
            out = run_answer(ex, fn, lat, what="top_down(laterals)",
                             hint="upsample each coarser map to exactly its lateral's (H, W): sizes are not always "
                                  "doubles (15 → 8 → 4)")
        require(ex, isinstance(out, (list, tuple)) and len(out) == len(lat), f"a list of {len(lat)} maps, finest first",
                describe(out), "return one inner map per level, in the order of the laterals")
        ref = _top_down_reference(lat)
        next_only = [lat[i] + _nearest(lat[i + 1], lat[i]) for i in range(len(lat) - 1)] + [lat[-1]]
        bilinear = [None] * len(lat)
        bilinear[-1] = lat[-1]
        for i in range(len(lat) - 2, -1, -1):
            bilinear[i] = lat[i] + F.interpolate(bilinear[i + 1], size=tuple(lat[i].shape[-2:]), mode="bilinear",
                                                 align_corners=False)
        for i, (o, r) in enumerate(zip(out, ref)):
            assert_shape(ex, o, tuple(r.shape), what=f"inner map {i}",
                         hint="each inner map has its lateral's size; upsample the coarser map to exactly that "
                              "(H, W): sizes are not always doubles (15 → 8 → 4)")
            reject_mistake(ex, o, r, next_only[i], expected=f"inner map {i} to include every coarser level",
                           got="only the next coarser lateral added",
                           hint="add the upsampled INNER map of the level above (its running sum), not its lateral: "
                                "that is how the coarsest context reaches the finest level")
            reject_mistake(ex, o, r, bilinear[i], expected="nearest-neighbour upsampling, as in the FPN paper and "
                           "torchvision", got="bilinear upsampling", hint="use mode=\"nearest\"")
            if i == len(lat) - 1:
                assert_close(ex, o, r, what="the coarsest inner map",
                             hint="the pass starts at the coarsest level, which has nothing above it: its inner map "
                                  "is its lateral")
            assert_close(ex, o, r, what=f"inner map {i}",
                         hint="go from the coarsest level down: inner_i = lateral_i + up(inner_(i+1)), nearest "
                              "upsampling to lateral_i's size")
    return "2 to 4 levels, exact halves and odd sizes (15 → 8 → 4), batch 1 and 3; inputs untouched"


# ------------------------------------------------------------------------------------------- 4.5
def check_bifpn_node(fn: Callable) -> str:
    ex = "4.5"
    cases = [((2, 4, 8, 8), (2, 4, 4, 4), [0.7, 1.6]),
             ((1, 3, 9, 7), (1, 3, 5, 4), [-0.4, 1.2]),        # a negative raw weight: relu switches it off
             ((3, 2, 6, 6), (3, 2, 3, 3), [1.0, 1.0])]
    for k, (fine, coarse, raw_vals) in enumerate(cases):
        p_in, p_coarse = maps([fine, coarse], seed=60 + 3 * k)
        raw = torch.tensor(raw_vals)
        with unchanged(ex, p_in, p_coarse, raw, hint="build new tensors; do not relu the raw weights in place"):
            out = run_answer(ex, fn, p_in, p_coarse, raw, what="bifpn_td_node(p_in, p_coarser, raw)")
        up = _nearest(p_coarse, p_in)
        w = F.relu(raw)
        expected = (w[0] * p_in + w[1] * up) / (EPS + w.sum())
        assert_shape(ex, out, fine, what="the node's output",
                     hint="the node's output has the finer input's size: upsample the coarser map to it")
        s = torch.softmax(raw, 0)
        reject_mistake(ex, out, expected, s[0] * p_in + s[1] * up,
                       expected="fast normalisation relu(w_i) / (ε + Σ relu(w_j))", got="softmax-normalised weights",
                       hint="BiFPN replaces the softmax by relu and a division by the sum (cheaper, and a weight can "
                            "be exactly 0)")
        reject_mistake(ex, out, expected, (raw[0] * p_in + raw[1] * up) / (EPS + raw.sum()),
                       expected="a negative raw weight to count as 0", got="the raw weights divided by their sum, "
                       "without relu", hint="apply relu to the raw weights before normalising them")
        reject_mistake(ex, out, expected, w[0] * p_in + w[1] * up,
                       expected="weights that sum to one", got="relu(w) used without dividing by the sum",
                       hint="divide by ε + Σ relu(w_j)")
        reject_mistake(ex, out, expected, (w[0] * p_in + w[1] * F.interpolate(p_coarse, size=fine[-2:], mode="bilinear",
                                                                              align_corners=False)) / (EPS + w.sum()),
                       expected="nearest-neighbour upsampling", got="bilinear upsampling",
                       hint="BiFPN's top-down nodes upsample with mode=\"nearest\"")
        assert_close(ex, out, expected, what=f"the node's output (raw weights {raw_vals})",
                     hint="ŵ = relu(w) / (1e-4 + Σ relu(w)); output = ŵ_1·p_in + ŵ_2·up(p_coarser), nearest "
                          "upsampling to p_in's size")
    # Training can push every raw weight to <= 0: ε must keep 0 / 0 away.
    p_in, p_coarse = maps([(1, 2, 4, 4), (1, 2, 2, 2)], seed=70)
    out = run_answer(ex, fn, p_in, p_coarse, torch.tensor([-1.0, 0.0]), what="bifpn_td_node(p_in, p_coarser, raw)")
    if torch.is_tensor(out) and not bool(torch.isfinite(out).all()):
        fail(ex, "an all-zero output when every raw weight is <= 0", "NaN values (0 / 0)",
             "keep ε = 1e-4 in the denominator")
    assert_close(ex, out, torch.zeros_like(p_in), what="the output when every raw weight is <= 0",
                 hint="negative raw weights count as 0, so both weights and the output are 0")
    return "3 nodes incl. batch 1, odd sizes and a negative raw weight; all weights <= 0 gives 0, not NaN"


# ------------------------------------------------------------------------------------------- 4.6
def check_sk_weights(fn: Callable) -> str:
    """4.6: ``fn(branches, w1, b1, w2, b2)`` -> ``(B, n, C)`` SK weights, softmax over the branches."""
    ex = "4.6"
    for k, (n, shape, hidden) in enumerate([(3, (2, 6, 5, 5), 4), (2, (1, 4, 7, 3), 3), (4, (3, 5, 4, 6), 2)]):
        b, c = shape[0], shape[1]
        torch.manual_seed(80 + k)
        w1, b1 = torch.randn(hidden, c), torch.randn(hidden) * 0.5            # squeeze: C -> d
        w2, b2 = torch.randn(n * c, hidden), torch.randn(n * c) * 0.5         # excite: d -> n·C
        branches = maps([shape] * n, seed=90 + 7 * k)
        with unchanged(ex, branches, w1, b1, w2, b2):
            out = run_answer(ex, fn, branches, w1, b1, w2, b2, what="sk_weights(branches, w1, b1, w2, b2)")

        def logits_of(pooled: torch.Tensor) -> torch.Tensor:
            return F.linear(F.relu(F.linear(pooled, w1, b1)), w2, b2)          # (B, n*C)

        s = sum(branches).mean(dim=(2, 3))                                     # (B, C)
        logits = logits_of(s).view(b, n, c)                                    # (B, n, C)
        expected = logits.softmax(dim=1)
        wrong = {
            "softmax over the channels": (logits.softmax(dim=2), "weights that sum to one over the branches, for every "
                                          "channel", "the branches compete channel by channel: softmax over the branch axis"),
            "independent sigmoids": (torch.sigmoid(logits), "a softmax across the branches",
                                     "sigmoids are SE's independent gates; SK makes the branches compete with a softmax"),
            "the logits read as (B, C, n)": (logits_of(s).view(b, c, n).softmax(dim=2).transpose(1, 2),
                                             "the excite output read as (B, n, C)",
                                             "the first C values belong to branch 1, the next C to branch 2, ..."),
            "the mean of the branches pooled": (logits_of(s / n).view(b, n, c).softmax(dim=1), "the SUM of the branches "
                                                "pooled", "squeeze GAP(U_1 + … + U_n); the ReLU makes the mean give "
                                                "different weights"),
            "no ReLU in the squeeze": (F.linear(F.linear(s, w1, b1), w2, b2).view(b, n, c).softmax(dim=1),
                                       "z = relu(W1 s + b1)", "the squeeze is a linear layer followed by a ReLU"),
        }
        require(ex, torch.is_tensor(out), f"a tensor of shape {(b, n, c)}", describe(out), "return the weights a")
        assert_shape(ex, out, (b, n, c), what="the weights",
                     hint="one weight per sample, branch and channel: (B, n, C)")
        for name, (mistake, expected_text, hint) in wrong.items():
            reject_mistake(ex, out, expected, mistake, expected=expected_text, got=name, hint=hint)
        assert_close(ex, out, expected, what=f"the weights for {n} branches of shape {shape}",
                     hint="a = softmax over the branches of W2 relu(W1 GAP(Σ_k U_k) + b1) + b2, read as (B, n, C)")
    return "2 to 4 branches, batch 1 and 3, odd sizes; softmax over branches, per channel; inputs untouched"


CHECKS = {"4.1": check_weighted, "4.2": check_gates, "4.3": check_pool, "4.4": check_top_down,
          "4.5": check_bifpn_node, "4.6": check_sk_weights}

