"""Vectorised drawing of shapes, texture crops and photo crops: the building blocks of the generated tasks.

Everything works on a whole batch at once (NumPy draws the random parameters, torch does the pixel
work), so 10,000 images of 64×64 take a few seconds on two cores. A shape is drawn from an
inside-test in its own rotated and scaled coordinates ``(u, v)``, with ``r = √(u² + v²)`` and
``θ = atan2(v, u)``; e.g. a regular n-gon of circumradius R is ``r·cos((θ mod 2π/n) − π/n) ≤ R·cos(π/n)``,
and the star's radius varies linearly with the angle between its points.

>>> import numpy as np
>>> m = shape_masks(np.array([0, 5]), np.zeros(2), np.zeros(2), np.full(2, 0.8), np.zeros(2), size=32)
>>> m.shape, m.dtype
(torch.Size([2, 32, 32]), torch.bool)
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .images import load_photo, load_texture

# Shapes with different boundary detail: smooth (circle), straight edges and corners (square,
# triangle, hexagon), thin arms (cross), a hole (ring), sharp points (star), small teeth (gear).
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "star", "hexagon", "gear")

CHUNK = 1024  # images per vectorised step: bounds peak memory (index grids are N*H*W int64)


def _polygon(r: torch.Tensor, theta: torch.Tensor, n: int, radius: float) -> torch.Tensor:
    sector = 2 * math.pi / n
    return r * torch.cos(torch.remainder(theta, sector) - sector / 2) <= radius * math.cos(math.pi / n)


def shape_masks(kinds: np.ndarray, cx: np.ndarray, cy: np.ndarray, scale: np.ndarray, angle: np.ndarray,
                size: int) -> torch.Tensor:
    """Boolean masks ``(N, size, size)`` of shapes ``SHAPES[kinds[i]]``.

    Coordinates are normalised to [-1, 1] across the image; ``(cx, cy)`` is the centre, ``scale`` the
    shape's outer radius in those units, ``angle`` its rotation in radians.
    """
    n = len(kinds)
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1      # pixel centres in [-1, 1]
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")                           # (H, W)
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32)).view(n, 1, 1)
    dx, dy = gx - t(cx), gy - t(cy)                                            # (N, H, W)
    c, s, sc = torch.cos(t(angle)), torch.sin(t(angle)), t(scale)
    u = (dx * c + dy * s) / sc                                                 # rotate into the shape's frame
    v = (-dx * s + dy * c) / sc
    r = torch.sqrt(u * u + v * v)
    theta = torch.atan2(v, u)
    out = torch.zeros(n, size, size, dtype=torch.bool)
    kinds_t = torch.as_tensor(np.asarray(kinds))
    for k, name in enumerate(SHAPES):
        sel = torch.nonzero(kinds_t == k).flatten()
        if len(sel) == 0:
            continue
        rr, th, uu, vv = r[sel], theta[sel], u[sel].abs(), v[sel].abs()
        if name == "circle":
            m = rr <= 0.9
        elif name == "square":
            m = torch.maximum(uu, vv) <= 0.72
        elif name == "triangle":
            m = _polygon(rr, th, 3, 1.0)
        elif name == "hexagon":
            m = _polygon(rr, th, 6, 0.92)
        elif name == "cross":
            m = ((uu <= 0.28) & (vv <= 0.92)) | ((vv <= 0.28) & (uu <= 0.92))
        elif name == "ring":
            m = (rr <= 0.92) & (rr >= 0.55)
        elif name == "star":
            sector = 2 * math.pi / 5
            frac = torch.remainder(th, sector) / sector                        # 0 at a point, 0.5 between
            m = rr <= 0.38 + 0.62 * (2 * frac - 1).abs()
        elif name == "gear":
            m = rr <= 0.72 + 0.2 * (torch.cos(10 * th) > 0).float()
        else:  # pragma: no cover
            raise AssertionError(name)
        out[sel] = m
    return out


@lru_cache(maxsize=8)
def texture_bank(names: tuple[str, ...], scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey textures resized by ``scale``, padded into one tensor ``(T, Hmax, Wmax)`` plus their sizes ``(T, 2)``.

    Down-scaling (area averaging) puts more repeats of each pattern (bricks, pebbles) into a 64×64 crop.
    """
    imgs = []
    for name in names:
        x = torch.from_numpy(np.array(load_texture(name)))[None, None]        # (1, 1, H, W)
        if scale != 1:
            h, w = x.shape[-2:]
            x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
        imgs.append(x[0, 0])
    return _pad_stack(imgs)


