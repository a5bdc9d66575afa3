"""FusionNet as published (exact parameter count, fixed branch mix) and NormalizedFusionNet (lesson 08)."""
from __future__ import annotations

import subprocess
import sys


import pytest
import torch
from torch import nn

from fusion_course.models import create_model, model_spec
from fusion_course.models.fusionnet import (
    PUBLISHED_PARAMS,
    DynamicLevelFusion,
    FusionNet,
    NormalizedFusionNet,
    PublishedFPN,
    SqueezeExcitation,
    architecture_table,
    format_table,
)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def net() -> FusionNet:
    torch.manual_seed(0)
    return FusionNet().eval()


def test_published_parameter_count_is_exact(net):
    assert n_params(net) == PUBLISHED_PARAMS == 9_063_096


def test_published_partial_counts(net):
    # REFERENCE: RB4 3.67M, FPN 2.61M, conv2 1.18M (rounded); these are the exact values.
    assert n_params(net.layer4.block) == 3_674_624
    assert n_params(net.fpn) == 2_607_104
    assert n_params(net.conv2) == 1_180_416
    # the README's "self-attention" is squeeze-and-excitation, without biases
    assert isinstance(net.layer3.se, SqueezeExcitation) and isinstance(net.layer4.se, SqueezeExcitation)
    assert net.layer3.se.fc1.bias is None and n_params(net.layer3.se) == 2 * 256 * 16


@pytest.mark.parametrize("size", [32, 64])
def test_fusionnet_shapes(net, size):
    with torch.no_grad():
        f = net.features(torch.randn(2, 3, size, size))
        assert f["c1p"].shape[-1] == size // 2 and f["c2p"].shape[-1] == size // 4
        assert f["c4"].shape[-2:] == f["c5"].shape[-2:] == f["c6"].shape[-2:] == (size // 8, size // 8)
        assert net(torch.randn(1, 3, size, size)).shape == (1, 10)


def test_fixed_branch_weights_are_published_and_not_learned(net):
    assert torch.allclose(net.branch_weights, torch.tensor([5.0, 2.0, 3.0, 5.0]) / 15)
    assert "branch_weights" not in dict(net.named_parameters())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        b = net.branch_logits(x)
        expected = (5 * b[0] + 2 * b[1] + 3 * b[2] + 5 * b[3]) / 15
        assert torch.allclose(net(x), expected, atol=1e-6)


def test_dynamic_fusion_shrinks_to_coarsest_and_is_unnormalised():
    torch.manual_seed(0)
    fuse = DynamicLevelFusion(16, 4)
    maps = [torch.randn(2, 16, s, s) for s in (8, 4, 4, 4)]
    out = fuse(maps)
    assert out.shape == (2, 16, 4, 4)
    w = fuse.last_weights
    assert w.shape == (2, 4, 4, 4) and bool(((w > 0) & (w < 1)).all())
    assert not torch.allclose(w.sum(1), torch.ones(2, 4, 4), atol=1e-2)   # four sigmoids, no normalisation
    # the finest map is subsampled (nearest): its odd rows/columns never reach the output
    m2 = [m.clone() for m in maps]
    m2[0][:, :, 1::2, :] += 100.0
    assert torch.allclose(fuse(m2), out)


def test_published_fpn_chains_smoothed_outputs():
    torch.manual_seed(0)
    fpn = PublishedFPN([4, 8], 6)
    c2, c3 = torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)
    p2, p3 = fpn([c2, c3])
    top = fpn.output[1](fpn.lateral[1](c3))
    assert torch.allclose(p3, top)
    up = torch.nn.functional.interpolate(top, size=(8, 8), mode="nearest")
    assert torch.allclose(p2, fpn.output[0](fpn.lateral[0](c2) + up), atol=1e-6)
    with pytest.raises(ValueError, match="expects 2 maps"):
        fpn([c2])


def test_fusionnet_bad_input_is_explained(net):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 8"):
        net(torch.randn(1, 3, 4, 4))
    with pytest.raises(TypeError):
        net([torch.randn(1, 3, 32, 32)])
    with pytest.raises(ValueError, match="width"):
        FusionNet(width=0)


def test_normalized_has_fewer_params_and_uses_package_modules():
    from fusion_course.fusion import FPN, WeightedSumFusion

    m = NormalizedFusionNet()
    assert n_params(m) <= PUBLISHED_PARAMS
    assert isinstance(m.fpn, FPN)
    assert isinstance(m.level_fusion, WeightedSumFusion) and isinstance(m.branch_fusion, WeightedSumFusion)
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_normalized_branch_weights_are_learned_and_sum_to_one():
    torch.manual_seed(0)
    m = NormalizedFusionNet(width=0.125)
    w = m.branch_weight_values()
    assert w.shape == (4,) and abs(float(w.sum()) - 1) < 1e-6
    params = dict(m.named_parameters())
    assert params["branch_fusion.weight"].requires_grad and params["level_fusion.weight"].requires_grad
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    nn.functional.cross_entropy(m(x), y).backward()
    assert params["branch_fusion.weight"].grad.abs().sum() > 0
    assert params["level_fusion.weight"].grad.abs().sum() > 0
    # the output is the normalised mix of the branch logits
    m.eval()
    with torch.no_grad():
        b = torch.stack(m.branch_logits(x))
        assert torch.allclose(m(x), (m.branch_weight_values()[:, None, None] * b).sum(0), atol=1e-5)


def test_normalized_fixed_branch_weights():
    m = NormalizedFusionNet(width=0.125, branch_weights="fixed")
    assert torch.allclose(m.branch_weight_values(), torch.tensor([5.0, 2.0, 3.0, 5.0]) / 15)
    assert not any("branch_fusion" in n for n, _ in m.named_parameters())
    m3 = NormalizedFusionNet(width=0.125, branch_weights="fixed", branches=(1, 2, 3))
    assert torch.allclose(m3.branch_weight_values(), torch.tensor([5.0, 2.0, 3.0]) / 10)


