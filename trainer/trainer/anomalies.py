"""Pseudo-anomalies for training discriminative heads: Perlin masks, textures, photometric ops, blending.

The recipe is DRAEM's (Zavrtanik et al., ICCV 2021), which INP-Former++'s authors say they use
for their residual head (shared/INPFORMERPP.md) and OneNIP for its refiner; written here from its
description, for any model family that needs anomalies it was not shown:

1. A Perlin noise field at ``2^kx × 2^ky`` lattice cells (kx, ky drawn in ``scale_exponents``),
   rotated by an angle in ±``rotate_deg``, thresholded at ``threshold``: the mask M (blobs of
   every size, from one large patch to scattered specks).
2. A texture: a procedural one (fractal noise, stripes, checks, speckle, marble), another
   training image, or an image from a folder (:class:`TextureSource`); it passes ``ops`` random
   photometric operations (gamma, brightness, sharpness, hue/saturation, solarize, posterize,
   invert, autocontrast, equalise, rotation).
3. The blend ``x' = x·(1 − M) + (1 − β)·tex·M + β·x·M``, β ~ U[0, ``beta_max``).

Every draw takes a ``numpy.random.Generator``: the same seed gives the same anomaly. A mask is
redrawn (at most ``attempts`` times) until its coverage of the region lies in ``coverage``: DRAEM
keeps empty masks (and labels those samples clean), which wastes a training sample here.
DRAEM's textures come from DTD, which cannot be downloaded on these machines: the procedural
textures and the training images stand in for it, and ``TextureSource(folder=…)`` takes DTD or
any other folder where one is at hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from scipy import ndimage

from .data import IMAGE_SUFFIXES


@dataclass(frozen=True)
class AnomalyOptions:
    """How pseudo-anomalies are drawn. Defaults are DRAEM's unless marked ours."""

    scale_exponents: tuple[int, int] = (0, 5)
    """Perlin lattice cells per axis are 2^k, k drawn uniformly in this closed range per axis."""
    threshold: float = 0.5
    """Noise above this becomes the mask (the noise spans about −1…1)."""
    rotate_deg: float = 90.0
    """The noise field is rotated by an angle drawn in ±this (degrees)."""
    beta_max: float = 0.8
    """Opacity: β ~ U[0, beta_max) of the original kept inside the mask."""
    ops: int = 3
    """Random photometric operations applied to the texture."""
    coverage: tuple[float, float] = (0.002, 0.5)
    """Ours: the mask's share of the region must lie in this range, else it is redrawn."""
    attempts: int = 64
    """Ours: redraws before giving up on ``coverage``."""
    clean_fraction: float = 0.5
    """Share of training samples left clean (mask all zero)."""


# ---- Perlin noise


def _fade(t: np.ndarray) -> np.ndarray:
    """Perlin's quintic fade 6t⁵ − 15t⁴ + 10t³ (zero first and second derivative at 0 and 1)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def perlin_noise(shape: tuple[int, int], cells: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Gradient (Perlin) noise ``[h, w]`` over ``cells = (cy, cx)`` lattice cells, about −1…1.

    Random unit gradients at the ``(cy+1)×(cx+1)`` lattice points; each pixel blends the dot
    products with its four corners by the quintic fade. Any image size works (the lattice need not
    divide it). Scaled by √2 so the extremes reach about ±1, as DRAEM's.
    """
    h, w = shape
    cy, cx = cells
    angles = rng.uniform(0.0, 2.0 * math.pi, size=(cy + 1, cx + 1))
    gy, gx = np.sin(angles), np.cos(angles)
    ys = (np.arange(h) + 0.5) * cy / h
    xs = (np.arange(w) + 0.5) * cx / w
    iy = np.minimum(ys.astype(np.int64), cy - 1)
    ix = np.minimum(xs.astype(np.int64), cx - 1)
    fy = (ys - iy)[:, None]
    fx = (xs - ix)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        py, px = iy[:, None] + dy, ix[None, :] + dx
        return gy[py, px] * (fy - dy) + gx[py, px] * (fx - dx)

    u, v = _fade(fx), _fade(fy)
    top = corner(0, 0) + u * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + u * (corner(1, 1) - corner(1, 0))
    return math.sqrt(2.0) * (top + v * (bottom - top))


