"""Lesson 02's task and models: each map holds half of the label, and the models see what they claim to."""
from __future__ import annotations

import pytest
import torch

from fusion_course.data import available_datasets, load_dataset
from fusion_course.data.two_maps import accuracy_ceiling, make_two_maps, split_label
from fusion_course.errors import UsageError
from fusion_course.models.two_maps import TwoMapsNet


def test_registered_and_shaped():
    assert "two-maps" in available_datasets()
    ds = load_dataset("two-maps", "val", n=96, size=12)
    x, y = ds[0]
    assert x.shape == (2, 12, 12) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert ds.num_classes == 16 and len(ds) == 96 and ds.classes[5] == "top-right·1"


def test_labels_are_balanced_pairs_and_decode():
    d = make_two_maps(320, split="test", seed=3)
    where, what = split_label(d["labels"], d["num_what"])
    assert torch.equal(where, d["where"]) and torch.equal(what, d["what"])
    assert torch.bincount(d["labels"], minlength=16).tolist() == [20] * 16


def test_each_map_carries_only_its_half():
    d = make_two_maps(400, split="train", seed=0)
    a, b = d["images"][:, 0], d["images"][:, 1]
    # Map A: the brightest quadrant is where the mark is (most of the time: the texture is a distractor).
    quads = torch.stack([a[:, :8, :8], a[:, :8, 8:], a[:, 8:, :8], a[:, 8:, 8:]], 1).amax(dim=(2, 3))
    assert (quads.argmax(1) == d["where"]).float().mean() > 0.8
    # Map B does not depend on the place: its mean image is the same for every place (up to noise).
    means = torch.stack([b[d["where"] == w].mean(0) for w in range(4)])
    assert (means - means.mean(0)).abs().max() < 0.15
    # Map A does not depend on the digit.
    means = torch.stack([a[d["what"] == c].mean() for c in range(4)])
    assert (means - means.mean()).abs().max() < 0.02


def test_splits_are_disjoint_draws_and_reproducible():
    a = make_two_maps(50, split="train", seed=0)["images"]
    b = make_two_maps(50, split="test", seed=0)["images"]
    assert not torch.equal(a, b)
    make_two_maps.cache_clear()
    assert torch.equal(a, make_two_maps(50, split="train", seed=0)["images"])


def test_accuracy_ceiling():
    ds = load_dataset("two-maps", "test", n=400)
    assert accuracy_ceiling(ds, "where") == pytest.approx(0.25, abs=0.01)
    assert accuracy_ceiling(ds, "what") == pytest.approx(0.25, abs=0.01)
    assert accuracy_ceiling(ds, "both") == 1.0
    with pytest.raises(ValueError):
        accuracy_ceiling(ds, "colour")


def test_bad_options():
    for kwargs in [dict(size=7), dict(num_what=11), dict(n=0)]:
        with pytest.raises(UsageError):
            make_two_maps(**{"n": 10, **kwargs})
    with pytest.raises(UsageError):
        load_dataset("two-maps", "holdout")


@pytest.mark.parametrize("inputs, fusion", [("A", None), ("B", None), ("AB", "concat"), ("AB", "sum"), ("AB", "gated"),
                                            ("AB", "early")])
def test_models_see_only_their_maps(inputs, fusion):
    torch.manual_seed(0)
    net = TwoMapsNet(inputs, fusion or "concat").eval()
    x = torch.rand(3, 2, 16, 16)
    out = net(x)
    assert out.shape == (3, 16)
    x_a, x_b = x.clone(), x.clone()
    x_a[:, 0] = torch.rand(3, 16, 16)   # change map A only
    x_b[:, 1] = torch.rand(3, 16, 16)   # change map B only
    assert torch.allclose(net(x_a), out) == (inputs == "B")
    assert torch.allclose(net(x_b), out) == (inputs == "A")


def test_model_errors():
    with pytest.raises(ValueError, match="inputs"):
        TwoMapsNet("C")
    with pytest.raises(ValueError, match="fusion"):
        TwoMapsNet("AB", "attention")
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        TwoMapsNet()(torch.rand(1, 3, 16, 16))


def test_early_fusion_is_one_encoder_over_both_channels():
    torch.manual_seed(0)
    net = TwoMapsNet("AB", "early").eval()
    assert list(net.encoders) == ["AB"] and net.fusion is None
    first = net.encoders["AB"][0]
    assert first.in_channels == 2 and first.out_channels == 16
    # Same encoder as a single-map model except for the 2-channel first conv: 16·9 more weights.
    from fusion_course.profiling import count_params
    assert count_params(net) == count_params(TwoMapsNet("A")) + 16 * 9
    # Its first conv over [A‖B] is the sum of two per-map convs (the weights' channel slices).
    x = torch.rand(2, 2, 16, 16)
    conv_a = torch.nn.functional.conv2d(x[:, :1], first.weight[:, :1], first.bias, padding=1)
    conv_b = torch.nn.functional.conv2d(x[:, 1:], first.weight[:, 1:], None, padding=1)
    assert torch.allclose(first(x), conv_a + conv_b, atol=1e-6)


def test_early_fusion_is_registered():
    from fusion_course.models import create_model

    net = create_model("two-maps-early", in_channels=2, num_classes=16)
    assert isinstance(net, TwoMapsNet) and net.fusion_name == "early"
