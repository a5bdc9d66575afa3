"""BiFPNLayer: shapes, normalised node weights, the equations on two levels, and information both ways."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from fusion_course.fusion import FPN, BiFPNLayer


def _feats(batch: int = 2, channels=(8, 16, 24), size: int = 16) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((f"c{i}", torch.randn(batch, c, size >> i, size >> i)) for i, c in enumerate(channels))


def test_shapes_names_and_weights():
    torch.manual_seed(0)
    layer = BiFPNLayer([8, 16, 24], 16)
    out = layer(_feats())
    assert list(out) == ["c0", "c1", "c2"]
    assert [tuple(v.shape) for v in out.values()] == [(2, 16, 16, 16), (2, 16, 8, 8), (2, 16, 4, 4)]
    w = layer.weights()
    assert list(w) == ["td0", "td1", "out1", "out2"]
    assert [len(v) for v in w.values()] == [2, 2, 3, 2]
    for v in w.values():   # fast normalisation: non-negative, sum to 1 up to ε
        assert (v >= 0).all() and abs(float(v.sum()) - 1) < 1e-3


def test_two_levels_follow_the_equations():
    torch.manual_seed(0)
    layer = BiFPNLayer([4, 4], 4).eval()
    with torch.no_grad():
        layer.td_weights["td0"].copy_(torch.tensor([2.0, -1.0]))      # relu -> [2, 0]: only P_0^in
        layer.out_weights["out1"].copy_(torch.tensor([1.0, 3.0]))
    feats = OrderedDict(a=torch.randn(1, 4, 8, 8), b=torch.randn(1, 4, 4, 4))
    out = layer(feats)
    eps = layer.eps
    td0 = layer.td_convs["td0"](feats["a"] * (2 / (2 + eps)))
    assert torch.allclose(out["a"], td0, atol=1e-6)
    down = F.adaptive_max_pool2d(td0, (4, 4))
    out1 = layer.out_convs["out1"]((1 * feats["b"] + 3 * down) / (4 + eps))
    assert torch.allclose(out["b"], out1, atol=1e-5)


def test_information_flows_both_ways_unlike_fpn():
    torch.manual_seed(0)
    feats = _feats(batch=1)
    changed = OrderedDict(feats)
    changed["c0"] = feats["c0"] + torch.randn_like(feats["c0"])      # change only the finest input
    bifpn = BiFPNLayer([8, 16, 24], 16).eval()
    fpn = FPN([8, 16, 24], 16).eval()
    with torch.no_grad():
        # The coarsest BiFPN output sees the finest input (bottom-up path); an FPN's does not.
        assert not torch.allclose(bifpn(feats)["c2"], bifpn(changed)["c2"])
        assert torch.allclose(fpn(feats)["c2"], fpn(changed)["c2"])


def test_gradients_reach_every_node_weight():
    torch.manual_seed(0)
    layer = BiFPNLayer([8, 16, 24], 16)
    sum(v.sum() for v in layer(_feats()).values()).backward()
    for name, p in [*layer.td_weights.items(), *layer.out_weights.items()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_errors():
    with pytest.raises(ValueError, match="at least 2"):
        BiFPNLayer([8], 8)
    with pytest.raises(ValueError, match="eps"):
        BiFPNLayer([8, 8], 8, eps=0)
    layer = BiFPNLayer([8, 16], 8)
    with pytest.raises(TypeError, match="OrderedDict"):
        layer([torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)])
    with pytest.raises(ValueError):
        layer(OrderedDict(a=torch.randn(1, 8, 8, 8), b=torch.randn(1, 12, 4, 4)))   # wrong channels
