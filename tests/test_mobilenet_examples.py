"""The MobileNet article's examples: the printed versions fail as the lesson says, the fixed ones work.

The regression test for the attention bug: the naive repair of example 3 silently mixes the samples
of a batch of 64 and crashes at other batch sizes; the fixed module gives every sample its own weights
at batch 1, 3, 64 and 128.
"""
from __future__ import annotations

import pytest
import torch

from fusion_course.sources import mobilenet_examples as mx


def _x(batch: int, size: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 32, size, size, generator=torch.Generator().manual_seed(seed))


def test_example1_as_printed_crashes_on_channels():
    with pytest.raises(RuntimeError, match="expected input.*to have 64 channels, but got 32"):
        mx.FeatureFusionAsPrinted()(_x(1))


def test_example1_fixed_chains_the_layers():
    m = mx.FeatureFusionFixed()
    x = _x(2, 7)
    out = m(x)
    assert out.shape == (2, 192, 7, 7)
    x1 = m.conv1(x)
    torch.testing.assert_close(out[:, :64], x1)
    torch.testing.assert_close(out[:, 64:], m.conv2(x1))


def test_example2_as_printed_alpha_is_not_a_parameter():
    m = mx.WeightedSumFusionAsPrinted()
    assert isinstance(m.alpha, float)
    assert [n for n, _ in m.named_parameters()] == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    assert m(_x(1)).shape == (1, 64, 6, 6)   # it runs: the bug is silent


def test_example2_fixed_alpha_learns_and_stays_in_unit_interval():
    torch.manual_seed(0)
    m = mx.WeightedSumFusionFixed()
    assert "alpha_logit" in dict(m.named_parameters())
    assert m.alpha.item() == pytest.approx(0.5)
    x = _x(2)
    out = m(x)
    torch.testing.assert_close(out, 0.5 * m.conv1(x) + 0.5 * m.conv2(x))
    opt = torch.optim.SGD(m.parameters(), lr=10.0)
    before = m.alpha.item()
    # push the output towards conv1's: alpha must move up
    target = m.conv1(x).detach()
    for _ in range(5):
        loss = (m(x) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert m.alpha.item() > before
    assert 0.0 < m.alpha.item() < 1.0
    with pytest.raises(ValueError, match="alpha"):
        mx.WeightedSumFusionFixed(alpha=1.0)


def test_example3_as_printed_crashes_on_flattened_map():
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        mx.AttentionFusionAsPrinted()(_x(1))


@pytest.mark.parametrize("batch", [1, 3, 128])
def test_example3_naive_fix_crashes_when_batch_is_not_64(batch):
    with pytest.raises(RuntimeError):
        mx.AttentionFusionNaiveFix()(_x(batch, 4))


def test_example3_naive_fix_mixes_samples_at_batch_64():
    m = mx.AttentionFusionNaiveFix().eval()
    x = _x(64, 4)
    assert m(x).shape == (64, 64, 4, 4)          # runs without complaint...
    assert mx.mixes_samples(m, x)                # ...but sample 0 depends on sample 63
    # and concretely: channel j of sample 0 is scaled by sample j's weight
    with torch.no_grad():
        x1, x2 = m.conv1(x), m.conv2(x)
        w = torch.softmax(m.fc(torch.cat((x1, x2), 1).mean(dim=(2, 3))), dim=1)   # (64, 2)
        expected0 = w[:, 0].view(64, 1, 1) * x1[0] + w[:, 1].view(64, 1, 1) * x2[0]
        torch.testing.assert_close(m(x)[0], expected0)


@pytest.mark.parametrize("batch", [1, 3, 64, 128])
def test_example3_fixed_gives_each_sample_its_own_weights(batch):
    torch.manual_seed(0)
    m = mx.AttentionFusionFixed().eval()
    x = _x(batch, 4, seed=batch)
    with torch.no_grad():
        out = m(x)
    assert out.shape == (batch, 64, 4, 4)
    w = m.last_weights
    assert w.shape == (batch, 2)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(batch))
    # each sample alone gives the same output as inside the batch
    for b in {0, batch // 2, batch - 1}:
        with torch.no_grad():
            alone = m(x[b:b + 1])
        torch.testing.assert_close(alone[0], out[b], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(m.last_weights[0], w[b])
    if batch >= 2:
        assert not mx.mixes_samples(m, x)


def test_mixes_samples_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        mx.mixes_samples(mx.AttentionFusionFixed(), _x(1))


def test_docstring_examples_run():
    import doctest

    assert doctest.testmod(mx).failed == 0
