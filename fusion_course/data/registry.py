"""The dataset registry: ``load_dataset(name, split, **options)`` and ``available_datasets()``.

Each dataset module declares ``DATASETS = {name: loader}`` where ``loader(split, **options)`` returns
an :class:`~fusion_course.data.base.ImageDataset`. This file only lists the modules, so lessons add
datasets without touching each other's code; a listed module that does not exist is skipped.
``register_dataset`` adds one at run time (e.g. from a notebook).
"""
from __future__ import annotations

from typing import Callable

from .._declared import declared
from ..errors import UsageError

_MODULES = ("digits", "texture_shapes", "saliency", "cifar", "two_maps")
_EXTRA: dict[str, Callable] = {}


def _loaders() -> dict[str, Callable]:
    found: dict[str, Callable] = {}
    for table in declared(__package__, _MODULES, "DATASETS"):
        found.update(table)
    found.update(_EXTRA)
    return found


def register_dataset(name: str, loader: Callable) -> None:
    """Add a dataset: ``loader(split="train", **options)`` must return an ``ImageDataset``-like Dataset."""
    _EXTRA[name] = loader


def available_datasets() -> list[str]:
    """Names ``load_dataset`` and ``fusion-course train --dataset`` accept."""
    return sorted(_loaders())


def dataset_loader(name: str) -> Callable:
    loaders = _loaders()
    if name not in loaders:
        raise UsageError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(loaders))}")
    return loaders[name]


def load_dataset(name: str, split: str = "train", **options):
    """Load a dataset split by name: a ``Dataset`` of ``(image float32 (C, H, W) in [0, 1], target)``.

    Splits are ``"train"``, ``"val"`` (model selection) and ``"test"`` (report once), fixed by a seed.

    >>> ds = load_dataset("digits", "val")
    >>> len(ds), ds[0][0].shape
    (180, torch.Size([1, 8, 8]))
    """
    return dataset_loader(name)(split, **options)
