"""Seeded models and fusion operators build the same weights and compute the same outputs as a stored reference.

Refactors of shared blocks (``ConvBNAct``, ``SqueezeExcite``) and of the fusion contract must not move a
single bit of what a lesson prints: a model built after ``torch.manual_seed(0)`` must draw the same
initial weights in the same order (same parameter names, same values) and compute the same output.

The reference, ``fixtures/model_reference.json``, was computed from the code before the refactor
(``python tests/test_models_reference.py`` writes it again). Weights come from torch's CPU generator and are
compared bit for bit anywhere. Outputs are compared bit for bit where the reference was made (same torch
version and CPU capability); another CPU may round float32 sums differently, so elsewhere they are compared
to float32 precision.

One change moved outputs on purpose, and only outputs: state-dict version 2 of ``MobileNetFusion`` and
``NormalizedFusionNet`` hands the levels to the fusion finest first where version 1 reversed them
(``tests/test_level_order.py``). The outputs of ``model:mobilenet-{attention,concat,weighted}`` and
``variant:coarse fusion`` were written again for it: each learned weight now meets another level at
initialisation (concat, attention), or the same terms are summed in another order (weighted, coarse fusion).
Their weights are still compared against the reference from before the refactor.
"""
from __future__ import annotations

import hashlib
import json
import re
import functools
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn

REFERENCE = Path(__file__).parent / "fixtures" / "model_reference.json"
SIZE = 32


def _registry_cases() -> dict[str, Callable[[], tuple[nn.Module, Any]]]:
    from fusion_course.models import available_models, create_model, model_spec

    cases = {}
    for name in available_models():
        spec = model_spec(name)
        size = spec.image_sizes[0] if spec.image_sizes else 16 if name.startswith("two-maps") else SIZE
        classes = 1 if spec.task == "segment" else 10
        cin = 2 if name.startswith("two-maps") else 3     # map A and map B

        def build(name=name, size=size, classes=classes, cin=cin):
            return create_model(name, in_channels=cin, num_classes=classes), torch.randn(2, cin, size, size)
        cases[f"model:{name}"] = build
    return cases


def _variant_cases() -> dict[str, Callable[[], tuple[nn.Module, Any]]]:
    from fusion_course.models.fusionnet import ABLATION_VARIANTS, build_variant

    return {f"variant:{name}": (lambda name=name: (build_variant(name, 3, 12, width=0.25), torch.randn(2, 3, 32, 32)))
            for name in ABLATION_VARIANTS}


def _fusion_cases() -> dict[str, Callable[[], tuple[nn.Module, Any]]]:
    from collections import OrderedDict

    from fusion_course import fusion

    def maps():
        return [torch.randn(2, 16, 16, 16), torch.randn(2, 32, 8, 8), torch.randn(2, 64, 4, 4)]

    cases = {f"fusion:{name}": (lambda name=name: (fusion.create_fusion(name, [16, 32, 64], 32), maps()))
             for name in fusion.available_fusions()}
    options = {
        "weighted": [{"mode": "fixed"}, {"mode": "softmax"}, {"mode": "fast"}],
        "formula": [{"normalize": "softmax"}, {"learnable": False}],
        "gated": [{"normalize": True}],
        "spatial": [{"normalize": "sigmoid"}],
        "block": [{"merge": "sum"}],
    }
    for name, variants in options.items():
        for opts in variants:
            key = f"fusion:{name}:" + ",".join(f"{k}={v}" for k, v in opts.items())
            cases[key] = lambda name=name, opts=opts: (fusion.create_fusion(name, [16, 32, 64], 32, **opts), maps())
    cases["fusion:FeatureFusionBlock(3)"] = lambda: (fusion.FeatureFusionBlock(3, 16), torch.randn(2, 3, 16, 16))
    cases["fusion:CFM"] = lambda: (fusion.CFM(16), (torch.randn(2, 16, 16, 16), torch.randn(2, 16, 8, 8)))
    cases["fusion:Align"] = lambda: (fusion.Align([16, 32, 64], 32), maps())

    def pyramid():
        return OrderedDict(zip(("c3", "c4", "c5"), maps()))
    cases["fusion:FPN"] = lambda: (fusion.FPN([16, 32, 64], 32), pyramid())
    cases["fusion:BiFPNLayer"] = lambda: (fusion.BiFPNLayer([16, 32, 64], 32), pyramid())
    return cases