def _region_box(shape: tuple[int, int], region: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` inside ``shape``; the whole image when None."""
    h, w = shape
    if region is None:
        return 0, 0, h, w
    top, left, bottom, right = region
    if not (0 <= top < bottom <= h and 0 <= left < right <= w):
        msg = f"anomalies: region {region} is not inside an image of {h}x{w}"
        raise ValueError(msg)
    return top, left, bottom, right


def perlin_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    options: AnomalyOptions = AnomalyOptions(),  # noqa: B008 - frozen dataclass, never mutated
    region: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """A float32 0/1 mask ``[h, w]``: thresholded, rotated Perlin noise inside ``region``.

    ``region`` ``(top, left, bottom, right)`` confines the mask (nothing outside it); coverage is
    measured against the region's area and must fall in ``options.coverage`` (redrawn until it
    does; ``RuntimeError`` after ``options.attempts`` tries).
    """
    top, left, bottom, right = _region_box(shape, region)
    rh, rw = bottom - top, right - left
    lo_cov, hi_cov = options.coverage
    k_lo, k_hi = options.scale_exponents
    for _ in range(options.attempts):
        cells = (2 ** int(rng.integers(k_lo, k_hi + 1)), 2 ** int(rng.integers(k_lo, k_hi + 1)))
        noise = perlin_noise((rh, rw), cells, rng)
        angle = float(rng.uniform(-options.rotate_deg, options.rotate_deg))
        # Rotation with reflected borders: the corners it uncovers stay noise, not a flat band.
        noise = ndimage.rotate(noise, angle, reshape=False, order=1, mode="reflect")
        inner = noise > options.threshold
        share = float(inner.mean())
        if lo_cov <= share <= hi_cov:
            mask = np.zeros(shape, dtype=np.float32)
            mask[top:bottom, left:right] = inner
            return mask
    msg = f"anomalies: no Perlin mask covering {lo_cov:.3g}–{hi_cov:.3g} of {rh}x{rw} in {options.attempts} draws"
    raise RuntimeError(msg)


# ---- procedural textures


def _colourise(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0…1 field → RGB float 0…255 between two random colours."""
    a, b = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
    f = np.clip(field, 0.0, 1.0)[..., None]
    return a + (b - a) * f


def _normalise01(field: np.ndarray) -> np.ndarray:
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def _fractal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    base = 2 ** int(rng.integers(1, 4))
    total = np.zeros(shape)
    for octave in range(4):
        cells = (base * 2**octave, base * 2**octave)
        total += 0.5**octave * perlin_noise(shape, cells, rng)
    return _normalise01(total)


def _stripes(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, math.pi)
    freq = rng.uniform(3, 30)
    phase = np.cos(angle) * xx + np.sin(angle) * yy
    return 0.5 + 0.5 * np.sin(2 * math.pi * freq * phase + rng.uniform(0, 2 * math.pi))


def _checks(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    period = int(rng.integers(4, max(5, min(h, w) // 4)))
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy // period) + (xx // period)) % 2).astype(np.float64)


def _speckle(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(0.5, 3.0)
    return _normalise01(ndimage.gaussian_filter(rng.standard_normal(shape), sigma))


def _marble(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    turbulence = perlin_noise(shape, (4, 4), rng) + 0.5 * perlin_noise(shape, (8, 8), rng)
    return 0.5 + 0.5 * np.sin(2 * math.pi * (rng.uniform(2, 8) * (xx + yy) + rng.uniform(1, 4) * turbulence))


PROCEDURAL: dict[str, Callable[[tuple[int, int], np.random.Generator], np.ndarray]] = {
    "fractal": _fractal,
    "stripes": _stripes,
    "checks": _checks,
    "speckle": _speckle,
    "marble": _marble,
}


def procedural_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A uint8 RGB texture ``[h, w, 3]`` of a random kind (:data:`PROCEDURAL`) in two random colours."""
    kind = list(PROCEDURAL)[int(rng.integers(len(PROCEDURAL)))]
    return np.clip(np.rint(_colourise(PROCEDURAL[kind](shape, rng), rng)), 0, 255).astype(np.uint8)


# ---- photometric operations on the texture (PIL, uint8 RGB)


def _gamma(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(img, dtype=np.float64) / 255.0
    g = rng.uniform(0.5, 2.0, size=3)
    return Image.fromarray(np.clip(np.rint(255.0 * a**g), 0, 255).astype(np.uint8))


def _brightness(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(img, dtype=np.float64) * rng.uniform(0.8, 1.2) + rng.uniform(-30, 30)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def _hue_saturation(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    hsv = np.asarray(img.convert("HSV"), dtype=np.int64)
    hsv[..., 0] = (hsv[..., 0] + int(rng.integers(-50, 51))) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] + int(rng.integers(-50, 51)), 0, 255)
    return Image.fromarray(hsv.astype(np.uint8), mode="HSV").convert("RGB")


PHOTOMETRIC: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "gamma": _gamma,
    "brightness": _brightness,
    "sharpness": lambda img, rng: ImageEnhance.Sharpness(img).enhance(float(rng.uniform(0.0, 3.0))),
    "hue-saturation": _hue_saturation,
    "solarize": lambda img, rng: ImageOps.solarize(img, int(rng.integers(32, 129))),
    "posterize": lambda img, rng: ImageOps.posterize(img, int(rng.integers(4, 9))),
    "invert": lambda img, rng: ImageOps.invert(img),
    "autocontrast": lambda img, rng: ImageOps.autocontrast(img),
    "equalize": lambda img, rng: ImageOps.equalize(img),
    "rotate": lambda img, rng: img.rotate(float(rng.uniform(-45, 45)), resample=Image.BILINEAR),
}


def photometric(texture: np.ndarray, rng: np.random.Generator, count: int = 3) -> np.ndarray:
    """``count`` distinct operations of :data:`PHOTOMETRIC`, in random order, on a uint8 RGB image."""
    names = list(PHOTOMETRIC)
    img = Image.fromarray(texture)
    for i in rng.permutation(len(names))[:count]:
        img = PHOTOMETRIC[names[int(i)]](img.convert("RGB"), rng)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


# ---- texture sources


class TextureSource:
    """Where anomaly textures come from: procedural ones, training images, a folder of images.

    ``draw`` picks one of the sources it has with equal probability. ``folder`` images are read
    once and resized to the crop on demand; ``images`` (uint8 NHWC, e.g. the training images) are
    taken as they are, flipped or rotated by a multiple of 90° so the texture is rarely the very
    image it lands on in the same pose.
    """

    def __init__(
        self,
        *,
        procedural: bool = True,
        images: np.ndarray | None = None,
        folder: str | Path | None = None,
    ) -> None:
        self.procedural = procedural
        self.images = images if images is not None and len(images) else None
        self.folder_images: list[np.ndarray] = []
        if folder is not None:
            root = Path(folder)
            if not root.is_dir():
                msg = f"anomalies: texture folder {root} does not exist"
                raise ValueError(msg)
            paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not paths:
                msg = f"anomalies: texture folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                raise ValueError(msg)
            for p in paths:
                with Image.open(p) as im:
                    self.folder_images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        self.kinds = [k for k, on in (("procedural", procedural), ("images", self.images is not None),
                                      ("folder", bool(self.folder_images))) if on]
        if not self.kinds:
            msg = "anomalies: no texture source (procedural off, no images, no folder)"
            raise ValueError(msg)

    def describe(self) -> dict[str, object]:
        """What the sources are, for the run's record."""
        return {"procedural": self.procedural, "images": 0 if self.images is None else len(self.images),
                "folderImages": len(self.folder_images)}

    def draw(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """A uint8 RGB texture ``[h, w, 3]``."""
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        if kind == "procedural":
            return procedural_texture(shape, rng)
        pool = self.images if kind == "images" else self.folder_images
        src = pool[int(rng.integers(len(pool)))]
        src = np.rot90(src, k=int(rng.integers(4)))
        if rng.random() < 0.5:
            src = src[:, ::-1]
        if src.shape[:2] != shape:
            src = np.asarray(Image.fromarray(np.ascontiguousarray(src)).resize((shape[1], shape[0]), Image.BILINEAR))
        return np.ascontiguousarray(src)


# ---- the blend


def blend(image: np.ndarray, texture: np.ndarray, mask: np.ndarray, beta: float) -> np.ndarray:
    """``x·(1 − M) + (1 − β)·tex·M + β·x·M`` on uint8 RGB images, rounded back to uint8."""
    x = image.astype(np.float32)
    m = mask.astype(np.float32)[..., None]
    out = x * (1.0 - m) + (1.0 - beta) * texture.astype(np.float32) * m + beta * x * m
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pseudo_anomaly(
    image: np.ndarray,
    rng: np.random.Generator,
    textures: TextureSource,
    options: AnomalyOptions = AnomalyOptions(),  # noqa: B008 - frozen dataclass, never mutated
    region: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One anomalous version of a uint8 RGB ``image`` and its float32 0/1 mask (always non-empty)."""
    shape = image.shape[:2]
    mask = perlin_mask(shape, rng, options, region)
    texture = photometric(textures.draw(shape, rng), rng, options.ops)
    beta = float(rng.uniform(0.0, options.beta_max))
    return blend(image, texture, mask, beta), mask


def training_samples(
    images: np.ndarray,
    count: int,
    seed: int,
    textures: TextureSource,
    options: AnomalyOptions = AnomalyOptions(),  # noqa: B008 - frozen dataclass, never mutated
    region: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` samples drawn from uint8 NHWC ``images``: (images, masks ``[count,h,w]``, source index).

    Sample i takes its own generator from (seed, i), so a sample does not change with ``count``.
    A share ``options.clean_fraction`` of them is left clean (the image unchanged, mask zero).
    """
    n, h, w = images.shape[:3]
    out = np.empty((count, h, w, 3), dtype=np.uint8)
    masks = np.zeros((count, h, w), dtype=np.float32)
    source = np.empty(count, dtype=np.int64)
    for i in range(count):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, i])
        k = int(rng.integers(n))
        source[i] = k
        if rng.random() < options.clean_fraction:
            out[i] = images[k]
            continue
        out[i], masks[i] = pseudo_anomaly(images[k], rng, textures, options, region)
    return out, masks, source


def coverage(masks: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Share of each mask's pixels that are set (for checks and the run's record)."""
    arr = np.asarray(masks, dtype=np.float32)
    return arr.reshape(arr.shape[0], -1).mean(axis=1)
