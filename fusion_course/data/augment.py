"""Standard training-time augmentation for small images: pad-and-crop plus horizontal flip.

The CIFAR-10 recipe of ResNet (He et al., arXiv:1512.03385, section 4.2) and of nearly every CIFAR
result since: pad each training image by 4 pixels (zeros), take a random 32×32 crop, and flip it
left-right with probability 1/2. The label does not change under either, so the network sees a new
version of every image each epoch; without it a 9-million-parameter model memorises the 45,000
training images within a few epochs.

Only the training split is augmented; validation and test images are used as they are. A mask target
``(1, H, W)`` is cropped and flipped with its image, so segmentation data can use it too.

>>> import torch
>>> from fusion_course.data.base import ImageDataset
>>> ds = Augmented(ImageDataset(torch.rand(4, 3, 32, 32), torch.arange(4)), pad=4, seed=0)
>>> x, y = ds[0]
>>> tuple(x.shape), int(y), len(ds)
((3, 32, 32), 0, 4)
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["Augmented"]


class Augmented(Dataset):
    """Wrap a dataset of ``(image (C, H, W), target)``: random pad-and-crop and horizontal flip per access.

    Args:
        dataset: the training split.
        pad: pixels of zero padding on every side before the random crop (0 turns cropping off).
        flip: flip left-right with probability 1/2.
        seed: the augmentation draws come from their own generator, seeded here and advanced on every
            access, so a run is reproducible with ``num_workers=0`` and independent of the model's RNG.

    Every other attribute (``classes``, ``num_classes``, ``task`` …) is read from the wrapped dataset.
    """

    def __init__(self, dataset: Any, *, pad: int = 4, flip: bool = True, seed: int = 0) -> None:
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.dataset, self.pad, self.flip = dataset, int(pad), bool(flip)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:           # classes, num_classes, task, ... of the wrapped set
        if name == "dataset":                          # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int):
        x, y = self.dataset[index]
        is_mask = isinstance(y, torch.Tensor) and y.dim() == 3 and y.shape[-2:] == x.shape[-2:]
        h, w = x.shape[-2:]
        if self.pad:
            dy, dx = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,), generator=self.generator))
            x = F.pad(x, [self.pad] * 4)[:, dy:dy + h, dx:dx + w]                   # (C, H, W)
            if is_mask:
                y = F.pad(y, [self.pad] * 4)[:, dy:dy + h, dx:dx + w]
        if self.flip and bool(torch.rand((), generator=self.generator) < 0.5):
            x = x.flip(-1)
            if is_mask:
                y = y.flip(-1)
        return x, y

    def __repr__(self) -> str:
        return f"Augmented({self.dataset!r}, pad={self.pad}, flip={self.flip})"
