"""The dataset type every loader of the course returns, and the deterministic split helper.

An :class:`ImageDataset` is a plain ``torch.utils.data.Dataset`` of ``(image, target)`` pairs held in
memory: images ``float32 (C, H, W)`` in [0, 1]; targets either class indices (``int64`` scalars) or
masks (``float32 (1, H, W)`` in {0, 1}). It also carries what a training script needs to know
(``task``, ``num_classes``, ``classes``, ``in_channels``, ``image_size``), so
``fusion-course train`` can build a matching model without guessing.

>>> import torch
>>> ds = ImageDataset(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 1]), classes=["a", "b", "c"])
>>> image, label = ds[0]; image.shape, int(label), ds.task, ds.num_classes
(torch.Size([1, 8, 8]), 0, 'classify', 3)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """In-memory images with class labels or masks, plus the metadata a trainer needs.

    Args:
        images: ``(N, C, H, W)`` float32 in [0, 1].
        targets: ``(N,)`` int64 class indices, or ``(N, 1, H, W)`` float32 masks.
        classes: class names (classification); ``["background", "object"]`` for masks.
        name, split: for messages (``"digits"``, ``"train"``).
        extras: optional per-image tensors of length N (e.g. the shape and texture labels of a
            mask task) kept for analysis; they are not returned by ``__getitem__``.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, *, classes: Sequence[str] | None = None,
                 name: str = "", split: str = "", extras: dict[str, torch.Tensor] | None = None) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images = images
        self.targets = targets
        self.task = "segment" if targets.ndim == 4 else "classify"
        if classes is None:
            classes = ["background", "object"] if self.task == "segment" else \
                [str(i) for i in range(int(targets.max()) + 1 if len(targets) else 0)]
        self.classes = list(classes)
        self.name = name
        self.split = split
        self.extras = dict(extras or {})

    @property
    def num_classes(self) -> int:
        """Number of classes; 1 for a binary mask (one logit per pixel)."""
        return 1 if self.task == "segment" else len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]

    def __repr__(self) -> str:
        what = f"{self.num_classes} classes" if self.task == "classify" else "mask targets"
        c, h, w = self.images.shape[1:]
        return (f"ImageDataset({self.name or 'unnamed'}/{self.split or '-'}: {len(self)} images "
                f"{c}x{h}x{w}, {what})")


def split_indices(n: int, sizes: Sequence[int], seed: int, labels: np.ndarray | None = None) -> list[np.ndarray]:
    """Disjoint index sets of the given sizes, drawn with a fixed seed (stratified when ``labels`` given).

    Stratification keeps every split's class balance equal to the whole set's, which matters on
    small sets such as the 1,797 digits: a val set short of one class would mislead model selection.
    """
    if sum(sizes) > n:
        raise ValueError(f"split sizes {list(sizes)} add up to more than the {n} items available")
    rng = np.random.default_rng(seed)
    if labels is None:
        perm = rng.permutation(n)
    else:
        # Interleave a shuffled list of each class so every prefix is close to stratified.
        labels = np.asarray(labels)
        keys = np.empty(n)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            keys[idx] = (rng.permutation(len(idx)) + rng.random()) / len(idx)
        perm = np.lexsort((rng.random(n), keys))
    out, start = [], 0
    for size in sizes:
        out.append(np.sort(perm[start:start + size]))
        start += size
    return out
