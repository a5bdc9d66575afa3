"""`Augmented`: pad-and-crop plus flip keeps labels, moves masks with their images, and is reproducible."""
from __future__ import annotations

import torch

from fusion_course.data.augment import Augmented
from fusion_course.data.base import ImageDataset


def _images(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.arange(n * size * size, dtype=torch.float32).reshape(n, 1, size, size) + 1  # no zeros


def test_crops_are_shifted_windows_of_the_zero_padded_image_and_labels_stay():
    x = _images()
    ds = Augmented(ImageDataset(x, torch.arange(6)), pad=2, flip=False, seed=0)
    padded = torch.nn.functional.pad(x, [2] * 4)
    for i in range(6):
        for _ in range(5):
            img, label = ds[i]
            assert int(label) == i and img.shape == (1, 8, 8)
            windows = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
            assert any(torch.equal(img, w) for w in windows)


def test_flip_happens_about_half_the_time_and_masks_follow_their_image():
    x = _images(1)
    flipper = Augmented(ImageDataset(x, torch.zeros(1)), pad=0, flip=True, seed=1)
    flips = sum(torch.equal(flipper[0][0], x[0].flip(-1)) for _ in range(200))
    assert 60 < flips < 140                                  # Binomial(200, 1/2): 5 sd either side
    mask = (x > x.mean()).float()                            # (1, 1, 8, 8), a mask tied to the pixels
    ds = Augmented(ImageDataset(x, mask), pad=3, flip=True, seed=1)
    for _ in range(50):
        img, m = ds[0]
        assert torch.equal(m, (img > x.mean()).float())      # cropped and flipped together (padding is 0)


def test_same_seed_same_draws_and_attributes_pass_through():
    base = ImageDataset(_images(), torch.arange(6), classes=list("abcdef"))
    a, b = Augmented(base, seed=3), Augmented(base, seed=3)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(6))
    assert a.classes == list("abcdef") and a.num_classes == 6 and len(a) == 6
