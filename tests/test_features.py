"""fusion_course.features: the hand-made maps of lesson 01 respond to what they claim to measure."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_course.features import as_tensors, edge_map, feature_maps, normalize01, shape_map, texture_map, to_gray


def _step(h=32, w=40):
    img = np.zeros((h, w))
    img[:, w // 2:] = 1.0  # one vertical edge in the middle
    return img


def test_maps_are_in_unit_range_and_keep_size():
    rng = np.random.default_rng(0)
    img = rng.random((33, 47, 3)).astype(np.float32)  # odd, non-square, colour
    maps = feature_maps(img)
    assert list(maps) == ["edges", "texture", "shape"]
    for m in maps.values():
        assert m.shape == (33, 47) and m.dtype == np.float32
        assert m.min() >= 0 and m.max() <= 1 and m.max() == 1.0


def test_edges_fire_on_the_edge_only():
    e = edge_map(_step())
    assert e[:, 19:21].min() > 0.9            # the columns beside the step
    assert e[:, :15].max() == 0 and e[:, 25:].max() == 0   # flat regions: no edge, none at the border


def test_texture_is_high_on_noise_low_on_flat():
    rng = np.random.default_rng(1)
    img = np.full((40, 40), 0.5)
    img[:, :20] += 0.3 * rng.standard_normal((40, 20))  # left half busy, right half flat
    t = texture_map(img, window=5)
    assert t[:, :15].mean() > 0.5 and t[:, 26:].max() < 1e-6


def test_shape_is_smooth():
    rng = np.random.default_rng(2)
    img = rng.random((64, 64))
    s = shape_map(img, sigma=4)
    # Blurring removes the pixel-to-pixel variation the noise had.
    assert np.abs(np.diff(s, axis=1)).mean() < 0.2 * np.abs(np.diff(normalize01(img), axis=1)).mean()


def test_input_formats_agree():
    rng = np.random.default_rng(3)
    rgb = rng.random((16, 20, 3))
    a = edge_map(rgb)
    b = edge_map(torch.from_numpy(rgb).permute(2, 0, 1))    # (3, H, W) tensor
    c = edge_map((rgb * 255).astype(np.uint8))
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=0.02)
    assert to_gray(rgb).shape == (16, 20)


def test_normalize01():
    np.testing.assert_allclose(normalize01(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1])
    assert normalize01(np.full((3, 3), 7.0)).max() == 0      # no contrast -> zeros, no division by 0
    x = np.concatenate([np.linspace(0, 1, 999), [100.0]])   # one outlier
    assert normalize01(x)[499] < 0.01                        # min-max: the outlier squashes the rest
    robust = normalize01(x, percentile=99)
    assert robust.max() == 1.0 and 0.45 < robust[499] < 0.55
    with pytest.raises(ValueError):
        normalize01(x, percentile=0)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="expected a grey"):
        edge_map(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        edge_map(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="window"):
        texture_map(np.zeros((8, 8)), window=1)
    with pytest.raises(ValueError, match="sigma"):
        shape_map(np.zeros((8, 8)), sigma=0)


def test_as_tensors_shapes_for_fusion_modules():
    maps = feature_maps(np.random.default_rng(4).random((12, 10)))
    ts = as_tensors(maps)
    assert [tuple(t.shape) for t in ts] == [(1, 1, 12, 10)] * 3
    assert all(t.dtype == torch.float32 for t in ts)
    with pytest.raises(ValueError, match="map 0"):
        as_tensors([np.zeros((1, 2, 3))])
