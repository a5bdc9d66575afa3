"""Lesson 04 checks accept the reference answers and reject the usual mistakes."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fusion_course.checks import lesson04 as L


# 4.1 -------------------------------------------------------------------------------------------
class WOk(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.raw = nn.Parameter(torch.ones(n))

    def weights(self):
        w = F.relu(self.raw)
        return w / (1e-4 + w.sum())

    def forward(self, maps):
        w = self.weights()
        return sum(w[i] * m for i, m in enumerate(maps))


class WUnnormalised(WOk):
    def weights(self):
        return F.relu(self.raw)


class WNoRelu(WOk):
    def weights(self):
        return self.raw / (1e-4 + self.raw.sum())


class WSoftmax(WOk):
    def weights(self):
        return torch.softmax(self.raw, 0)


class WPlainTensor(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.raw = torch.ones(n)

    def forward(self, maps):
        w = F.relu(self.raw)
        w = w / (1e-4 + w.sum())
        return sum(w[i] * m for i, m in enumerate(maps))


class WDetached(WOk):
    def weights(self):
        w = F.relu(self.raw.detach())
        return w / (1e-4 + w.sum())


class WStartsUneven(WOk):
    def __init__(self, n):
        super().__init__(n)
        with torch.no_grad():
            self.raw.copy_(torch.arange(1, n + 1, dtype=torch.float32))


class WClamped(WOk):
    """A right answer written another way: clamp instead of relu, a loop over enumerate."""

    def forward(self, maps):
        w = self.raw.clamp(min=0)
        w = w / (w.sum() + 1e-4)
        out = 0
        for i, m in enumerate(maps):
            out = out + w[i] * m
        return out


class WNoEps(WOk):
    def weights(self):
        w = F.relu(self.raw)
        return w / w.sum()


class WDetachedDenominator(WOk):
    """Right values, but the sum in the denominator is detached: the old gradient test (any non-zero gradient)
    let it pass; the gradient of the raw weights must match the formula's."""

    def weights(self):
        w = F.relu(self.raw)
        return w / (1e-4 + w.sum()).detach()


class WFrozenWeights(WOk):
    """Computes the right values from a copy of the raw weights: no gradient reaches the parameter."""

    def weights(self):
        w = F.relu(self.raw.detach().clone())
        return w / (1e-4 + w.sum())


def test_41_accepts_reference():
    assert "normalisation" in L.check_weighted(WOk)
    assert "gradients" in L.check_weighted(WClamped)


def test_41_gradient_test_is_not_degenerate():
    """Issue 15: the gradient was tested at raw weights [-0.5, 2], where it is 0 up to ε."""
    with pytest.raises(AssertionError, match="no detach"):
        L.check_weighted(WFrozenWeights)
    with pytest.raises(AssertionError, match="ε"):
        L.check_weighted(WNoEps)
    with pytest.raises(AssertionError, match="gradient of the raw weights"):
        L.check_weighted(WDetachedDenominator)


@pytest.mark.parametrize("wrong", [WUnnormalised, WNoRelu, WSoftmax, WPlainTensor, WDetached, WStartsUneven,
                                   WDetachedDenominator, WFrozenWeights, WNoEps])
def test_41_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 4.1"):
        L.check_weighted(wrong)


# 4.2 -------------------------------------------------------------------------------------------
class GOk(nn.Module):
    def __init__(self, channels, n):
        super().__init__()
        self.gates = nn.ModuleList(nn.Linear(channels, 1, bias=False) for _ in range(n))

    def gate_values(self, maps):
        g = torch.cat([torch.sigmoid(l(m.mean(dim=(2, 3)))) for l, m in zip(self.gates, maps)], dim=1)
        return g / g.sum(dim=1, keepdim=True)

    def forward(self, maps):
        g = self.gate_values(maps)
        return sum(g[:, i].view(-1, 1, 1, 1) * m for i, m in enumerate(maps))


class GUnnormalised(GOk):
    def gate_values(self, maps):
        return torch.cat([torch.sigmoid(l(m.mean(dim=(2, 3)))) for l, m in zip(self.gates, maps)], dim=1)


class GSoftmax(GOk):
    def gate_values(self, maps):
        return torch.softmax(torch.cat([l(m.mean(dim=(2, 3))) for l, m in zip(self.gates, maps)], dim=1), dim=1)


class GLayersInForward(nn.Module):
    def __init__(self, channels, n):
        super().__init__()
        self.c = channels

    def forward(self, maps):
        g = torch.cat([torch.sigmoid(nn.Linear(self.c, 1, bias=False)(m.mean(dim=(2, 3)))) for m in maps], dim=1)
        g = g / g.sum(dim=1, keepdim=True)
        return sum(g[:, i].view(-1, 1, 1, 1) * m for i, m in enumerate(maps))


class GNormalisedOverBatch(GOk):
    def gate_values(self, maps):
        g = torch.cat([torch.sigmoid(l(m.mean(dim=(2, 3)))) for l, m in zip(self.gates, maps)], dim=1)
        return g / g.sum(dim=0, keepdim=True)


