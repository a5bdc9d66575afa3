"""The pixel position aware loss of F3Net (fusion_course.losses) and the released code's BCE slip."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from fusion_course.losses import (
    DEEP_SUPERVISION_WEIGHTS,
    DeepSupervisionLoss,
    bce_loss,
    deep_supervision_loss,
    ppa_loss,
    ppa_weight_map,
    weighted_bce,
    weighted_iou,
)


def _square_mask(batch: int = 2, size: int = 48, lo: int = 12, hi: int = 36) -> torch.Tensor:
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, lo:hi, lo:hi] = 1.0
    return mask


def _logits(shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 2


def test_weight_map_matches_the_31x31_average_pool_definition():
    mask = (torch.rand(3, 1, 40, 53, generator=torch.Generator().manual_seed(1)) > 0.6).float()
    expected = 1 + 5 * (F.avg_pool2d(mask, kernel_size=31, stride=1, padding=15) - mask).abs()
    torch.testing.assert_close(ppa_weight_map(mask), expected, atol=1e-5, rtol=0)


def test_weight_map_is_one_far_from_boundaries_and_large_at_them():
    mask = torch.zeros(1, 1, 96, 96)
    mask[..., 20:76, 20:76] = 1
    w = ppa_weight_map(mask)
    assert w.shape == mask.shape
    assert float(w[0, 0, 48, 48]) == pytest.approx(1.0)          # deep inside: window is all foreground
    assert float(w[0, 0, 48, 20]) == pytest.approx(1 + 5 * (1 - 496 / 961), abs=1e-4)   # on the left edge
    assert float(w.min()) >= 1.0 and float(w.max()) <= 6.0


def test_weight_map_rejects_bad_input():
    with pytest.raises(ValueError, match="B, 1, H, W"):
        ppa_weight_map(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="odd"):
        ppa_weight_map(torch.zeros(1, 1, 8, 8), kernel_size=4)


def test_ppa_matches_the_formulas_written_out():
    mask = _square_mask()
    logits = _logits(mask.shape)
    w = 1 + 5 * (F.avg_pool2d(mask, 31, 1, 15) - mask).abs()
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    wbce = (w * bce).sum(dim=(2, 3)) / w.sum(dim=(2, 3))
    p = torch.sigmoid(logits)
    inter = (w * p * mask).sum(dim=(2, 3))
    union = (w * (p + mask)).sum(dim=(2, 3))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    torch.testing.assert_close(ppa_loss(logits, mask), (wbce + wiou).mean(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weighted_bce(logits, mask, w), wbce.flatten(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weighted_iou(logits, mask, w), wiou.flatten(), atol=1e-5, rtol=1e-5)


def test_ppa_is_small_for_a_confident_correct_prediction_and_large_for_the_opposite():
    mask = _square_mask()
    good = torch.where(mask > 0, 10.0, -10.0)
    assert float(ppa_loss(good, mask)) < 0.01
    assert float(ppa_loss(-good, mask)) > 5.0


def test_released_code_reduce_none_returns_a_scalar_so_the_bce_weighting_does_nothing():
    """The paper's code: wbce = F.bce_with_logits(pred, mask, reduce='none'); (weit*wbce).sum()/weit.sum()."""
    mask = _square_mask()
    logits = _logits(mask.shape, seed=3)
    weit = ppa_weight_map(mask)
    assert float(weit.std()) > 0.5   # the weights really vary: the test would be empty otherwise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch warns that size_average/reduce are deprecated
        released = F.binary_cross_entropy_with_logits(logits, mask, reduce="none")
    assert released.dim() == 0, "reduce='none' is read as the legacy reduce=True: a scalar mean"
    released_wbce = (weit * released).sum(dim=(2, 3)) / weit.sum(dim=(2, 3))
    plain_mean = F.binary_cross_entropy_with_logits(logits, mask)
    # ... so the "weighted" BCE is the plain mean BCE for every image
    torch.testing.assert_close(released_wbce, plain_mean.expand_as(released_wbce))
    # Ours weights pixels: it differs from the plain mean when the weights vary ...
    ours = weighted_bce(logits, mask, weit)
    assert (ours - plain_mean).abs().min() > 1e-3
    # ... and counts boundary mistakes more: a prediction wrong only near the outline costs more
    # under our weighting than under the plain mean (the released code's value).
    near_edge = weit > 2
    edge_wrong = torch.where((mask > 0) ^ near_edge, 4.0, -4.0)
    ours_edge = weighted_bce(edge_wrong, mask, weit)
    plain_edge = F.binary_cross_entropy_with_logits(edge_wrong, mask, reduction="none").mean(dim=(1, 2, 3))
    assert torch.all(ours_edge > 1.2 * plain_edge)


