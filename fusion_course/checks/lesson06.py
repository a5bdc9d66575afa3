"""Checks for lesson 06 (F3Net): CFM's forward, the PPA weight map, the weighted IoU, reading an interval.

Checks 6.1–6.3 compare the learner's answer with the course's reference (``fusion_course.fusion.CFM``,
``fusion_course.losses``) on several inputs (batch 1, odd and non-square sizes), and when the answer
matches a known mistake (addition instead of multiplication, a missing residual, a wrong pooling
window, a missing sigmoid...) say which one, without printing the solution.

* 6.4 ``verdict(a, b) -> "a better" | "b better" | "no evidence"``: two variants' MAEs (lower is better)
  over the same seeds; the verdict of a paired 95 % Student-t interval on the mean difference. Checked on
  crafted cases (3, 4 and 5 seeds) that each wrong analysis gets wrong in its own way: comparing means,
  "better on every seed", an unpaired interval, the normal 1.96, a one-sided or n-degrees-of-freedom
  quantile, np.std's default ddof=0, the standard deviation instead of the standard error, 4.30 for every
  n, and the direction (lower MAE wins). Case and spacing of the returned string do not matter.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ._tools import assert_close, assert_shape, assert_tensor, call, describe, fail, generator, require, unchanged

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
        kw = {} if mode == "nearest" else {"align_corners": kind == "align_corners"}
        high = F.interpolate(high, size=low.shape[-2:], mode=mode, **kw)
    h1 = cfm.h1(low)
    h2 = cfm.h2(h1)
    v1 = cfm.v1(high)
    v2 = cfm.v2(v1)
    fuse = h2 + v2 if kind == "add" else h2 * v2
    res_h, res_v = {"no_residual": (0, 0), "residual_inputs": (low, high)}.get(kind, (h1, v1))
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
    "align_corners": "`high` was upsampled with align_corners=True, which stretches the corner pixels onto the "
                     "corners; CFM (and the paper's code) resizes with align_corners=False",
    "residual_inputs": "the residuals come from the module's inputs (low, high); the residual of each path is its "
                       "own first CBR's output, the step before the cross",
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
                         "follow the lesson's CFM equations (section 2) step by step, one CBR per step")
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
                         "follow the lesson's weight-map equation (section 2, Focus); the map has the mask's size",
                         atol=1e-4)
    return "the PPA weight map on 3 masks (batch 1, odd and non-square sizes)"


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
            assert_close(ex, out, expected, "loss", "follow the lesson's weighted-IoU equation (section 2, Focus), "
                                                    "with p the probabilities of the logits")
        require(ex, out.requires_grad, "a loss that gradients flow through", "a tensor with no grad_fn",
                "stay in torch: no .detach(), .item(), .numpy() or torch.no_grad() inside the loss")
        (grad,) = torch.autograd.grad(out.sum(), logits)
        require(ex, torch.isfinite(grad).all() and grad.abs().sum() > 0, "finite, non-zero gradients w.r.t. the logits",
                "zero or non-finite gradients")
    return "wIoU per image on 3 batches (batch 1, odd and non-square sizes), with gradients"


# ----------------------------------------------------------------------------- 6.4 read a confidence interval
# Each case: (b, d) with a = b + d, MAE per seed (lower is better). The paired t statistic |mean(d)| / se(d)
# of each case sits between the thresholds of the wrong analyses (z 1.96, one-sided t 2.92, t with n degrees
# of freedom 3.18, ddof=0 3.51, the right t 4.30 for 3 seeds...), so every wrong analysis gets a different
# set of cases wrong, and the check can name it.
_VERDICT_CASES: list[tuple[tuple[float, ...], tuple[float, ...]]] = [
    ((0.061, 0.060, 0.062), (0.0171, 0.0200, 0.0229)),                    # clear, b lower (|t| ≈ 12)
    ((0.080, 0.130, 0.180), (-0.0155, -0.0120, -0.0085)),                 # seeds move both a lot, a lower (≈ 5.9)
    ((0.071, 0.069, 0.074), (-0.0139, -0.0040, 0.0059)),                  # mean favours a, mixed signs (≈ 0.7)
    ((0.066, 0.070, 0.068), (-0.001, -0.002, -0.012)),                    # a lower on every seed (≈ 1.4)
    ((0.075, 0.072, 0.078), (-0.0103, -0.0060, -0.0017)),                 # ≈ 2.4
    ((0.064, 0.067, 0.062), (0.0035, 0.0080, 0.0125)),                    # ≈ 3.08
    ((0.081, 0.077, 0.079), (-0.0152, -0.0100, -0.0048)),                 # ≈ 3.33
    ((0.058, 0.061, 0.063), (0.0050, 0.0090, 0.0130)),                    # ≈ 3.90
    ((0.070, 0.066, 0.072, 0.068, 0.071), (0.0085, 0.0010, 0.0060, 0.0110, 0.0035)),   # 5 seeds, ≈ 3.39
    ((0.090, 0.085, 0.095, 0.088), (-0.012, -0.020, -0.015, -0.017)),     # 4 seeds, a lower (≈ 9.5)
]
_VERDICTS = ("a better", "b better", "no evidence")


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes §6.4)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf(x: float, df: float) -> float:
    """Student's t distribution function (any df > 0, also Welch's fractional one), without SciPy."""
    tail = 0.5 * _betai(df / 2.0, 0.5, df / (df + x * x))
    return 1.0 - tail if x >= 0 else tail


def _read(mean: float, spread: float, *, df: float | None = None, q: float = 0.975, quantile: float | None = None,
          lower_is_better: bool = True) -> str:
    """The verdict of the interval ``mean ± k·spread``, where k is a t quantile (``df``, ``q``) or ``quantile``.

    The interval excludes 0 exactly when ``|mean| / spread`` is beyond k, i.e. when the t distribution function
    at ``|mean| / spread`` is beyond ``q``: no quantile needs computing.
    """
    stat = abs(mean) / spread if spread > 0 else math.inf
    supported = stat > quantile if quantile is not None else _t_cdf(stat, df) > q
    if not supported:
        return "no evidence"
    return "a better" if (mean < 0) == lower_is_better else "b better"


def _sd(xs: list[float], ddof: int = 1) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - ddof))


def _paired(a, b, *, q: float = 0.975, df: int | None = None, ddof: int = 1, se: bool = True,
            quantile: float | None = None, lower_is_better: bool = True) -> str:
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    m, sd = _sd(d, ddof)
    return _read(m, sd / math.sqrt(n) if se else sd, df=n - 1 if df is None else df, q=q, quantile=quantile,
                 lower_is_better=lower_is_better)


def _unpaired(a, b, *, welch: bool) -> str:
    (ma, sa), (mb, sb) = _sd(list(a)), _sd(list(b))
    na, nb = len(a), len(b)
    if welch:
        va, vb = sa * sa / na, sb * sb / nb
        se, df = math.sqrt(va + vb), (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    else:
        pooled = ((na - 1) * sa * sa + (nb - 1) * sb * sb) / (na + nb - 2)
        se, df = math.sqrt(pooled * (1 / na + 1 / nb)), na + nb - 2
    return _read(ma - mb, se, df=df)


def _by_means(a, b) -> str:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    return "a better" if ma < mb else "b better" if mb < ma else "no evidence"


def _every_seed(a, b) -> str:
    if all(x < y for x, y in zip(a, b)):
        return "a better"
    if all(y < x for x, y in zip(a, b)):
        return "b better"
    return "no evidence"


# name: (the wrong analysis, what to change), in the order they are tried
_VERDICT_MISTAKES: dict[str, tuple[Callable[..., str], str]] = {
    "direction": (lambda a, b: _paired(a, b, lower_is_better=False),
                  "the scores are MAEs, so LOWER is better: an interval of a − b below 0 favours a, above 0 favours b"),
    "means": (_by_means,
              "comparing the two means ignores how much the scores move between seeds: put a 95 % interval on the "
              "mean of the paired differences and name a winner only when the interval excludes 0"),
    "every seed": (_every_seed,
                   "winning on every seed is weak evidence (with 3 seeds a coin wins all three 1 time in 8): name a "
                   "winner only when the 95 % interval on the mean paired difference excludes 0"),
    "welch": (lambda a, b: _unpaired(a, b, welch=True),
              "a[i] and b[i] share seed i: take the differences seed by seed, d_i = a_i − b_i, and put the interval on "
              "their mean; an unpaired (two-sample) interval keeps the seed-to-seed spread that pairing removes"),
    "pooled": (lambda a, b: _unpaired(a, b, welch=False),
               "a[i] and b[i] share seed i: take the differences seed by seed, d_i = a_i − b_i, and put the interval on "
               "their mean; a two-sample interval keeps the seed-to-seed spread that pairing removes"),
    "normal": (lambda a, b: _paired(a, b, quantile=1.959963984540054),
               "with a handful of seeds the spread itself is uncertain: use Student's t quantile with n − 1 degrees "
               "of freedom, scipy.stats.t.ppf(0.975, n - 1), not the normal 1.96"),
    "one-sided": (lambda a, b: _paired(a, b, q=0.95),
                  "a two-sided 95 % interval leaves 2.5 % in each tail: use the 0.975 quantile, t.ppf(0.975, n - 1)"),
    "df n": (lambda a, b: _paired(a, b, df=len(a)),
             "the t quantile has n − 1 degrees of freedom (the mean used up one): t.ppf(0.975, n - 1)"),
    "ddof 0": (lambda a, b: _paired(a, b, ddof=0),
               "use the sample standard deviation, which divides by n − 1: np.std(d, ddof=1) or statistics.stdev(d) "
               "(np.std divides by n unless told otherwise)"),
    "sd": (lambda a, b: _paired(a, b, se=False),
           "the interval is on the MEAN difference: its spread is the standard error sd / √n, not the standard "
           "deviation of the differences"),
    "fixed t": (lambda a, b: _paired(a, b, quantile=4.302652729911275),
                "the t quantile depends on the number of seeds: compute t.ppf(0.975, n - 1) from len(a), do not "
                "keep the value for 3 seeds"),
}


def _normalise_verdict(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("_", " ").replace("-", " ").strip().strip(".!").lower().split())
    text = {"a is better": "a better", "b is better": "b better"}.get(text, text)
    return text if text in _VERDICTS else None


def _shown(xs: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{x:g}" for x in xs) + "]"


def check_verdict(fn: Any) -> str:
    """Run ``fn`` on every crafted case, then name the wrong analysis whose verdicts the answers follow."""
    ex = "6.4"
    if not callable(fn):
        fail(ex, "a function verdict(a, b)", describe(fn), "pass the function itself to check(...), without calling it")
    cases = [(tuple(round(x + y, 4) for x, y in zip(b, d)), b) for b, d in _VERDICT_CASES]
    answers = []
    for i, (a, b) in enumerate(cases):
        kind = list if i % 2 == 0 else tuple          # both sequence types reach the learner's function
        xa, xb = kind(a), kind(b)
        got = call(ex, fn, xa, xb, what="verdict(a, b)")
        if list(xa) != list(a) or list(xb) != list(b):
            fail(ex, "a and b left unchanged", "your function changed its inputs (e.g. sorted them in place)",
                 "a[i] and b[i] belong to the same seed: never reorder them; work on copies or new lists")
        word = _normalise_verdict(got)
        if word is None:
            fail(ex, "one of the strings 'a better', 'b better', 'no evidence'", describe(got),
                 "return the verdict as a string (case and spacing do not matter)")
        answers.append(word)
    right = [_paired(a, b) for a, b in cases]
    if answers == right:
        return "paired 95 % t-interval verdicts on 10 crafted cases (3, 4 and 5 seeds), lower MAE wins"
    first = next(i for i, (x, y) in enumerate(zip(answers, right)) if x != y)
    a, b = cases[first]
    expected = (f"verdict({_shown(a)}, {_shown(b)}) to say what a paired 95 % t interval says "
                f"(case {first + 1} of {len(cases)}, {len(a)} seeds)")
    got = repr(answers[first])
    # the wrong analysis that explains every answer, else one that explains this case
    verdicts = {name: [mistake(x, y) for x, y in cases] for name, (mistake, _) in _VERDICT_MISTAKES.items()}
    for name, theirs in verdicts.items():
        if theirs == answers:
            fail(ex, expected, got, _VERDICT_MISTAKES[name][1])
    for name, theirs in verdicts.items():
        if theirs[first] == answers[first]:
            fail(ex, expected, got, _VERDICT_MISTAKES[name][1])
    fail(ex, expected, got,
         "take d_i = a_i − b_i seed by seed, a two-sided 95 % Student-t interval on mean(d) (n − 1 degrees of "
         "freedom, the standard error of the mean), and name the lower-MAE model only when the interval excludes 0")


CHECKS = {"6.1": check_cfm, "6.2": check_ppa_weight, "6.3": check_weighted_iou, "6.4": check_verdict}
