"""Offline data for the course: real photos and textures, digits, generated tasks, and CIFAR-10.

- ``load_photo(name)`` / ``load_texture(name)``: real images shipped in ``skimage.data`` (float32 in [0, 1]).
- ``load_dataset(name, split, **options)``: a ``torch.utils.data.Dataset`` of ``(image, target)``
  with fixed, seeded ``train``/``val``/``test`` splits; ``available_datasets()`` lists the names:
  ``digits`` (sklearn, 8×8), ``texture-shapes`` and ``saliency`` (generated from real textures),
  ``cifar10`` (torchvision, when you have it).
- ``make_texture_shapes(n, ...)`` / ``make_saliency(n, ...)``: the generators behind the generated
  tasks, returning dicts of tensors (cached in memory).

>>> from fusion_course.data import available_datasets
>>> "digits" in available_datasets()
True
"""
from __future__ import annotations

from .base import ImageDataset, split_indices
from .images import PHOTOS, TEXTURES, available_photos, available_textures, load_photo, load_texture
from .registry import available_datasets, dataset_loader, load_dataset, register_dataset
from .shapes import SHAPES
from .saliency import make_saliency
from .texture_shapes import make_texture_shapes


__all__ = [
    "ImageDataset", "split_indices", "PHOTOS", "TEXTURES", "SHAPES", "available_photos", "available_textures",
    "load_photo", "load_texture", "available_datasets", "dataset_loader", "load_dataset", "register_dataset",
    "make_texture_shapes", "make_saliency",
]
