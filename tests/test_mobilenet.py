"""MobileNet blocks from scratch vs torchvision's, and the MobileNet fusion model."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual as TVInvertedResidual
from torchvision.ops import Conv2dNormActivation

from fusion_course.models import available_models, create_model, model_spec
from fusion_course.models.mobilenet import (
    BACKBONES, FUSIONS, DepthwiseSeparableConv, InvertedResidual, MobileNetFusion, conv_macs, separable_cost_ratio,
)
from fusion_course.profiling import count_macs, count_params


def _copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy parameters and buffers in registration order (both blocks register them in the same order)."""
    s, d = list(src.state_dict().values()), dst.state_dict()
    assert len(s) == len(d), (len(s), len(d))
    for (name, t), v in zip(d.items(), s):
        assert t.shape == v.shape, (name, t.shape, v.shape)
        t.copy_(v)


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- DepthwiseSeparableConv
@pytest.mark.parametrize("cin,cout,k,stride", [(32, 64, 3, 1), (16, 24, 3, 2), (8, 8, 5, 1), (3, 7, 3, 2)])
def test_depthwise_separable_matches_torchvision(cin, cout, k, stride):
    ours = DepthwiseSeparableConv(cin, cout, k, stride)
    ref = nn.Sequential(Conv2dNormActivation(cin, cin, k, stride, groups=cin),
                        Conv2dNormActivation(cin, cout, 1))
    assert count_params(ours) == count_params(ref)
    assert ours.depthwise[0].groups == cin and ours.depthwise[0].weight.shape == (cin, 1, k, k)
    assert ours.pointwise[0].weight.shape == (cout, cin, 1, 1)
    x = _x(2, cin, 13, 10)
    _copy_weights(ref, ours)
    ours.eval(), ref.eval()
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, ref(x))
    assert out.shape == (2, cout, (13 + stride - 1) // stride, (10 + stride - 1) // stride)


@pytest.mark.parametrize("n,k", [(1, 1), (16, 3), (64, 3), (128, 5), (256, 7)])
def test_cost_ratio_formula_matches_params_and_macs(n, k):
    m, size = 32, 12
    standard = nn.Conv2d(m, n, k, padding=k // 2, bias=False)
    separable = DepthwiseSeparableConv(m, n, k, norm=False, activation=None, bias=False)
    x = _x(1, m, size, size)
    assert count_params(separable) / count_params(standard) == pytest.approx(separable_cost_ratio(n, k), rel=1e-12)
    macs_std, macs_sep = count_macs(standard, x), count_macs(separable, x)
    assert macs_std == conv_macs(m, n, k, size)
    assert macs_sep == conv_macs(m, m, k, size, groups=m) + conv_macs(m, n, 1, size)
    assert macs_sep / macs_std == pytest.approx(separable_cost_ratio(n, k), rel=1e-12)


def test_cost_ratio_validates():
    assert separable_cost_ratio(256, 3) == pytest.approx(1 / 256 + 1 / 9)
    with pytest.raises(ValueError):
        separable_cost_ratio(0, 3)
    with pytest.raises(ValueError, match="groups"):
        conv_macs(6, 8, 3, 4, groups=4)


def test_depthwise_separable_errors():
    with pytest.raises(ValueError, match="odd"):
        DepthwiseSeparableConv(4, 8, 2)
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        DepthwiseSeparableConv(4, 8)(torch.randn(1, 3, 8, 8))


# ----------------------------------------------------------------------------- InvertedResidual
@pytest.mark.parametrize("cin,cout,stride,t", [(24, 24, 1, 6), (16, 24, 2, 6), (32, 16, 1, 1), (32, 32, 1, 1),
                                               (8, 8, 2, 4), (3, 5, 1, 2.5)])
def test_inverted_residual_matches_torchvision(cin, cout, stride, t):
    ours, ref = InvertedResidual(cin, cout, stride, t), TVInvertedResidual(cin, cout, stride, t)
    assert count_params(ours) == count_params(ref)
    assert ours.use_residual == ref.use_res_connect
    _copy_weights(ref, ours)
    x = _x(2, cin, 9, 14)
    ours.eval(), ref.eval()
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, ref(x))
    assert out.shape == ref(x).shape == (2, cout, (9 + stride - 1) // stride, (14 + stride - 1) // stride)


def test_inverted_residual_steps_and_errors():
    block = InvertedResidual(16, 16, 1, 6)
    assert block.expand[0].weight.shape == (96, 16, 1, 1)            # expand 1×1
    assert block.depthwise[0].groups == 96                           # depthwise on the wide middle
    assert not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in block.project)   # linear bottleneck
    assert InvertedResidual(16, 16, 1, 1).expand is None
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(8, 8, 3, 6)
    with pytest.raises(ValueError, match="expand_ratio"):
        InvertedResidual(8, 8, 1, 0.5)


# ----------------------------------------------------------------------------- MobileNetFusion
def test_backbone_levels_and_reference_size():
    import torchvision

    assert count_params(torchvision.models.mobilenet_v3_small(weights=None)) == 2_542_856   # REFERENCE §5
    m = MobileNetFusion(num_classes=3, fusion="concat")
    shapes = [tuple(f.shape) for f in m.features(torch.zeros(1, 3, 224, 224))]
    assert shapes == [(1, 16, 56, 56), (1, 24, 28, 28), (1, 48, 14, 14), (1, 576, 7, 7)]
    assert m.level_channels == [16, 24, 48, 576]


@pytest.mark.parametrize("fusion", list(FUSIONS))
@pytest.mark.parametrize("task", ["classify", "segment"])
def test_fusion_model_shapes_and_gradients(fusion, task):
    torch.manual_seed(0)
    m = MobileNetFusion(num_classes=5, fusion=fusion, task=task, fusion_channels=16)
    x = _x(2, 3, 64, 96)
    out = m(x)
    assert out.shape == ((2, 5) if task == "classify" else (2, 1, 64, 96))
    out.float().pow(2).mean().backward()
    # every parameter of the head gets a gradient (the fusion is really in the graph)
    for name, p in m.named_parameters():
        if not name.startswith("extractor"):
            assert p.grad is not None, name
    if fusion == "none":
        assert m.fuse is None and len(m.laterals) == 1
    else:
        assert len(m.laterals) == 4


def test_fusion_model_is_per_sample_in_eval():
    m = MobileNetFusion(num_classes=4, fusion="attention").eval()
    x = _x(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m(x)[1:2], m(x[1:2]), atol=1e-5, rtol=1e-4)


def test_fusion_model_options():
    m = MobileNetFusion(in_channels=1, num_classes=2, backbone="mobilenet_v2", fusion="weighted")
    assert m.level_channels == [24, 32, 96, 1280]
    assert m(_x(2, 1, 64, 64)).shape == (2, 2)
    assert all(b.momentum == 0.1 for b in m.extractor.modules() if isinstance(b, nn.BatchNorm2d))
    m = MobileNetFusion(fusion="none", bn_momentum=None)
    assert {b.momentum for b in m.extractor.modules() if isinstance(b, nn.BatchNorm2d)} == {0.01}


def test_fusion_model_errors():
    with pytest.raises(ValueError, match="unknown fusion"):
        MobileNetFusion(fusion="max")
    with pytest.raises(ValueError, match="unknown backbone"):
        MobileNetFusion(backbone="resnet18")
    with pytest.raises(ValueError, match="task"):
        MobileNetFusion(task="detect")
    m = MobileNetFusion(fusion="none")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        m(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="at least 32"):
        m(torch.zeros(1, 3, 16, 16))


def test_head_is_light_in_macs():
    """The fusion head adds under 5% multiply-adds to the plain model at 224×224."""
    x = torch.zeros(1, 3, 224, 224)
    plain = count_macs(MobileNetFusion(fusion="none"), x)
    for fusion in ("concat", "weighted", "attention"):
        extra = count_macs(MobileNetFusion(fusion=fusion), x) / plain - 1
        assert 0 < extra < 0.05, (fusion, extra)


def test_registered_models():
    names = available_models()
    for name in ("mobilenet-plain", "mobilenet-concat", "mobilenet-weighted", "mobilenet-attention"):
        assert name in names
        spec = model_spec(name)
        assert spec.task == "classify" and spec.default_dataset == "texture-shapes"
        m = create_model(name, in_channels=3, num_classes=8)
        assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 8)
    m = create_model("mobilenet-weighted-mask", in_channels=3, num_classes=1)
    assert model_spec("mobilenet-weighted-mask").task == "segment"
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 64, 64)
    assert set(BACKBONES) == {"mobilenet_v3_small", "mobilenet_v2"}


def test_docstring_examples_run():
    import doctest

    from fusion_course.models import mobilenet

    assert doctest.testmod(mobilenet).failed == 0
