"""Metrics: known values on small hand-made masks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_course.metrics import (accuracy, boundary_f, f_measure_curve, iou, mae, max_f_measure, s_measure,
                                   s_measure_single)


def square(h=16, w=16, top=4, left=4, side=8):
    m = torch.zeros(1, 1, h, w)
    m[..., top:top + side, left:left + side] = 1
    return m


def test_accuracy_from_logits_and_labels():
    logits = torch.tensor([[2.0, 0.1, 0.0], [0.3, 0.9, 0.1], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 2, 2])) == 0.75
    assert accuracy(torch.tensor([1, 1]), torch.tensor([1, 0])) == 0.5
    assert accuracy(logits, torch.tensor([0, 1, 2, 2]), reduction="none").tolist() == [1, 1, 1, 0]


def test_iou_and_mae_known_values():
    gt = square()                               # 64 pixels
    pred = square(top=4, left=8)                # shifted by 4 columns: overlap 32, union 96
    assert iou(pred, gt) == pytest.approx(32 / 96)
    assert iou(gt, gt) == 1.0
    assert iou(torch.zeros_like(gt), torch.zeros_like(gt)) == 1.0       # both empty: perfect
    assert iou(torch.zeros_like(gt), gt) == 0.0
    assert iou(gt * 0.4, gt) == 0.0 and iou(gt * 0.6, gt) == 1.0       # threshold 0.5 on probabilities
    assert mae(gt * 0.5, gt) == pytest.approx(0.5 * 64 / 256)
    assert mae(pred, gt) == pytest.approx(64 / 256)                    # 32 + 32 wrong pixels
    both = torch.cat([gt, pred])
    assert iou(both, torch.cat([gt, gt]), reduction="none").tolist() == pytest.approx([1.0, 1 / 3])
    with pytest.raises(ValueError, match="differs from target shape"):
        iou(gt[..., :8], gt)


def test_boundary_f_tolerance():
    gt = square(32, 32, 8, 8, 16)
    shifted = square(32, 32, 8, 10, 16)          # moved right by 2 pixels
    assert boundary_f(gt, gt, tol=0) == 1.0
    assert boundary_f(shifted, gt, tol=2) == 1.0         # every boundary pixel within 2 px
    f1 = boundary_f(shifted, gt, tol=1)
    assert 0.3 < f1 < 1.0
    assert boundary_f(shifted, gt, tol=0) < f1
    assert boundary_f(torch.zeros_like(gt), gt) == 0.0
    assert boundary_f(torch.zeros_like(gt), torch.zeros_like(gt)) == 1.0
    # tol=0 by hand: boundary of a 16x16 square = 60 pixels; shifted by 2, shared boundary pixels are
    # the top and bottom rows where they overlap (2 x 14) -> P = R = 28/60
    assert boundary_f(shifted, gt, tol=0) == pytest.approx(28 / 60)


def test_max_f_measure_known_values():
    gt = square()
    assert max_f_measure(gt, gt) == pytest.approx(1.0)
    # a prediction that is right on half the object and nothing else: P = 1, R = 0.5 at its best
    half = gt.clone()
    half[..., 4:12, 8:12] = 0
    beta2 = 0.3
    expected = (1 + beta2) * 1 * 0.5 / (beta2 * 1 + 0.5)
    assert max_f_measure(half, gt) == pytest.approx(expected, abs=1e-6)
    curves = f_measure_curve(half, gt)
    assert curves.shape == (1, 256)
    # graded prediction: the best threshold keeps the object only
    soft = gt * 0.8 + 0.1
    assert max_f_measure(soft, gt) == pytest.approx(1.0)


def s_measure_reference(pred: np.ndarray, gt: np.ndarray) -> float:
    """Direct transcription of the authors' MATLAB StructureMeasure.m (no normalisation), for the test."""
    eps = np.finfo(np.float64).eps
    gt = gt.astype(bool)
    y = gt.mean()
    if y == 0:
        return 1 - pred.mean()
    if y == 1:
        return pred.mean()

    def obj(p, g):
        x = p[g].mean()
        s = p[g].std(ddof=1)
        return 2 * x / (x * x + 1 + s + eps)

    fg = pred.copy(); fg[~gt] = 0
    bg = 1 - pred; bg[gt] = 0
    u = gt.mean()
    so = u * obj(fg, gt) + (1 - u) * obj(bg, ~gt)
    h, w = gt.shape
    tot = gt.sum()
    X = int(np.floor((gt.sum(0) * np.arange(1, w + 1)).sum() / tot + 0.5))
    Y = int(np.floor((gt.sum(1) * np.arange(1, h + 1)).sum() / tot + 0.5))
    area = h * w
    ws = [X * Y / area, (w - X) * Y / area, X * (h - Y) / area]
    ws.append(1 - sum(ws))

    def ssim(p, g):
        g = g.astype(float)
        n = p.size
        x, yy = p.mean(), g.mean()
        sx = ((p - x) ** 2).sum() / (n - 1 + eps)
        sy = ((g - yy) ** 2).sum() / (n - 1 + eps)
        sxy = ((p - x) * (g - yy)).sum() / (n - 1 + eps)
        a = 4 * x * yy * sxy
        b = (x * x + yy * yy) * (sx + sy)
        return a / (b + eps) if a != 0 else (1.0 if b == 0 else 0.0)

    parts = [(pred[:Y, :X], gt[:Y, :X]), (pred[:Y, X:], gt[:Y, X:]), (pred[Y:, :X], gt[Y:, :X]), (pred[Y:, X:], gt[Y:, X:])]
    sr = sum(wi * ssim(p, g) for wi, (p, g) in zip(ws, parts))
    return max(0.0, 0.5 * so + 0.5 * sr)


