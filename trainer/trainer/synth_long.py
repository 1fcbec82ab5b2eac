"""The ``long`` synthetic category: a long, narrow machined bar (about 1:2.5) on a dark belt.

What real long parts bring that the square categories do not: an aspect a square input squeezes
(2.5× along the part at 256×256), thin defects *across* the part that such a squeeze shrinks to
a pixel or less, and defects anywhere along it, right up to both ends, where a centre crop cuts.

Images are ``size`` px tall and ``round(2.5 × size)`` wide. The bar runs along x (length 90–93 % of
the width, height 60 % of the frame, tilted up to ±1°, shifted up to ±1.5 % / ±3 %) with rounded
corners, three bolt holes on its centre line, a brushed finish along its length and a cylindrical
highlight. Defects (the same five names as the other categories):

- ``crack``: a jagged dark line across the bar, 1.2–2 px wide at 256 px, 40–100 % of its height;
- ``scratch``: a straight thin line across the bar, up to ±35° from square to it, bright or dark;
- ``spot``: a small dent or stain (ellipse, 3–8 px radii);
- ``missing``: a chip out of one end (the belt shows through);
- ``contamination``: a foreign, coloured blob.

Cracks, scratches and spots are placed uniformly along the whole bar, so some lie in the 6.25 %
at each end that the authors' 448 → 392 crop drops. Masks are exact, as for the other categories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: width / height of the ``long`` images.
ASPECT = 2.5


def long_shape(size: int) -> tuple[int, int]:
    """``(height, width)`` of a ``long`` image ``size`` px tall."""
    return size, int(round(size * ASPECT))


@dataclass(frozen=True)
class BarPose:
    """Where the bar lies: centre, half length and half height in px, tilt in radians."""

    cx: float
    cy: float
    half_length: float
    half_height: float
    angle: float


def _pose(rng: np.random.Generator, h: int, w: int) -> BarPose:
    return BarPose(
        cx=w / 2 + rng.uniform(-0.015, 0.015) * w,
        cy=h / 2 + rng.uniform(-0.03, 0.03) * h,
        half_length=w * rng.uniform(0.94, 0.97) / 2,
        half_height=h * 0.30 * rng.uniform(0.98, 1.02),
        angle=np.deg2rad(rng.uniform(-1.0, 1.0)),
    )


def _bar_coords(pose: BarPose, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's position along (u) and across (v) the bar, from its centre, in px."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    dx, dy = xx - pose.cx, yy - pose.cy
    c, s = np.cos(pose.angle), np.sin(pose.angle)
    return dx * c + dy * s, -dx * s + dy * c


def _to_image(pose: BarPose, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bar coordinates → image ``(x, y)``, ``[n, 2]``."""
    c, s = np.cos(pose.angle), np.sin(pose.angle)
    return np.stack([pose.cx + u * c - v * s, pose.cy + u * s + v * c], axis=-1)