@lru_cache(maxsize=8)
def photo_bank(names: tuple[str, ...], scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour photos resized by ``scale`` as ``(P, 3, Hmax, Wmax)`` plus their sizes ``(P, 2)``."""
    imgs = []
    for name in names:
        x = torch.from_numpy(np.array(load_photo(name)))
        x = x.permute(2, 0, 1) if x.ndim == 3 else x[None].repeat(3, 1, 1)   # (3, H, W)
        if scale != 1:
            h, w = x.shape[-2:]
            x = F.interpolate(x[None], size=(round(h * scale), round(w * scale)), mode="area")[0]
        imgs.append(x)
    return _pad_stack(imgs)


def _pad_stack(imgs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    hmax = max(i.shape[-2] for i in imgs)
    wmax = max(i.shape[-1] for i in imgs)
    bank = torch.zeros(len(imgs), *imgs[0].shape[:-2], hmax, wmax)
    for k, i in enumerate(imgs):
        bank[k, ..., : i.shape[-2], : i.shape[-1]] = i
    sizes = torch.tensor([[i.shape[-2], i.shape[-1]] for i in imgs])
    return bank, sizes


def crop_params(rng: np.random.Generator, which: np.ndarray, sizes: torch.Tensor, size: int) -> np.ndarray:
    """Random top-left corners and a random dihedral flip (8 choices) for each crop: ``(N, 3)`` ints."""
    hw = sizes.numpy()[which]                                                  # (N, 2)
    if (hw < size).any():
        raise ValueError(f"a source image is smaller than the {size}x{size} crop; lower the size or raise the scale")
    y0 = rng.integers(0, hw[:, 0] - size + 1)
    x0 = rng.integers(0, hw[:, 1] - size + 1)
    flip = rng.integers(0, 8, size=len(which))
    return np.stack([y0, x0, flip], axis=1)


def gather_crops(bank: torch.Tensor, which: np.ndarray, params: np.ndarray, size: int) -> torch.Tensor:
    """Crops ``bank[which[i]]`` at ``params[i]`` with a flip/transpose: ``(N, [C,] size, size)``.

    ``sliding_window_view`` turns the bank into a (view-only) array of every possible crop, so one
    fancy-indexing call copies exactly the N crops we want; the 8 flips are applied per group.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    b = bank.numpy()
    axes = (b.ndim - 2, b.ndim - 1)
    win = sliding_window_view(b, (size, size), axis=axes)     # (T, [C,] H-s+1, W-s+1, s, s), no copy
    p = np.asarray(params)
    if b.ndim == 3:
        crops = win[which, p[:, 0], p[:, 1]]                  # (N, s, s)
    else:
        crops = win[which, :, p[:, 0], p[:, 1]]               # (N, C, s, s)
    out = torch.from_numpy(np.ascontiguousarray(crops))
    flips = torch.as_tensor(p[:, 2])
    for f in range(1, 8):
        sel = torch.nonzero(flips == f).flatten()
        if len(sel) == 0:
            continue
        x = out[sel]
        if f & 1:
            x = x.flip(-2)
        if f & 2:
            x = x.flip(-1)
        if f & 4:
            x = x.transpose(-2, -1)
        out[sel] = x
    return out


def normalise_contrast(x: torch.Tensor, mean: float | torch.Tensor = 0.5, std: float = 0.16) -> torch.Tensor:
    """Give every crop the same mean and standard deviation (per image), clipped to [0, 1].

    Without this a model could tell grass from gravel by brightness alone; with it, only the
    texture's finer statistics (orientation, grain, regularity) separate them.
    """
    dims = tuple(range(1, x.ndim))
    s, m = torch.std_mean(x, dim=dims, keepdim=True)
    if torch.is_tensor(mean):
        mean = mean.view(-1, *([1] * (x.ndim - 1)))
    gain = std / s.clamp_min(1e-3)
    # (x - m) * gain + mean, in place on a fresh tensor: one temporary instead of four
    return torch.addcmul(mean - m * gain, x, gain).clamp_(0, 1)


@lru_cache(maxsize=1)
def horse_template(size: int = 128) -> torch.Tensor:
    """The horse silhouette of ``skimage.data.horse`` centred in a ``(1, 1, size, size)`` float map."""
    h = torch.from_numpy(np.array(load_photo("horse")))                       # 1 on the horse
    ys, xs = torch.nonzero(h > 0.5, as_tuple=True)
    h = h[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    side = max(h.shape)
    sq = torch.zeros(side, side)
    y0, x0 = (side - h.shape[0]) // 2, (side - h.shape[1]) // 2
    sq[y0: y0 + h.shape[0], x0: x0 + h.shape[1]] = h
    return F.interpolate(sq[None, None], size=(size, size), mode="area")


def warp_template(template: torch.Tensor, cx: np.ndarray, cy: np.ndarray, scale: np.ndarray, angle: np.ndarray,
                  mirror: np.ndarray, size: int) -> torch.Tensor:
    """Place a template mask with a rotation, scale, mirror and shift per image: boolean ``(N, size, size)``."""
    n = len(cx)
    f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
    c, s, sc = torch.cos(f(angle)), torch.sin(f(angle)), f(scale)
    m = torch.where(f(mirror) > 0, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    # affine_grid maps output coordinates to template coordinates: p_t = R(-angle) (p - c) / scale
    theta[:, 0, 0], theta[:, 0, 1] = m * c / sc, m * s / sc
    theta[:, 1, 0], theta[:, 1, 1] = -s / sc, c / sc
    theta[:, 0, 2] = -(theta[:, 0, 0] * f(cx) + theta[:, 0, 1] * f(cy))
    theta[:, 1, 2] = -(theta[:, 1, 0] * f(cx) + theta[:, 1, 1] * f(cy))
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    out = F.grid_sample(template.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out[:, 0] > 0.5


# ----------------------------------------------------------------------------------------------
# Fast rendering: cached templates pasted at integer positions.
#
# Evaluating the inside-tests for every pixel of every image costs ~20 tensor ops per pixel. Shapes
# only differ by kind, rotation and size, so we draw each (kind, rotation in 5° steps, radius in
# whole pixels, mirror) once, cache it, and paste it with a slice copy. Rotational symmetry keeps
# the cache small (a square repeats every 90°, a circle never changes).
# ----------------------------------------------------------------------------------------------
ANGLE_STEP = 5
_PERIOD = {"circle": 5, "ring": 5, "square": 90, "cross": 90, "hexagon": 60, "star": 72, "gear": 36,
           "triangle": 120, "horse": 360}
_TEMPLATES: dict[tuple[str, int, int, int], np.ndarray] = {}


def _fill_templates(keys: set[tuple[str, int, int, int]]) -> None:
    missing = sorted(k for k in keys if k not in _TEMPLATES)
    by_radius: dict[int, list] = {}
    for key in missing:
        by_radius.setdefault(key[2], []).append(key)
    for radius, group in by_radius.items():
        side = 2 * radius + 1
        scale = radius / (radius + 0.5)        # normalised units: the canvas half-side is radius + 0.5 px
        horse = [k for k in group if k[0] == "horse"]
        shapes = [k for k in group if k[0] != "horse"]
        if shapes:
            m = shape_masks(np.array([SHAPES.index(k[0]) for k in shapes]), np.zeros(len(shapes)),
                            np.zeros(len(shapes)), np.full(len(shapes), scale),
                            np.radians([k[1] * ANGLE_STEP for k in shapes]), side)
            for k, mk in zip(shapes, m.numpy()):
                _TEMPLATES[k] = mk
        if horse:
            m = warp_template(horse_template(), np.zeros(len(horse)), np.zeros(len(horse)),
                              np.full(len(horse), scale), np.radians([k[1] * ANGLE_STEP for k in horse]),
                              np.array([k[3] for k in horse]), side)
            for k, mk in zip(horse, m.numpy()):
                _TEMPLATES[k] = mk


def render_masks(kinds: Sequence[str], cy: np.ndarray, cx: np.ndarray, radius: np.ndarray, angle_deg: np.ndarray,
                 size: int, mirror: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Boolean masks ``(N, size, size)``: shape ``kinds[i]`` (a name in ``SHAPES`` or ``"horse"``) of
    outer radius ``radius[i]`` pixels, centred on pixel ``(cy[i], cx[i])``, rotated by ``angle_deg[i]``.

    Parts falling outside the image are clipped. With ``out`` given, masks are OR-ed into it.
    """
    n = len(kinds)
    mirror = np.zeros(n, dtype=int) if mirror is None else np.asarray(mirror, dtype=int)
    keys = []
    for i in range(n):
        period = _PERIOD[kinds[i]]
        a = int(round(float(angle_deg[i]) / ANGLE_STEP)) % (period // ANGLE_STEP)
        keys.append((kinds[i], a, int(radius[i]), int(mirror[i]) if kinds[i] == "horse" else 0))
    _fill_templates(set(keys))
    masks = np.zeros((n, size, size), dtype=bool) if out is None else out
    for i, key in enumerate(keys):
        r = key[2]
        y0, x0 = int(cy[i]) - r, int(cx[i]) - r
        t = _TEMPLATES[key]
        ya, xa = max(0, -y0), max(0, -x0)                                   # clip to the image
        yb, xb = min(t.shape[0], size - y0), min(t.shape[1], size - x0)
        if ya < yb and xa < xb:
            masks[i, y0 + ya: y0 + yb, x0 + xa: x0 + xb] |= t[ya:yb, xa:xb]
    return masks


class single_thread:
    """Run a block with one torch thread, then restore the previous count.

    The generators are memory-bound element-wise work: a second thread barely helps, and on a
    busy machine (a classroom server, a test run beside notebooks) spinning thread pools make it
    several times slower. The results do not depend on the thread count.
    """

    def __enter__(self) -> None:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.threads)