def test_s_measure_known_values():
    gt = square()
    assert s_measure(gt, gt) == pytest.approx(1.0)
    # all-zero prediction: S_o = (1-u)·1 (background perfect, object missed), S_r = 0
    u = 64 / 256
    assert s_measure(torch.zeros_like(gt), gt) == pytest.approx(0.5 * (1 - u))
    empty = torch.zeros_like(gt)
    assert s_measure(torch.full_like(gt, 0.25), empty, normalize=False) == pytest.approx(0.75)   # 1 - mean
    full = torch.ones_like(gt)
    assert s_measure(torch.full_like(gt, 0.25), full, normalize=False) == pytest.approx(0.25)    # mean
    inverse = s_measure(1 - gt, gt)
    assert 0 <= inverse < 0.1


def test_s_measure_matches_a_transcription_of_the_reference_code():
    rng = np.random.default_rng(0)
    for trial in range(6):
        h, w = rng.integers(12, 30, size=2)
        gt = np.zeros((h, w), bool)
        t, l = rng.integers(0, h // 2), rng.integers(0, w // 2)
        gt[t: t + rng.integers(3, h // 2 + 1), l: l + rng.integers(3, w // 2 + 1)] = True
        pred = np.clip(gt * rng.uniform(0.3, 0.9) + rng.uniform(0, 0.4, size=(h, w)), 0, 1)
        assert s_measure_single(pred, gt, normalize=False) == pytest.approx(s_measure_reference(pred, gt), abs=1e-9)
    # batch form averages the per-image values
    p = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    g = torch.cat([square(), square(top=2), square(left=1)])
    per = s_measure(p, g, reduction="none")
    assert per.shape == (3,) and s_measure(p, g) == pytest.approx(float(per.mean()))


def test_f_measure_curve_stays_on_the_maps_device():
    # A model evaluated on a GPU is scored there; "meta" tensors stand in for a second device on a CPU machine.
    from fusion_course import metrics as m

    pred = torch.rand(2, 1, 8, 8, device="meta")
    mask = torch.zeros(2, 1, 8, 8, device="meta")
    assert m.f_measure_curve(pred, mask).device.type == "meta"
