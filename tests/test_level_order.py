"""Checkpoints of version 1, which handed the levels to a fusion coarsest first, still load into the models.

Version 2 of ``MobileNetFusion`` (task="classify") and ``NormalizedFusionNet`` (fuse_at="coarse") lists the
levels finest first, like every model of the course. A version-1 model is emulated here exactly as it ran:
the same modules, the fusion handed the levels reversed and fusing at the first one's size.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from fusion_course.models.fusionnet import NormalizedFusionNet
from fusion_course.models.mobilenet import MobileNetFusion


class _Version1(nn.Module):
    """A fusion operator called as version 1 called it: levels coarsest first, output at the first one's size."""

    def __init__(self, fuse: nn.Module) -> None:
        super().__init__()
        self.inner = fuse
        fuse.align.size = "first"

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        return self.inner(maps[::-1])


def _randomise(module: nn.Module) -> None:
    """Learned-looking weights: different for every level, so a wrong order shows."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p))


CASES = {
    "mobilenet-concat": (lambda: MobileNetFusion(num_classes=4, fusion="concat", fusion_channels=16), "fuse", 64),
    "mobilenet-weighted": (lambda: MobileNetFusion(num_classes=4, fusion="weighted", fusion_channels=16), "fuse", 64),
    "mobilenet-attention": (lambda: MobileNetFusion(num_classes=4, fusion="attention", fusion_channels=16), "fuse", 64),
    "fusionnet-coarse-softmax": (lambda: NormalizedFusionNet(width=0.125, fuse_at="coarse"), "level_fusion", 32),
    "fusionnet-coarse-spatial": (lambda: NormalizedFusionNet(width=0.125, fuse_at="coarse", level_fusion="spatial"),
                                 "level_fusion", 32),
}


def _version_1_checkpoint(name: str, tmp_path) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """(state dict as version 1 saved it, an input, the version-1 model's output on it)."""
    build, attr, side = CASES[name]
    torch.manual_seed(0)
    old = build().eval()
    _randomise(getattr(old, attr))
    state = old.state_dict()
    state._metadata[""]["version"] = 1                   # what version 1's state_dict() wrote
    torch.save(state, tmp_path / "v1.pt")
    setattr(old, attr, _Version1(getattr(old, attr)))
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        return torch.load(tmp_path / "v1.pt"), x, old(x)


@pytest.mark.parametrize("name", list(CASES))
def test_a_version_1_checkpoint_gives_the_outputs_it_gave(name, tmp_path):
    state, x, want = _version_1_checkpoint(name, tmp_path)
    new = CASES[name][0]().eval()
    new.load_state_dict(state)
    with torch.no_grad():
        got = new(x)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    resaved = new.state_dict()                           # saved again: version 2, loads as it is
    assert resaved._metadata[""]["version"] == 2
    again = CASES[name][0]().eval()
    again.load_state_dict(resaved)
    with torch.no_grad():
        assert torch.equal(again(x), got)


@pytest.mark.parametrize("name", list(CASES))
def test_read_as_version_2_the_same_checkpoint_goes_wrong(name, tmp_path):
    """Without the version, nothing complains: the keys and shapes match, and the outputs are wrong."""
    state, x, want = _version_1_checkpoint(name, tmp_path)
    state._metadata[""]["version"] = 2
    new = CASES[name][0]().eval()
    new.load_state_dict(state)
    with torch.no_grad():
        assert not torch.allclose(new(x), want, atol=1e-5)        # the tolerance the test above holds to


@pytest.mark.parametrize("build", [lambda: MobileNetFusion(num_classes=4, fusion="attention", task="segment"),
                                   lambda: NormalizedFusionNet(width=0.125, level_fusion="fast")],
                         ids=["mobilenet-segment", "fusionnet-fine"])
def test_models_whose_order_did_not_change_load_version_1_as_saved(build):
    torch.manual_seed(0)
    m = build()
    _randomise(m)
    state = m.state_dict()
    state._metadata[""]["version"] = 1
    fresh = build()
    fresh.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), m.state_dict().values()))


def test_a_copy_of_a_model_reads_version_1_too(tmp_path):
    """The loading hook travels with a copy of the model (deepcopy), and reorders what the copy loads."""
    import copy

    state, x, want = _version_1_checkpoint("mobilenet-attention", tmp_path)
    original = CASES["mobilenet-attention"][0]()
    clone = copy.deepcopy(original).eval()       # eval after the copy: torch.fx's deepcopy leaves train mode on
    clone.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(clone(x), want, atol=1e-5)
