"""CIFAR-10 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009), when you have it.

60,000 colour images of 32×32 in 10 classes. It does not ship with the course: point ``root`` (the CLI's
``--data-root``) at a folder that holds ``cifar-10-batches-py/`` (the official "python version"), or
pass ``download=True`` (``--download``) on a machine with internet access. When the files are
missing and no download was asked for, loading fails at once with a message that says where it
looked, how to get the data, and which offline datasets work without it.

Loading uses torchvision's own reader (``torchvision.datasets.CIFAR10``), which verifies the official
MD5 checksums. Files in the official format whose checksums differ (a subset, a re-export, the tiny
folder the tests write) are read by the same code through a subclass that declares no checksums, the
way torchvision's own subclasses (CIFAR-100) declare theirs, and a warning says so.

Splits: the official 50,000 training images are split with a fixed seed into 45,000 train and
5,000 val (model selection); ``test`` is the official 10,000 test images (report once).

>>> from fusion_course.data import load_dataset
>>> ds = load_dataset("cifar10", "val", root="~/data")   # doctest: +SKIP
>>> len(ds), ds[0][0].shape                              # doctest: +SKIP
(5000, torch.Size([3, 32, 32]))
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from .base import ImageDataset, split_indices

BASE_FOLDER = "cifar-10-batches-py"
FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VAL_SIZE = 5000
SPLITS = ("train", "val", "test")


def default_root() -> Path:
    """``$FUSION_COURSE_DATA`` if set, else ``./data``."""
    return Path(os.environ.get("FUSION_COURSE_DATA", "data"))


def missing_message(root: Path) -> str:
    from .registry import available_datasets

    offline = [d for d in available_datasets() if d != "cifar10"]
    return (f"CIFAR-10 not found under {root.resolve()} (expected {BASE_FOLDER}/ with data_batch_1..5, "
            f"test_batch and batches.meta). To get it: pass --download (download=True) on a machine with "
            f"internet access, or copy the folder {BASE_FOLDER} (unpacked from {URL}) into {root.resolve()}, "
            f"or point --data-root (root=) at the folder that holds it. Without it, use a dataset that ships "
            f"with the course: {', '.join(offline)}")


def _has_files(root: Path) -> bool:
    return all((root / BASE_FOLDER / f).is_file() for f in FILES)


def _reader_classes():
    from torchvision.datasets import CIFAR10

    class CIFAR10Unchecked(CIFAR10):
        """torchvision's CIFAR-10 reader for files in the official format but not the official bytes."""

        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return CIFAR10, CIFAR10Unchecked


@lru_cache(maxsize=2)
def _read(root: str, download: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """(train images uint8 (N, 32, 32, 3), train labels, test images, test labels, class names)."""
    path = Path(root).expanduser()
    checked, unchecked = _reader_classes()
    if download and not _has_files(path):
        try:
            checked(str(path), train=True, download=True)
        except Exception as exc:  # no network, proxy, disk full: say what happened and what to do
            raise UsageError(f"could not download CIFAR-10 into {path.resolve()} ({type(exc).__name__}: {exc}). "
                             + missing_message(path).split(". ", 1)[1]) from None
    try:
        train, test = checked(str(path), train=True), checked(str(path), train=False)
    except RuntimeError:
        warnings.warn(f"the CIFAR-10 files under {path.resolve()} are in the official format but do not match "
                      "the official checksums (a subset or a re-export?); loading them anyway", stacklevel=3)
        train, test = unchecked(str(path), train=True), unchecked(str(path), train=False)
    return (np.asarray(train.data), np.asarray(train.targets, dtype=np.int64), np.asarray(test.data),
            np.asarray(test.targets, dtype=np.int64), tuple(train.classes))


class CIFARDataset(ImageDataset):
    """CIFAR images kept as uint8 (a quarter of the memory) and converted to float32 in [0, 1] per item."""

    def __init__(self, images_uint8: torch.Tensor, targets: torch.Tensor, *, image_size: int, **kw) -> None:
        super().__init__(images_uint8, targets, **kw)
        self._size = int(image_size)

    @property
    def image_size(self) -> int:
        return self._size

    def __getitem__(self, index: int):
        x = self.images[index].float().div_(255)                                # (3, 32, 32)
        if self._size != x.shape[-1]:
            x = F.interpolate(x[None], size=(self._size, self._size), mode="bilinear", align_corners=False,
                              antialias=self._size < x.shape[-1])[0].clamp_(0, 1)
        return x, self.targets[index]


def load_cifar10(split: str = "train", *, root: str | os.PathLike | None = None, download: bool = False,
                 seed: int = 0, image_size: int = 32, val_size: int = VAL_SIZE, target: str = "label") -> CIFARDataset:
    """CIFAR-10 as an :class:`ImageDataset`: 45,000 train / 5,000 val (seeded split of the official
    training set) / 10,000 test (the official test set). Images ``(3, 32, 32)`` float32 in [0, 1].

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: the folder holding ``cifar-10-batches-py`` (default ``$FUSION_COURSE_DATA`` or ``./data``).
        download: fetch the archive if the files are missing (needs internet). Never implicit.
        seed: seed of the train/val split. image_size: resize (bilinear) on access.
        val_size: images of the official training set held out for val.
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r} for cifar10; choose one of: {', '.join(SPLITS)}")
    if target not in ("label", "class"):
        raise UsageError("dataset 'cifar10' has class labels only, no masks; for a mask target use "
                         "'texture-shapes' or 'saliency'")
    path = Path(root).expanduser() if root is not None else default_root()
    # Checked before importing torchvision so the offline answer is instant.
    if not download and not _has_files(path):
        raise UsageError(missing_message(path))
    x_train, y_train, x_test, y_test, classes = _read(str(path.resolve()), bool(download))
    if split == "test":
        x, y = x_test, y_test
    else:
        if not 0 < val_size < len(y_train):
            raise UsageError(f"val_size must be between 1 and {len(y_train) - 1}, got {val_size}")
        train_idx, val_idx = split_indices(len(y_train), [len(y_train) - val_size, val_size], seed, y_train)
        idx = train_idx if split == "train" else val_idx
        x, y = x_train[idx], y_train[idx]
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))   # (N, 3, 32, 32) uint8
    return CIFARDataset(images, torch.from_numpy(y), image_size=image_size, classes=list(classes),
                        name="cifar10", split=split)


DATASETS = {"cifar10": load_cifar10}
