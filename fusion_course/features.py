"""Hand-made feature maps of a photo: edges, texture and shape, each normalised to [0, 1].

The source article ("F3Net: Feature Fusion Network Explained") describes a pipeline
``image -> edges -> textures -> shapes -> fusion -> prediction`` and the fusion formula
``F_fused = σ(w1·F1 + … + wn·Fn)``. Lesson 01 makes the F_i visible before any network is trained:
three classical filters give maps a learner can look at and reason about. They stand in for what the
early, middle and late layers of a CNN learn (Zeiler & Fergus, "Visualizing and Understanding
Convolutional Networks", arXiv:1311.2901): oriented edges first, then local texture statistics, then
coarse object layout.

* edges   ``E = |∇I|`` with the Sobel operator: ``sqrt((Kx * I)² + (Ky * I)²)``, fine detail, thin lines;
* texture ``T = sqrt(E_w[I²] − E_w[I]²)``: the local standard deviation in a ``w×w`` window, high on
  busy regions (hair, fabric, grass), low on flat ones (sky, skin);
* shape   ``S = G_σ * I`` at a large σ: a blurred, coarse layout map (where the big bright/dark
  regions are), with no detail left.

Each map is scaled to [0, 1] (``(F − min F) / (max F − min F)``; edges and texture use the 99th
percentile instead of the max, clipped, so a few extreme pixels do not darken the whole map), so all
three live on the same scale: a fusion weight then means the same thing for every map.

Example:
    >>> import numpy as np
    >>> from fusion_course.features import feature_maps, as_tensors
    >>> photo = np.random.default_rng(0).random((40, 60, 3)).astype("float32")
    >>> maps = feature_maps(photo)
    >>> list(maps), maps["edges"].shape, float(maps["edges"].max())
    (['edges', 'texture', 'shape'], (40, 60), 1.0)
    >>> [tuple(t.shape) for t in as_tensors(maps)]
    [(1, 1, 40, 60), (1, 1, 40, 60), (1, 1, 40, 60)]
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["to_gray", "normalize01", "edge_map", "texture_map", "shape_map", "feature_maps", "as_tensors"]

# ITU-R BT.601 luma weights: the same conversion as skimage.color.rgb2gray uses for display purposes.
_LUMA = np.array([0.2125, 0.7154, 0.0721], dtype=np.float64)


def to_gray(image: Any) -> np.ndarray:
    """A float64 ``(H, W)`` grey image from ``(H, W)``, ``(H, W, 3|4)`` or ``(3, H, W)`` input (array or tensor).

    uint8 images are scaled to [0, 1]; float images are used as they are.
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    arr = arr.astype(np.float64)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # (C, H, W) -> (H, W, C)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3] @ _LUMA  # (H, W, 3) -> (H, W); alpha ignored
    if arr.ndim != 2:
        raise ValueError(
            f"image: expected a grey (H, W) or colour (H, W, 3) / (3, H, W) image, got shape {np.shape(image)}"
        )
    if min(arr.shape) < 3:
        raise ValueError(f"image: need at least 3×3 pixels for a 3×3 filter, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("image: contains NaN or inf values; clean the input first (np.nan_to_num)")
    return arr


def normalize01(x: np.ndarray, percentile: float = 100.0) -> np.ndarray:
    """Scale to [0, 1] as float32: ``(x − min) / (p − min)`` clipped at 1, ``p`` the ``percentile``-th value.

    ``percentile=100`` is plain min–max. Edge and texture maps use 99: a handful of extreme pixels
    would otherwise squash every other value towards 0 and the map would look black.
    A constant map has no contrast and becomes all zeros.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    x = np.asarray(x, dtype=np.float64)
    lo = float(x.min())
    hi = float(x.max()) if percentile >= 100 else float(np.percentile(x, percentile))
    if hi - lo < 1e-12:
        hi = float(x.max())
    if hi - lo < 1e-12:
        return np.zeros_like(x, dtype=np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def edge_map(image: Any) -> np.ndarray:
    """Sobel gradient magnitude ``sqrt(Gx² + Gy²)``, scaled to [0, 1] (99th percentile → 1). Shape ``(H, W)``."""
    from scipy import ndimage

    gray = to_gray(image)
    # 'reflect' at the border: a zero pad would draw a fake edge along the frame of the photo.
    gx = ndimage.sobel(gray, axis=1, mode="reflect")
    gy = ndimage.sobel(gray, axis=0, mode="reflect")
    return normalize01(np.hypot(gx, gy), percentile=99.0)


def texture_map(image: Any, window: int = 7) -> np.ndarray:
    """Local standard deviation in a ``window × window`` box, scaled to [0, 1] (99th percentile → 1). Shape ``(H, W)``.

    ``std = sqrt(mean(I²) − mean(I)²)`` computed with two box filters (cheap, O(1) per pixel).
    """
    from scipy import ndimage

    if int(window) != window or window < 2:
        raise ValueError(f"window must be an integer >= 2, got {window!r}")
    gray = to_gray(image)
    mean = ndimage.uniform_filter(gray, size=int(window), mode="reflect")
    mean_sq = ndimage.uniform_filter(gray * gray, size=int(window), mode="reflect")
    # Rounding can push the variance a hair below zero on flat regions; clip before the sqrt.
    var = np.clip(mean_sq - mean * mean, 0.0, None)
    return normalize01(np.sqrt(var), percentile=99.0)


def shape_map(image: Any, sigma: float | None = None) -> np.ndarray:
    """A coarse layout map: the grey image blurred with a Gaussian of std ``sigma``, normalised to [0, 1].

    ``sigma`` defaults to 1/32 of the image's smaller side (8 px on a 256-px photo): enough to wipe out
    edges and texture and keep only the big regions, like a late CNN layer's low-resolution response.
    """
    from scipy import ndimage

    gray = to_gray(image)
    if sigma is None:
        sigma = max(1.0, min(gray.shape) / 32)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    return normalize01(ndimage.gaussian_filter(gray, sigma=float(sigma), mode="reflect"))


def feature_maps(image: Any, *, window: int = 7, sigma: float | None = None) -> dict[str, np.ndarray]:
    """The three hand-made maps of ``image`` in the article's order: ``{"edges", "texture", "shape"}``.

    Each is a float32 ``(H, W)`` array in [0, 1], the same size as the image.
    """
    return {
        "edges": edge_map(image),
        "texture": texture_map(image, window=window),
        "shape": shape_map(image, sigma=sigma),
    }


def as_tensors(maps: Mapping[str, Any] | Sequence[Any]) -> list:
    """Turn 2-D maps into the ``(1, 1, H, W)`` float32 tensors the fusion modules take (batch 1, 1 channel)."""
    import torch

    values = list(maps.values()) if isinstance(maps, Mapping) else list(maps)
    out = []
    for i, m in enumerate(values):
        t = torch.as_tensor(np.asarray(m, dtype=np.float32))
        if t.ndim != 2:
            raise ValueError(f"map {i}: expected a 2-D (H, W) map, got shape {tuple(t.shape)}")
        out.append(t[None, None])  # (H, W) -> (1, 1, H, W)
    return out
