"""Synthetic "parts" datasets in MVTec layout, deterministic per seed.

Three categories: ``surface`` (a brushed, mottled texture as on a web or sheet line), ``part``
(a round washer-like part on a dark belt, with small pose changes) and ``long`` (a long, narrow bar,
1:2.5, with thin defects across it and defects up to both ends: synth_long.py). Defects are drawn with an
exact mask: only pixels inside the mask differ from the defect-free rendering of the same image,
so the ground truth is never guessed. Lighting (level and gradient) varies per image.

Layout written under ``OUT`` (one category) or ``OUT/<category>`` (``--category all``)::

    train/good/000.png  test/good/000.png  test/<defect>/000.png
    ground_truth/<defect>/000_mask.png

Every image takes its own random stream from (seed, category, split, index), so one image does
not change when counts change, and two seeds share no images.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from .progress import progress
from .synth_long import render_long

CATEGORIES = ("surface", "part", "long")
DEFECTS = ("scratch", "spot", "crack", "missing", "contamination")


@dataclass(frozen=True)
class SynthOptions:
    """What to generate. Defaults make the demo set (a few seconds of CPU)."""

    size_px: int = 256
    """Side of the square images in pixels (the height of ``long`` ones, 2.5× as wide)."""
    n_train: int = 200
    """Good training images per category."""
    n_test_good: int = 40
    """Good test images per category."""
    n_per_defect: int = 12
    """Defective test images per defect type and category."""


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A random stream owned by one image: stable across counts and Python runs (no hash())."""
    words = [seed & 0xFFFFFFFF]
    for key in keys:
        words.append(zlib.crc32(str(key).encode()))
    return np.random.default_rng(words)


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std low-pass noise (blotches of about ``sigma`` pixels)."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-8)


def _lighting(rng: np.random.Generator, size: int) -> np.ndarray:
    """Global level times a linear gradient in a random direction: what a line's lamps do."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * xx + np.sin(angle) * yy
    return rng.uniform(0.88, 1.12) * (1.0 + rng.uniform(0.0, 0.25) * gradient)


def _render_surface(rng: np.random.Generator, size: int) -> np.ndarray:
    """Brushed texture: fine streaks along a slightly varying direction plus mottling. RGB in [0,1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = np.deg2rad(rng.uniform(-4, 4))  # small pose change of the sheet
    streak_noise = rng.standard_normal((size, size))
    # Anisotropic blur = streaks; rotate the coordinate frame by sampling along the angle.
    streaks = ndimage.gaussian_filter(streak_noise, (0.6, 6.0), mode="wrap")
    streaks = ndimage.rotate(streaks, np.rad2deg(angle), reshape=False, mode="wrap", order=1)
    streaks = (streaks - streaks.mean()) / (streaks.std() + 1e-8)
    mottling = _smooth_noise(rng, size, sigma=size / 16)
    weave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / 9.0 + rng.uniform(0, 6.3))
    grey = 0.55 + 0.05 * streaks + 0.04 * mottling + 0.025 * weave
    tint = np.array([1.0, 0.97, 0.92]) * rng.uniform(0.97, 1.03, size=3)
    return grey[..., None] * tint[None, None, :]


@dataclass(frozen=True)
class _PartPose:
    cx: float
    cy: float
    outer: float
    inner: float
    rotation: float


def _part_pose(rng: np.random.Generator, size: int) -> _PartPose:
    return _PartPose(
        cx=size / 2 + rng.uniform(-0.03, 0.03) * size,
        cy=size / 2 + rng.uniform(-0.03, 0.03) * size,
        outer=size * 0.36 * rng.uniform(0.98, 1.02),
        inner=size * 0.12,
        rotation=rng.uniform(0, 2 * np.pi),
    )


