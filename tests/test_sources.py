"""The source documents' code as printed fails or misbehaves exactly as the lessons say; the fixes work."""
from __future__ import annotations

import pytest
import torch

from fusion_course.sources import newsletter_block as nb
from fusion_course.sources import tf_examples as tf


def _maps(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g) for s in shapes]


# --- the newsletter's block -------------------------------------------------------------------------

def test_as_printed_constructor_never_runs():
    with pytest.raises(TypeError, match="in_channels"):
        nb.FeatureFusionBlockAsPrinted(in_channels=64)
    block = nb.FeatureFusionBlockAsPrinted()   # builds, but `init` never ran: there is no conv
    assert not hasattr(block, "conv")
    assert sum(p.numel() for p in block.parameters()) == 0
    with pytest.raises(AttributeError, match="conv"):
        block(*_maps((1, 64, 32, 32), (1, 64, 32, 32)))


def test_renamed_block_has_the_channel_bug():
    with pytest.raises(RuntimeError, match="expected input.*128.*64 channels"):
        nb.newsletter_example(nb.FeatureFusionBlockRenamed)


def test_fixed_block_runs_and_is_a_concat_1x1():
    block = nb.FeatureFusionBlockFixed(in_channels=64)
    out = nb.newsletter_example(nb.FeatureFusionBlockFixed)
    assert out.shape == (1, 64, 32, 32)
    assert sum(p.numel() for p in block.parameters()) == 2 * 64 * 64 + 64
    # the same as a 1x1 conv of the concatenation
    x1, x2 = _maps((2, 8, 5, 7), (2, 8, 5, 7))
    small = nb.FeatureFusionBlockFixed(8)
    ref = torch.nn.functional.conv2d(torch.cat([x1, x2], 1), small.conv.weight, small.conv.bias)
    torch.testing.assert_close(small(x1, x2), ref)


def test_fixed_block_rejects_bad_input_clearly():
    block = nb.FeatureFusionBlockFixed(8)
    with pytest.raises(ValueError, match=r"input 1 .*expected \(B, 8, H, W\)"):
        block(*_maps((1, 8, 4, 4), (1, 16, 4, 4)))
    with pytest.raises(ValueError, match="differ"):
        block(*_maps((1, 8, 4, 4), (1, 8, 8, 8)))
    with pytest.raises(ValueError):
        nb.FeatureFusionBlockFixed(0)


# --- the TensorFlow examples ------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [tf.fusion_concatenation_as_printed, tf.fusion_weighted_sum_as_printed,
                                tf.fusion_attention_as_printed])
def test_as_printed_layers_are_recreated_on_every_call(fn):
    maps = _maps((2, 64, 10, 10), (2, 64, 10, 10))
    torch.manual_seed(0)
    first = fn(maps)
    second = fn(maps)       # same input, same function: new random layers
    assert first.shape == second.shape
    assert not torch.allclose(first, second)
    # wrapped as a module it owns no parameters: nothing to train
    module = tf.FunctionAsModule(fn)
    assert sum(p.numel() for p in module.parameters()) == 0
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.Adam(module.parameters())


def test_as_printed_concatenation_shape():
    maps = _maps((1, 128, 6, 6), (1, 64, 6, 6), (1, 32, 6, 6))
    assert tf.fusion_concatenation_as_printed(maps).shape == (1, 192, 6, 6)


def test_as_printed_gates_do_not_sum_to_one():
    torch.manual_seed(0)
    maps = _maps((16, 64, 8, 8), (16, 64, 8, 8), (16, 64, 8, 8), seed=1)
    gates = torch.cat(tf.weighted_sum_gates_as_printed(maps), dim=1)   # (B, n)
    assert gates.shape == (16, 3)
    assert ((gates > 0) & (gates < 1)).all()
    sums = gates.sum(dim=1)
    assert (sums - 1).abs().max() > 0.2          # three sigmoids ≈ 1.5, not 1
    # and the fused output is therefore not a convex combination: equal inputs get scaled by Σ gates
    x = maps[0]
    torch.manual_seed(3)
    out = tf.fusion_weighted_sum_as_printed([x, x, x])
    ratio = (out / x).flatten(1).median(dim=1).values
    assert (ratio - 1).abs().max() > 0.2


def test_as_printed_attention_collapses_to_one_channel():
    torch.manual_seed(0)
    maps = _maps((2, 64, 10, 10), (2, 32, 10, 10))
    out = tf.fusion_attention_as_printed(maps)
    assert out.shape == (2, 1, 10, 10)


def test_fixed_concatenation_is_a_model_and_deterministic():
    torch.manual_seed(0)
    m = tf.ConcatReductionFixed([128, 64, 32], 64)
    maps = _maps((1, 128, 12, 12), (1, 64, 6, 6), (1, 32, 3, 3))   # different sizes: aligned
    a, b = m(maps), m(maps)
    assert a.shape == (1, 192, 12, 12)
    torch.testing.assert_close(a, b)
    assert sum(p.numel() for p in m.parameters()) == (128 + 64 + 32) * 64 + 3 * 64
    torch.optim.Adam(m.parameters())   # there is something to train
    with pytest.raises(ValueError, match="input 1"):
        m(_maps((1, 128, 12, 12), (1, 63, 6, 6), (1, 32, 3, 3)))
    with pytest.raises(ValueError, match="expected 3"):
        m(maps[:2])


def test_fixed_weighted_sum_gates_sum_to_one():
    torch.manual_seed(0)
    fuse = tf.weighted_sum_fixed([64, 64, 64], 64)
    maps = _maps((4, 64, 8, 8), (4, 64, 8, 8), (4, 64, 8, 8))
    a, b = fuse(maps), fuse(maps)
    assert a.shape == (4, 64, 8, 8)
    torch.testing.assert_close(a, b)
    assert sum(p.numel() for p in fuse.parameters()) > 0
    # normalised gates: the fusion of n copies of one map is a convex combination of it
    x = maps[0]
    out = fuse([x, x, x])
    torch.testing.assert_close(out, x, rtol=1e-4, atol=1e-5)


def test_fixed_attention_keeps_the_channels():
    torch.manual_seed(0)
    fuse = tf.channel_attention_fixed([64, 32], 64)
    maps = _maps((2, 64, 10, 10), (2, 32, 10, 10))
    a, b = fuse(maps), fuse(maps)
    assert a.shape == (2, 64, 10, 10)
    torch.testing.assert_close(a, b)
    assert sum(p.numel() for p in fuse.parameters()) > 0
