"""Checks for lesson 08 (FusionNet): count a residual block, read the published gates, fuse at the finest level,
build a parameter-matched control.

* 8.1 ``residual_block_params(in_channels, out_channels) -> int``: the parameters of FusionNet's
  residual block (two 3×3 convs with bias + BN, a 1×1 conv with bias + BN shortcut when the channel
  counts differ), compared with the real module on several channel pairs.
* 8.2 ``gate_summary(gates) -> (openness, shares)``: the published model's per-pixel level gates ``(B, L, H, W)``
  read two ways: how open they are (the per-pixel sum over the levels, averaged) and how they mix the levels
  (the per-pixel share ``g_l / Σ g``, averaged over the pixels whose gates are not all 0). Checked on fresh,
  closed (as after training), partly zero and saturated gates; named mistakes: raw gate means, a ratio of means,
  a softmax, NaN where all gates are 0, the openness as a mean or a maximum.
* 8.3 ``fuse_at_finest(maps, weights) -> (B, C, H, W)``: bilinear upsampling of every map to the
  largest map's size, then ``Σ_i w_i · map_i``.
* 8.4 ``matched_width(target_params) -> float``: the width at which ``build_variant("normalized", 1, 12,
  width=w)`` (lesson 08's ablation: 1 input channel, 12 classes) has within 2 % of ``target_params`` parameters: the control that tells "this variant lost a
  branch" from "this variant lost parameters". Checked by building the model at the returned width for
  four targets (the ablation's "without b4" among them), below and above the ablation's own size. Named
  mistakes: the ablation's width unchanged (no control), the width scaled like the parameters (they grow
  with about the square of the width), the ratio inverted, a parameter count returned instead of a width.
"""
from __future__ import annotations

import math
import numbers
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._tools import assert_close, assert_module, assert_shape, call, describe, fail, maps, randn, require, unchanged


# ----------------------------------------------------------------------------- 8.1
@contextmanager
def _modules_built(names: list[str]):
    """Record the class name of every ``nn.Module`` constructed inside the block (8.1 is counted by hand)."""
    original = nn.Module.__init__

    def spy(self, *args, **kwargs):
        names.append(type(self).__name__)
        original(self, *args, **kwargs)

    nn.Module.__init__ = spy
    try:
        yield names
    finally:
        nn.Module.__init__ = original


def check_residual_block_params(fn: Any) -> str:
    """Compare the learner's count with ``ResidualBlock(in, out)`` for several channel pairs."""
    from ..models.fusionnet import ResidualBlock

    ex = "8.1"
    if not callable(fn):
        fail(ex, "a function residual_block_params(in_channels, out_channels)", describe(fn),
             "pass the function itself to check(...)")
    pairs = [(32, 64), (256, 512), (64, 64), (3, 5), (7, 7), (1, 2)]
    for cin, cout in pairs:
        with _modules_built([]) as built:
            got = call(ex, fn, cin, cout, what="residual_block_params")
        if built:
            fail(ex, "a count made by hand, from the layers' shapes", f"a function that builds {built[0]} and asks "
                 "PyTorch", "the exercise is to predict the count before PyTorch does: add up each layer's weights, "
                 "biases and BatchNorm parameters from the channel counts")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        require(ex, isinstance(got, int) and not isinstance(got, bool), "an int",
                describe(got), "return the number of parameters as a Python int")
        true = sum(p.numel() for p in ResidualBlock(cin, cout).parameters())
        if got != true:
            same = cin == cout
            hint = ("when in_channels == out_channels the shortcut is the identity: no 1×1 conv, no BN"
                    if same else
                    "list every layer: each 3×3 conv's weights AND its bias; BatchNorm has 2 learnable numbers per "
                    "channel (γ and β; the running mean/var are buffers); the 1×1 shortcut conv has a bias and its "
                    "own BatchNorm")
            fail(ex, f"residual_block_params({cin}, {cout}) to match the real block", f"{got} (off by {got - true:+d})",
                 hint)
    return "residual block counts match for 6 channel pairs, identity and projection shortcuts"


