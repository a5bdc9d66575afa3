"""Checks for lesson 06 (F3Net): CFM's forward, the PPA weight map, the weighted IoU.

Each check compares the learner's answer with the course's reference (``fusion_course.fusion.CFM``,
``fusion_course.losses``) on several inputs (batch 1, odd and non-square sizes), and when the answer
matches a known mistake (addition instead of multiplication, a missing residual, a wrong pooling
window, a missing sigmoid...) says which one, without printing the solution.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ._tools import assert_close, assert_shape, assert_tensor, call, fail, generator, require, unchanged

__all__ = ["CHECKS"]


# ----------------------------------------------------------------------------- helpers
def _matches(out: Any, ref: torch.Tensor, atol: float = 1e-5) -> bool:
    return (isinstance(out, torch.Tensor) and out.shape == ref.shape
            and bool(torch.allclose(out.detach().double(), ref.double(), atol=atol, rtol=1e-4)))


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter and BatchNorm statistic non-trivial values (a fresh BN is the identity)."""
    g = generator(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif p.dim() == 1:                                           # BN weight
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:                                                        # conv weight
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / p[0].numel()) ** 0.5)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def _masks(seed: int = 0) -> list[torch.Tensor]:
    """Binary masks with real boundaries: batch 1, odd, non-square; rectangles plus speckle."""
    out = []
    for i, (b, h, w) in enumerate([(1, 40, 40), (2, 37, 50), (3, 64, 33)]):
        g = generator(seed + i)
        m = torch.zeros(b, 1, h, w)
        for k in range(b):
            y0, x0 = int(torch.randint(0, h // 3, (1,), generator=g)), int(torch.randint(0, w // 3, (1,), generator=g))
            y1, x1 = y0 + h // 2, x0 + w // 2
            m[k, 0, y0:y1, x0:x1] = 1.0
        speckle = torch.rand(b, 1, h, w, generator=g) > 0.97
        out.append(torch.where(speckle, 1 - m, m))
    return out


# ----------------------------------------------------------------------------- 6.1 CFM forward
def _cfm_variant(cfm: torch.nn.Module, low: torch.Tensor, high: torch.Tensor, kind: str):
    mode = "nearest" if kind == "nearest" else "bilinear"
    if high.shape[-2:] != low.shape[-2:]:
        kw = {} if mode == "nearest" else {"align_corners": False}
        high = F.interpolate(high, size=low.shape[-2:], mode=mode, **kw)
    h1 = cfm.h1(low)
    h2 = cfm.h2(h1)
    v1 = cfm.v1(high)
    v2 = cfm.v2(v1)
    fuse = h2 + v2 if kind == "add" else h2 * v2
    res_h, res_v = (0, 0) if kind == "no_residual" else (h1, v1)
    h4 = cfm.h4(cfm.h3(fuse) + res_h)
    v4 = cfm.v4(cfm.v3(fuse) + res_v)
    if kind == "no_fuse":   # each path ignores the other
        h4 = cfm.h4(cfm.h3(h2) + h1)
        v4 = cfm.v4(cfm.v3(v2) + v1)
    return (v4, h4) if kind == "swapped" else (h4, v4)


_CFM_MISTAKES = {
    "add": "the two paths were ADDED (h2 + v2); CFM multiplies them element by element, so a response survives "
           "only where both the low-level and the high-level path agree",
    "no_residual": "the residuals are missing: after the cross step, add h1 back to the h path and v1 to the v path "
                   "before the last CBR of each",
    "swapped": "the outputs come back in the wrong order: return (h4, v4), the low-level path first",
    "nearest": "`high` was upsampled with nearest-neighbour; use bilinear interpolation to `low`'s size",
    "no_fuse": "each path is refined on its own: feed the product of the two paths to h3 and v3",
}


def check_cfm(cfm_class: Any) -> str:
    ex = "6.1"
    from ..fusion.cfm import CFM

    if isinstance(cfm_class, torch.nn.Module):
        cfm_class = type(cfm_class)
    require(ex, isinstance(cfm_class, type) and issubclass(cfm_class, torch.nn.Module),
            "your CFM class (an nn.Module subclass)", repr(cfm_class)[:80],
            "pass the class itself: check(\"6.1\", MyCFM)")
    cases = [  # (channels, low shape, high shape)
        (4, (1, 4, 9, 7), (1, 4, 5, 4)),
        (6, (2, 6, 16, 16), (2, 6, 8, 8)),
        (5, (3, 5, 12, 20), (3, 5, 12, 20)),
    ]
    for i, (c, low_shape, high_shape) in enumerate(cases):
        ref = CFM(c)
        _randomise(ref, seed=10 + i)
        ref.eval()
        learner = call(ex, cfm_class, c, what="your CFM class")
        try:
            learner.load_state_dict(ref.state_dict())
        except RuntimeError as exc:
            fail(ex, "the layers given in the exercise (h1..h4, v1..v4, each conv + BN + ReLU)",
                 str(exc).splitlines()[0][:160], "keep the __init__ of the cell unchanged; write only forward")
        learner.eval()
        g = generator(20 + i)
        low = torch.randn(low_shape, generator=g)
        high = torch.randn(high_shape, generator=g)
        with torch.no_grad(), unchanged(ex, low, high):
            try:
                out = call(ex, learner, low, high, what="your CFM")
            except NotImplementedError:   # a subclass of RuntimeError: an unsolved exercise passes through
                raise
            except RuntimeError as exc:
                if "size" in str(exc) and tuple(low_shape[-2:]) != tuple(high_shape[-2:]):
                    fail(ex, f"your CFM to run on low {tuple(low_shape)} and high {tuple(high_shape)}",
                         f"RuntimeError: {str(exc).splitlines()[0][:120]}",
                         "`high` is coarser than `low`: resize it to low's (H, W) before using it")
                raise
            expected = ref(low, high)
        require(ex, isinstance(out, (tuple, list)) and len(out) == 2,
                "two maps (h4, v4)", f"{type(out).__name__}" + (f" of {len(out)} items" if isinstance(out, (tuple, list)) else ""),
                "return both paths: `return h4, v4`")
        for name, o, e in zip(("h4", "v4"), out, expected):
            assert_shape(ex, o, tuple(e.shape), f"{name}",
                         "both outputs have low's size: upsample `high` to low's (H, W) first")
        if not (_matches(out[0], expected[0]) and _matches(out[1], expected[1])):
            with torch.no_grad():
                for kind, hint in _CFM_MISTAKES.items():
                    alt = _cfm_variant(ref, low, high, kind)
                    if _matches(out[0], alt[0]) and _matches(out[1], alt[1]):
                        fail(ex, "the outputs of CFM", "the outputs of a different module", hint)
            assert_close(ex, out[0], expected[0], "h4",
                         "follow the equations: h1, h2 and v1, v2, their product, then h3 = CBR(f) + h1, h4 = CBR(h3)")
            assert_close(ex, out[1], expected[1], "v4", "the v path mirrors the h path: v3 = CBR(f) + v1, v4 = CBR(v3)")
    return "CFM forward matches the reference on 3 shapes (batch 1, odd and non-square maps, equal sizes)"


# ----------------------------------------------------------------------------- 6.2 PPA weight map
def _ppa_reference(mask: torch.Tensor) -> torch.Tensor:
    return 1 + 5 * (F.avg_pool2d(mask, kernel_size=31, stride=1, padding=15) - mask).abs()


_WEIGHT_MISTAKES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "k15": (lambda m: 1 + 5 * (F.avg_pool2d(m, 15, 1, 7) - m).abs(),
            "the local mean uses the wrong window: the paper averages over 31×31 pixels"),
    "no_one": (lambda m: 5 * (F.avg_pool2d(m, 31, 1, 15) - m).abs(),
               "every pixel must keep a weight of at least 1: add 1 to the boundary term"),
    "no_abs": (lambda m: 1 + 5 * (F.avg_pool2d(m, 31, 1, 15) - m),
               "inside the object the local mean is below the mask, so the difference is negative there: take "
               "its absolute value"),
    "no_five": (lambda m: 1 + (F.avg_pool2d(m, 31, 1, 15) - m).abs(),
                "the boundary term is scaled by 5 in the paper"),
    "no_pad_count": (lambda m: 1 + 5 * (F.avg_pool2d(m, 31, 1, 15, count_include_pad=False) - m).abs(),
                     "keep avg_pool2d's default count_include_pad=True, as the paper's code does"),
}


def check_ppa_weight(fn: Any) -> str:
    ex = "6.2"
    for mask in _masks(seed=3):
        with unchanged(ex, mask):
            out = call(ex, fn, mask, what="your weight function")
        assert_tensor(ex, out, "the weight map")
        expected = _ppa_reference(mask)
        if tuple(out.shape) != tuple(mask.shape):
            fail(ex, f"a weight map of the mask's shape {tuple(mask.shape)}", f"shape {tuple(out.shape)}",
                 "the pooling must keep the size: stride 1 and padding (kernel_size - 1) / 2")
        if not _matches(out, expected, atol=1e-4):
            for _, (variant, hint) in _WEIGHT_MISTAKES.items():
                if _matches(out, variant(mask), atol=1e-4):
                    fail(ex, "the PPA weight map", "a different map", hint)
            assert_close(ex, out, expected, "weight map",
                         "w = 1 + 5·|local mean over a 31×31 window − mask|, the same size as the mask", atol=1e-4)
    return "w = 1 + 5·|avgpool31(g) − g| on 3 masks (batch 1, odd and non-square sizes)"


# ----------------------------------------------------------------------------- 6.3 weighted IoU
def _wiou_reference(logits, mask, weight, *, sigmoid=True, weighted=True, smooth=1.0, minus_inter=True):
    p = torch.sigmoid(logits) if sigmoid else logits
    w = weight if weighted else torch.ones_like(weight)
    inter = (w * p * mask).sum(dim=(1, 2, 3))
    union = (w * (p + mask)).sum(dim=(1, 2, 3))
    return 1 - (inter + smooth) / (union - (inter if minus_inter else 0) + smooth)


_WIOU_MISTAKES = {
    "unweighted": (dict(weighted=False), "the weights are ignored: multiply every term of both sums by w"),
    "no_sigmoid": (dict(sigmoid=False), "the logits were used as probabilities: apply torch.sigmoid first"),
    "no_smooth": (dict(smooth=0.0), "add 1 to both the numerator and the denominator (it keeps an empty mask "
                                    "predicted empty at a loss of 0 instead of 0/0)"),
    "union": (dict(minus_inter=False), "Σw·(p+g) counts the overlap twice: subtract the intersection once"),
}


def check_weighted_iou(fn: Any) -> str:
    ex = "6.3"
    from ..losses import ppa_weight_map

    for i, mask in enumerate(_masks(seed=7)):
        g = generator(30 + i)
        logits = (torch.randn(mask.shape, generator=g) * 2).requires_grad_(True)
        weight = ppa_weight_map(mask)
        with unchanged(ex, mask, weight, logits):
            out = call(ex, fn, logits, mask, weight, what="your weighted IoU")
        out = assert_tensor(ex, out, "the loss")
        b = mask.shape[0]
        if out.shape != (b,):
            fail(ex, f"one loss per image, shape ({b},)", f"shape {tuple(out.shape)}",
                 "sum over the channel and pixel axes (dims 1, 2, 3) and keep the batch axis")
        expected = _wiou_reference(logits, mask, weight)
        if not _matches(out, expected):
            for _, (opts, hint) in _WIOU_MISTAKES.items():
                if _matches(out, _wiou_reference(logits, mask, weight, **opts)):
                    fail(ex, "the weighted IoU loss", "a different loss", hint)
            assert_close(ex, out, expected, "loss", "wIoU = 1 − (Σw·p·g + 1) / (Σw·(p+g) − Σw·p·g + 1), p = sigmoid(logits)")
        require(ex, out.requires_grad, "a loss that gradients flow through", "a tensor with no grad_fn",
                "stay in torch: no .detach(), .item(), .numpy() or torch.no_grad() inside the loss")
        (grad,) = torch.autograd.grad(out.sum(), logits)
        require(ex, torch.isfinite(grad).all() and grad.abs().sum() > 0, "finite, non-zero gradients w.r.t. the logits",
                "zero or non-finite gradients")
    return "wIoU per image on 3 batches (batch 1, odd and non-square sizes), with gradients"


CHECKS = {"6.1": check_cfm, "6.2": check_ppa_weight, "6.3": check_weighted_iou}