def _body(pose: BarPose, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The bar's own pixels: a rectangle with rounded corners, minus three bolt holes."""
    r = 0.5 * pose.half_height
    du = np.maximum(np.abs(u) - (pose.half_length - r), 0.0)
    dv = np.maximum(np.abs(v) - (pose.half_height - r), 0.0)
    body = np.hypot(du, dv) <= r
    for k in (-1, 0, 1):
        body &= np.hypot(u - k * pose.half_length * 0.62, v) > 0.32 * pose.half_height
    return body


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float]) -> np.ndarray:
    """Zero-mean, unit-std low-pass noise; broad blotches are drawn on a coarser grid and
    upsampled (the same look at a fraction of the filtering)."""
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    f = max(1, int(min(sy, sx) // 3))
    coarse = (-(-shape[0] // f), -(-shape[1] // f))
    field = ndimage.gaussian_filter(rng.standard_normal(coarse), (sy / f, sx / f), mode="wrap")
    if f > 1:
        field = ndimage.zoom(field, f, order=1, mode="grid-wrap", grid_mode=True)[: shape[0], : shape[1]]
    return (field - field.mean()) / (field.std() + 1e-8)


def _lighting(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Level times a linear gradient in a random direction over the frame."""
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / (h - 1) - 0.5, xx / (w - 1) - 0.5
    a = rng.uniform(0, 2 * np.pi)
    return rng.uniform(0.88, 1.12) * (1.0 + rng.uniform(0.0, 0.25) * (np.cos(a) * xx + np.sin(a) * yy))


def _belt(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    belt = 0.16 + 0.015 * _noise(rng, (h, w), 2.0) + 0.01 * _noise(rng, (h, w), 12.0)
    return np.repeat(belt[..., None], 3, axis=2) * np.array([0.95, 1.0, 1.05])


def _render_bar(rng: np.random.Generator, belt: np.ndarray, pose: BarPose, body: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brushed along its length, a cylindrical highlight across it, on the belt."""
    h, w = body.shape
    image = belt.copy()
    brushed = _noise(rng, (h, w), (0.5, 9.0))
    mottling = _noise(rng, (h, w), h / 10)
    across = np.clip(np.abs(v) / pose.half_height, 0, 1)
    shade = 0.50 + 0.16 * (1 - across**2) + 0.035 * brushed + 0.02 * mottling
    image[body] = shade[body][:, None] * np.array([0.92, 0.94, 1.0])
    return image


def _stroke(points: np.ndarray, width_px: float, h: int, w: int) -> np.ndarray:
    """Pixels within width/2 of a polyline of image points ``[n, 2]`` (x, y)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    mask = np.zeros((h, w), dtype=bool)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        mask |= np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy)) <= width_px / 2
    return mask


def _along(rng: np.random.Generator, pose: BarPose) -> float:
    """A position along the whole bar, ends included (where a centre crop cuts)."""
    return rng.uniform(-0.97, 0.97) * pose.half_length


def _crack(rng: np.random.Generator, pose: BarPose, h: int, w: int) -> tuple[np.ndarray, float]:
    scale = h / 256
    span = rng.uniform(0.4, 1.0) * 2 * pose.half_height
    v0 = rng.uniform(-pose.half_height, pose.half_height - span)
    v = np.linspace(v0, v0 + span, 10)
    u = _along(rng, pose) + np.cumsum(rng.uniform(-2.0, 2.0, size=10)) * scale
    return _stroke(_to_image(pose, u, v), rng.uniform(1.2, 2.0) * scale, h, w), -0.36


def _scratch(rng: np.random.Generator, pose: BarPose, h: int, w: int) -> tuple[np.ndarray, float]:
    scale = h / 256
    tilt = np.deg2rad(rng.uniform(-35, 35))
    length = rng.uniform(0.5, 1.2) * 2 * pose.half_height
    u0, v0 = _along(rng, pose), rng.uniform(-0.5, 0.5) * pose.half_height
    t = np.array([-0.5, 0.5]) * length
    points = _to_image(pose, u0 + t * np.sin(tilt), v0 + t * np.cos(tilt))
    return _stroke(points, rng.uniform(1.0, 1.6) * scale, h, w), float(rng.choice([-0.3, 0.26]))


def _spot(rng: np.random.Generator, pose: BarPose, u: np.ndarray, v: np.ndarray, h: int) -> tuple[np.ndarray, float]:
    scale = h / 256
    cu, cv = _along(rng, pose), rng.uniform(-0.8, 0.8) * pose.half_height
    ru, rv = rng.uniform(3, 8, size=2) * scale
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0, float(rng.choice([-0.3, 0.25]))


def _blob(rng: np.random.Generator, shape: tuple[int, int], du: np.ndarray, dv: np.ndarray, radius: float) -> np.ndarray:
    wobble = _noise(rng, shape, shape[0] / 40)
    return np.hypot(du, dv) <= radius * (1.0 + 0.35 * wobble)


def _paint(rng: np.random.Generator, image: np.ndarray, defect: str, pose: BarPose, body: np.ndarray,
           u: np.ndarray, v: np.ndarray, belt: np.ndarray) -> np.ndarray:
    """Paint ``defect`` into ``image`` in place; returns the pixels that changed."""
    h, w = body.shape
    scale = h / 256
    before = image.copy()
    if defect == "crack":
        mask, delta = _crack(rng, pose, h, w)
    elif defect == "scratch":
        mask, delta = _scratch(rng, pose, h, w)
    elif defect == "spot":
        mask, delta = _spot(rng, pose, u, v, h)
    elif defect == "missing":  # a chip out of one end: the belt shows through
        end = float(rng.choice([-1.0, 1.0])) * pose.half_length
        cv = rng.uniform(-0.9, 0.9) * pose.half_height
        chip = _blob(rng, (h, w), u - end, v - cv, rng.uniform(10, 18) * scale) & body
        image[chip] = belt[chip]
        return np.any(np.abs(image - before) > 1e-9, axis=2)
    elif defect == "contamination":
        cu, cv = _along(rng, pose), rng.uniform(-0.6, 0.6) * pose.half_height
        blob = _blob(rng, (h, w), u - cu, v - cv, rng.uniform(6, 12) * scale) & body
        colour = rng.choice(np.array([[0.55, 0.35, 0.15], [0.2, 0.35, 0.2], [0.8, 0.75, 0.45]]))
        grain = 0.05 * _noise(rng, (h, w), 1.5)
        image[blob] = np.clip(colour[None, :] + grain[blob][:, None], 0, 1)
        return np.any(np.abs(image - before) > 1e-9, axis=2)
    else:
        raise ValueError(f"synth long: unknown defect {defect!r}")
    mask &= body
    image[mask] = np.clip(image[mask] + delta, 0.0, 1.0)
    return np.any(np.abs(image - before) > 1e-9, axis=2)


def render_long(rng: np.random.Generator, size: int, defect: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(image without defect, image with it, mask, lighting)`` in [0, 1], before exposure."""
    h, w = long_shape(size)
    pose = _pose(rng, h, w)
    u, v = _bar_coords(pose, h, w)
    body = _body(pose, u, v)
    belt = _belt(rng, h, w)
    image = _render_bar(rng, belt, pose, body, v)
    light = _lighting(rng, h, w)[..., None]
    clean = image.copy()
    mask = np.zeros((h, w), dtype=bool)
    if defect is not None:
        min_px = max(4, int(12 * (size / 256) ** 2))
        for _attempt in range(50):
            image[...] = clean
            mask = _paint(rng, image, defect, pose, body, u, v, belt)
            if mask.sum() >= min_px:
                break
        else:
            raise RuntimeError(f"synth: long/{defect}: no visible defect in 50 attempts")
    return clean, image, mask, light
