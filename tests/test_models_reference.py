"""Seeded models and fusion operators build the same weights and compute the same outputs as a stored reference.

Refactors of shared blocks (``ConvBNAct``, ``SqueezeExcite``) and of the fusion contract must not move a
single bit of what a lesson prints: a model built after ``torch.manual_seed(0)`` must draw the same
initial weights in the same order (same parameter names, same values) and compute the same output.

The reference, ``fixtures/model_reference.json``, was computed from the code before the refactor
(``python tests/test_models_reference.py`` writes it again). Weights come from torch's CPU generator and are
compared bit for bit anywhere. Outputs are compared bit for bit where the reference was made (same torch
version and CPU capability); another CPU may round float32 sums differently, so elsewhere they are compared
to float32 precision.
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
# (test_fusionnet_reads_checkpoints_saved_before_convbnact).
RENAMED = {
    ("model:fusionnet", "variant:"): [(re.compile(r"^(stem|conv2)\.conv\.(weight|bias)$"), r"\1.conv.0.\2"),
                                      (re.compile(r"^(stem|conv2)\.bn\.(\w+)$"), r"\1.conv.1.\2")],
}


def renamed(case: str, key: str) -> str:
    for prefixes, rules in RENAMED.items():
        if case.startswith(prefixes):
            for pattern, new in rules:
                key = pattern.sub(new, key)
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


if __name__ == "__main__":
    # Adds this machine's kernels to the reference. Run it only on code known to be right, once as is and
    # once with ATEN_CPU_CAPABILITY=default (the test harness's setting).
    torch.set_num_threads(2)
    stored = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    stored[_where()] = {name: run_case(build) for name, build in cases().items()}
    REFERENCE.write_text(json.dumps(stored, indent=0) + "\n")
    print(f"wrote {REFERENCE}: {len(cases())} cases for {sorted(stored)}", file=sys.stderr)