def _part_geometry(pose: _PartPose, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radius and angle of every pixel around the part's centre, and the part's own mask."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    radius = np.hypot(xx - pose.cx, yy - pose.cy)
    theta = np.arctan2(yy - pose.cy, xx - pose.cx) - pose.rotation
    body = (radius <= pose.outer) & (radius >= pose.inner)
    return radius, theta, body


def _render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    belt = 0.16 + 0.015 * _smooth_noise(rng, size, 2.0) + 0.01 * _smooth_noise(rng, size, 12.0)
    return np.repeat(belt[..., None], 3, axis=2) * np.array([0.95, 1.0, 1.05])


def _render_part(rng: np.random.Generator, size: int, pose: _PartPose) -> np.ndarray:
    """A machined ring: radial shading, concentric turning marks, six bolt holes."""
    radius, theta, body = _part_geometry(pose, size)
    background = _render_background(rng, size)
    turning = np.sin(2 * np.pi * radius / 3.2) * 0.02
    shade = 0.62 + 0.12 * np.cos(theta) * (radius / pose.outer) + turning
    shade = shade + 0.02 * _smooth_noise(rng, size, 6.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    holes = np.zeros((size, size), dtype=bool)
    ring_r = (pose.outer + pose.inner) / 2
    for k in range(6):
        a = pose.rotation + k * np.pi / 3
        hx, hy = pose.cx + ring_r * np.cos(a), pose.cy + ring_r * np.sin(a)
        holes |= np.hypot(xx - hx, yy - hy) <= size * 0.035
    metal = body & ~holes
    image = background.copy()
    image[metal] = shade[metal][:, None] * np.array([0.9, 0.93, 1.0])
    return image


# ---- defects: each returns (mask, painter) where painter(image) changes pixels inside mask only.


def _centre_point(rng: np.random.Generator, size: int, margin: float = 0.22) -> np.ndarray:
    """A point inside the central region that survives the runtime's centre crop."""
    return rng.uniform(margin * size, (1 - margin) * size, size=2)


def _stroke_mask(points: np.ndarray, width_px: float, size: int) -> np.ndarray:
    """Pixels within width/2 of a polyline (exact, computed analytically per segment)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    mask = np.zeros((size, size), dtype=bool)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        mask |= np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy)) <= width_px / 2
    return mask


def _scratch(rng: np.random.Generator, size: int) -> tuple[np.ndarray, float]:
    start = _centre_point(rng, size)
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.18, 0.35) * size
    bend = rng.uniform(-0.15, 0.15)
    t = np.linspace(0, 1, 12)[:, None]
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    points = start + t * length * direction + (t * (1 - t)) * bend * length * normal
    points = np.clip(points, 0.12 * size, 0.88 * size)
    return _stroke_mask(points, rng.uniform(1.6, 3.0) * size / 256, size), rng.choice([-0.3, 0.28])


def _crack(rng: np.random.Generator, size: int) -> tuple[np.ndarray, float]:
    point = _centre_point(rng, size)
    heading = rng.uniform(0, 2 * np.pi)
    points = [point.copy()]
    for _ in range(14):
        heading += rng.uniform(-0.7, 0.7)
        point = point + rng.uniform(3, 7) * size / 256 * np.array([np.cos(heading), np.sin(heading)])
        points.append(np.clip(point, 0.12 * size, 0.88 * size))
    mask = _stroke_mask(np.array(points), 2.2 * size / 256, size)
    branch_from = points[len(points) // 2]
    branch_to = branch_from + rng.uniform(10, 20) * size / 256 * np.array(
        [np.cos(heading + 1.2), np.sin(heading + 1.2)]
    )
    mask |= _stroke_mask(np.array([branch_from, branch_to]), 1.6 * size / 256, size)
    return mask, -0.38


def _spot(rng: np.random.Generator, size: int) -> tuple[np.ndarray, float]:
    cx, cy = _centre_point(rng, size)
    rx, ry = rng.uniform(4, 11, size=2) * size / 256
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0, rng.choice([-0.3, 0.25])


def _blob(rng: np.random.Generator, size: int, radius_px: float) -> np.ndarray:
    """Irregular blob: a disc whose edge is perturbed by smooth noise."""
    cx, cy = _centre_point(rng, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    wobble = _smooth_noise(rng, size, size / 40)
    return np.hypot(xx - cx, yy - cy) <= radius_px * (1.0 + 0.35 * wobble)


def _apply_shift(image: np.ndarray, mask: np.ndarray, delta: float) -> None:
    """Darken or brighten inside the mask (keeps the texture visible through it)."""
    image[mask] = np.clip(image[mask] + delta, 0.0, 1.0)


def _paint_defect(
    rng: np.random.Generator,
    image: np.ndarray,
    defect: str,
    size: int,
    fill: Callable[[], np.ndarray],
    on_object: np.ndarray | None,
) -> np.ndarray:
    """Paint one defect into ``image`` in place; returns its exact mask (pixels that changed)."""
    before = image.copy()
    if defect in ("scratch", "crack", "spot"):
        draw = {"scratch": _scratch, "crack": _crack, "spot": _spot}[defect]
        mask, delta = draw(rng, size)
        if on_object is not None:
            mask &= on_object
        _apply_shift(image, mask, delta)
    elif defect == "missing":
        # A hole through the sheet: the dark belt shows (parts get chipped rims: _chip).
        mask = _blob(rng, size, rng.uniform(8, 14) * size / 256)
        image[mask] = fill()[mask] + 0.08
    else:  # contamination: a foreign, differently coloured patch with its own grain
        mask = _blob(rng, size, rng.uniform(8, 15) * size / 256)
        if on_object is not None:
            mask &= on_object
        colour = rng.choice(np.array([[0.55, 0.35, 0.15], [0.2, 0.35, 0.2], [0.8, 0.75, 0.45]]))
        grain = 0.05 * _smooth_noise(rng, size, 1.5)
        image[mask] = np.clip(colour[None, :] + grain[mask][:, None], 0, 1)
    changed = np.any(np.abs(image - before) > 1e-9, axis=2)
    return changed


def render(category: str, seed: int, split: str, index: int, size: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8 HxWx3) and its mask (bool HxW, all False for good images)."""
    _, image, mask = render_pair(category, seed, split, index, size, defect)
    return image, mask


def render_pair(
    category: str, seed: int, split: str, index: int, size: int, defect: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the image without its defect, the image, the mask): they differ only inside the mask."""
    rng = _rng(seed, category, split, index, defect or "good")
    if category == "long":
        clean, image, mask, light = render_long(rng, size, defect)
        noise = rng.normal(0, 0.008, image.shape)
        return _expose(clean, light, noise), _expose(image, light, noise), mask
    if category == "surface":
        image = _render_surface(rng, size)
        on_object = None

        def fill() -> np.ndarray:
            return np.zeros_like(image)

    elif category == "part":
        pose = _part_pose(rng, size)
        state = rng.bit_generator.state
        image = _render_part(rng, size, pose)
        _, _, body = _part_geometry(pose, size)
        on_object = body

        def fill() -> np.ndarray:
            # Re-render the belt from the same stream state, so a chip shows the same belt.
            again = np.random.default_rng()
            again.bit_generator.state = state
            return _render_background(again, size)

    else:
        raise ValueError(f"synth: unknown category {category!r} (expected one of {CATEGORIES})")
    # Lighting and sensor noise are drawn before the defect, so they do not depend on it.
    light = _lighting(rng, size)[..., None]
    noise = rng.normal(0, 0.008, image.shape)
    clean = _expose(image, light, noise)
    mask = np.zeros((size, size), dtype=bool)
    if defect is not None:
        # A defect that landed in a hole or off the part is drawn again elsewhere (same stream,
        # so still deterministic); too small a defect would be invisible after the resize.
        pristine = image.copy()
        min_px = max(4, int(12 * (size / 256) ** 2))
        for _attempt in range(50):
            image[...] = pristine
            if category == "part" and defect == "missing":
                mask = _chip(rng, image, size, pose, fill)
            else:
                mask = _paint_defect(rng, image, defect, size, fill, on_object)
            if mask.sum() >= min_px:
                break
        else:
            raise RuntimeError(f"synth: {category}/{defect} #{index}: no visible defect in 50 attempts")
    return clean, _expose(image, light, noise), mask


def _expose(image: np.ndarray, light: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return (np.clip(image * light + noise, 0, 1) * 255 + 0.5).astype(np.uint8)


def _chip(rng: np.random.Generator, image: np.ndarray, size: int, pose: _PartPose, fill: Callable[[], np.ndarray]) -> np.ndarray:
    _, _, body = _part_geometry(pose, size)
    a = rng.uniform(0, 2 * np.pi)
    cx, cy = pose.cx + pose.outer * np.cos(a), pose.cy + pose.outer * np.sin(a)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    radius = rng.uniform(12, 20) * size / 256
    wobble = _smooth_noise(rng, size, size / 40)
    chip = (np.hypot(xx - cx, yy - cy) <= radius * (1 + 0.3 * wobble)) & body
    before = image.copy()
    background = fill()
    image[chip] = background[chip]
    return np.any(np.abs(image - before) > 1e-9, axis=2)


def _save_png(path: Path, array: np.ndarray, compress_level: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, optimize=False, compress_level=compress_level)


def write_frames(root: Path, category: str, seed: int, options: SynthOptions) -> dict[str, int]:
    """Test images only, flat, named ``<label>_<index>.png`` (a folder source's frames), no masks."""
    counts: dict[str, int] = {}
    jobs: list[tuple[str | None, int]] = [(None, i) for i in range(options.n_test_good)]
    jobs += [(d, i) for d in DEFECTS for i in range(options.n_per_defect)]
    for defect, index in progress(jobs, f"frames {category}"):
        image, _ = render(category, seed, "test", index, options.size_px, defect)
        label = defect or "good"
        _save_png(root / f"{label}_{index:03d}.png", image, compress_level=9)
        counts[label] = counts.get(label, 0) + 1
    return counts


def write_category(root: Path, category: str, seed: int, options: SynthOptions) -> dict[str, int]:
    """Write one category in MVTec layout under ``root``; returns the image count per folder."""
    counts: dict[str, int] = {}
    size = options.size_px
    jobs: list[tuple[str, str | None, int]] = [("train", None, i) for i in range(options.n_train)]
    jobs += [("test", None, i) for i in range(options.n_test_good)]
    jobs += [("test", d, i) for d in DEFECTS for i in range(options.n_per_defect)]
    for split, defect, index in progress(jobs, f"synth {category}"):
        image, mask = render(category, seed, split, index, size, defect)
        folder = defect or "good"
        name = f"{index:03d}"
        _save_png(root / split / folder / f"{name}.png", image)
        if defect is not None:
            _save_png(root / "ground_truth" / defect / f"{name}_mask.png", mask.astype(np.uint8) * 255)
        counts[f"{split}/{folder}"] = counts.get(f"{split}/{folder}", 0) + 1
    return counts


def synthesize(
    out: Path, seed: int, category: str = "surface", options: SynthOptions | None = None, frames: bool = False
) -> dict:
    """Write the dataset to ``out`` atomically (a temporary sibling, then rename).

    ``frames``: only test images, flat (see :func:`write_frames`), e.g. the demo's sample frames.
    """
    options = options or SynthOptions()
    categories = CATEGORIES if category == "all" else (category,)
    for name in categories:
        if name not in CATEGORIES:
            raise ValueError(f"synth: unknown category {name!r} (expected one of {CATEGORIES} or 'all')")
    if options.size_px < 32:
        raise ValueError(f"synth: --size {options.size_px} is too small (need >= 32 px)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"synth: output folder {out} exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        summary: dict = {"seed": seed, "size_px": options.size_px, "categories": {}}
        for name in categories:
            root = staging if category != "all" else staging / name
            write = write_frames if frames else write_category
            summary["categories"][name] = write(root, name, seed, options)
        (staging / "synth.json").write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python3 -m trainer synth``."""
    defaults = SynthOptions()
    parser.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    parser.add_argument("--seed", required=True, type=int, help="random seed; the same seed gives the same images")
    parser.add_argument("--category", default="surface", choices=[*CATEGORIES, "all"],
                        help="what to draw; 'all' writes one sub-folder per category (default surface)")
    parser.add_argument("--size", type=int, default=defaults.size_px,
                        help=f"image side in px, the height of 'long' images (default {defaults.size_px})")
    parser.add_argument("--n-train", type=int, default=defaults.n_train, help=f"good training images (default {defaults.n_train})")
    parser.add_argument("--n-test-good", type=int, default=defaults.n_test_good,
                        help=f"good test images (default {defaults.n_test_good})")
    parser.add_argument("--frames", action="store_true",
                        help="write only test images, flat, named <label>_<index>.png (sample frames for a folder source)")
    parser.add_argument("--n-per-defect", type=int, default=defaults.n_per_defect,
                        help=f"test images per defect type (default {defaults.n_per_defect})")


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python3 -m trainer synth``."""
    options = SynthOptions(size_px=args.size, n_train=args.n_train, n_test_good=args.n_test_good,
                           n_per_defect=args.n_per_defect)
    summary = synthesize(args.out, args.seed, args.category, options, frames=args.frames)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="trainer.synth", description=__doc__)
    add_arguments(_parser)
    raise SystemExit(main(_parser.parse_args()))
