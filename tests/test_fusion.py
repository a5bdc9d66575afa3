"""Unit tests of the fusion operators (fusion_course.fusion): shapes, gradients, determinism, known values."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch
from torch import nn

import fusion_course.fusion as fusion
from fusion_course.fusion import (
    AFF, CFM, IAFF, Align, ChannelAttentionFusion, ConcatFusion, FeatureFusionBlock, FormulaFusion,
    GatedFusion, SumFusion, WeightedSumFusion, align_features, available_fusions, create_fusion,
)

IN_CHANNELS = [8, 16, 12]
OUT = 8
SIZES = [(12, 10), (6, 5), (3, 3)]   # mixed, non-square, non-power-of-two

# Every registered fusion with its defaults, plus the option variants that change the computation.
CASES = [(name, {}) for name in available_fusions()] + [
    ("weighted", {"mode": "learned"}),
    ("weighted", {"mode": "softmax"}),
    ("weighted", {"mode": "fast"}),
    ("weighted", {"mode": "fast", "per_channel": True}),
    ("weighted", {"mode": "softmax", "resize": "nearest"}),
    ("formula", {"activation": "tanh", "normalize": "fast"}),
    ("formula", {"activation": nn.GELU(), "normalize": "softmax"}),
    ("gated", {"normalize": True, "bias": True}),
    ("attention", {"per_channel": False}),
    ("aff", {"norm": False}),
    ("block", {"merge": "sum", "kernel_sizes": (1, 3, 5), "strides": (1, 2, 1)}),
    ("concat", {"size": "smallest", "resize": "max"}),
    ("sum", {"size": (7, 9), "resize": "bilinear"}),
]
IDS = [name + ("-" + "-".join(f"{k}={v}" for k, v in opts.items()) if opts else "") for name, opts in CASES]


def make_maps(batch: int = 2, seed: int = 0, requires_grad: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, h, w, generator=g).requires_grad_(requires_grad)
            for c, (h, w) in zip(IN_CHANNELS, SIZES)]


def expected_size(options: dict) -> tuple[int, int]:
    size = options.get("size")
    if size == "smallest":
        return SIZES[-1]
    if isinstance(size, tuple):
        return size
    return SIZES[0]


def test_every_registered_fusion_is_covered():
    assert {name for name, _ in CASES} == set(available_fusions())
    assert set(available_fusions()) >= {"sum", "concat", "weighted", "formula", "gated", "attention", "aff", "iaff", "block"}


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_output_shape_mixed_sizes_and_channels(name, options):
    torch.manual_seed(0)
    fuse = create_fusion(name, IN_CHANNELS, OUT, **options)
    out = fuse(make_maps(batch=3))
    assert out.shape == (3, OUT, *expected_size(options))
    assert torch.isfinite(out).all()
    # a tuple works as well as a list
    assert fuse(tuple(make_maps(batch=3))).shape == out.shape


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_gradients_reach_every_input_and_parameter(name, options):
    torch.manual_seed(0)
    fuse = create_fusion(name, IN_CHANNELS, OUT, **options)
    maps = make_maps(batch=2, requires_grad=True)
    out = fuse(maps)
    probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))   # a generic loss, not sum()
    (out * probe).sum().backward()
    for i, m in enumerate(maps):
        assert m.grad is not None and m.grad.abs().sum() > 0, f"no gradient reaches input {i}"
    params = dict(fuse.named_parameters())
    for pname, p in params.items():
        assert p.grad is not None, f"parameter {pname} gets no gradient"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"parameter {pname} has a zero gradient"


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_deterministic_under_a_seed(name, options):
    outs, states = [], []
    for _ in range(2):
        torch.manual_seed(123)
        fuse = create_fusion(name, IN_CHANNELS, OUT, **options)
        states.append(fuse.state_dict())
        outs.append(fuse(make_maps(batch=2, seed=5)))
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(124)
    other = create_fusion(name, IN_CHANNELS, OUT, **options)
    if any(p.numel() for p in other.parameters()):
        assert not all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), states[0].values()))


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_operators_are_plain_eager_modules(name, options, monkeypatch):
    """No operator scripts or traces itself (TorchScript is deprecated; learners read eager Python)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a fusion operator called torch.jit")

    for entry in ("script", "trace", "trace_module", "freeze", "optimize_for_inference"):
        monkeypatch.setattr(torch.jit, entry, refuse)
    fuse = create_fusion(name, IN_CHANNELS, OUT, **options)
    fuse(make_maps())
    assert not any(isinstance(m, torch.jit.ScriptModule) for m in fuse.modules())
    for module in (importlib.import_module(f"fusion_course.fusion.{m.name}") for m in pkgutil.iter_modules(fusion.__path__)):
        assert not any(isinstance(v, torch.jit.ScriptFunction) for v in vars(module).values()), module.__name__