# ----------------------------------------------------------------------------- 8.2
def _gate_reference(gates: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(openness, shares): the mean per-pixel sum of the gates, and the mean per-pixel share of each level."""
    total = gates.sum(dim=1, keepdim=True)                        # (B, 1, H, W)
    valid = (total > 0).expand_as(gates)
    shares = torch.where(valid, gates / total.clamp_min(torch.finfo(gates.dtype).tiny), torch.zeros_like(gates))
    n_valid = (total > 0).sum()
    return float(total.mean()), shares.sum(dim=(0, 2, 3)) / n_valid


def _gate_cases() -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(8)
    mixing = torch.sigmoid(torch.randn(2, 4, 4, 4, generator=g))                        # a fresh model's gates
    closed = torch.sigmoid(torch.randn(3, 4, 4, 4, generator=g) - 9.0)                  # sums ≈ 0.001, as trained
    closed[0, 1, 2, 3] = 0.9                                                            # one pixel left open
    zeros = torch.sigmoid(torch.randn(1, 3, 3, 5, generator=g) * 2)                     # 3 levels, non-square
    zeros[0, :, 1, 2] = 0.0                                                             # float32 underflow: all 0
    zeros[0, :, 2, 4] = 0.0
    saturated = torch.sigmoid(torch.randn(2, 4, 2, 2, generator=g) + 6.0)               # all ≈ 1
    return [("gates of a fresh model", mixing), ("closed gates with one open pixel", closed),
            ("gates with pixels where all are 0", zeros), ("saturated gates", saturated)]


def _gate_mistakes(gates: torch.Tensor) -> dict[str, tuple[Any, str]]:
    mean_gate = gates.mean(dim=(0, 2, 3))
    total = gates.sum(dim=1, keepdim=True)
    return {
        "raw": (mean_gate, "those are the raw gates' means: their size says how open the gates are, not how the "
                           "levels are mixed; a share divides each gate by the sum over the levels at its pixel"),
        "ratio of means": (mean_gate / mean_gate.sum(), "those are the shares of the averaged gates; average the "
                           "per-pixel shares instead: with closed gates, one pixel still open would decide a ratio "
                           "of means on its own"),
        "softmax": (torch.softmax(gates, dim=1).mean(dim=(0, 2, 3)), "a softmax of the gates is another mix (it "
                    "adds e^0 = 1 to every level, so closed gates look equal); the gates are already non-negative: "
                    "divide by their sum"),
        "openness as mean": (float(gates.mean()), "the openness is the SUM of the gates over the levels at a "
                             "pixel (what scales the fused map), averaged over pixels, not their mean"),
        "openness as max": (float(total.max()), "the openness is averaged over the pixels and images, not their "
                            "maximum"),
    }


def check_gate_summary(fn: Any) -> str:
    """``fn(gates) -> (openness, shares)`` on fresh, closed, partly zero and saturated gates; named wrong readings."""
    ex = "8.2"
    if not callable(fn):
        fail(ex, "a function gate_summary(gates)", describe(fn), "pass the function itself to check(...)")
    for name, gates in _gate_cases():
        with unchanged(ex, gates):
            got = call(ex, fn, gates, what="gate_summary(gates)")
        require(ex, isinstance(got, (tuple, list)) and len(got) == 2, "a pair (openness, shares)", describe(got))
        openness, shares = got
        if isinstance(openness, torch.Tensor) and openness.numel() == 1:
            openness = openness.item()
        require(ex, isinstance(openness, numbers.Real) and not isinstance(openness, bool),
                "the openness as a number", describe(openness))
        require(ex, isinstance(shares, torch.Tensor) and tuple(shares.shape) == (gates.shape[1],),
                f"shares of shape ({gates.shape[1]},), one per level", describe(shares))
        ref_open, ref_shares = _gate_reference(gates)
        mistakes = _gate_mistakes(gates)
        if not torch.isfinite(shares).all():
            fail(ex, f"finite shares for {name}", "NaN or inf", "where every gate of a pixel is 0 its shares are "
                 "0/0: such a pixel mixes nothing, leave it out of the average")
        if not torch.allclose(shares.detach().double(), ref_shares.double(), atol=1e-5):
            for key in ("raw", "ratio of means", "softmax"):
                if torch.allclose(shares.detach().double(), mistakes[key][0].double(), atol=1e-6):
                    fail(ex, f"the mean per-pixel share of each level, {name}", "a different reading", mistakes[key][1])
            total = gates.sum(dim=1, keepdim=True)
            if bool((total == 0).any()):
                fail(ex, f"the mean per-pixel share of each level, {name}", describe(shares),
                     "pixels whose gates are all 0 mix nothing: leave them out of the average (do not count them as "
                     "pixels with zero shares)")
            assert_close(ex, shares, ref_shares, f"shares, {name}",
                         "at every pixel divide each level's gate by the sum over the levels, then average over "
                         "images and pixels", atol=1e-5)
        if not math.isclose(float(openness), ref_open, rel_tol=1e-4, abs_tol=1e-9):
            for key in ("openness as mean", "openness as max"):
                if math.isclose(float(openness), mistakes[key][0], rel_tol=1e-6):
                    fail(ex, f"the openness of {name}", f"{float(openness):.6g}", mistakes[key][1])
            fail(ex, f"the openness of {name}", f"{float(openness):.6g}",
                 "sum the gates over the levels at every pixel, then average over images and pixels")
    return "openness and per-pixel level shares for fresh, closed, partly zero and saturated gates (3 and 4 levels)"


# ----------------------------------------------------------------------------- 8.3
def _reference_finest(maps_: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    h, w = max(((m.shape[-2], m.shape[-1]) for m in maps_), key=lambda s: s[0] * s[1])
    out = 0
    for m, wi in zip(maps_, weights):
        if m.shape[-2:] != (h, w):
            m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        out = out + wi * m
    return out


def check_fuse_at_finest(fn: Any) -> str:
    """Maps in any order (finest not always first), non-square, batch 1; bilinear to the largest size."""
    ex = "8.3"
    if not callable(fn):
        fail(ex, "a function fuse_at_finest(maps, weights)", describe(fn), "pass the function itself to check(...)")
    cases = [
        ([(2, 4, 8, 8), (2, 4, 4, 4), (2, 4, 2, 2)], [0.5, 0.3, 0.2]),          # finest first
        ([(1, 3, 3, 5), (1, 3, 6, 10), (1, 3, 12, 20)], [0.1, 0.6, 0.3]),       # finest last, non-square
        ([(2, 5, 4, 4), (2, 5, 8, 8), (2, 5, 4, 4), (2, 5, 2, 2)], [0.4, 0.1, 0.3, 0.2]),  # finest in the middle
    ]
    for seed, (shapes, weights) in enumerate(cases):
        ms = maps(shapes, seed=20 + seed)
        w = torch.tensor(weights)
        with unchanged(ex, ms, w):
            out = call(ex, fn, ms, w, what="fuse_at_finest")
        expected = _reference_finest(ms, w)
        finest = tuple(expected.shape)
        if isinstance(out, torch.Tensor) and tuple(out.shape) != finest:
            smallest = min((m.shape[-2], m.shape[-1]) for m in ms)
            if tuple(out.shape[-2:]) == tuple(ms[0].shape[-2:]):
                hint = ("that is the FIRST map's size: the maps come in any order here, and the finest is not always "
                        "first; find the map with the most pixels (H·W) and resize the others to it")
            elif tuple(out.shape[-2:]) == smallest:
                hint = "that is the smallest map's size, the published choice this exercise fixes: upsample to the largest"
            else:
                hint = "find the largest map by its H×W (it is not always the first one) and resize the others to it"
            fail(ex, f"output shape {finest}", f"{tuple(out.shape)}", hint)
        assert_shape(ex, out, finest, "fused output")
        assert_close(ex, out, expected, "fused output",
                     "resize with F.interpolate(mode='bilinear', align_corners=False) and weight map i by weights[i]")
    return "fused at the largest map's size (any order, non-square, batch 1), bilinear, weighted"


# ----------------------------------------------------------------------------- 8.4
_ABLATION_WIDTH = 0.125
_CLASSES = 12          # lesson 08's ablation: 1 input channel, 12 classes (4 shapes × 3 textures)
_MATCH_TOLERANCE = 0.02


def _normalized_params(width: float) -> int:
    from ..models.fusionnet import build_variant

    return sum(p.numel() for p in build_variant("normalized", 1, _CLASSES, width=width).parameters())


def _as_width(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def check_matched_width(fn: Any) -> str:
    """Build ``normalized`` at the returned width for several targets; within 2 % of each target's parameters."""
    from ..models.fusionnet import build_variant

    ex = "8.4"
    if not callable(fn):
        fail(ex, "a function matched_width(target_params)", describe(fn),
             "pass the function itself to check(...), without calling it")
    base = _normalized_params(_ABLATION_WIDTH)
    without_b4 = sum(p.numel() for p in build_variant("without b4", 1, _CLASSES, width=_ABLATION_WIDTH).parameters())
    for target in (without_b4, 75_000, 180_000, 480_000):
        got = call(ex, fn, target, what="matched_width")
        width = _as_width(got)
        if width is None:
            fail(ex, f"matched_width({target:,}) to return a width (a number)", describe(got),
                 "return the `width=` multiplier as a float")
        if width > 1 or width <= 0:       # never built: above 1 is larger than the full model
            hint = ("that looks like a parameter count: return the `width=` multiplier instead (1.0 is the full "
                    "model, about 9 million parameters)" if width > 100 else
                    "the width is the multiplier passed as build_variant(..., width=w): positive, and 1.0 is already "
                    "the full model, about 9 million parameters")
            fail(ex, f"matched_width({target:,}) to return a width multiplier for {target:,} parameters", f"{width:g}",
                 hint)
        params = _normalized_params(width)
        off = params / target - 1
        if abs(off) <= _MATCH_TOLERANCE:
            continue
        expected = (f"build_variant('normalized', 1, {_CLASSES}, width=matched_width({target:,})) to have within "
                    f"{_MATCH_TOLERANCE * 100:g} % of {target:,} parameters")
        got_text = f"width {width:.4g}: {params:,} parameters ({100 * abs(off):.1f} % {'more' if off > 0 else 'fewer'})"
        near = lambda x: math.isclose(width, x, rel_tol=1e-3)   # noqa: E731
        if near(_ABLATION_WIDTH):
            hint = ("that is the ablation's own width: the control must have the target's parameter count, whatever "
                    "width that takes")
        elif near(_ABLATION_WIDTH * target / base):
            hint = ("the width was scaled like the parameters, but most parameters are conv weights C_in·C_out·k², "
                    "so they grow with about the SQUARE of the width")
        elif near(_ABLATION_WIDTH * base / target) or near(_ABLATION_WIDTH * math.sqrt(base / target)):
            hint = ("the ratio is upside down: a target with fewer parameters than the ablation's model needs a smaller "
                    "width, one with more a larger width")
        else:
            hint = ("count the parameters of the model your width builds and adjust the width until they match: "
                    "parameters grow with about the square of the width, but not exactly (channel counts are rounded)")
        fail(ex, expected, got_text, hint)
    return (f"parameter-matched widths within {_MATCH_TOLERANCE * 100:g} % for 4 targets, the ablation's 'without b4' "
            f"({without_b4:,} parameters) among them")


CHECKS = {
    "8.1": check_residual_block_params,
    "8.2": check_gate_summary,
    "8.3": check_fuse_at_finest,
    "8.4": check_matched_width,
}
