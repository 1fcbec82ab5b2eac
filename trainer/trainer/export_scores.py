"""Whole-image scores for ``export``: the calibration on held-out good images, and the line check
(escapes and false rejects at that threshold) on the labelled test images of the RUN's data.

Both go through the exported graph's PyTorch reference (``ExportSpec``: the ONNX file matches it
within the parity tolerance) and, for a tiled geometry, merge each image's tiles the way the
runtime does (tiling.py): a calibration over single tiles would set thresholds for something the
line never scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .data import DatasetError, discover, load_images
from .preprocess import Geometry
from .progress import progress
from .registry import ExportSpec
from .tiling import inputs_per_image, merge_frames


def spec_outputs(spec: ExportSpec, inputs: dict[str, np.ndarray], batch_size: int = 8) -> dict[str, np.ndarray]:
    """PyTorch outputs of ``spec.graph`` on ``inputs``, plus the final reference map and score
    (``final_map``, ``final_score``), in batches of ``batch_size``."""
    n = len(next(iter(inputs.values())))
    outs: dict[str, list[np.ndarray]] = {}
    graph = spec.graph.eval()
    with torch.no_grad():
        for i in range(0, n, batch_size):
            xs = [torch.from_numpy(np.ascontiguousarray(inputs[name][i : i + batch_size])) for name in spec.input_names]
            y = graph(*xs)
            parts = dict(zip(spec.output_names, y if isinstance(y, tuple) else (y,), strict=True))
            parts["final_map"], parts["final_score"] = spec.finish(parts)
            for k, v in parts.items():
                outs.setdefault(k, []).append(v.numpy().astype(np.float32))
    return {k: np.concatenate(v, axis=0) for k, v in outs.items()}


def image_scores(spec: ExportSpec, inputs: np.ndarray, geometry: Geometry,
                 desc: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``[N]`` and final maps ``[N, H, W]`` of N images from their model inputs in order
    (one crop each, or each image's tiles, merged)."""
    per = inputs_per_image(geometry)
    if len(inputs) % per:
        msg = f"{len(inputs)} model inputs are not whole images of {per} tiles"
        raise ValueError(msg)
    step = per * max(1, 8 // per)
    scores, maps = [], []
    for i in progress(range(0, len(inputs), step), desc or "", unit="batch", enabled=desc is not None):
        ref = spec_outputs(spec, spec.inputs_for(inputs[i : i + step]), step)
        m, s = merge_frames(torch.from_numpy(ref["final_map"]), torch.from_numpy(ref["final_score"]), geometry)
        scores.append(s.numpy())
        maps.append(m[:, 0].numpy())
    return np.concatenate(scores), np.concatenate(maps)


def labelled_test_images(roots: Sequence[str | Path], geometry: Geometry,
                         limit: int = 400) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Model inputs and labels (0 good, 1 defective) of the test images under ``roots`` (at most
    ``limit`` images, the first ones), and where they came from; ``None`` when there are none."""
    try:
        categories = discover([str(r) for r in roots])
    except DatasetError:
        return None
    items = [item for c in categories for item in c.test][:limit]
    if not items or not any(item.label for item in items):
        return None
    inputs = load_images([item.image for item in items], geometry, desc="load test images")
    where = ", ".join(str(c.root / "test") for c in categories)
    return inputs, np.array([item.label for item in items]), f"{len(items)} test images in {where}"
