"""reverse_input_state: a checkpoint saved with a fusion operator's inputs in one order loads into the other."""
from __future__ import annotations

import pytest
import torch

from fusion_course.fusion import GatedFusion, create_fusion, reverse_input_state

UNEQUAL = [8, 16, 32]     # every operator also has 1×1 projections to reorder
EQUAL = [16, 16, 16]      # as the models fuse their levels: only the operator's own weights move
OPS = [("sum", {}), ("concat", {}), ("weighted", {"mode": "fast"}), ("weighted", {"mode": "softmax", "per_channel": True}),
       ("attention", {}), ("attention", {"per_channel": False}), ("spatial", {}), ("spatial", {"normalize": "sigmoid"})]


def _maps(channels: list[int]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(2, c, s, s, generator=g) for c, s in zip(channels, (16, 8, 4))]  # finest first


def _old_and_new(name: str, opts: dict, channels: list[int]) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    old = create_fusion(name, channels[::-1], 16, **opts).eval()      # saved for coarsest first, size "first"
    with torch.no_grad():                                              # learned weights that differ per input
        for p in old.parameters():
            p.add_(torch.randn_like(p))
    new = create_fusion(name, channels, 16, size="last", **opts).eval()      # finest first, fused at the coarsest
    return old, new


IDS = [f"{n}{'-' + str(o) if o else ''}" for n, o in OPS]


@pytest.mark.parametrize("channels", [UNEQUAL, EQUAL], ids=["unequal", "equal"])
@pytest.mark.parametrize("name,opts", OPS, ids=IDS)
def test_reordered_state_gives_the_old_outputs(name, opts, channels):
    old, new = _old_and_new(name, opts, channels)
    state = old.state_dict()
    reverse_input_state(new, state)
    new.load_state_dict(state)                                         # strict: every key found, none left over
    maps = _maps(channels)
    with torch.no_grad():
        want, got = old(maps[::-1]), new(maps)
    assert got.shape == (2, 16, 4, 4)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


@pytest.mark.parametrize("name,opts", OPS[1:], ids=IDS[1:])
def test_without_the_reorder_the_weights_meet_the_wrong_inputs(name, opts):
    """With equal channels the old state loads without complaint, and every operator with weights goes wrong."""
    old, new = _old_and_new(name, opts, EQUAL)
    new.load_state_dict(old.state_dict())
    maps = _maps(EQUAL)
    with torch.no_grad():
        assert not torch.allclose(new(maps), old(maps[::-1]), atol=1e-3)


def test_an_operator_without_a_rule_is_refused():
    with pytest.raises(TypeError, match="GatedFusion"):
        reverse_input_state(GatedFusion([4, 4], 4), {})