@functools.lru_cache(maxsize=None)
def _block_cases() -> dict[str, Callable[[], tuple[nn.Module, Any]]]:
    from fusion_course.models import f3net, fusionnet, mobilenet

    def image(c: int, size: int = 16) -> Callable[[], torch.Tensor]:
        return lambda: torch.randn(2, c, size, size)
    blocks = {
        "InvertedResidual(24,24,1,6)": (lambda: mobilenet.InvertedResidual(24, 24, 1, 6), image(24)),
        "InvertedResidual(16,24,2,6)": (lambda: mobilenet.InvertedResidual(16, 24, 2, 6), image(16)),
        "InvertedResidual(32,16,1,1)": (lambda: mobilenet.InvertedResidual(32, 16, 1, 1), image(32)),
        "DepthwiseSeparableConv(32,64,3,2)": (lambda: mobilenet.DepthwiseSeparableConv(32, 64, 3, stride=2), image(32)),
        "ResidualBlock(32,64)": (lambda: fusionnet.ResidualBlock(32, 64), image(32)),
        "SqueezeExcitation(64)": (lambda: fusionnet.SqueezeExcitation(64), image(64, 4)),
        "F3Net(fuse=sum)": (lambda: f3net.F3Net(fuse="sum"), image(3, 32)),
        "F3Net(fuse=concat)": (lambda: f3net.F3Net(fuse="concat"), image(3, 32)),
    }
    return {f"block:{name}": (lambda b=b, x=x: (b(), x())) for name, (b, x) in blocks.items()}


def cases() -> dict[str, Callable[[], tuple[nn.Module, Any]]]:
    return {**_registry_cases(), **_variant_cases(), **_fusion_cases(), **_block_cases()}


# Keys renamed on purpose, with the models they apply to. FusionNet's stem and conv2 became ConvBNAct blocks
# (stem.conv.weight -> stem.conv.0.weight, stem.bn.* -> stem.conv.1.*); old checkpoints still load
# (test_fusionnet_reads_checkpoints_saved_before_convbnact). Then (issue 27) FusionNet's ResidualBlock,
# MobileNet's DepthwiseSeparableConv, AFF's MS-CAM bottlenecks and BiFPN's node convolutions did too; their old
# layouts load as well (test_old_layouts_load_into_convbnact_blocks).
_AFF_STEPS = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1"}     # conv, BN, (ReLU), conv, BN -> two ConvBNAct
RESIDUAL_RULES = [(re.compile(r"(^|\.)conv([12])\.(weight|bias)$"), r"\1conv\2.0.\3"),
                  (re.compile(r"(^|\.)bn([12])\.(\w+)$"), r"\1conv\2.1.\3")]
SEPARABLE_RULES = [(re.compile(r"^(depthwise|pointwise)\.(weight|bias)$"), r"\1.0.\2"),
                   (re.compile(r"^norm1\."), "depthwise.1."), (re.compile(r"^norm2\."), "pointwise.1.")]
AFF_RULES = [(re.compile(r"(local_att|global_att\.1)\.([0-4])\.(\w+)$"),
              lambda m: f"{m[1]}.{_AFF_STEPS[m[2]]}.{m[3]}")]
BIFPN_RULES = [(re.compile(r"^((?:td|out)_convs\.\w+)\.1\.weight$"), r"\1.1.0.weight"),
               (re.compile(r"^((?:td|out)_convs\.\w+)\.2\.(\w+)$"), r"\1.1.1.\2")]
RENAMED = {
    ("model:fusionnet", "variant:"): [(re.compile(r"^(stem|conv2)\.conv\.(weight|bias)$"), r"\1.conv.0.\2"),
                                      (re.compile(r"^(stem|conv2)\.bn\.(\w+)$"), r"\1.conv.1.\2")],
    ("model:fusionnet", "variant:", "block:ResidualBlock"): RESIDUAL_RULES,
    ("block:DepthwiseSeparableConv",): SEPARABLE_RULES,
    ("fusion:aff", "fusion:iaff"): AFF_RULES,
    ("fusion:BiFPNLayer",): BIFPN_RULES,
}