class GWithBias(GOk):
    def __init__(self, channels, n):
        nn.Module.__init__(self)
        self.gates = nn.ModuleList(nn.Linear(channels, 1) for _ in range(n))


class GMaxPooled(GOk):
    def gate_values(self, maps):
        g = torch.cat([torch.sigmoid(l(m.amax(dim=(2, 3)))) for l, m in zip(self.gates, maps)], dim=1)
        return g / g.sum(dim=1, keepdim=True)


def test_42_accepts_reference():
    assert "normalised" in L.check_gates(GOk)


@pytest.mark.parametrize("wrong", [GUnnormalised, GSoftmax, GLayersInForward, GNormalisedOverBatch, GWithBias, GMaxPooled])
def test_42_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 4.2"):
        L.check_gates(wrong)


# 4.3 -------------------------------------------------------------------------------------------
def pool_ok(maps):
    size = min((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    return [F.adaptive_max_pool2d(m, tuple(size)) for m in maps]


def pool_to_last(maps):
    return [F.adaptive_max_pool2d(m, tuple(maps[-1].shape[-2:])) for m in maps]


def pool_avg(maps):
    size = min((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    return [F.adaptive_avg_pool2d(m, tuple(size)) for m in maps]


def pool_bilinear(maps):
    size = min((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    return [F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=False) for m in maps]


def pool_concat(maps):
    return torch.cat(pool_ok(maps), dim=1)


def test_43_accepts_reference():
    assert "smallest" in L.check_pool(pool_ok)


@pytest.mark.parametrize("wrong", [pool_to_last, pool_avg, pool_bilinear, pool_concat])
def test_43_rejects(wrong):
    with pytest.raises(AssertionError, match="Exercise 4.3"):
        L.check_pool(wrong)


def test_not_implemented_passes_through():
    class Todo(nn.Module):
        def __init__(self, n):
            super().__init__()
            raise NotImplementedError("Exercise 4.1: ...")
    with pytest.raises(NotImplementedError):
        L.check_weighted(Todo)


# Issue 24: the checks name the right cause --------------------------------------------------------
class WParameterList(nn.Module):
    """n one-number parameters instead of one vector: the message must say so, not 'a plain tensor'."""

    def __init__(self, n):
        super().__init__()
        self.raw = nn.ParameterList(nn.Parameter(torch.ones(1)) for _ in range(n))

    def forward(self, maps):
        w = F.relu(torch.cat(list(self.raw)))
        w = w / (1e-4 + w.sum())
        return sum(w[i] * m for i, m in enumerate(maps))


def test_41_parameter_list_is_named():
    with pytest.raises(AssertionError, match="ParameterList") as info:
        L.check_weighted(WParameterList)
    assert "plain tensor" not in str(info.value)
    with pytest.raises(AssertionError, match="plain tensor"):
        L.check_weighted(WPlainTensor)


def test_42_names_missing_normalisation_and_softmax():
    with pytest.raises(AssertionError, match="without normalising"):
        L.check_gates(GUnnormalised)
    with pytest.raises(AssertionError, match="softmax over the gate logits"):
        L.check_gates(GSoftmax)


def pool_whole_kernel(maps):
    """Passes every case whose size ratios are whole numbers: the check must include one that is not."""
    size = min((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    return [F.max_pool2d(m, kernel_size=m.shape[-2] // size[0]) for m in maps]


def test_43_rejects_whole_number_kernels_with_the_cause():
    with pytest.raises(AssertionError, match="not give the target size"):
        L.check_pool(pool_whole_kernel)


# 4.4 -------------------------------------------------------------------------------------------
def top_down_ok(laterals):
    inner = [None] * len(laterals)
    inner[-1] = laterals[-1]
    for i in range(len(laterals) - 2, -1, -1):
        inner[i] = laterals[i] + F.interpolate(inner[i + 1], size=laterals[i].shape[-2:], mode="nearest")
    return inner


def top_down_next_lateral_only(laterals):
    out = [l + F.interpolate(n, size=l.shape[-2:], mode="nearest") for l, n in zip(laterals, laterals[1:])]
    return out + [laterals[-1]]


def top_down_bilinear(laterals):
    inner = list(laterals)
    for i in range(len(laterals) - 2, -1, -1):
        inner[i] = laterals[i] + F.interpolate(inner[i + 1], size=laterals[i].shape[-2:], mode="bilinear")
    return inner


def top_down_times_two(laterals):
    inner = list(laterals)
    for i in range(len(laterals) - 2, -1, -1):
        inner[i] = laterals[i] + F.interpolate(inner[i + 1], scale_factor=2, mode="nearest")
    return inner


def top_down_bottom_up(laterals):
    inner = list(laterals)
    for i in range(1, len(laterals)):
        inner[i] = laterals[i] + F.interpolate(inner[i - 1], size=laterals[i].shape[-2:], mode="nearest")
    return inner


def top_down_in_place(laterals):
    for i in range(len(laterals) - 2, -1, -1):
        laterals[i] += F.interpolate(laterals[i + 1], size=laterals[i].shape[-2:], mode="nearest")
    return laterals


def test_44_accepts_reference():
    assert "odd sizes" in L.check_top_down(top_down_ok)


@pytest.mark.parametrize("wrong, words", [
    (top_down_next_lateral_only, "only the next coarser lateral"),
    (top_down_bilinear, "bilinear upsampling"),
    (top_down_times_two, "not always doubles"),
    (top_down_bottom_up, "Exercise 4.4"),
    (top_down_in_place, "modified in place"),
])
def test_44_rejects_with_the_cause(wrong, words):
    with pytest.raises(AssertionError, match=words):
        L.check_top_down(wrong)


# 4.5 -------------------------------------------------------------------------------------------
def _up(p_coarser, p_in, mode="nearest"):
    return F.interpolate(p_coarser, size=p_in.shape[-2:], mode=mode)


def node_ok(p_in, p_coarser, raw):
    w = F.relu(raw)
    return (w[0] * p_in + w[1] * _up(p_coarser, p_in)) / (1e-4 + w.sum())


def node_clamped(p_in, p_coarser, raw):
    """A right answer written another way."""
    w = raw.clamp(min=0)
    w = w / (w.sum() + 1e-4)
    return w[0] * p_in + w[1] * _up(p_coarser, p_in)


def node_softmax(p_in, p_coarser, raw):
    w = torch.softmax(raw, 0)
    return w[0] * p_in + w[1] * _up(p_coarser, p_in)


def node_no_relu(p_in, p_coarser, raw):
    return (raw[0] * p_in + raw[1] * _up(p_coarser, p_in)) / (1e-4 + raw.sum())


def node_not_divided(p_in, p_coarser, raw):
    w = F.relu(raw)
    return w[0] * p_in + w[1] * _up(p_coarser, p_in)


def node_no_eps(p_in, p_coarser, raw):
    w = F.relu(raw)
    return (w[0] * p_in + w[1] * _up(p_coarser, p_in)) / w.sum()


def node_bilinear(p_in, p_coarser, raw):
    w = F.relu(raw)
    return (w[0] * p_in + w[1] * _up(p_coarser, p_in, "bilinear")) / (1e-4 + w.sum())


def test_45_accepts_reference():
    assert "negative raw weight" in L.check_bifpn_node(node_ok)
    L.check_bifpn_node(node_clamped)


@pytest.mark.parametrize("wrong, words", [
    (node_softmax, "softmax-normalised"),
    (node_no_relu, "without relu"),
    (node_not_divided, "without dividing"),
    (node_no_eps, "NaN"),
    (node_bilinear, "bilinear upsampling"),
])
def test_45_rejects_with_the_cause(wrong, words):
    with pytest.raises(AssertionError, match=words):
        L.check_bifpn_node(wrong)


# 4.6 -------------------------------------------------------------------------------------------
def _sk_logits(branches, w1, b1, w2, b2, pool=None, relu=True):
    s = sum(branches).mean(dim=(2, 3)) if pool is None else pool
    z = F.linear(s, w1, b1)
    return F.linear(F.relu(z) if relu else z, w2, b2)


def sk_ok(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    return _sk_logits(branches, w1, b1, w2, b2).view(b, len(branches), c).softmax(dim=1)


def sk_over_channels(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    return _sk_logits(branches, w1, b1, w2, b2).view(b, len(branches), c).softmax(dim=2)


def sk_sigmoid(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    return torch.sigmoid(_sk_logits(branches, w1, b1, w2, b2).view(b, len(branches), c))


def sk_channels_first(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    return _sk_logits(branches, w1, b1, w2, b2).view(b, c, len(branches)).softmax(dim=2).transpose(1, 2)


def sk_mean(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    pooled = torch.stack(branches).mean(0).mean(dim=(2, 3))
    return _sk_logits(branches, w1, b1, w2, b2, pool=pooled).view(b, len(branches), c).softmax(dim=1)


def sk_no_relu(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    return _sk_logits(branches, w1, b1, w2, b2, relu=False).view(b, len(branches), c).softmax(dim=1)


def sk_flat_softmax(branches, w1, b1, w2, b2):
    b, c = branches[0].shape[:2]
    return _sk_logits(branches, w1, b1, w2, b2).softmax(dim=1).view(b, len(branches), c)


def test_46_accepts_reference():
    assert "softmax over branches" in L.check_sk_weights(sk_ok)


@pytest.mark.parametrize("wrong, words", [
    (sk_over_channels, "softmax over the channels"),
    (sk_sigmoid, "independent sigmoids"),
    (sk_channels_first, r"read as \(B, C, n\)"),
    (sk_mean, "mean of the branches"),
    (sk_no_relu, "no ReLU"),
    (sk_flat_softmax, "Exercise 4.6"),
])
def test_46_rejects_with_the_cause(wrong, words):
    with pytest.raises(AssertionError, match=words):
        L.check_sk_weights(wrong)
