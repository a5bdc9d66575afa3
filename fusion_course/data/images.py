"""Real photos and textures that ship inside scikit-image (``skimage.data``), so the course runs offline.

The photos are the classic test images (van der Walt et al., "scikit-image: image processing in
Python", PeerJ 2014, arXiv:1407.6245). The textures (brick, grass, gravel) and the other grey
images used as textures are real photographs too; the generated tasks of the course
(:mod:`fusion_course.data.texture_shapes`, :mod:`fusion_course.data.saliency`) cut them into shapes.

Every loader returns a ``float32`` NumPy array in [0, 1]: ``(H, W, 3)`` for colour photos, ``(H, W)``
for grey images and textures. Results are cached; treat them as read-only (copy before editing).

>>> from fusion_course.data import load_photo, load_texture
>>> load_photo("astronaut").shape, load_texture("brick").shape
((512, 512, 3), (512, 512))
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import UsageError

# course name -> skimage.data function name
PHOTOS: dict[str, str] = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "camera": "camera",
    "horse": "horse",        # a binary silhouette (True = horse), returned as a 0/1 grey image
    "rocket": "rocket",
    "coins": "coins",
    "moon": "moon",
}

# Grey images whose small-scale statistics differ (regular bricks, blades of grass, pebbles,
# stained tissue, craters, coins, cells). Textures are returned in grey on purpose: the generated
# tasks must be solved from texture, not from colour.
TEXTURES: dict[str, str] = {
    "brick": "brick",
    "grass": "grass",
    "gravel": "gravel",
    "ihc": "immunohistochemistry",
    "moon": "moon",
    "coins": "coins",
    "cell": "cell",
}


def _skimage(func: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, func)())


def _unknown(kind: str, name: str, names) -> UsageError:
    return UsageError(f"unknown {kind} {name!r}; choose one of: {', '.join(names)}")


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    img = _skimage(PHOTOS[name])
    if img.dtype == bool:                      # horse: skimage stores the horse as False (black)
        out = (~img).astype(np.float32)
    else:
        out = img.astype(np.float32) / 255.0
    if out.ndim == 3 and out.shape[2] == 4:    # drop an alpha channel if one ever appears
        out = out[..., :3]
    out.setflags(write=False)
    return out


def load_photo(name: str) -> np.ndarray:
    """A real photo from ``skimage.data`` as float32 in [0, 1]: ``(H, W, 3)`` colour or ``(H, W)`` grey.

    ``"horse"`` is a silhouette: 1.0 on the horse, 0.0 elsewhere (the saliency task uses it as an
    object mask). Names: ``PHOTOS``.

    >>> load_photo("chelsea").shape
    (300, 451, 3)
    """
    if name not in PHOTOS:
        raise _unknown("photo", name, PHOTOS)
    return _photo(name)


@lru_cache(maxsize=None)
def _texture(name: str) -> np.ndarray:
    img = _skimage(TEXTURES[name]).astype(np.float32) / 255.0
    if img.ndim == 3:                          # colour (ihc): luminance, Rec. 601 weights
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    img = np.ascontiguousarray(img, dtype=np.float32)
    img.setflags(write=False)
    return img


def load_texture(name: str) -> np.ndarray:
    """A real grey texture from ``skimage.data`` as float32 ``(H, W)`` in [0, 1]. Names: ``TEXTURES``.

    >>> load_texture("grass").shape, load_texture("grass").dtype
    ((512, 512), dtype('float32'))
    """
    if name not in TEXTURES:
        raise _unknown("texture", name, TEXTURES)
    return _texture(name)


def available_photos() -> list[str]:
    return list(PHOTOS)


def available_textures() -> list[str]:
    return list(TEXTURES)
