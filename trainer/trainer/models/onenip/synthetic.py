"""OneNIP's synthetic anomalies: CutPaste or a Perlin-noise texture, one per normal image.

As the authors train (their ``hybrid`` style): each training image gets one anomalous twin, by
CutPaste with probability ½, else by DRAEM's Perlin paste. The Perlin masks, textures and
photometric operations are the shared ones (trainer/anomalies.py) with OneNIP's settings: lattice
2^k cells, k in 1…5, noise rotated by at most ±5°, β ~ U[0, 0.8), 3 photometric operations; the
texture source is procedural unless a folder is given (the authors use DTD).

CutPaste (Li et al., CVPR 2021), the "binary" variant the authors use, each half the time:
- a rectangle of 2–15 % of the image (aspect in 0.3–1 or 1–3.3), colour-jittered (brightness,
  contrast, saturation ±40 %, hue ±0.1), pasted elsewhere in the same image;
- a scar: 2–16 × 10–25 px (at 224 px; scaled with the image here), colour-jittered, rotated by
  up to ±45°, pasted elsewhere through its rotated outline.
The mask is where the patch landed (the rectangle, or the scar's outline).

Every draw takes a ``numpy.random.Generator``: the same seed gives the same anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageEnhance

from ...anomalies import AnomalyOptions, TextureSource, pseudo_anomaly

#: The authors' Perlin settings for OneNIP (datasets/cutpaste.py PerlinPaste).
PERLIN = AnomalyOptions(scale_exponents=(1, 5), rotate_deg=5.0, beta_max=0.8, ops=3, clean_fraction=0.0)
#: CutPaste-scar sizes are the authors' pixels at this image size.
SCAR_REFERENCE_SIZE = 224


@dataclass(frozen=True)
class SyntheticOptions:
    """How anomalies are drawn; defaults are the authors'."""

    cutpaste_prob: float = 0.5
    perlin: AnomalyOptions = field(default_factory=lambda: PERLIN)
    area: tuple[float, float] = (0.02, 0.15)
    aspect: tuple[tuple[float, float], tuple[float, float]] = ((0.3, 1.0), (1.0, 3.3))
    scar_width: tuple[int, int] = (2, 16)
    scar_length: tuple[int, int] = (10, 25)
    scar_rotation: float = 45.0


def colour_jitter(patch: Image.Image, rng: np.random.Generator) -> Image.Image:
    """torchvision's ColorJitter(0.4, 0.4, 0.4, 0.1): four factors, applied in a random order."""
    def hue(img: Image.Image) -> Image.Image:
        hsv = np.asarray(img.convert("HSV"), dtype=np.int64)
        hsv[..., 0] = (hsv[..., 0] + int(round(rng.uniform(-0.1, 0.1) * 255))) % 256
        return Image.fromarray(hsv.astype(np.uint8), mode="HSV").convert("RGB")

    ops = [
        lambda img: ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.6, 1.4))),
        lambda img: ImageEnhance.Contrast(img).enhance(float(rng.uniform(0.6, 1.4))),
        lambda img: ImageEnhance.Color(img).enhance(float(rng.uniform(0.6, 1.4))),
        hue,
    ]
    for i in rng.permutation(len(ops)):
        patch = ops[int(i)](patch)
    return patch


def _paste(image: Image.Image, patch: Image.Image, alpha: Image.Image, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    w, h = image.size
    pw, ph = patch.size
    left, top = int(rng.integers(0, max(1, w - pw + 1))), int(rng.integers(0, max(1, h - ph + 1)))
    out = image.copy()
    out.paste(patch, (left, top), mask=alpha)
    mask = Image.new("L", image.size, 0)
    mask.paste(alpha, (left, top), mask=alpha)
    return np.asarray(out, dtype=np.uint8).copy(), (np.asarray(mask) > 127).astype(np.float32)


def cutpaste(image: np.ndarray, rng: np.random.Generator, options: SyntheticOptions = SyntheticOptions()
             ) -> tuple[np.ndarray, np.ndarray]:
    """CutPaste or CutPaste-scar (half the time each) on a uint8 RGB image → (image, 0/1 float mask)."""
    img = Image.fromarray(image)
    w, h = img.size
    if rng.random() < 0.5:
        area = rng.uniform(*options.area) * w * h
        lo, hi = options.aspect[int(rng.integers(2))]
        aspect = rng.uniform(lo, hi)
        pw = min(w, max(1, int(np.sqrt(area * aspect))))
        ph = min(h, max(1, int(np.sqrt(area / aspect))))
        left, top = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
        patch = colour_jitter(img.crop((left, top, left + pw, top + ph)), rng)
        return _paste(img, patch, Image.new("L", patch.size, 255), rng)
    scale = min(w, h) / SCAR_REFERENCE_SIZE
    pw = max(1, int(round(int(rng.integers(options.scar_width[0], options.scar_width[1] + 1)) * scale)))
    ph = max(1, int(round(int(rng.integers(options.scar_length[0], options.scar_length[1] + 1)) * scale)))
    pw, ph = min(pw, w), min(ph, h)
    left, top = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
    patch = colour_jitter(img.crop((left, top, left + pw, top + ph)), rng)
    angle = float(rng.uniform(-options.scar_rotation, options.scar_rotation))
    rotated = patch.convert("RGBA").rotate(angle, expand=True)
    alpha = rotated.split()[-1]
    return _paste(img, rotated.convert("RGB"), alpha, rng)


def synthetic_anomaly(image: np.ndarray, rng: np.random.Generator, textures: TextureSource,
                      options: SyntheticOptions = SyntheticOptions()) -> tuple[np.ndarray, np.ndarray]:
    """One anomalous twin of a uint8 RGB image and its float32 0/1 mask (CutPaste or Perlin paste)."""
    if rng.random() < options.cutpaste_prob:
        return cutpaste(image, rng, options)
    return pseudo_anomaly(image, rng, textures, options.perlin)
