"""Diagrams are drawn from the modules: what a figure shows follows the module's structure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch.nn as nn  # noqa: E402

from fusion_course.diagrams import (  # noqa: E402
    bifpn_diagram, branches_diagram, chain_diagram, draw, fpn_diagram, layer_label,
)
from fusion_course.fusion import FPN, BiFPNLayer  # noqa: E402


def _texts(fig) -> list[str]:
    return [t.get_text().strip() for t in fig.axes[0].texts]


def test_layer_labels():
    assert layer_label(nn.Conv2d(16, 32, 3)) == "conv 3×3 16→32"
    assert layer_label(nn.Conv2d(8, 8, 3, groups=8)) == "depthwise conv 3×3 8→8"
    assert layer_label(nn.Conv2d(8, 4, 1, stride=2)) == "conv 1×1 8→4 /2"
    assert layer_label(nn.Linear(256, 16)) == "linear 256→16"
    assert layer_label(nn.MaxPool2d(2)) == "max pool /2"


def test_draw_boxes_and_arrows():
    fig = draw({"a": (0, 0, "in"), "b": (2, 0, "out")}, [("a", "b", "x"), ("a", "b", "", -0.3)], title="t")
    ax = fig.axes[0]
    assert len(ax.patches) == 2 and {"in", "out", "x"} <= set(_texts(fig))
    with pytest.raises(KeyError):
        draw({"a": (0, 0, "in")}, [("a", "missing")])


def test_fpn_diagram_follows_the_module():
    fig = fpn_diagram(FPN([16, 24, 48], 32), names=["c2", "c3", "c4"])
    texts = _texts(fig)
    assert [t for t in texts if t.startswith("conv 1×1")] == ["conv 1×1 16→32", "conv 1×1 24→32", "conv 1×1 48→32"]
    assert texts.count("conv 3×3 32→32") == 3 and texts.count("+") == 3
    assert texts.count("nearest up") == 2                                 # one top-down arrow per level pair


def test_bifpn_diagram_follows_the_module():
    fig = bifpn_diagram(BiFPNLayer([16, 24, 48, 64], 32))
    texts = _texts(fig)
    assert sum("top-down node" in t for t in texts) == 3
    assert sum("bottom-up node" in t for t in texts) == 3
    assert sum("3 weights" in t for t in texts) == 2                     # the middle levels' nodes
    assert texts.count("up") == 3 and texts.count("down") == 3


def test_chain_and_branches():
    seq = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2))
    texts = _texts(chain_diagram(seq))
    assert "conv 3×3 1→8\n+ relu\nmax pool /2" in texts and "linear 8→2" in texts
    nested = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.Conv2d(8, 2, 1), nn.BatchNorm2d(2), nn.ReLU()))
    assert _texts(chain_diagram(nested))[1:3] == ["global avg pool", "conv 1×1 8→2\n+ BN + relu"]
    texts = _texts(branches_diagram({"A": seq, "B": ["x"]}, "sum", ["head"]))
    assert {"map A", "map B", "sum", "head", "logits", "x"} <= set(texts)


def test_cfm_diagram_follows_the_module():
    from fusion_course.diagrams import cfm_diagram
    from fusion_course.fusion import CFM
    from fusion_course.models.f3net import CrossFeatureBaseline

    texts = _texts(cfm_diagram(CFM(8), "C2", "C3"))
    steps = [t for t in texts if t[:3] in {f"{p}{i}:" for p in "hv" for i in range(1, 5)}]
    assert len(steps) == 8 and all("conv 3×3 8→8" in t for t in steps)      # the module's eight CBRs
    assert texts.count("×") == 1 and texts.count("+") == 2                  # the product, two residual sums
    assert {"C2 (low level)", "C3 (high level)"} <= set(texts)
    sum_texts = _texts(cfm_diagram(CrossFeatureBaseline(8, "sum")))
    assert sum_texts.count("×") == 0 and sum_texts.count("+") == 3         # the sum baseline: a third "+"


def test_feedback_diagram_follows_the_module():
    from fusion_course.diagrams import feedback_diagram
    from fusion_course.models import F3Net

    texts = _texts(feedback_diagram(F3Net(width=8, n_decoders=3)))
    assert sum(t.startswith("sub-decoder") for t in texts) == 3
    assert sum(t.startswith("refined C2–C4") for t in texts) == 2            # what each later sub-decoder gets
    assert sum(t.startswith("conv 1×1") and t.split("\n")[0].endswith("→8") for t in texts) == 4
    one = _texts(feedback_diagram(F3Net(width=8, n_decoders=1)))
    assert sum(t.startswith("sub-decoder") for t in one) == 1 and not any(t.startswith("refined") for t in one)
