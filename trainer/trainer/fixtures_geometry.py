"""``tiny-inp-long`` and ``tiny-inp-tiles``: the tiny INP-Former of fixtures.py, exported with the
geometries real parts need, for the runtime's tests of them (issue 18).

- ``tiny-inp-long``: a long part in proportion — resize 56×140 (1:2.5), no crop, map 64×160.
  ``samples/ends-0.png`` (a 112×280 camera frame) has a bright blob near each end; the runtime must
  report both, in camera pixels, where they are.
- ``tiny-inp-tiles``: a frame inspected tile by tile — resize 56×98, tiles 56×56 overlapping by
  14 px (at x = 0 and 42). ``samples/straddle-0.png`` (112×196) has a bright streak across the seam
  that each tile sees only part of; the runtime must merge the tiles and report it once.

Each bundle's ``samples/frames.json`` holds, for every sample, the PyTorch reference of the whole
frame — the image resized as PIL does, the tiles' maps merged (tiling.py) — so that the runtime's
map and score are checked against it, and for the blobs their boxes in camera pixels.

Deterministic (fixed seeds, one thread); a few seconds after fixtures.py has trained the model.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .bundle import encode_array
from .export import GoldenCase, export_bundle, export_spec
from .export_scores import image_scores
from .models.inp_former import InpFormer, RecipeConfig
from .preprocess import Geometry, to_uint8_frame
from .run import RunConfig
from .tiling import cut_tiles, inputs_per_image

#: name → (geometry, recipe, camera frame size (h, w))
BUNDLES: dict[str, tuple[Geometry, RecipeConfig, tuple[int, int]]] = {
    "tiny-inp-long": (Geometry(56, 140, 56, 140),
                      RecipeConfig(eval_height=64, eval_width=160, topk_fraction=40.5 / (64 * 160)), (112, 280)),
    "tiny-inp-tiles": (Geometry(56, 98, 56, 56, tile_overlap=14),
                       RecipeConfig(eval_height=64, eval_width=64, topk_fraction=0.01), (112, 196)),
}
N_CALIB = 32
#: The textures' spatial period is set per 64 px at model scale; camera frames are twice that.
SCALE = 2


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """fixtures.texture's family at camera scale: float ``[h, w, 3]``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) / (64 * SCALE)
    base = np.array([118.0, 104.0, 92.0]) + rng.uniform(-6, 6)
    field = 14.0 * np.sin(2 * np.pi * (1.5 * xx + 0.5 * yy) + rng.uniform(0, 2 * np.pi))
    field += 9.0 * np.sin(2 * np.pi * (0.4 * xx - 1.2 * yy) + rng.uniform(0, 2 * np.pi))
    return base[None, None, :] + field[..., None] + rng.normal(0, 2.0, size=(h, w, 3))


def _blob(img: np.ndarray, cy: float, cx: float, sy: float, sx: float) -> tuple[np.ndarray, list[int]]:
    """Adds a bright gaussian; returns the image and the box ``[x, y, w, h]`` where it passes half its peak."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((yy - cy) ** 2 / (2 * sy**2) + (xx - cx) ** 2 / (2 * sx**2)))
    ys, xs = np.nonzero(g > 0.5)
    return img + 200.0 * g[..., None], [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _frames(name: str, rng: np.random.Generator, hw: tuple[int, int]) -> dict[str, tuple[np.ndarray, list[list[int]]]]:
    """The samples: a good frame and the one with the defects this bundle is about."""
    h, w = hw
    good = _u8(_texture(rng, h, w))
    if name == "tiny-inp-long":
        img, left = _blob(_texture(rng, h, w), rng.uniform(40, 72), rng.uniform(14, 22), 9.0, 9.0)
        img, right = _blob(img, rng.uniform(40, 72), rng.uniform(258, 266), 9.0, 9.0)
        return {"good-0": (good, []), "ends-0": (_u8(img), [left, right])}
    img, streak = _blob(_texture(rng, h, w), rng.uniform(48, 64), 98.0, 6.0, 22.0)
    return {"good-0": (good, []), "straddle-0": (_u8(img), [streak])}


def _inputs(frames: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Camera frames → model inputs as the runtime makes them (PIL resize; tiles)."""
    out = []
    for f in frames:
        resized = to_uint8_frame(Image.fromarray(f), geometry)
        out.append(cut_tiles(resized, geometry) if geometry.is_tiled else resized[None])
    return np.concatenate(out)


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def generate(out: Path, model: InpFormer, seed: int, training: dict[str, Any], command: str) -> dict[str, Any]:
    """Write both bundles under ``out``; returns each one's threshold and sample scores."""
    summary: dict[str, Any] = {}
    for i, (name, (geometry, recipe, hw)) in enumerate(BUNDLES.items()):
        rng = np.random.default_rng(seed + i)
        calib = np.stack([_u8(_texture(rng, *hw)) for _ in range(N_CALIB)])
        config = RunConfig(model=model.config, geometry=geometry, recipe=recipe,
                           data={"train": "fixtures.make_images (64x64 crops of 56x56)"},
                           training=training, version=f"fixture-{name}-1")
        samples = _frames(name, rng, hw)
        images = np.stack([f for f, _ in samples.values()])
        inputs = _inputs(images, geometry)
        per = inputs_per_image(geometry)
        cases = [GoldenCase("good", inputs[:per]), GoldenCase("defect", inputs[per:])]
        manifest = export_bundle(
            model, config, out / name,
            calib_images=_inputs(calib, geometry),
            calib_source=f"{N_CALIB} good synthetic camera frames {hw[0]}x{hw[1]} (fixtures_geometry, seed {seed + i})",
            golden=cases,
            training={"fixture": True, "regenerate": command, "run": training},
            extra_files={f"samples/{k}.png": _png(v[0]) for k, v in samples.items()},
            progress=False,
        )
        scores, maps = image_scores(export_spec(model, config, "full"), inputs, geometry)
        reference = {
            "format": "linewatch-frames/1",
            "note": "PyTorch reference of whole camera frames: PIL resize, the graph per input, tiles merged by maximum",
            "frames": [
                {"sample": f"samples/{k}.png", "width": hw[1], "height": hw[0], "defects": boxes,
                 "score": float(scores[j]), "map": encode_array(maps[j].astype(np.float32))}
                for j, (k, (_, boxes)) in enumerate(samples.items())
            ],
        }
        (out / name / "samples" / "frames.json").write_text(json.dumps(reference) + "\n")
        summary[name] = {"imageThreshold": manifest["calibration"]["image"]["threshold"],
                         "scores": [round(float(s), 5) for s in scores]}
    return summary


def reference_frames(bundle: Path) -> list[dict[str, Any]]:
    """The ``samples/frames.json`` entries of a bundle made here."""
    return json.loads((bundle / "samples" / "frames.json").read_text())["frames"]


def check_threshold(summary: dict[str, Any]) -> None:
    """Each bundle's defect sample scores above its threshold and its good one below (else the
    runtime's tests would test nothing)."""
    for name, s in summary.items():
        good, bad = s["scores"]
        if not good < s["imageThreshold"] < bad:
            msg = f"{name}: good {good} and defect {bad} are not on either side of the threshold {s['imageThreshold']}"
            raise RuntimeError(msg)

