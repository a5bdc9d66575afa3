"""Handwritten digits that ship with scikit-learn: 1,797 real 8×8 grey images, 10 classes.

The UCI "Optical Recognition of Handwritten Digits" set (Alpaydin & Kaynak, 1998), as packaged by
``sklearn.datasets.load_digits``: 32×32 bitmaps of 43 writers, block-averaged to 8×8, 17 grey levels.
It is the data the source article's toy model fits (its classifier only takes 8×8 inputs).

Split (fixed, stratified, seed 0 unless given): 1,257 train / 180 val / 360 test. Select models on
``val``; report ``test`` once.

>>> from fusion_course.data import load_dataset
>>> ds = load_dataset("digits", "train")
>>> len(ds), ds[0][0].shape, ds.num_classes
(1257, torch.Size([1, 8, 8]), 10)
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from .base import ImageDataset, split_indices

SPLITS = ("train", "val", "test")
SIZES = {"train": 1257, "val": 180, "test": 360}


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)      # (1797, 8, 8), grey levels 0..16 -> [0, 1]
    return images, d.target.astype(np.int64)


@lru_cache(maxsize=8)
def _split(split: str, seed: int, image_size: int, channels: int) -> ImageDataset:
    images, labels = _raw()
    parts = dict(zip(SPLITS, split_indices(len(labels), [SIZES[s] for s in SPLITS], seed, labels)))
    idx = parts[split]
    x = torch.from_numpy(images[idx]).unsqueeze(1)         # (N, 1, 8, 8)
    if image_size != 8:
        # Bilinear upsampling keeps the 8x8 content; it adds pixels, not detail.
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False).clamp_(0, 1)
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)                            # (N, 3, H, W) grey in every channel
    y = torch.from_numpy(labels[idx])
    return ImageDataset(x.contiguous(), y, classes=[str(i) for i in range(10)], name="digits", split=split)


def load_digits(split: str = "train", *, seed: int = 0, image_size: int = 8, channels: int = 1,
                target: str = "label") -> ImageDataset:
    """The sklearn digits as an :class:`ImageDataset` of ``(1, 8, 8)`` images and labels 0-9.

    Args:
        split: ``"train"`` (1,257), ``"val"`` (180) or ``"test"`` (360).
        seed: the split's seed; the same seed gives the same split on every machine.
        image_size: side of the returned images (bilinear resize of the 8×8 originals).
        channels: 1 (grey) or 3 (grey repeated, for models that expect RGB).
        target: only ``"label"``: digits have no masks.
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r} for digits; choose one of: {', '.join(SPLITS)}")
    if target not in ("label", "class"):
        raise UsageError("dataset 'digits' has class labels only, no masks; for a mask target use "
                         "'texture-shapes' or 'saliency'")
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels}")
    if int(image_size) < 1:
        raise UsageError(f"image_size must be positive, got {image_size}")
    return _split(split, int(seed), int(image_size), int(channels))


DATASETS = {"digits": load_digits}
