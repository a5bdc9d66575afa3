"""Bad input to the fusion operators fails loudly: the message names the input, the shapes, and the fix."""
from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch

from fusion_course.fusion import (
    AFF, CFM, FPN, Align, FeatureFusionBlock, FormulaFusion, WeightedSumFusion, align_features,
    available_fusions, create_fusion,
)

IN = [8, 16, 4]


def maps(batch=(2, 2, 2), channels=(8, 16, 4)):
    return [torch.randn(b, c, 6, 6) for b, c in zip(batch, channels)]


@pytest.mark.parametrize("name", available_fusions())
def test_wrong_number_of_inputs(name):
    fuse = create_fusion(name, IN, 8)
    with pytest.raises(ValueError) as info:
        fuse(maps()[:2])
    msg = str(info.value)
    assert "3 inputs" in msg and "got 2" in msg and "[8, 16, 4]" in msg


@pytest.mark.parametrize("name", available_fusions())
def test_channels_not_matching_the_constructor(name):
    fuse = create_fusion(name, IN, 8)
    with pytest.raises(ValueError) as info:
        fuse(maps(channels=(8, 12, 4)))
    msg = str(info.value)
    assert "input 1" in msg and "(B, 16, H, W)" in msg and "(2, 12, 6, 6)" in msg and "in_channels[1]" in msg


@pytest.mark.parametrize("name", available_fusions())
def test_different_batch_sizes(name):
    fuse = create_fusion(name, IN, 8)
    with pytest.raises(ValueError) as info:
        fuse(maps(batch=(2, 2, 3)))
    msg = str(info.value)
    assert "input 2" in msg and "batch size 3" in msg and "(2, 8, 6, 6)" in msg and "(3, 4, 6, 6)" in msg


@pytest.mark.parametrize("name", available_fusions())
def test_non_4d_tensor(name):
    fuse = create_fusion(name, IN, 8)
    bad = maps()
    bad[1] = bad[1][0]   # (16, 6, 6): the batch axis was dropped
    with pytest.raises(ValueError) as info:
        fuse(bad)
    msg = str(info.value)
    assert "input 1" in msg and "4-D" in msg and "(16, 6, 6)" in msg and "unsqueeze(0)" in msg


@pytest.mark.parametrize("name", available_fusions())
def test_not_a_list_of_tensors(name):
    fuse = create_fusion(name, IN, 8)
    with pytest.raises(TypeError, match="not one stacked tensor"):
        fuse(torch.randn(2, 8, 6, 6))
    with pytest.raises(TypeError, match=r"input 2 must be a torch.Tensor of shape \(B, 4, H, W\); got ndarray"):
        fuse([*maps()[:2], maps()[2].numpy()])
    with pytest.raises(TypeError, match="only the FPN takes an ordered dict"):
        fuse(OrderedDict(enumerate(maps())))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("mode", ["fixed", "learned", "softmax", "fast"])
def test_non_finite_weights_at_construction(mode, bad):
    with pytest.raises(ValueError) as info:
        WeightedSumFusion(IN, 8, mode=mode, weights=[1.0, bad, 1.0])
    msg = str(info.value)
    assert "input 1" in msg and "not finite" in msg
    with pytest.raises(ValueError, match="input 2 is not finite"):
        FormulaFusion(IN, 8, weights=[1.0, 1.0, bad])


def test_weights_that_diverge_in_training_are_caught():
    fuse = WeightedSumFusion(IN, 8, mode="learned")
    with torch.no_grad():
        fuse.weight[2] = float("nan")
    with pytest.raises(ValueError, match="input 2 is not finite.*learning rate"):
        fuse(maps())


