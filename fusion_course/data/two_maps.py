"""Two maps, one treasure: a task where each of two inputs holds only half of what the label needs.

The newsletter ("Feature Fusion Block", Easy section) explains fusion with two treasure maps, "each map
only shows part of the treasure's location", and a tool that combines them. This module makes that
story a dataset a tiny model can be trained on in seconds:

* map A, *where*: a real texture (brick, grass or gravel from ``skimage.data``) with a bright mark
  ("X marks the spot") in one of four quadrants. It says **where** the treasure is, nothing about what;
* map B, *what*: a real handwritten digit (sklearn's digits, upsampled to the map size). It says
  **what** the treasure is, nothing about where;
* the label is the pair: ``label = where · num_what + what`` (16 classes for 4 places × 4 digits).

Each image is ``float32 (2, H, W)`` in [0, 1]: channel 0 is map A, channel 1 is map B, so the
ordinary ``(image, target)`` convention and ``fusion_course.train.fit`` work unchanged; a model that
"sees only A" simply ignores channel 1.

Because where and what are drawn independently and uniformly, a model that reads one map perfectly
and guesses the other can score at most ``1 / num_what`` (A alone) or ``1 / num_where`` (B alone):
:func:`accuracy_ceiling` computes these bounds from the actual labels. Only a model that fuses both
maps can go beyond them.

Example:
    >>> from fusion_course.data import load_dataset
    >>> ds = load_dataset("two-maps", "val", n=64)
    >>> x, y = ds[0]
    >>> tuple(x.shape), ds.num_classes, len(ds)
    ((2, 16, 16), 16, 64)
    >>> split_label(y, ds.extras["num_what"])  # doctest: +SKIP
    (where, what)
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from .base import ImageDataset

__all__ = ["WHERE_NAMES", "TEXTURE_NAMES", "make_two_maps", "load_two_maps", "split_label", "accuracy_ceiling", "DATASETS"]

SPLITS = ("train", "val", "test")
DEFAULT_SIZES = {"train": 3000, "val": 500, "test": 1000}
WHERE_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")
TEXTURE_NAMES = ("brick", "grass", "gravel")
# Textures are shrunk by this factor before cropping so a 16×16 crop still shows several bricks/pebbles.
_TEXTURE_SCALE = 4


def split_label(labels, num_what: int):
    """``(where, what)`` from labels ``where · num_what + what`` (ints, arrays or tensors)."""
    return labels // num_what, labels % num_what


@lru_cache(maxsize=4)
def _texture_bank() -> torch.Tensor:
    from .images import load_texture

    bank = []
    for name in TEXTURE_NAMES:
        t = torch.from_numpy(np.array(load_texture(name)))[None, None]           # (1, 1, 512, 512)
        t = F.avg_pool2d(t, _TEXTURE_SCALE)                                       # (1, 1, 128, 128)
        # Same mean and contrast for every texture: the mark must be found by its shape, not by
        # which texture happens to be darker.
        t = (t - t.mean()) / (t.std() + 1e-6)
        bank.append(t[0, 0])
    return torch.stack(bank)                                                      # (3, 128, 128)


def _split_seed(seed: int, split: str) -> int:
    return int(np.random.SeedSequence([int(seed), SPLITS.index(split), 1001]).generate_state(1)[0])


@lru_cache(maxsize=16)
def make_two_maps(n: int, *, split: str = "train", size: int = 16, seed: int = 0, num_what: int = 4,
                  mark_strength: float = 0.45, texture_contrast: float = 0.12) -> dict:
    """Generate ``n`` samples of the two-maps task (cached; treat the tensors as read-only).

    Args:
        n: number of samples.
        split: which digits and which texture rows to draw from: ``"train"`` uses the digits' train
            split and the top 60 % of each texture; ``"val"``/``"test"`` use the digits' val/test
            splits and the bottom 40 %, so test samples are never seen in training.
        size: side of each map (even, >= 8).
        seed: seed of the draw (each split draws from its own stream).
        num_what: how many digit classes (2..10): digits ``0 … num_what-1``.
        mark_strength: height of the bright mark on map A (the texture's std is ``texture_contrast``).
        texture_contrast: std of the texture around its mean grey 0.45.

    Returns:
        dict with ``images (n, 2, size, size)`` float32 in [0, 1], ``labels (n,)`` int64,
        ``where (n,)``, ``what (n,)``, ``classes`` (names like ``"top-left·3"``).
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if int(n) < 1:
        raise UsageError(f"n must be >= 1, got {n}")
    if int(size) < 8 or int(size) % 2:
        raise UsageError(f"size must be an even number >= 8 (four quadrants), got {size}")
    if not 2 <= int(num_what) <= 10:
        raise UsageError(f"num_what must be between 2 and 10 (digit classes), got {num_what}")
    n, size, num_what = int(n), int(size), int(num_what)
    rng = np.random.default_rng(_split_seed(seed, split))

    # Balanced labels: every (where, what) pair equally often, then shuffled.
    num_where = len(WHERE_NAMES)
    labels = np.resize(np.arange(num_where * num_what), n)
    rng.shuffle(labels)
    where, what = split_label(labels, num_what)

    # ---- map B: a real digit of class `what` from this split of sklearn's digits
    from .digits import load_digits

    digits = load_digits(split, seed=0, image_size=size)          # (N_d, 1, size, size) in [0, 1]
    d_labels = digits.targets.numpy()
    pick = np.empty(n, dtype=np.int64)
    for c in range(num_what):
        pool = np.flatnonzero(d_labels == c)
        idx = np.flatnonzero(what == c)
        pick[idx] = pool[rng.integers(0, len(pool), size=len(idx))]
    map_b = digits.images[torch.from_numpy(pick)]                # (n, 1, size, size)

    # ---- map A: a real texture crop with a bright mark in quadrant `where`
    bank = _texture_bank()                                        # (T, 128, 128), mean 0, std 1
    side = bank.shape[-1]
    rows = (0, int(0.6 * side) - size) if split == "train" else (int(0.6 * side), side - size)
    tex = rng.integers(0, len(TEXTURE_NAMES), size=n)
    ys = rng.integers(rows[0], rows[1] + 1, size=n)
    xs = rng.integers(0, side - size + 1, size=n)
    crops = torch.stack([bank[t, y:y + size, x:x + size] for t, y, x in zip(tex, ys, xs)])  # (n, size, size)
    half = size // 2
    # Mark centre: anywhere inside its quadrant, at least 2 px from the quadrant's edges.
    qy, qx = where // 2, where % 2
    cy = qy * half + rng.uniform(2, half - 2, size=n)
    cx = qx * half + rng.uniform(2, half - 2, size=n)
    grid = torch.arange(size, dtype=torch.float32)
    dy = grid[None, :, None] - torch.from_numpy(cy).float()[:, None, None]     # (n, size, 1)
    dx = grid[None, None, :] - torch.from_numpy(cx).float()[:, None, None]     # (n, 1, size)
    mark = torch.exp(-(dy ** 2 + dx ** 2) / (2 * 1.2 ** 2))                     # (n, size, size)
    map_a = (0.45 + texture_contrast * crops + mark_strength * mark).clamp(0, 1)[:, None]  # (n, 1, size, size)

    images = torch.cat([map_a, map_b], dim=1).contiguous()        # (n, 2, size, size)
    classes = [f"{w}·{d}" for w in WHERE_NAMES for d in range(num_what)]
    return {
        "images": images,
        "labels": torch.from_numpy(labels.astype(np.int64)),
        "where": torch.from_numpy(where.astype(np.int64)),
        "what": torch.from_numpy(what.astype(np.int64)),
        "textures": torch.from_numpy(tex.astype(np.int64)),
        "classes": classes,
        "num_what": num_what,
    }


def load_two_maps(split: str = "train", *, n: int | None = None, size: int = 16, image_size: int | None = None,
                  seed: int = 0, num_what: int = 4, **options) -> ImageDataset:
    """The two-maps task as an :class:`ImageDataset` (default 3,000 train / 500 val / 1,000 test).

    Images are ``(2, size, size)``: channel 0 = map A (where), channel 1 = map B (what). ``extras``
    holds ``where``, ``what`` and ``textures`` per sample and ``num_what`` (an int).
    ``image_size`` is an alias of ``size`` (the CLI's name). Other options go to :func:`make_two_maps`.
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    d = make_two_maps(n or DEFAULT_SIZES[split], split=split, size=int(image_size or size), seed=seed,
                      num_what=num_what, **options)
    extras = {"where": d["where"], "what": d["what"], "textures": d["textures"], "num_what": d["num_what"]}
    return ImageDataset(d["images"], d["labels"], classes=d["classes"], name="two-maps", split=split, extras=extras)


def accuracy_ceiling(dataset: ImageDataset, knows: str) -> float:
    """Best possible accuracy of a model that reads only one map perfectly.

    ``knows="where"`` (map A only): within each place, the best guess is the most frequent digit, so
    the ceiling is ``Σ_places max_digit count / N`` (≈ ``1/num_what`` on balanced data); ``knows="what"``
    likewise. ``knows="both"`` is 1.0.
    """
    if knows == "both":
        return 1.0
    if knows not in ("where", "what"):
        raise ValueError(f"knows must be 'where', 'what' or 'both', got {knows!r}")
    labels = dataset.targets.numpy()
    group = dataset.extras[knows].numpy()
    best = sum(np.bincount(labels[group == g]).max() for g in np.unique(group))
    return float(best) / len(labels)


DATASETS = {"two-maps": load_two_maps}
