"""Per-pixel (ASFF-style) fusion: the equation by hand, softmax vs sigmoid, and its use in NormalizedFusionNet."""
from __future__ import annotations

import pytest
import torch

from fusion_course.fusion import SpatialWeightedFusion, create_fusion
from fusion_course.models.fusionnet import NormalizedFusionNet


def _randomise(fuse: SpatialWeightedFusion, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in fuse.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("normalize", ["softmax", "sigmoid"])
def test_matches_the_equation_written_out(normalize):
    fuse = create_fusion("spatial", [8, 8, 8], 8, normalize=normalize)
    _randomise(fuse)
    g = torch.Generator().manual_seed(1)
    maps = [torch.randn(2, 8, 6, 5, generator=g) for _ in range(3)]
    logits = torch.cat([conv(m) for conv, m in zip(fuse.logits, maps)], dim=1)          # (B, 3, H, W)
    alpha = logits.softmax(dim=1) if normalize == "softmax" else logits.sigmoid()
    expected = sum(alpha[:, i:i + 1] * maps[i] for i in range(3))
    assert torch.allclose(fuse(maps), expected, atol=1e-6)
    assert torch.equal(fuse.last_weights, alpha.detach())


def test_softmax_weights_sum_to_one_at_every_pixel_and_sigmoid_ones_need_not():
    g = torch.Generator().manual_seed(2)
    maps = [torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 4, 4, generator=g)]
    soft, sig = SpatialWeightedFusion([4, 4], 4), SpatialWeightedFusion([4, 4], 4, normalize="sigmoid")
    _randomise(soft), _randomise(sig)
    assert soft(maps).shape == (3, 4, 8, 8)                                    # the first map's size
    assert torch.allclose(soft.last_weights.sum(dim=1), torch.ones(3, 8, 8), atol=1e-6)
    sig(maps)
    assert (sig.last_weights.sum(dim=1) - 1).abs().max() > 0.1


def test_starts_with_equal_weights_and_rejects_unknown_modes():
    fuse = SpatialWeightedFusion([4, 4, 4, 4], 4)
    fuse([torch.randn(1, 4, 4, 4) for _ in range(4)])
    assert torch.allclose(fuse.last_weights, torch.full((1, 4, 4, 4), 0.25))
    with pytest.raises(ValueError, match="normalize"):
        SpatialWeightedFusion([4, 4], 4, normalize="relu")


def test_normalized_fusionnet_with_per_pixel_level_weights():
    net = NormalizedFusionNet(1, 12, width=0.125, level_fusion="spatial").eval()
    with pytest.raises(ValueError, match="forward pass"):
        net.level_weight_values()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 32, 32)).shape == (2, 12)
    w = net.level_weight_values()
    assert w.shape == (4,) and torch.isclose(w.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="level_fusion"):
        NormalizedFusionNet(level_fusion="pixels")
