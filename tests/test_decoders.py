"""The lesson-05 segmentation models: shapes, equal parameter budgets, registry entries, clear errors."""
from __future__ import annotations

import pytest
import torch

from fusion_course.models import decoders as dec
from fusion_course.profiling import count_params


def test_encoder_levels():
    enc = dec.Encoder(3, (16, 32, 48, 64))
    feats = enc(torch.randn(1, 3, 48, 64))
    assert [tuple(f.shape) for f in feats] == [(1, 16, 24, 32), (1, 32, 12, 16), (1, 48, 6, 8), (1, 64, 3, 4)]
    assert enc.stride == 16


@pytest.mark.parametrize("name", dec.DECODERS)
def test_every_decoder_gives_full_size_logits_and_learns(name):
    torch.manual_seed(0)
    net = dec.SegmentationNet(name, width=8)
    x = torch.randn(2, 3, 32, 48)
    out = net(x)
    assert out.shape == (2, 1, 32, 48)
    out.mean().backward()
    # every parameter of the encoder's first stage gets a gradient: the path to the loss exists
    assert all(p.grad is not None for p in net.parameters())


def test_equal_parameter_budget():
    counts = {name: count_params(dec.SegmentationNet(name, param_budget=130_000)) for name in dec.DECODERS}
    assert max(counts.values()) - min(counts.values()) < 0.02 * 130_000, counts
    # the deep-only decoder is the one whose fused map is widest (it projects only one level)
    widths = {name: dec.SegmentationNet(name, param_budget=130_000).width for name in dec.DECODERS}
    assert widths["deep"] > widths["sum"] > widths["fpn"]


def test_deep_only_ignores_the_fine_levels():
    torch.manual_seed(0)
    net = dec.SegmentationNet("deep", width=8).eval()
    feats = net.encoder(torch.randn(1, 3, 32, 32))
    a = net.fuse(feats)
    changed = [torch.randn_like(f) for f in feats[:-1]] + [feats[-1]]
    torch.testing.assert_close(net.fuse(changed), a)       # only the deepest level matters
    fused = dec.SegmentationNet("sum", width=8).eval()
    f2 = fused.encoder(torch.randn(1, 3, 32, 32))
    assert not torch.allclose(fused.fuse(f2), fused.fuse([torch.randn_like(f2[0])] + f2[1:]))


def test_bad_input_is_explained():
    net = dec.SegmentationNet("sum", width=8)
    with pytest.raises(ValueError, match="multiple of the encoder's stride 16"):
        net(torch.randn(1, 3, 40, 48))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        net(torch.randn(3, 48, 48))
    with pytest.raises(ValueError, match="unknown decoder"):
        dec.SegmentationNet("unet")


def test_model_specs():
    names = {s.name for s in dec.MODEL_SPECS}
    assert names == {f"seg-{d}" for d in dec.DECODERS}
    for spec in dec.MODEL_SPECS:
        assert spec.task == "segment" and spec.default_dataset == "texture-shapes"
        assert spec.size_multiple == 16
    spec = next(s for s in dec.MODEL_SPECS if s.name == "seg-fpn")
    net = spec.builder(in_channels=1, num_classes=1, width=8)
    assert net(torch.randn(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="binary mask"):
        spec.builder(in_channels=3, num_classes=10)