@pytest.mark.parametrize("level_fusion", ["softmax", "fast"])
def test_fine_versus_coarse_fusion(level_fusion):
    x = torch.randn(2, 3, 32, 32)
    for fuse_at, side in (("fine", 8), ("coarse", 4)):
        m = NormalizedFusionNet(width=0.125, fuse_at=fuse_at, level_fusion=level_fusion).eval()
        with torch.no_grad():
            fused = m.fuse_levels(m.pyramid(m.features(x)))
        assert fused.shape[-2:] == (side, side), fuse_at
        lw = m.level_weight_values()
        assert lw.shape == (4,) and abs(float(lw.sum()) - 1) < 1e-3


def test_dropping_branches_removes_their_modules():
    full = NormalizedFusionNet(width=0.125)
    no_fpn = NormalizedFusionNet(width=0.125, branches=(1, 2, 3))
    assert not hasattr(no_fpn, "fpn") and n_params(no_fpn) < n_params(full)
    assert no_fpn.branch_weight_values().shape == (3,)
    with pytest.raises(ValueError, match="no FPN branch"):
        no_fpn.level_weight_values()
    for b in (1, 2, 3, 4):
        kept = tuple(k for k in (1, 2, 3, 4) if k != b)
        m = NormalizedFusionNet(width=0.125, branches=kept)
        assert not hasattr(m, f"branch{b}") and m(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("kwargs,match", [
    (dict(branches=()), "subset"), (dict(branches=(5,)), "subset"), (dict(branch_weights="sigmoid"), "branch_weights"),
    (dict(level_fusion="sigmoid"), "level_fusion"), (dict(fuse_at="middle"), "fuse_at"), (dict(width=-1), "width"),
    (dict(level_resize="cubic"), "level_resize"),
])
def test_normalized_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NormalizedFusionNet(**kwargs)


def test_architecture_table_adds_up(net):
    rows = architecture_table(net, (1, 3, 32, 32))
    assert [r["stage"] for r in rows][:6] == ["stem", "layer1", "layer2", "layer3", "layer4", "conv2"]
    assert sum(r["params"] for r in rows) == PUBLISHED_PARAMS
    out = {r["stage"]: r["output"] for r in rows}
    assert out["layer1"] == "64×8×8" and out["dynamic_fusion"] == "256×4×4" and out["output"] == "10"
    assert out["fpn"].split(" | ")[0] == "256×8×8"
    assert "9,063,096" in format_table(rows)
    assert net.training is False
    m = NormalizedFusionNet(width=0.125).train()
    rows = architecture_table(m, (1, 3, 32, 32))
    assert m.training and sum(r["params"] for r in rows) == n_params(m)
    assert {r["stage"]: r["output"] for r in rows}["level_fusion"] == "32×8×8"


def test_draw_architecture_runs():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fusion_course.models.fusionnet import draw_architecture

    ax = draw_architecture(architecture_table(FusionNet(width=0.125)), title="FusionNet")
    assert len(ax.patches) >= 12
    plt.close(ax.figure)


def test_registry_entries():
    from fusion_course.data import available_datasets

    for name in ("fusionnet", "fusionnet-normalized"):
        spec = model_spec(name)
        assert spec.task == "classify" and spec.default_dataset in available_datasets()
        m = create_model(name, in_channels=1, num_classes=4, width=0.125)
        assert m(torch.randn(2, 1, 16, 16)).shape == (2, 4)
    assert n_params(create_model("fusionnet")) == PUBLISHED_PARAMS


def test_gpu_bench_runs_on_cpu_and_stays_light():
    from fusion_course.gpu_bench import bench_one, format_rows

    row = bench_one("fusionnet-normalized", "eager-fp32", batch_size=2, steps=1, warmup=1, image_size=16,
                    device=torch.device("cpu"), width=0.125)
    assert row["images_per_s"] > 0 and row["params"] > 0
    assert "fusionnet-normalized" in format_rows([row])
    code = ("import sys, fusion_course.gpu_bench; "
            "bad = [m for m in ('nbformat', 'ipywidgets', 'nbclient', 'jupyterlab') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kwargs", [dict(), dict(fuse_at="coarse"), dict(level_resize="bilinear", level_fusion="fast")])
def test_normalized_traces_without_graph_breaks(kwargs):
    # torch.compile must see one graph: a break (e.g. max(..., key=...) or a .item()) cost the GPU benchmark dearly
    m = NormalizedFusionNet(width=0.125, **kwargs).eval()
    explanation = torch._dynamo.explain(m)(torch.randn(2, 3, 32, 32))
    assert explanation.graph_break_count == 0, [str(r.reason) for r in explanation.break_reasons]


def test_coarse_fusion_weighs_p2_to_p5_in_order_at_p5s_size():
    m = NormalizedFusionNet(width=0.125, fuse_at="coarse", level_fusion="fast").eval()
    with torch.no_grad():
        m.level_fusion.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))   # raw weights of P2, P3, P4, P5
        levels = m.pyramid(m.features(torch.randn(2, 3, 32, 32)))          # P2..P5: 8×8, then 4×4 each
        fused = m.fuse_levels(levels)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0]) / (10 + 1e-4)
    want = sum(wi * nn.functional.interpolate(p, size=(4, 4), mode="nearest") for wi, p in zip(w, levels))
    assert torch.allclose(m.level_weight_values(), w, atol=1e-6)
    assert torch.allclose(fused, want, atol=1e-5)