def _apply(rules: list, key: str) -> str:
    """``key`` after every ``(compiled pattern, replacement)`` rule, in order."""
    for pattern, new in rules:
        key = pattern.sub(new, key)
    return key


def renamed(case: str, key: str) -> str:
    for prefixes, rules in RENAMED.items():
        if case.startswith(prefixes):
            key = _apply(rules, key)
    return key


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def _flatten(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _flatten(v)]
    return [t for v in out for t in _flatten(v)]


def run_case(build: Callable[[], tuple[nn.Module, Any]]) -> dict[str, Any]:
    """Build with seed 0, draw the input with seed 1, and run one eval-mode forward pass."""
    torch.manual_seed(0)
    model, _ = build()
    torch.manual_seed(1)
    _, x = build()
    model.eval()
    with torch.no_grad():
        out = model(x) if not isinstance(x, tuple) else model(*x)
    return {"weights": {k: _digest(v) for k, v in model.state_dict().items()},
            "outputs": [{"digest": _digest(t), "shape": tuple(t.shape), "head": t.flatten()[:16].tolist(),
                         "sum": t.double().sum().item()} for t in _flatten(out)]}


def _where() -> str:
    # Even seeded initial weights depend on the kernels: uniform_ draws through vectorised code paths.
    return f"torch {torch.__version__.split('+')[0]} | {torch.backends.cpu.get_cpu_capability()}"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", sorted(cases()))
def test_same_weights_and_outputs_as_reference(name: str, reference: dict[str, Any]) -> None:
    torch.set_num_threads(2)
    exact = _where() in reference
    ref = reference.get(_where(), next(iter(reference.values())))[name]
    ref = {**ref, "weights": {renamed(name, k): v for k, v in ref["weights"].items()}}
    got = run_case(cases()[name])
    assert list(got["weights"]) == list(ref["weights"]), "state-dict keys (names or order) changed"
    assert [list(o["shape"]) for o in got["outputs"]] == [o["shape"] for o in ref["outputs"]]
    if exact:    # bit for bit: same weights drawn in the same order, same operations in the same order
        changed = [k for k in ref["weights"] if got["weights"][k] != ref["weights"][k]]
        assert not changed, f"seeded initial weights changed: {changed[:3]}"
        assert [o["digest"] for o in got["outputs"]] == [o["digest"] for o in ref["outputs"]], \
            "an output differs from the reference in some bit"
    else:        # other kernels round differently: equal to float32 precision
        for a, b in zip(got["outputs"], ref["outputs"]):
            torch.testing.assert_close(torch.tensor(a["head"]), torch.tensor(b["head"]), rtol=1e-3, atol=1e-4)


def test_fusionnet_reads_checkpoints_saved_before_convbnact() -> None:
    from fusion_course.models.fusionnet import FusionNet, NormalizedFusionNet

    for cls in (FusionNet, NormalizedFusionNet):
        torch.manual_seed(0)
        saved = cls(3, 10, width=0.25).eval()
        old_layout = {re.sub(r"^(stem|conv2)\.conv\.0\.", r"\1.conv.", re.sub(r"^(stem|conv2)\.conv\.1\.", r"\1.bn.", k)): v
                      for k, v in saved.state_dict().items()}
        assert "stem.bn.running_mean" in old_layout and "conv2.conv.weight" in old_layout
        torch.manual_seed(1)
        fresh = cls(3, 10, width=0.25).eval()
        fresh.load_state_dict(old_layout)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(fresh(x), saved(x))



# ----------------------------------------------------------------------------- issue 27: the old layouts, inline
class _OldSeparable(nn.Module):
    """DepthwiseSeparableConv as it was written before it used ConvBNAct: six flat layers."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, *, norm: bool = True,
                 activation: Any = nn.ReLU, bias: Any = None) -> None:
        super().__init__()
        bias = (not norm) if bias is None else bias
        self.depthwise = nn.Conv2d(cin, cin, k, stride, padding=k // 2, groups=cin, bias=bias)
        self.norm1 = nn.BatchNorm2d(cin) if norm else nn.Identity()
        self.act1 = activation() if activation is not None else nn.Identity()
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=bias)
        self.norm2 = nn.BatchNorm2d(cout) if norm else nn.Identity()
        self.act2 = activation() if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(self.norm2(self.pointwise(self.act1(self.norm1(self.depthwise(x))))))


class _OldResidual(nn.Module):
    """FusionNet's ResidualBlock as it was written before it used ConvBNAct: conv1/bn1/conv2/bn2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout)) if cin != cout
                         else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _old_bottleneck(c: int, hidden: int, norm: bool) -> nn.Sequential:
    """AFF's MS-CAM bottleneck as one flat nn.Sequential: conv (+ BN), ReLU, conv (+ BN)."""
    layers: list[nn.Module] = [nn.Conv2d(c, hidden, 1, bias=not norm)] + ([nn.BatchNorm2d(hidden)] if norm else [])
    layers += [nn.ReLU(inplace=True), nn.Conv2d(hidden, c, 1, bias=not norm)] + ([nn.BatchNorm2d(c)] if norm else [])
    return nn.Sequential(*layers)


