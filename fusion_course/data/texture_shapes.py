"""Texture-shapes: a shape cut from one real texture, pasted over another real texture.

A controlled task for fusion experiments (in the spirit of the texture/shape cue-conflict images of
Geirhos et al., "ImageNet-trained CNNs are biased towards texture", ICLR 2019, arXiv:1811.12231):
the shape is only visible as a *change of texture*, because every texture crop is normalised to the
same mean and contrast. Finding the boundary needs fine, local statistics (early, high-resolution
features); knowing which pixels belong to the object needs context (deep, coarse features). That is
the situation where fusing levels pays off.

Labels come for free: ``target="shape"`` (which of the shapes), ``"texture"`` (the foreground
texture), ``"both"`` (shape × texture) or ``"mask"`` (the object mask, ``(1, H, W)`` in {0, 1}).

>>> from fusion_course.data import make_texture_shapes
>>> d = make_texture_shapes(8, size=64, seed=0)
>>> d["images"].shape, d["masks"].shape, d["labels"].shape
(torch.Size([8, 3, 64, 64]), torch.Size([8, 1, 64, 64]), torch.Size([8]))
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from ..errors import UsageError
from .base import ImageDataset
from .images import TEXTURES
from .shapes import (CHUNK, SHAPES, crop_params, gather_crops, normalise_contrast, render_masks, single_thread,
                     texture_bank)

# The textures of the prototype experiment the moderate lesson repeats.
DEFAULT_TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel", "ihc", "moon", "coins")
DEFAULT_SIZES = {"train": 3000, "val": 500, "test": 1000}
SPLITS = ("train", "val", "test")
TARGETS = ("shape", "texture", "both", "mask")


def _balanced(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n labels in 0..k-1, each class n//k or n//k+1 times, in random order."""
    return rng.permutation(np.resize(rng.permutation(k), n))


@lru_cache(maxsize=6)
def _generate(n: int, size: int, seed: int, shapes: tuple[str, ...], textures: tuple[str, ...],
              texture_scale: float, scale_range: tuple[float, float], channels: int) -> dict:
    rng = np.random.default_rng(seed)
    k_shape, k_tex = len(shapes), len(textures)
    shape_id = _balanced(rng, n, k_shape)                       # index into `shapes`
    fg = _balanced(rng, n, k_tex)                               # foreground texture
    bg = (fg + rng.integers(1, k_tex, size=n)) % k_tex          # a different background texture
    # Outer radius in whole pixels; the centre keeps the whole shape inside the image.
    radius = np.maximum(2, np.round(rng.uniform(*scale_range, size=n) * size / 2)).astype(int)
    cy = rng.integers(radius, size - radius)
    cx = rng.integers(radius, size - radius)
    angle = rng.uniform(0, 360, size=n)
    bank, sizes = texture_bank(textures, texture_scale)
    fg_crop = crop_params(rng, fg, sizes, size)
    bg_crop = crop_params(rng, bg, sizes, size)
    kinds = [shapes[i] for i in shape_id]

    images = torch.empty(n, channels, size, size)
    masks = torch.empty(n, 1, size, size)
    for a in range(0, n, CHUNK):                               # vectorised per chunk of images
        b = min(n, a + CHUNK)
        m = torch.from_numpy(render_masks(kinds[a:b], cy[a:b], cx[a:b], radius[a:b], angle[a:b], size))  # (n, H, W)
        f = normalise_contrast(gather_crops(bank, fg[a:b], fg_crop[a:b], size))         # (n, H, W)
        g = normalise_contrast(gather_crops(bank, bg[a:b], bg_crop[a:b], size))
        img = torch.where(m, f, g)
        images[a:b] = img.unsqueeze(1).expand(-1, channels, -1, -1)                      # grey -> C channels
        masks[a:b, 0] = m
    t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.int64)
    return {
        "images": images, "masks": masks,
        "shapes": t(shape_id), "textures": t(fg), "backgrounds": t(bg),
        "shape_names": list(shapes), "texture_names": list(textures),
    }