def test_docstring_examples_run():
    modules = [importlib.import_module(f"fusion_course.fusion.{m.name}") for m in pkgutil.iter_modules(fusion.__path__)]
    modules += [fusion]
    total = 0
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        total += result.attempted
    assert total >= 20


# ------------------------------------------------------------------ known values

def test_fixed_weights_reproduce_the_weighted_sum_exactly():
    # integers times powers of two: every product and partial sum is exact in float32
    g = torch.Generator().manual_seed(0)
    maps = [torch.randint(-50, 50, (2, 4, 5, 6), generator=g).float() for _ in range(3)]
    w = [0.5, -0.25, 2.0]
    fuse = WeightedSumFusion([4, 4, 4], 4, mode="fixed", weights=w)
    assert list(fuse.parameters()) == []
    expected = w[0] * maps[0] + w[1] * maps[1] + w[2] * maps[2]
    assert torch.equal(fuse(maps), expected)


def test_fixed_weights_match_float64_reference():
    maps = make_maps(batch=2)
    maps = [m[:, :8] for m in maps]   # same channels, mixed sizes
    w = torch.tensor([0.7, -1.3, 0.2])
    fuse = WeightedSumFusion([8, 8, 8], 8, weights=w)
    aligned = align_features(maps)
    ref = sum(wi.double() * a.double() for wi, a in zip(w, aligned))
    torch.testing.assert_close(fuse(maps).double(), ref, rtol=1e-6, atol=1e-6)


def test_per_channel_fixed_weights():
    maps = [torch.ones(1, 3, 2, 2), 2 * torch.ones(1, 3, 2, 2)]
    w = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.25]])
    out = WeightedSumFusion([3, 3], 3, weights=w, per_channel=True)(maps)
    assert out[0, :, 0, 0].tolist() == [1.0, 2.0, 1.0]


@pytest.mark.parametrize("per_channel", [False, True])
def test_fast_normalised_weights_sum_to_one_and_stay_nonnegative(per_channel):
    g = torch.Generator().manual_seed(0)
    shape = (3, 8) if per_channel else (3,)
    raw = torch.rand(shape, generator=g) * 2 + 0.01
    raw[0] = -0.5   # relu clips a negative weight to 0
    fuse = WeightedSumFusion([8, 8, 8], 8, mode="fast", weights=raw, per_channel=per_channel)
    w = fuse.weights()
    assert (w >= 0).all() and (w[0] == 0).all()
    assert torch.all((w.sum(0) - 1).abs() <= 1e-4)
    expected = torch.relu(raw) / (1e-4 + torch.relu(raw).sum(0))
    torch.testing.assert_close(w, expected)
    # still true after some training steps on a random target
    opt = torch.optim.SGD(fuse.parameters(), lr=0.05)
    maps = [m[:, :8] for m in make_maps(batch=2)]
    for _ in range(5):
        opt.zero_grad()
        ((fuse(maps) - 1) ** 2).mean().backward()
        opt.step()
    w = fuse.weights()
    assert (w >= 0).all() and torch.all((w.sum(0) - 1).abs() <= 1e-4)
    assert not torch.allclose(fuse.weight.detach(), raw)   # it did learn


def test_softmax_weights_sum_to_one():
    fuse = WeightedSumFusion([4, 4, 4, 4], 4, mode="softmax", weights=[0.1, 2.0, -1.0, 0.5])
    w = fuse.weights()
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    torch.testing.assert_close(w, torch.softmax(torch.tensor([0.1, 2.0, -1.0, 0.5]), 0))
    assert WeightedSumFusion([4, 4], 4, mode="softmax").weights().tolist() == [0.5, 0.5]


def test_weighted_sum_weights_learn_and_default_is_plain_sum():
    maps = [m[:, :8] for m in make_maps()]
    torch.testing.assert_close(WeightedSumFusion([8, 8, 8], 8)(maps), SumFusion([8, 8, 8], 8)(maps))
    fuse = WeightedSumFusion([8, 8, 8], 8, mode="learned")
    fuse(maps).sum().backward()
    assert fuse.weight.grad is not None and fuse.weight.grad.abs().sum() > 0