def _old_bifpn_node(c: int) -> nn.Sequential:
    """BiFPN's node convolution as one flat nn.Sequential: depthwise 3×3, pointwise 1×1, BN, SiLU."""
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
                         nn.BatchNorm2d(c), nn.SiLU())


def _old_vs_new() -> dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module], list, Callable[[], Any]]]:
    from fusion_course.fusion import aff, bifpn
    from fusion_course.models import fusionnet, mobilenet

    def image(c: int) -> Callable[[], torch.Tensor]:
        return lambda: torch.randn(4, c, 9, 7)
    return {
        "separable": (lambda: _OldSeparable(6, 10, 3, 2), lambda: mobilenet.DepthwiseSeparableConv(6, 10, 3, 2),
                      SEPARABLE_RULES, image(6)),
        "separable-bare": (lambda: _OldSeparable(6, 10, 5, norm=False, activation=None),
                           lambda: mobilenet.DepthwiseSeparableConv(6, 10, 5, norm=False, activation=None),
                           SEPARABLE_RULES, image(6)),
        "separable-relu6-bias": (lambda: _OldSeparable(6, 10, activation=nn.ReLU6, bias=True),
                                 lambda: mobilenet.DepthwiseSeparableConv(6, 10, activation=nn.ReLU6, bias=True),
                                 SEPARABLE_RULES, image(6)),
        "residual": (lambda: _OldResidual(6, 10), lambda: fusionnet.ResidualBlock(6, 10), RESIDUAL_RULES, image(6)),
        "residual-identity": (lambda: _OldResidual(6, 6), lambda: fusionnet.ResidualBlock(6, 6), RESIDUAL_RULES,
                              image(6)),
        "aff-bottleneck": (lambda: _old_bottleneck(8, 2, True), lambda: aff._bottleneck(8, 2, True),
                           [(re.compile(r"^([0-4])\.(\w+)$"), lambda m: f"{_AFF_STEPS[m[1]]}.{m[2]}")], image(8)),
        "aff-bottleneck-no-norm": (lambda: _old_bottleneck(8, 2, False), lambda: aff._bottleneck(8, 2, False),
                                   [(re.compile(r"^0\."), "0.0."), (re.compile(r"^2\."), "1.0.")], image(8)),
        "bifpn-node": (lambda: _old_bifpn_node(8), lambda: bifpn._separable_conv(8),
                       [(re.compile(r"^1\.weight$"), "1.0.weight"), (re.compile(r"^2\."), "1.1.")], image(8)),
    }


def _map_keys(state: dict[str, torch.Tensor], rules: list) -> dict[str, torch.Tensor]:
    return {_apply(rules, key): value for key, value in state.items()}


@pytest.mark.parametrize("name", sorted(_old_vs_new()))
def test_convbnact_blocks_equal_their_old_layout(name: str) -> None:
    """Seeded, the new block draws the old one's weights; with them it computes the same bits, train and eval."""
    old_cls, new_cls, rules, x = _old_vs_new()[name]
    torch.manual_seed(0)
    old = old_cls()
    torch.manual_seed(0)
    new = new_cls()
    mapped = _map_keys(old.state_dict(), rules)
    assert list(mapped) == list(new.state_dict()), "the key map does not describe the new layout"
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in mapped.items()), "seeded initial weights changed"
    with torch.no_grad():       # random BN affine and statistics, so that BatchNorm is not the identity in eval
        for bn in [m for m in old.modules() if isinstance(m, nn.BatchNorm2d)]:
            bn.weight.uniform_(0.5, 1.5), bn.bias.normal_(), bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2)
    new.load_state_dict(_map_keys(old.state_dict(), rules), strict=True)
    inputs = x()
    for train in (True, False):
        old.train(train), new.train(train)
        assert torch.equal(new(inputs), old(inputs)), f"{name}: outputs differ in {'train' if train else 'eval'} mode"
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in _map_keys(old.state_dict(), rules).items()), \
        "running statistics moved differently in train mode"