def make_texture_shapes(n: int, *, size: int = 64, seed: int = 0, target: str = "shape",
                        shapes: Sequence[str] | int | None = None, textures: Sequence[str] | int | None = None,
                        texture_scale: float = 0.5, scale_range: tuple[float, float] = (0.45, 0.8),
                        channels: int = 3) -> dict:
    """Generate ``n`` texture-shape images (cached in memory: the same arguments return the same tensors).

    Args:
        n: number of images.
        size: side in pixels (at least 16).
        seed: everything (shapes, positions, crops) follows from it.
        target: what ``labels`` holds: ``"shape"``, ``"texture"``, ``"both"`` (``shape * T + texture``)
            or ``"mask"`` (then ``labels`` is the mask).
        shapes: shape names (from ``SHAPES``) or a number k (the first k); default all 8.
        textures: texture names (from ``fusion_course.data.images.TEXTURES``) or a number k; default
            the 6 of ``DEFAULT_TEXTURES``. At least 2 (background and object must differ).
        texture_scale: textures are resized by this factor before cropping (more pattern per crop).
        scale_range: the shape's outer radius, as a fraction of half the image side.
        channels: 3 (grey repeated, RGB-shaped) or 1.

    Returns:
        dict with ``images (N, C, H, W)`` float32 in [0, 1], ``masks (N, 1, H, W)`` float32 {0, 1},
        ``labels``, ``shapes``, ``textures`` (foreground), ``backgrounds`` (int64 ``(N,)``), ``classes``
        (the names of ``labels``), ``shape_names``, ``texture_names``. The tensors are shared with the
        cache: do not modify them in place (``.clone()`` first).
    """
    shapes_t = _names(shapes, SHAPES, DEFAULT=SHAPES, what="shape")
    textures_t = _names(textures, tuple(TEXTURES), DEFAULT=DEFAULT_TEXTURES, what="texture")
    if len(textures_t) < 2:
        raise UsageError("texture-shapes needs at least 2 textures (object and background must differ)")
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    if int(size) < 16:
        raise UsageError(f"size must be at least 16 pixels, got {size}")
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels}")
    if int(n) < 1:
        raise UsageError(f"n must be positive, got {n}")
    with single_thread():
        d = dict(_generate(int(n), int(size), int(seed), shapes_t, textures_t, float(texture_scale),
                           tuple(float(s) for s in scale_range), int(channels)))
    if target == "shape":
        d["labels"], d["classes"] = d["shapes"], list(shapes_t)
    elif target == "texture":
        d["labels"], d["classes"] = d["textures"], list(textures_t)
    elif target == "both":
        d["labels"] = d["shapes"] * len(textures_t) + d["textures"]
        d["classes"] = [f"{s}/{t}" for s in shapes_t for t in textures_t]
    else:
        d["labels"], d["classes"] = d["masks"], ["background", "object"]
    return d


def _names(value, allowed: tuple[str, ...], DEFAULT: tuple[str, ...], what: str) -> tuple[str, ...]:
    if value is None:
        return tuple(DEFAULT)
    if isinstance(value, (int, np.integer)):
        pool = DEFAULT if value <= len(DEFAULT) else allowed
        if not 1 <= value <= len(pool):
            raise UsageError(f"number of {what}s must be between 1 and {len(allowed)}, got {value}")
        return tuple(pool[:value])
    names = tuple(value)
    bad = [v for v in names if v not in allowed]
    if bad:
        raise UsageError(f"unknown {what} {bad[0]!r}; choose from: {', '.join(allowed)}")
    return names


def split_seed(seed: int, split: str) -> int:
    """Each split is generated from its own seed, so train, val and test are independent draws."""
    return int(np.random.SeedSequence([int(seed), SPLITS.index(split), 7]).generate_state(1)[0])


def load_texture_shapes(split: str = "train", *, n: int | None = None, size: int = 64, image_size: int | None = None,
                        seed: int = 0, target: str = "shape", **options) -> ImageDataset:
    """The texture-shapes task as an :class:`ImageDataset` (default 3,000 train / 500 val / 1,000 test).

    ``target="mask"`` gives a segmentation dataset (targets ``(1, H, W)``); other targets give class
    labels. ``image_size`` is an alias of ``size`` (the CLI's name). Other options go to
    :func:`make_texture_shapes`.
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    size = int(image_size or size)
    d = make_texture_shapes(n or DEFAULT_SIZES[split], size=size, seed=split_seed(seed, split), target=target,
                            **options)
    extras = {k: d[k] for k in ("shapes", "textures", "backgrounds")}
    if target != "mask":
        extras["masks"] = d["masks"]
    return ImageDataset(d["images"], d["labels"], classes=d["classes"], name="texture-shapes", split=split,
                        extras=extras)


DATASETS = {"texture-shapes": load_texture_shapes}