def test_ppa_equals_plain_bce_plus_iou_only_when_the_mask_has_no_boundary():
    mask = torch.ones(2, 1, 32, 32)   # no boundary anywhere except the zero padding's pull at the borders
    w = ppa_weight_map(mask)
    assert float(w.max()) > 1     # count_include_pad: the image border counts as a boundary
    flat = torch.ones(1, 1, 1, 1).expand(2, 1, 32, 32)
    logits = _logits(mask.shape, seed=5)
    torch.testing.assert_close(weighted_bce(logits, mask, flat),
                               F.binary_cross_entropy_with_logits(logits, mask, reduction="none").mean(dim=(1, 2, 3)))


def test_ppa_gradient_is_larger_at_the_boundary():
    mask = _square_mask(1, 64, 16, 48)
    logits = torch.zeros_like(mask, requires_grad=True)
    ppa_loss(logits, mask).backward()
    g = logits.grad.abs()[0, 0]
    assert float(g[16, 32]) > 1.5 * float(g[32, 32])    # the edge pixel pulls harder than the centre


def test_bad_shapes_give_clear_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        ppa_loss(torch.zeros(2, 1, 16, 16), torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        bce_loss(torch.zeros(2, 32, 32), torch.zeros(2, 32, 32))
    with pytest.raises(TypeError):
        ppa_loss([0.0], torch.zeros(1, 1, 4, 4))


def test_deep_supervision_weights_and_resizing():
    mask = _square_mask(2, 64, 16, 48)
    outs = [_logits((2, 1, 64, 64), s) for s in range(1)] + [_logits((2, 1, 64 // 2 ** k, 64 // 2 ** k), k)
                                                             for k in range(1, 5)]
    expected = sum(w * ppa_loss(F.interpolate(o, size=(64, 64), mode="bilinear", align_corners=False), mask)
                   for w, o in zip(DEEP_SUPERVISION_WEIGHTS, outs))
    torch.testing.assert_close(deep_supervision_loss(outs, mask), expected)
    assert DEEP_SUPERVISION_WEIGHTS == (1, 0.5, 0.25, 0.125, 0.0625)


def test_deep_supervision_n_main_shares_the_first_weight_like_the_released_code():
    mask = _square_mask(2, 32, 8, 24)
    p2, p1, s2 = (_logits(mask.shape, s) for s in range(3))
    # released: (loss1u + loss2u) / 2 + loss2r / 2
    expected = (ppa_loss(p2, mask) + ppa_loss(p1, mask)) / 2 + ppa_loss(s2, mask) / 2
    torch.testing.assert_close(DeepSupervisionLoss("ppa", n_main=2)([p2, p1, s2], mask), expected)
    # a lone tensor (a model in eval mode) is scored as the main prediction, whatever n_main says
    torch.testing.assert_close(DeepSupervisionLoss("ppa", n_main=2)(p2, mask), ppa_loss(p2, mask))


def test_deep_supervision_bce_and_errors():
    mask = _square_mask(1, 32, 8, 24)
    outs = [_logits(mask.shape, 0), _logits((1, 1, 8, 8), 1)]
    expected = bce_loss(outs[0], mask) + 0.5 * bce_loss(F.interpolate(outs[1], size=(32, 32), mode="bilinear"), mask)
    torch.testing.assert_close(deep_supervision_loss(outs, mask, loss="bce"), expected)
    with pytest.raises(ValueError, match="side weights"):
        deep_supervision_loss([outs[0]] * 6, mask)
    with pytest.raises(ValueError, match="unknown loss"):
        deep_supervision_loss(outs, mask, loss="dice")
    with pytest.raises(ValueError, match="n_main"):
        deep_supervision_loss(outs, mask, n_main=3)


def test_bce_iou_is_ppa_with_unit_weights():
    import torch
    from fusion_course.losses import bce_iou_loss, ppa_loss

    g = torch.zeros(2, 1, 32, 32)
    g[..., 8:24, 8:24] = 1
    logits = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(bce_iou_loss(logits, g), ppa_loss(logits, g, torch.ones_like(g)))


def test_ppa_as_released_has_an_unweighted_bce():
    import torch
    import torch.nn.functional as F
    from fusion_course.losses import ppa_released_loss, ppa_weight_map, weighted_iou

    g = torch.zeros(1, 1, 40, 40)
    g[..., 10:30, 12:28] = 1
    logits = torch.randn(1, 1, 40, 40, generator=torch.Generator().manual_seed(1))
    expected = F.binary_cross_entropy_with_logits(logits, g) + weighted_iou(logits, g, ppa_weight_map(g)).mean()
    assert torch.allclose(ppa_released_loss(logits, g), expected)
