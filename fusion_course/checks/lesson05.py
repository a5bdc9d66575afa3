"""Checks for lesson 05 (does fusion help?).

5.1 ``boundary_pixels(mask)``: the inner boundary of a binary mask (the pixels a boundary metric scores).
5.2 ``iou_from_logits(logits, mask)``: per-image IoU of a predicted mask, averaged over the batch.
5.3 ``mean_std(values)``: mean and sample standard deviation over seeds.
5.4 ``equal_budget_widths(budget) -> {"deep": w, "concat": w}``: the fused-map widths at which the deep-only and
    the concat decoder's whole models each have the parameter count closest to ``budget``, found without
    ``fit_width``. Named mistakes: one width for both, the budget matched by the decoder alone (encoder left
    out), the first width above the budget instead of the closest, the two widths swapped.
"""
from __future__ import annotations

import math
import statistics
import sys
from typing import Callable

import torch
import torch.nn.functional as F

from ._tools import assert_close, call, describe, fail, generator, require, unchanged


def _masks(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Random blobby masks (N, 1, H, W) in {0, 1}, float: smoothed noise thresholded, incl. image-border contact."""
    g = generator(seed)
    noise = torch.rand(n, 1, max(2, h // 3), max(2, w // 3), generator=g)
    smooth = F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False)
    return (smooth > 0.5).float()


def _reference_boundary(mask: torch.Tensor) -> torch.Tensor:
    m = mask.float()
    eroded = -F.max_pool2d(-m, kernel_size=3, stride=1, padding=1)   # outside the image counts as inside
    return (m - eroded) > 0.5


# ------------------------------------------------------------------------------------------- 5.1
def check_boundary(fn: Callable) -> str:
    ex = "5.1"
    cases = [_masks(1, 9, 13, 1), _masks(3, 16, 16, 2), _masks(2, 7, 20, 3)]
    square = torch.zeros(1, 1, 7, 7)
    square[..., 2:5, 2:5] = 1
    cases.append(square)
    full = torch.ones(1, 1, 5, 6)                       # touches every border: no boundary inside the image
    cases.append(full)
    for k, m in enumerate(cases):
        with unchanged(ex, m, hint="return a new tensor; do not erode the mask in place"):
            out = call(ex, fn, m, what="boundary_pixels(mask)")
        require(ex, isinstance(out, torch.Tensor) and out.shape == m.shape,
                f"a tensor of the mask's shape {tuple(m.shape)}", f"{getattr(out, 'shape', type(out).__name__)}")
        ref = _reference_boundary(m)
        if k == 3 and out.float().sum() == 9:
            fail(ex, "only the 8 ring pixels of a 3×3 square", "all 9 pixels",
                 "a pixel is on the boundary if it is in the mask AND some neighbour is outside it")
        assert_close(ex, out.float(), ref.float(), what=f"boundary of test mask {k}",
                     hint="boundary = mask AND NOT eroded(mask); erode with a 3×3 window (8 neighbours); pixels "
                          "outside the image count as inside the mask, so a mask touching the border has no boundary there")
    return "5 masks incl. batch 1, odd and non-square sizes, a 3×3 square and a mask touching the image border"


# ------------------------------------------------------------------------------------------- 5.2
def check_iou(fn: Callable) -> str:
    ex = "5.2"
    g = generator(5)
    for n, h, w in [(1, 8, 8), (4, 9, 13), (3, 16, 5)]:
        mask = _masks(n, h, w, seed=h + w)
        logits = torch.randn(n, 1, h, w, generator=g) * 2 + (mask * 2 - 1) * 1.5
        with unchanged(ex, logits, mask):
            got = call(ex, fn, logits, mask, what="iou_from_logits(logits, mask)")
        got = float(got)
        p, t = logits > 0, mask > 0.5
        inter = (p & t).flatten(1).sum(1).float()
        union = (p | t).flatten(1).sum(1).float()
        per = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
        expected = float(per.mean())
        if abs(got - float(inter.sum() / union.sum())) < 1e-6 and abs(got - expected) > 1e-6:
            fail(ex, "the mean of per-image IoUs", "the IoU of the whole batch pooled together",
                 "compute intersection and union per image, divide, then average over the batch")
        if abs(got - float(((torch.sigmoid(logits) > 0.5) & t).sum()) / max(1.0, float(((torch.sigmoid(logits) > 0.5) | t).sum()))) < 1e-9 \
                and abs(got - expected) > 1e-6:
            fail(ex, "the mean of per-image IoUs", "a pooled IoU")
        images = "1 image" if n == 1 else f"{n} images"
        require(ex, math.isfinite(got) and abs(got - expected) < 1e-5, f"the mean IoU of a batch of {images}, {h}×{w} each",
                f"{got:.4f}", "a pixel is predicted foreground when its LOGIT is > 0 (probability > 0.5); IoU = "
                "|pred ∧ mask| / |pred ∨ mask| per image, then the mean over images")
    # both empty: a perfect prediction of "nothing here"
    empty = torch.zeros(2, 1, 6, 6)
    got = float(call(ex, fn, torch.full((2, 1, 6, 6), -3.0), empty, what="iou_from_logits(logits, mask)"))
    require(ex, abs(got - 1.0) < 1e-6, "IoU 1.0 when both the prediction and the mask are empty",
            f"{got}", "0/0 is undefined: define it as 1 (nothing to find, nothing found)")
    return "3 batches incl. batch 1 and non-square images, threshold on logits, per-image mean, empty masks"


# ------------------------------------------------------------------------------------------- 5.3
def check_mean_std(fn: Callable) -> str:
    ex = "5.3"
    for values in ([0.593, 0.61, 0.575], [0.78, 0.80, 0.76, 0.79], [0.5, 0.5, 0.5], [1.0, 2.0]):
        got = call(ex, fn, list(values), what="mean_std(values)")
        require(ex, isinstance(got, (tuple, list)) and len(got) == 2, "a pair (mean, std)", f"{got!r}")
        m, s = float(got[0]), float(got[1])
        require(ex, abs(m - statistics.mean(values)) < 1e-9, f"mean of {values}", f"{m}")
        pop = statistics.pstdev(values)
        if abs(s - pop) < 1e-9 and abs(pop - statistics.stdev(values)) > 1e-9:
            fail(ex, f"the sample standard deviation of {values} (divide by n − 1)",
                 "the population standard deviation (divide by n)",
                 "with 3 seeds you estimate the spread of a population of runs from a sample: use n − 1")
        require(ex, abs(s - statistics.stdev(values)) < 1e-9, f"the sample standard deviation of {values}", f"{s}",
                "sqrt(Σ (x − mean)² / (n − 1))")
    for bad in ([0.7], []):
        try:
            out = fn(list(bad))
        except ValueError:
            continue
        fail(ex, f"a ValueError for {bad!r} (a spread needs at least two runs)", f"{out!r}",
             "raise ValueError with a message saying how many values were given")
    return "4 lists incl. equal values and n = 2; n − 1 in the variance; ValueError for fewer than 2 runs"


# ------------------------------------------------------------------------------------------- 5.4
_BUDGETS = (130_000, 150_000, 200_000)


def _call_without(ex: str, banned, fn: Callable, *args):
    """Call ``fn(*args)``; fail if it ran ``banned`` (a function whose code object is watched) on the way."""
    seen: list[bool] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is banned.__code__:
            seen.append(True)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        out = call(ex, fn, *args, what="equal_budget_widths(budget)")
    finally:
        sys.setprofile(previous)
    if seen:
        fail(ex, "widths found by your own search", "a function that asks fit_width (directly, or through "
             "SegmentationNet without a width)", "fit_width is the package's answer: build the models at "
             "widths of your choice and count their parameters")
    return out


def check_equal_budget(fn: Callable) -> str:
    from ..models.decoders import SegmentationNet, fit_width
    from ..profiling import count_params

    ex = "5.4"

    def params(decoder: str, width: int) -> int:
        return count_params(SegmentationNet(decoder, width=width))

    for budget in _BUDGETS:
        got = _call_without(ex, fit_width, fn, budget)
        require(ex, isinstance(got, dict) and set(got) == {"deep", "concat"}, 'a dict {"deep": width, "concat": width}',
                describe(got))
        widths = {}
        for name, w in got.items():
            if isinstance(w, torch.Tensor) and w.numel() == 1:
                w = w.item()
            require(ex, isinstance(w, int) or (isinstance(w, float) and w.is_integer()),
                    f"an int width for {name!r}", describe(w), "a width is a number of channels")
            widths[name] = int(w)
        right = {d: fit_width(d, budget) for d in ("deep", "concat")}
        if widths == right:
            continue
        expected = f"the widths whose whole models come closest to {budget:,} parameters"
        shown = ", ".join(f"{d} width {w}: {params(d, w):,} parameters" for d, w in widths.items())
        encoder = count_params(SegmentationNet("deep", width=4).encoder)
        if widths["deep"] == widths["concat"]:
            hint = ("one width for both is not one budget: the concat decoder's 1×1 conv reads every level's channels, "
                    "the deep-only decoder's only the deepest level's, so the same width costs them different amounts")
        elif widths == {"deep": right["concat"], "concat": right["deep"]}:
            hint = "the two widths are swapped: which decoder spends more of the budget on its fusion layer?"
        elif all(params(d, w) - encoder > 0.8 * budget for d, w in widths.items()):
            hint = (f"the budget counts the whole model, the encoder's {encoder:,} parameters included, not the "
                    "decoder alone")
        elif all(abs(widths[d] - right[d]) <= 1 and params(d, widths[d]) >= budget for d in widths):
            hint = ("that is the first width at or above the budget; the fair width is the one whose count is "
                    "closest to it, above or below")
        else:
            hint = ("count the parameters of SegmentationNet(decoder, width=w) for the widths you try, and keep, "
                    "for each decoder, the width whose count is closest to the budget")
        fail(ex, expected, shown, hint)
    return (f"deep-only and concat widths at {len(_BUDGETS)} budgets ({', '.join(f'{b:,}' for b in _BUDGETS)}), "
            "each model closest to its budget, found without fit_width")


CHECKS = {"5.1": check_boundary, "5.2": check_iou, "5.3": check_mean_std, "5.4": check_equal_budget}
