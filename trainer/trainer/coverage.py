"""How much of each defect lies outside what the model sees.

A centre crop drops a band at every side of the frame (6.25 % each way for the authors' 448 → 392)
and a defect there cannot be found, however good the model. ``eval`` counts, over the defective
test images, those whose mask lies entirely outside the model's view and those partly outside, and
the share of defect pixels lost, and warns: a factory's parts are framed edge to edge, and a set
with defects near the border loses many (issue 18: 41 of 388 on a set of tiles).

A mask pixel is inside the view when its centre, carried through the resize, falls inside the crop
rectangle (the same mapping the runtime's ``FrameGeometry`` uses, src/pipeline/geometry.ts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .preprocess import Geometry


@dataclass
class Coverage:
    """What the view leaves out of the defective images of a set."""

    defective: int = 0
    """Defective images with a non-empty mask."""
    fully_outside: list[str] = field(default_factory=list)
    """Images whose whole defect is outside the view."""
    partly_outside: list[str] = field(default_factory=list)
    """Images with part of their defect outside the view."""
    lost: list[float] = field(default_factory=list)
    """Share of defect pixels outside the view, per image with any outside."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "defective": self.defective,
            "fullyOutside": len(self.fully_outside),
            "partlyOutside": len(self.partly_outside),
            "meanShareLost": float(np.mean(self.lost)) if self.lost else 0.0,
            "examples": (self.fully_outside + self.partly_outside)[:5],
        }


def view_mask(height: int, width: int, geometry: Geometry) -> np.ndarray:
    """Boolean ``[height, width]`` over a source image: True where the model sees the pixel."""
    left, top, right, bottom = geometry.crop_box()
    xs = (np.arange(width) + 0.5) * geometry.resize_width / width
    ys = (np.arange(height) + 0.5) * geometry.resize_height / height
    return ((ys >= top) & (ys < bottom))[:, None] & ((xs >= left) & (xs < right))[None, :]


def outside_share(mask_path: Path, geometry: Geometry) -> tuple[int, int]:
    """``(defect pixels, of which outside the view)`` of one mask at its own resolution."""
    with Image.open(mask_path) as image:
        mask = np.asarray(image.convert("L")) > 127
    defect = int(mask.sum())
    if defect == 0 or geometry.is_whole_view:
        return defect, 0
    seen = view_mask(*mask.shape, geometry)
    return defect, int((mask & ~seen).sum())


def measure(masks: Sequence[tuple[str, Path]], geometry: Geometry) -> Coverage:
    """Coverage of ``(name, mask file)`` pairs under ``geometry``."""
    cov = Coverage()
    for name, path in masks:
        defect, outside = outside_share(path, geometry)
        if defect == 0:
            continue
        cov.defective += 1
        if outside == 0:
            continue
        cov.lost.append(outside / defect)
        (cov.fully_outside if outside == defect else cov.partly_outside).append(name)
    return cov


def report(cov: Coverage, geometry: Geometry) -> list[str]:
    """Lines for the terminal: one when nothing is lost, a warning with the remedy otherwise."""
    if cov.defective == 0:
        return []
    view = geometry.describe()
    if not cov.lost:
        return [f"view: all {cov.defective} defects lie inside what the model sees ({view})"]
    share = 100 * float(np.mean(cov.lost))
    return [
        f"WARNING: the model sees {view}; of {cov.defective} defective images, {len(cov.fully_outside)} have their "
        f"defect entirely outside that view and {len(cov.partly_outside)} partly (on average {share:.1f} % of "
        f"those defects' pixels are not seen). No model finds what it is not shown: train with --crop none "
        f"(the whole field of view, the default for new models), or frame the parts so that the defects fall inside.",
        *(f"  e.g. {name}" for name in (cov.fully_outside + cov.partly_outside)[:3]),
    ]