@pytest.mark.parametrize("name", sorted(_old_vs_new()))
def test_old_layouts_load_into_convbnact_blocks(name: str) -> None:
    """A checkpoint saved in the old, flat layout loads (strict) and computes what the old module computed."""
    old_cls, new_cls, _, x = _old_vs_new()[name]
    torch.manual_seed(0)
    old = old_cls().eval()
    torch.manual_seed(1)
    new = new_cls().eval()
    new.load_state_dict(old.state_dict(), strict=True)
    inputs = x()
    with torch.no_grad():
        assert torch.equal(new(inputs), old(inputs))


def test_whole_models_read_checkpoints_in_the_old_residual_and_fusion_layouts() -> None:
    """FusionNet (ResidualBlocks), AFF/iAFF (MS-CAM) and BiFPN: an old-layout state dict loads strictly."""
    from collections import OrderedDict

    from fusion_course import fusion
    from fusion_course.models.fusionnet import FusionNet, NormalizedFusionNet

    maps = [torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4)]
    cases = [(lambda: FusionNet(3, 10, width=0.125), torch.randn(2, 3, 16, 16)),
             (lambda: NormalizedFusionNet(3, 10, width=0.125), torch.randn(2, 3, 16, 16)),
             (lambda: fusion.AFF([8, 8], 8), maps), (lambda: fusion.IAFF([8, 8], 8, norm=False), maps),
             (lambda: fusion.BiFPNLayer([8, 8], 8), OrderedDict(a=maps[0], b=maps[1]))]
    for build, x in cases:
        torch.manual_seed(0)
        saved = build().eval()
        legacy = _to_old_layout(saved.state_dict())
        assert legacy.keys() != saved.state_dict().keys(), "nothing was renamed: the case tests nothing"
        torch.manual_seed(1)
        fresh = build().eval()
        fresh.load_state_dict(legacy, strict=True)
        with torch.no_grad():
            a, b = fresh(x), saved(x)
        assert all(torch.equal(p, q) for p, q in zip(_flatten(a), _flatten(b)))


def _to_old_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename new keys back to the layouts before issue 27 (the inverse of the RENAMED rules above)."""
    norm = any(k.endswith("local_att.0.1.weight") for k in state)   # AFF with BatchNorm in its MS-CAMs
    # With BN the bottleneck was conv, BN, ReLU, conv, BN (keys 0, 1, 3, 4); without, conv, ReLU, conv (0, 2).
    back = {"0.0": "0", "0.1": "1", "1.0": "3", "1.1": "4"} if norm else {"0.0": "0", "1.0": "2"}
    rules = [(r"(^|\.)conv([12])\.0\.(weight|bias)$", r"\1conv\2.\3"), (r"(^|\.)conv([12])\.1\.(\w+)$", r"\1bn\2.\3"),
             (r"^((?:td|out)_convs\.\w+)\.1\.0\.weight$", r"\1.1.weight"),
             (r"^((?:td|out)_convs\.\w+)\.1\.1\.(\w+)$", r"\1.2.\2"),
             (r"(local_att|global_att\.1)\.([01]\.[01])\.(\w+)$", lambda m: f"{m[1]}.{back[m[2]]}.{m[3]}")]
    return _map_keys(state, [(re.compile(pattern), new) for pattern, new in rules])

if __name__ == "__main__":
    # Adds this machine's kernels to the reference. Run it only on code known to be right, once as is and
    # once with ATEN_CPU_CAPABILITY=default (the test harness's setting).
    torch.set_num_threads(2)
    stored = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    stored[_where()] = {name: run_case(build) for name, build in cases().items()}
    REFERENCE.write_text(json.dumps(stored, indent=0) + "\n")
    print(f"wrote {REFERENCE}: {len(cases())} cases for {sorted(stored)}", file=sys.stderr)
