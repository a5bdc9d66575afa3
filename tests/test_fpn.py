"""The course's FPN computes exactly what torchvision.ops.FeaturePyramidNetwork computes."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torchvision.ops import FeaturePyramidNetwork

from fusion_course.fusion import FPN

CHANNELS = [8, 16, 32, 12]
# odd sizes: nearest upsampling to the lateral's exact size, not a factor of 2
SIZES = [(33, 30), (17, 15), (9, 8), (5, 4)]


def features(batch: int = 2, seed: int = 0) -> OrderedDict:
    g = torch.Generator().manual_seed(seed)
    return OrderedDict((f"c{i + 2}", torch.randn(batch, c, *hw, generator=g)) for i, (c, hw) in enumerate(zip(CHANNELS, SIZES)))


def randomized_torchvision_fpn(out_channels: int = 12) -> FeaturePyramidNetwork:
    torch.manual_seed(0)
    tv = FeaturePyramidNetwork(CHANNELS, out_channels)
    with torch.no_grad():   # torchvision initialises biases to 0; make them count
        for name, p in tv.named_parameters():
            if name.endswith("bias"):
                p.normal_()
    return tv


def test_fpn_matches_torchvision_with_copied_weights():
    tv = randomized_torchvision_fpn()
    ours = FPN(CHANNELS, 12).load_torchvision(tv)
    feats = features()
    with torch.no_grad():
        expected = tv(feats)
        got = ours(feats)
    assert list(got) == list(expected) == ["c2", "c3", "c4", "c5"]
    for name in expected:
        assert got[name].shape == expected[name].shape == (2, 12, *SIZES[int(name[1]) - 2])
        torch.testing.assert_close(got[name], expected[name])


def test_fpn_gradients_match_torchvision():
    tv = randomized_torchvision_fpn()
    ours = FPN(CHANNELS, 12).load_torchvision(tv)
    feats = features(batch=1, seed=1)
    sum(v.square().sum() for v in tv(feats).values()).backward()
    sum(v.square().sum() for v in ours(feats).values()).backward()
    torch.testing.assert_close(ours.inner_blocks[0].weight.grad, tv.inner_blocks[0][0].weight.grad)
    torch.testing.assert_close(ours.layer_blocks[3].bias.grad, tv.layer_blocks[3][0].bias.grad)


def test_fpn_parameter_count_and_init_match_torchvision():
    tv = FeaturePyramidNetwork(CHANNELS, 12)
    ours = FPN(CHANNELS, 12)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())
    assert all((b.bias == 0).all() for b in ours.inner_blocks)


def test_the_equivalence_test_can_fail():
    """A different upsampling, or weights not copied, changes the outputs."""
    tv = randomized_torchvision_fpn()
    feats = features()
    expected = tv(feats)["c2"]
    bilinear = FPN(CHANNELS, 12, upsample="bilinear").load_torchvision(tv)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(bilinear(feats)["c2"], expected)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(FPN(CHANNELS, 12)(feats)["c2"], expected)
    # the coarsest level has no top-down input, so bilinear and nearest agree there
    torch.testing.assert_close(bilinear(feats)["c5"], tv(feats)["c5"])


def test_load_torchvision_rejects_other_shapes():
    with pytest.raises(ValueError, match="levels"):
        FPN(CHANNELS[:3], 12).load_torchvision(FeaturePyramidNetwork(CHANNELS, 12))
    with pytest.raises(ValueError, match="level 0"):
        FPN(CHANNELS, 8).load_torchvision(FeaturePyramidNetwork(CHANNELS, 12))