def test_formula_fusion_applies_sigma_to_the_weighted_sum():
    maps = [m[:, :8] for m in make_maps()]
    w = [0.5, -1.0, 2.0]
    aligned = align_features(maps)
    ws = sum(wi * a for wi, a in zip(w, aligned))
    for name, fn in [("identity", lambda x: x), ("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
        fuse = FormulaFusion([8, 8, 8], 8, weights=w, activation=name, learnable=False)
        torch.testing.assert_close(fuse(maps), fn(ws))
        assert list(fuse.parameters()) == []
    fuse = FormulaFusion([8, 8, 8], 8, weights=w, activation=nn.Softplus())
    torch.testing.assert_close(fuse(maps), nn.functional.softplus(ws))
    assert FormulaFusion([8, 8], 8, normalize="fast").weights().sum().item() == pytest.approx(1, abs=1e-4)
    with pytest.raises(ValueError, match="identity"):
        FormulaFusion([8, 8], 8, activation="swishy")


def test_concat_fusion_equals_a_1x1_conv_of_the_concatenation():
    maps = make_maps()
    fuse = ConcatFusion(IN_CHANNELS, OUT)
    cat = torch.cat(align_features(maps), 1)
    torch.testing.assert_close(fuse(maps), nn.functional.conv2d(cat, fuse.reduce.weight, fuse.reduce.bias))


def test_seed_block_fixed_by_concat_fusion():
    fuse = ConcatFusion([64, 64], 64)
    assert fuse.reduce.in_channels == 128 and fuse.reduce.out_channels == 64
    assert fuse([torch.randn(1, 64, 32, 32), torch.randn(1, 64, 32, 32)]).shape == (1, 64, 32, 32)


def test_gated_fusion_follows_the_tensorflow_recipe_and_normalises():
    torch.manual_seed(0)
    maps = [m[:, :8] for m in make_maps(batch=4)]
    fuse = GatedFusion([8, 8, 8], 8)
    out = fuse(maps)
    aligned = align_features(maps)
    gates = torch.sigmoid(torch.cat([fuse.gates[i](aligned[i].mean((2, 3))) for i in range(3)], 1))   # (B, 3)
    ref = sum(gates[:, i].view(-1, 1, 1, 1) * aligned[i] for i in range(3))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(fuse.weights(), gates)
    assert not torch.allclose(gates.sum(1), torch.ones(4))   # plain sigmoid gates do not sum to 1
    norm = GatedFusion([8, 8, 8], 8, normalize=True)
    norm.load_state_dict(fuse.state_dict())
    out_n = norm(maps)
    torch.testing.assert_close(norm.last_weights.sum(1), torch.ones(4))
    torch.testing.assert_close(out_n, ref / gates.sum(1).view(-1, 1, 1, 1))


def test_channel_attention_is_a_softmax_over_levels():
    fuse = ChannelAttentionFusion(IN_CHANNELS, OUT)
    fuse(make_maps(batch=5))
    a = fuse.last_weights
    assert a.shape == (5, 3, OUT)
    torch.testing.assert_close(a.sum(1), torch.ones(5, OUT))
    fuse = ChannelAttentionFusion(IN_CHANNELS, OUT, per_channel=False)
    fuse(make_maps(batch=5))
    assert fuse.last_weights.shape == (5, 3)


def test_aff_is_a_soft_selection_between_its_inputs():
    torch.manual_seed(0)
    fuse = AFF([8, 8], 8).eval()
    x, y = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6)
    z = fuse([x, y])
    m = fuse.cams[0](x + y)
    assert ((m > 0) & (m < 1)).all()
    torch.testing.assert_close(z, m * x + (1 - m) * y)
    # z lies between x and y element-wise
    lo, hi = torch.minimum(x, y), torch.maximum(x, y)
    assert (z >= lo - 1e-6).all() and (z <= hi + 1e-6).all()
    ifuse = IAFF([8, 8], 8).eval()
    zi = ifuse([x, y])
    m1 = ifuse.cams[0](x + y)
    m2 = ifuse.cams2[0](m1 * x + (1 - m1) * y)
    torch.testing.assert_close(zi, m2 * x + (1 - m2) * y)
    assert sum(p.numel() for p in ifuse.parameters()) == 2 * sum(p.numel() for p in fuse.parameters())


def test_aff_batch_of_one_in_training_gives_a_clear_error():
    fuse = AFF([8, 8], 8)
    with pytest.raises(ValueError, match="batch size >= 2"):
        fuse([torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)])
    assert fuse.eval()([torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)]).shape == (1, 8, 4, 4)
    assert AFF([8, 8], 8, norm=False)([torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)]).shape == (1, 8, 4, 4)


