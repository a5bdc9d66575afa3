"""Saliency: one or more objects over a real textured background; the target is the object mask.

A small, offline stand-in for salient-object detection (the task of F3Net, Wei et al., AAAI 2020,
arXiv:1911.11445, benchmarked on DUTS/ECSSD): find the pixels of the object(s) that stand out.
Objects are shapes filled with a brighter or darker real texture, shapes filled with a crop of a real
colour photo, or the horse silhouette of ``skimage.data.horse`` filled with either. Backgrounds are
real grey textures normalised to mid-grey, so an object stands out by its brightness, colour or
texture: a detector must combine local contrast (fine levels) with object extent (coarse levels).

>>> from fusion_course.data import make_saliency
>>> d = make_saliency(8, size=64, seed=0)
>>> d["images"].shape, d["masks"].shape, d["masks"].dtype
(torch.Size([8, 3, 64, 64]), torch.Size([8, 1, 64, 64]), torch.float32)
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from ..errors import UsageError
from .base import ImageDataset
from .images import PHOTOS, TEXTURES
from .shapes import (CHUNK, SHAPES, crop_params, gather_crops, normalise_contrast, photo_bank, render_masks,
                     single_thread, texture_bank)
from .texture_shapes import DEFAULT_TEXTURES, split_seed

OBJECTS = ("shape", "photo", "horse")
DEFAULT_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
DEFAULT_SIZES = {"train": 3000, "val": 500, "test": 1000}
SPLITS = ("train", "val", "test")
TARGETS = ("mask", "count")


@lru_cache(maxsize=4)
def _generate(n: int, size: int, seed: int, max_objects: int, objects: tuple[str, ...], textures: tuple[str, ...],
              photos: tuple[str, ...], texture_scale: float, photo_scale: float, channels: int) -> dict:
    rng = np.random.default_rng(seed)
    tbank, tsizes = texture_bank(textures, texture_scale)
    pbank, psizes = photo_bank(photos, photo_scale)
    k_tex = len(textures)

    # Per image: background texture; per (image, slot): presence, object kind, fill, geometry.
    bg = rng.integers(0, k_tex, size=n)
    present = np.ones((n, max_objects), dtype=bool)
    present[:, 1:] = rng.random((n, max_objects - 1)) < 0.5                # the first object is always there
    kind = rng.integers(0, len(objects), size=(n, max_objects))             # index into `objects`
    shape_kind = rng.integers(0, len(SHAPES), size=(n, max_objects))
    photo_fill = rng.random((n, max_objects)) < 0.5                          # horses: photo or texture fill
    big = np.array([0.45, 0.8]) * size / 2                                   # first object: large
    small = np.array([0.25, 0.5]) * size / 2
    radius = np.where(np.arange(max_objects)[None] == 0, rng.uniform(*big, size=(n, max_objects)),
                      rng.uniform(*small, size=(n, max_objects))).round().astype(int).clip(2)
    cy = rng.integers(radius, size - radius)
    cx = rng.integers(radius, size - radius)
    angle = rng.uniform(0, 360, size=(n, max_objects))
    mirror = rng.integers(0, 2, size=(n, max_objects))
    tex = (bg[:, None] + rng.integers(1, k_tex, size=(n, max_objects))) % k_tex   # object texture != background
    brightness = np.where(rng.random((n, max_objects)) < 0.5, 0.28, 0.72)         # darker or brighter than 0.5
    photo = rng.integers(0, len(photos), size=(n, max_objects))
    bg_crop = crop_params(rng, bg, tsizes, size)
    tex_crop = [crop_params(rng, tex[:, j], tsizes, size) for j in range(max_objects)]
    photo_crop = [crop_params(rng, photo[:, j], psizes, size) for j in range(max_objects)]

    names = np.array(objects)[kind]                                          # (n, slots) object kinds
    use_photo = (names == "photo") | ((names == "horse") & photo_fill)
    images = torch.empty(n, channels, size, size)
    masks = torch.empty(n, 1, size, size)
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        img = normalise_contrast(gather_crops(tbank, bg[a:b], bg_crop[a:b], size))[:, None].repeat(1, 3, 1, 1)
        union = torch.zeros(b - a, size, size, dtype=torch.bool)
        for j in range(max_objects):
            sl = slice(a, b)
            kinds = [("horse" if nm == "horse" else SHAPES[s]) for nm, s in zip(names[sl, j], shape_kind[sl, j])]
            m = torch.from_numpy(render_masks(kinds, cy[sl, j], cx[sl, j], radius[sl, j], angle[sl, j], size,
                                              mirror=mirror[sl, j]))
            m &= torch.from_numpy(present[sl, j]).view(-1, 1, 1)             # absent objects draw nothing
            t_fill = normalise_contrast(gather_crops(tbank, tex[sl, j], tex_crop[j][sl], size),
                                        mean=torch.from_numpy(brightness[sl, j]).float())
            p_fill = gather_crops(pbank, photo[sl, j], photo_crop[j][sl], size)          # (n, 3, H, W)
            fill = torch.where(torch.from_numpy(use_photo[sl, j]).view(-1, 1, 1, 1), p_fill, t_fill[:, None])
            img = torch.where(m[:, None], fill, img)                          # later objects occlude earlier
            union |= m
        if channels == 1:
            img = img.mean(1, keepdim=True)
        images[a:b] = img
        masks[a:b, 0] = union
    return {
        "images": images, "masks": masks,
        "num_objects": torch.as_tensor(present.sum(1), dtype=torch.int64),
        "kinds": torch.as_tensor(np.where(present, kind, -1), dtype=torch.int64),
        "object_names": list(objects),
    }


def make_saliency(n: int, *, size: int = 64, seed: int = 0, max_objects: int = 2,
                  objects: Sequence[str] = OBJECTS, textures: Sequence[str] | None = None,
                  photos: Sequence[str] | None = None, texture_scale: float = 0.5, photo_scale: float = 0.5,
                  channels: int = 3, target: str = "mask") -> dict:
    """Generate ``n`` saliency images (cached in memory: the same arguments return the same tensors).

    Args:
        n: number of images. size: side in pixels (at least 16). seed: everything follows from it.
        max_objects: objects per image: the first is always present, each other one with probability ½.
        objects: kinds to draw from: ``"shape"`` (a shape filled with a brighter/darker texture),
            ``"photo"`` (a shape filled with a colour photo crop), ``"horse"`` (the skimage horse silhouette).
        textures, photos: names from ``TEXTURES`` / ``PHOTOS`` (defaults: 6 textures, 4 colour photos).
        channels: 3 (RGB) or 1 (grey).
        target: ``"mask"`` (``labels`` = masks) or ``"count"`` (``labels`` = number of objects − 1).

    Returns:
        dict with ``images (N, C, H, W)`` float32 in [0, 1], ``masks (N, 1, H, W)`` float32 in {0, 1},
        ``labels``, ``num_objects (N,)``, ``kinds (N, max_objects)`` (index into ``object_names``, −1 if
        absent), ``object_names``. Shared with the cache: do not modify in place.
    """
    objects_t = tuple(objects)
    bad = [o for o in objects_t if o not in OBJECTS]
    if bad or not objects_t:
        raise UsageError(f"unknown object kind {bad[0] if bad else None!r}; choose from: {', '.join(OBJECTS)}")
    textures_t = tuple(textures) if textures is not None else DEFAULT_TEXTURES
    photos_t = tuple(photos) if photos is not None else DEFAULT_PHOTOS
    for name, pool, what in [(t, TEXTURES, "texture") for t in textures_t] + [(p, PHOTOS, "photo") for p in photos_t]:
        if name not in pool:
            raise UsageError(f"unknown {what} {name!r}; choose from: {', '.join(pool)}")
    if len(textures_t) < 2:
        raise UsageError("saliency needs at least 2 textures (object and background must differ)")
    if "horse" in photos_t:
        raise UsageError("'horse' is a silhouette, not a photo to fill objects with; use objects=('horse',)")
    if int(size) < 16 or int(n) < 1 or int(max_objects) < 1:
        raise UsageError(f"need size >= 16, n >= 1 and max_objects >= 1; got size={size}, n={n}, "
                         f"max_objects={max_objects}")
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels}")
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    with single_thread():
        d = dict(_generate(int(n), int(size), int(seed), int(max_objects), objects_t, textures_t, photos_t,
                           float(texture_scale), float(photo_scale), int(channels)))
    if target == "mask":
        d["labels"], d["classes"] = d["masks"], ["background", "object"]
    else:
        d["labels"] = d["num_objects"] - 1
        d["classes"] = [f"{k + 1} object{'s' if k else ''}" for k in range(int(max_objects))]
    return d


def load_saliency(split: str = "train", *, n: int | None = None, size: int = 64, image_size: int | None = None,
                  seed: int = 0, target: str = "mask", **options) -> ImageDataset:
    """The saliency task as an :class:`ImageDataset` of ``(image, mask (1, H, W))`` (3,000 / 500 / 1,000)."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    d = make_saliency(n or DEFAULT_SIZES[split], size=int(image_size or size), seed=split_seed(seed, split) + 1,
                      target=target, **options)
    extras = {"num_objects": d["num_objects"], "kinds": d["kinds"]}
    if target != "mask":
        extras["masks"] = d["masks"]
    return ImageDataset(d["images"], d["labels"], classes=d["classes"], name="saliency", split=split, extras=extras)


DATASETS = {"saliency": load_saliency}
