"""F3Net at teaching scale (fusion_course.models.f3net): shapes, decoder options, feedback, registry."""
from __future__ import annotations

import pytest
import torch

from fusion_course.fusion import CFM
from fusion_course.losses import DeepSupervisionLoss
from fusion_course.models import F3Net, available_models, create_model, model_spec
from fusion_course.models.f3net import CrossFeatureBaseline, SmallBackbone, SubDecoder

SMALL = dict(width=8, backbone_channels=(8, 8, 16, 16))


def _x(b=2, h=64, w=64, seed=0):
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_backbone_strides_are_4_8_16_32():
    feats = SmallBackbone(3, (8, 12, 16, 20))(_x(1, 64, 96))
    assert list(feats) == ["c2", "c3", "c4", "c5"]
    assert [tuple(f.shape) for f in feats.values()] == [(1, 8, 16, 24), (1, 12, 8, 12), (1, 16, 4, 6), (1, 20, 2, 3)]


@pytest.mark.parametrize("fuse", ["cfm", "sum", "concat"])
@pytest.mark.parametrize("n", [1, 2])
def test_outputs_eval_and_training(fuse, n):
    torch.manual_seed(0)
    model = F3Net(fuse=fuse, n_decoders=n, **SMALL)
    model.eval()
    out = model(_x(2, 64, 96))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 64, 96)
    model.train()
    outs = model(_x(2, 64, 96))
    assert isinstance(outs, list) and len(outs) == n + 4       # sub-decoder predictions, then 4 side outputs
    assert all(o.shape == (2, 1, 64, 96) for o in outs)
    loss = DeepSupervisionLoss("ppa", n_main=n)(outs, torch.zeros(2, 1, 64, 96))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_final_prediction_is_first_and_equals_eval_output_in_eval_mode():
    torch.manual_seed(0)
    model = F3Net(**SMALL).eval()
    x = _x(1, 32, 32)
    with torch.no_grad():
        final = model(x)
        model.train(False)
        feats, preds = model.features(x)
        manual = torch.nn.functional.interpolate(model.pred_heads[-1](preds[-1]), size=(32, 32), mode="bilinear")
    torch.testing.assert_close(final, manual)
    assert len(preds) == 2 and preds[0].shape == (1, 8, 8, 8)


def test_cfm_option_uses_the_course_cfm_and_baselines_have_equal_layers():
    cfm = F3Net(fuse="cfm", **SMALL)
    assert isinstance(cfm.decoders[0].block45, CFM)
    total = {f: _params(F3Net(fuse=f, **SMALL)) for f in ("cfm", "sum", "concat")}
    assert total["cfm"] == total["sum"]                       # only the fusion operator differs
    w = SMALL["width"]
    assert total["concat"] - total["sum"] == 3 * 2 * (2 * w * w + 2 * w)   # a 1×1 CBR per block


def test_sum_and_concat_blocks_really_fuse_differently():
    torch.manual_seed(0)
    low, high = torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4)
    s = CrossFeatureBaseline(8, "sum").eval()
    c = CFM(8).eval()
    c.load_state_dict(s.state_dict())   # identical layers, so identical weights load
    hs, vs = s(low, high)
    hc, vc = c(low, high)
    assert hs.shape == hc.shape == (2, 8, 8, 8)
    assert not torch.allclose(hs, hc)
    with pytest.raises(ValueError, match="sum' or 'concat"):
        CrossFeatureBaseline(8, "cfm")


def test_feedback_changes_every_level_and_one_decoder_has_none():
    torch.manual_seed(0)
    dec = SubDecoder(8, "cfm").eval()
    feats = [torch.randn(1, 8, s, s) for s in (16, 8, 4, 2)]
    fb = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        plain, p0 = dec(feats)
        fed, p1 = dec(feats, fb)
    assert torch.equal(plain[3], feats[3])                 # without feedback the top level passes through
    assert not torch.allclose(fed[3], feats[3])            # with it, even the top level receives the prediction
    assert not torch.allclose(p0, p1)
    assert [tuple(f.shape) for f in fed] == [(1, 8, 16, 16), (1, 8, 8, 8), (1, 8, 4, 4), (1, 8, 2, 2)]
    assert len(F3Net(n_decoders=1, **SMALL).decoders) == 1


def test_bad_input_and_options_raise_clear_errors():
    model = F3Net(**SMALL)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(2, 1, 64, 64))
    with pytest.raises(ValueError, match="at least 32"):
        model(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="fuse"):
        F3Net(fuse="gate")
    with pytest.raises(ValueError, match="n_decoders"):
        F3Net(n_decoders=0)
    with pytest.raises(ValueError, match="num_classes"):
        F3Net(num_classes=10)


def test_registered_for_the_cli():
    assert "f3net" in available_models()
    spec = model_spec("f3net")
    assert spec.task == "segment" and spec.default_dataset == "saliency"
    assert [lvl.split(":")[0] for lvl in spec.levels] == ["c2", "c3", "c4", "c5"] and spec.size_multiple == 32
    model = create_model("f3net", in_channels=3, num_classes=1)
    assert isinstance(model, F3Net) and model.fuse == "cfm" and model.n_decoders == 2
    assert create_model("f3net", num_classes=2, fuse="sum", n_decoders=1).n_decoders == 1