def test_wrong_weight_count_shape_and_type():
    with pytest.raises(ValueError, match=r"expected weights of shape \(3,\).*got shape \(2,\)"):
        WeightedSumFusion(IN, 8, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(3, 8\)"):
        WeightedSumFusion(IN, 8, weights=torch.ones(3, 5), per_channel=True)
    with pytest.raises(TypeError, match="weights must be numbers"):
        WeightedSumFusion(IN, 8, weights=["a", "b", "c"])
    # all weights <= 0 in fast mode is allowed (a simulator's sliders may all sit at 0): the output is 0
    dead = WeightedSumFusion(IN, 8, mode="fast", weights=[0.0, -1.0, 0.0])
    assert dead.weights().tolist() == [0.0, 0.0, 0.0] and (dead(maps()) == 0).all()


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="sequence of channel counts"):
        create_fusion("sum", 8, 8)
    with pytest.raises(ValueError, match=r"in_channels\[1\] must be a positive int"):
        create_fusion("concat", [8, 0], 8)
    with pytest.raises(ValueError, match="out_channels must be a positive int"):
        create_fusion("weighted", [8, 8], -1)
    with pytest.raises(ValueError, match="mode must be one of"):
        WeightedSumFusion([8, 8], 8, mode="fancy")
    with pytest.raises(ValueError, match="two or more maps"):
        AFF([8], 8)
    with pytest.raises(ValueError, match="one entry per input"):
        FeatureFusionBlock([8, 8], 8, kernel_sizes=(3,))
    with pytest.raises(TypeError, match="unexpected keyword.*help"):
        create_fusion("sum", [8, 8], 8, mode="fast")


def test_unknown_fusion_name_lists_the_names():
    with pytest.raises(ValueError) as info:
        create_fusion("attentional", [8, 8], 8)
    msg = str(info.value)
    assert "'attentional'" in msg and all(name in msg for name in available_fusions())


def test_alignment_errors():
    with pytest.raises(ValueError, match="pooling can only shrink.*size='smallest'"):
        align_features([torch.randn(1, 2, 8, 8), torch.randn(1, 2, 4, 4)], mode="max")
    with pytest.raises(ValueError, match="mode must be one of"):
        align_features([torch.randn(1, 2, 4, 4)], mode="bicubic")
    with pytest.raises(ValueError, match="empty list"):
        align_features([])
    with pytest.raises(ValueError, match="input 1 has batch size 2"):
        align_features([torch.randn(1, 2, 4, 4), torch.randn(2, 2, 4, 4)])
    with pytest.raises(ValueError, match="input 0 has 3 channels"):
        Align([2], 4)([torch.randn(1, 3, 4, 4)])


def test_block_with_one_input_wants_a_tensor():
    with pytest.raises(TypeError, match="one input map"):
        FeatureFusionBlock(3, 8)([torch.randn(1, 3, 8, 8)])
    with pytest.raises(ValueError, match=r"input 0 has 4 channels.*\(B, 3, H, W\)"):
        FeatureFusionBlock(3, 8)(torch.randn(1, 4, 8, 8))


def test_fpn_errors():
    fpn = FPN([8, 16], 8)
    with pytest.raises(TypeError, match="OrderedDict of named levels"):
        fpn([torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)])
    with pytest.raises(ValueError, match=r"input 1 has 8 channels.*in_channels\[1\]=16"):
        fpn(OrderedDict(a=torch.randn(1, 8, 8, 8), b=torch.randn(1, 8, 4, 4)))
    with pytest.raises(ValueError, match="2 inputs"):
        fpn(OrderedDict(a=torch.randn(1, 8, 8, 8)))


def test_cfm_errors_name_low_and_high():
    cfm = CFM(8)
    with pytest.raises(ValueError) as info:
        cfm(torch.randn(2, 8, 8, 8), torch.randn(2, 4, 4, 4))
    msg = str(info.value)
    assert "1 = high" in msg and "input 1 has 4 channels" in msg and "(2, 4, 4, 4)" in msg
    with pytest.raises(ValueError, match="batch size 1"):
        cfm(torch.randn(2, 8, 8, 8), torch.randn(1, 8, 4, 4))
