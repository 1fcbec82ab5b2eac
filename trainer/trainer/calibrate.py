"""Calibration: thresholds from the maps and scores of held-out good images.

Rule (manifest ``calibration.method`` names it, with its numbers):

- image threshold = ``margin`` × the 99.5th percentile of the good images' scores;
- pixel threshold = ``margin`` × the 99.99th percentile of all pixels of their final maps;
- ``min`` = the smallest good value; ``max`` = threshold + (threshold − min), so that the runtime's
  normalisation ``clamp((raw − threshold) / (max − min) + 0.5, 0, 1)`` maps the least anomalous
  good value to 0, the threshold to 0.5 and the mirror image of min to 1.

``margin`` defaults to 1.05 (5 % above the good tail). The percentiles use linear interpolation
(numpy's default); with fewer than 200 good images p99.5 is close to the largest good score.
The full good distributions (n, min, max, mean, std, quantiles) are recorded beside the thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_QUANTILE = 0.995
PIXEL_QUANTILE = 0.9999
DEFAULT_MARGIN = 1.05
#: Quantiles recorded in each distribution (manifest keys 'p50', …).
RECORDED_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _qkey(q: float) -> str:
    s = f"{q * 100:.4f}".rstrip("0").rstrip(".")
    return f"p{s}"


def distribution(values: np.ndarray) -> dict[str, Any]:
    """``{n, min, max, mean, std, quantiles}`` of a flat array (float64 arithmetic)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        msg = "no values to calibrate on"
        raise ValueError(msg)
    qs = np.quantile(v, RECORDED_QUANTILES)
    return {
        "n": int(v.size),
        "min": float(v.min()),
        "max": float(v.max()),
        "mean": float(v.mean()),
        "std": float(v.std()),
        "quantiles": {_qkey(q): float(x) for q, x in zip(RECORDED_QUANTILES, qs, strict=True)},
    }


def _threshold(values: np.ndarray, q: float, margin: float) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64).ravel()
    thr = float(margin * np.quantile(v, q))
    lo = float(v.min())
    hi = thr + max(thr - lo, 1e-12)
    return {"threshold": thr, "min": lo, "max": hi}


def image_threshold(scores: np.ndarray, margin: float = DEFAULT_MARGIN) -> tuple[float, str]:
    """The image threshold :func:`calibrate` sets from good scores, and its rule in words."""
    v = np.asarray(scores, dtype=np.float64).ravel()
    if v.size == 0:
        msg = "calibration needs at least one good image"
        raise ValueError(msg)
    rule = f"{margin:g} x p{IMAGE_QUANTILE * 100:g} of {v.size} held-out good images"
    return _threshold(v, IMAGE_QUANTILE, margin)["threshold"], rule


def calibrate(
    scores: np.ndarray,
    maps: np.ndarray,
    *,
    margin: float = DEFAULT_MARGIN,
    source: str = "held-out good images",
) -> dict[str, Any]:
    """The manifest ``calibration`` block from good images' scores ``[n]`` and final maps."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n = scores.size
    if n == 0:
        msg = "calibration needs at least one good image"
        raise ValueError(msg)
    method = (
        f"good-quantile-margin: image threshold = {margin:g} x p{IMAGE_QUANTILE * 100:g} of {n} good image "
        f"scores, pixel threshold = {margin:g} x p{PIXEL_QUANTILE * 100:g} of their final-map pixels; "
        f"min = smallest good value, max = threshold + (threshold - min); source: {source}"
    )
    return {
        "method": method,
        "image": _threshold(scores, IMAGE_QUANTILE, margin),
        "pixel": _threshold(maps, PIXEL_QUANTILE, margin),
        "goodImageScores": distribution(scores),
        "goodPixelValues": distribution(maps),
    }


def list_images(folder: str | Path) -> list[Path]:
    """Good images for ``--calib-data``: files in ``DIR``, else ``DIR/good``, else ``DIR/test/good``.

    Raises ``ValueError`` naming the folder when none is found.
    """
    folder = Path(folder)
    if not folder.is_dir():
        msg = f"{folder}: calibration folder not found"
        raise ValueError(msg)
    for cand in (folder, folder / "good", folder / "test" / "good"):
        if cand.is_dir():
            files = sorted(p for p in cand.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if files:
                return files
    msg = f"{folder}: no images found (looked in it, in good/ and in test/good/)"
    raise ValueError(msg)


def resolve_images(entries: Iterable[str | Path], base: Path | None = None) -> list[Path]:
    """Image paths from a run's ``data.calibration`` list (files or folders; relative to ``base``)."""
    out: list[Path] = []
    for e in entries:
        p = Path(e)
        if not p.is_absolute() and base is not None and not p.exists():
            p = base / p
        if p.is_dir():
            out.extend(list_images(p))
        elif p.is_file():
            out.append(p)
        else:
            msg = f"{p}: calibration image recorded in the run is missing"
            raise ValueError(msg)
    return out