def test_feature_fusion_block_single_input_like_the_newsletter():
    block = FeatureFusionBlock(3, 16)
    assert block.kernel_sizes == (1, 3, 5) and block.strides == (1, 1, 2)
    out = block(torch.randn(2, 3, 15, 17))
    assert out.shape == (2, 16, 15, 17) and (out >= 0).all()   # ReLU last
    out = FeatureFusionBlock(3, 16, merge="sum", activation="sigmoid")(torch.randn(2, 3, 16, 16))
    assert ((out > 0) & (out < 1)).all()
    with pytest.raises(ValueError, match="odd"):
        FeatureFusionBlock(3, 16, kernel_sizes=(2, 3), strides=(1, 1))


# ------------------------------------------------------------------ batch mixing (the MobileNet article's bug)

def outputs_are_per_sample(fn, maps, alone: bool = True) -> bool:
    """True when each sample's output depends on that sample only."""
    with torch.no_grad():
        full = fn(maps)
        b = full.shape[0]
        picks = sorted({0, b // 2, b - 1}) if alone else []
        for i in picks:   # the same sample alone gives the same output
            alone = fn([m[i:i + 1] for m in maps])
            if not torch.allclose(alone[0], full[i], atol=1e-5, rtol=1e-4):
                return False
        if b > 1:         # changing one sample leaves the others' outputs alone
            changed = [m.clone() for m in maps]
            for m in changed:
                m[0] = m[0] * -3 + 1
            again = fn(changed)
            if not torch.allclose(again[1:], full[1:], atol=1e-5, rtol=1e-4):
                return False
    return True


def seed_attention_bug(fuse: ChannelAttentionFusion):
    """The MobileNet article's broadcast, `w[:, i].view(-1, 64, 1, 1)`, put on our attention weights."""
    def fn(maps):
        aligned = fuse.align(maps)
        a = fuse.attention(aligned)                      # (B, n): per_channel=False
        return sum(a[:, i].view(-1, 64, 1, 1) * aligned[i] for i in range(len(aligned)))
    return fn


@pytest.mark.parametrize("batch", [1, 3, 64, 128])
def test_attention_fusion_gives_each_sample_its_own_weights(batch):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(batch)
    maps = [torch.randn(batch, 8, 4, 4, generator=g), torch.randn(batch, 16, 2, 2, generator=g)]
    for fuse in (ChannelAttentionFusion([8, 16], 8), ChannelAttentionFusion([8, 16], 8, per_channel=False),
                 GatedFusion([8, 16], 8), AFF([8, 16], 8).eval()):
        assert outputs_are_per_sample(fuse, maps), type(fuse).__name__
        out = fuse(maps)
        assert out.shape == (batch, 8, 4, 4)
        if hasattr(fuse, "last_weights") and fuse.last_weights.dim() >= 2 and not isinstance(fuse, AFF):
            assert fuse.last_weights.shape[0] == batch


def test_the_batch_mixing_check_catches_the_seed_bug():
    """The regression test above can fail: the seed's view(-1, 64, 1, 1) mixes samples silently at batch 64."""
    torch.manual_seed(0)
    fuse = ChannelAttentionFusion([64, 64], 64, per_channel=False)
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(64, 64, 2, 2, generator=g) for _ in range(2)]
    assert not outputs_are_per_sample(seed_attention_bug(fuse), maps, alone=False)   # runs, but mixes the 64 samples' weights
    assert outputs_are_per_sample(fuse, maps, alone=False) and outputs_are_per_sample(fuse, maps)
    for batch in (3, 128):   # other batch sizes crash: (B/64, 64, 1, 1) does not broadcast against (B, 64, H, W)
        with pytest.raises(RuntimeError):
            seed_attention_bug(fuse)([torch.randn(batch, 64, 2, 2), torch.randn(batch, 64, 2, 2)])


# ------------------------------------------------------------------ alignment

def test_align_features_modes():
    maps = [torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4), torch.randn(2, 7, 16, 16)]
    for mode in ("bilinear", "nearest"):
        assert [m.shape for m in align_features(maps, mode=mode)] == [(2, c, 8, 8) for c in (3, 5, 7)]
    pooled = align_features(maps, size="smallest", mode="max")
    assert [m.shape[-2:] for m in pooled] == [(4, 4)] * 3
    torch.testing.assert_close(pooled[0], nn.functional.max_pool2d(maps[0], 2))
    torch.testing.assert_close(align_features(maps, size="smallest", mode="avg")[2], nn.functional.avg_pool2d(maps[2], 4))
    assert align_features(maps, size="largest")[0].shape[-2:] == (16, 16)
    assert align_features(maps, size=(5, 9))[1].shape[-2:] == (5, 9)
    assert align_features(maps)[0] is maps[0]   # already the right size: untouched


def test_align_projects_and_projection_commutes_with_bilinear_resize():
    torch.manual_seed(0)
    align = Align([4, 6], 5)
    x, y = torch.randn(2, 4, 9, 7), torch.randn(2, 6, 3, 4)
    ax, ay = align([x, y])
    assert ax.shape == ay.shape == (2, 5, 9, 7)
    up_then_proj = align.proj[1](nn.functional.interpolate(y, size=(9, 7), mode="bilinear", align_corners=False))
    torch.testing.assert_close(ay, up_then_proj, atol=1e-5, rtol=1e-5)
    assert isinstance(Align([5, 6], 5).proj[0], nn.Identity)


def test_cfm_parameter_count_and_computation():
    cfm = CFM(64)
    assert sum(p.numel() for p in cfm.parameters()) == 296_448
    torch.manual_seed(0)
    cfm = CFM(8).eval()
    low, high = torch.randn(2, 8, 16, 12), torch.randn(2, 8, 8, 6)
    h4, v4 = cfm(low, high)
    assert h4.shape == v4.shape == (2, 8, 16, 12)
    up = nn.functional.interpolate(high, size=(16, 12), mode="bilinear", align_corners=False)
    h1, v1 = cfm.h1(low), cfm.v1(up)
    fuse = cfm.h2(h1) * cfm.v2(v1)
    torch.testing.assert_close(h4, cfm.h4(cfm.h3(fuse) + h1))
    torch.testing.assert_close(v4, cfm.v4(cfm.v3(fuse) + v1))


STATIC_WEIGHTS = {"weighted", "formula"}
INPUT_WEIGHTS = {"gated", "attention", "spatial", "aff", "iaff"}


@pytest.mark.parametrize("name", available_fusions())
def test_weights_contract(name):
    """weights(): parameters, available before any input; last_weights: from the last forward pass, batch first."""
    fuse = create_fusion(name, IN_CHANNELS, OUT)
    if name in STATIC_WEIGHTS:
        before = fuse.weights()
        assert not before.requires_grad and not hasattr(fuse, "last_weights")
        fuse(make_maps(batch=3))
        assert torch.equal(fuse.weights(), before)
    elif name in INPUT_WEIGHTS:
        assert fuse.last_weights is None
        fuse(make_maps(batch=3))
        assert fuse.last_weights.shape[0] == 3 and not fuse.last_weights.requires_grad
    else:
        assert not hasattr(fuse, "weights") and not hasattr(fuse, "last_weights")


def test_learnable_is_the_one_name_and_trainable_still_works():
    fixed = WeightedSumFusion([4, 4], 4, mode="fast", learnable=False)
    assert "weight" in dict(fixed.named_buffers()) and not list(fixed.parameters())
    with pytest.warns(DeprecationWarning, match="learnable"):
        old = WeightedSumFusion([4, 4], 4, mode="fast", trainable=False)
    assert list(old.state_dict()) == list(fixed.state_dict()) and not list(old.parameters())
    assert list(FormulaFusion([4, 4], 4, normalize="fast", learnable=False).parameters()) == []


def test_align_takes_resize_like_every_operator_and_mode_as_lesson_04_writes_it():
    maps = make_maps()
    new, old = Align(IN_CHANNELS, OUT, size="smallest", resize="max"), Align(IN_CHANNELS, OUT, size="smallest", mode="max")
    old.load_state_dict(new.state_dict())
    assert new.resize == old.resize == "max"
    assert all(torch.equal(a, b) for a, b in zip(new(maps), old(maps)))
    with pytest.raises(ValueError, match="resize must be one of"):
        Align(IN_CHANNELS, OUT, resize="bicubic")


def test_gated_normalize_is_a_named_choice_and_true_still_means_sum():
    maps = make_maps(batch=3)
    new, old = GatedFusion(IN_CHANNELS, OUT, normalize="sum"), GatedFusion(IN_CHANNELS, OUT, normalize=True)
    old.load_state_dict(new.state_dict())
    assert new.normalize == old.normalize == "sum" and GatedFusion(IN_CHANNELS, OUT, normalize=False).normalize is None
    assert torch.equal(new(maps), old(maps))
    torch.testing.assert_close(new.last_weights.sum(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match="normalize must be one of"):
        GatedFusion(IN_CHANNELS, OUT, normalize="softmax")
