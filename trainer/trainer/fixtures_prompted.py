"""``tiny-prompted``: a prompted bundle for the runtime's tests of the OneNIP seam.

Not OneNIP: a tiny fixed graph with OneNIP's contract (docs/model-bundle.md, ``architecture``
``onenip``): two uint8 NHWC inputs of the same geometry, ``image`` (the frame) and ``prompt`` (a
good image of the same product), and ``anomaly_map`` ``[N,1,56,56]`` and ``score`` ``[N]`` out,
scored as OneNIP is (maximum of a 16×16 stride-1 average pool). Its map is the distance between
4×4-pooled colours of the frame and of its prompt, upsampled with ``align_corners=True``: zero
where the frame equals its prompt, high on a blob the prompt lacks, and high everywhere when the
prompt is another product's. That is what the runtime's tests need to see each frame judged
against its own prompt. The real tiny OneNIP replaces it when OneNIP is built.

Deterministic (no training, fixed seeds); a second or two.
"""

from __future__ import annotations

import inspect
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .bundle import GOLDEN_FORMAT, MAP_NAME, SCORE_NAME, build_manifest, encode_array, write_bundle

NAME = "tiny-prompted"
PROMPT_NAME = "prompt"
POOL = 4
SCORE_KERNEL = 16
OPSET = 17


class PromptDistance(nn.Module):
    """uint8 NHWC ``image``, ``prompt`` → (``anomaly_map`` [N,1,h,w], ``score`` [N])."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height = height
        self.width = width

    def forward(self, image: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the module docstring."""
        x = F.avg_pool2d(image.to(torch.float32).permute(0, 3, 1, 2) / 255.0, POOL)
        p = F.avg_pool2d(prompt.to(torch.float32).permute(0, 3, 1, 2) / 255.0, POOL)
        d = torch.sqrt(((x - p) ** 2).sum(dim=1, keepdim=True))
        amap = F.interpolate(d, size=(self.height, self.width), mode="bilinear", align_corners=True)
        score = F.avg_pool2d(amap, SCORE_KERNEL, stride=1).flatten(1).max(dim=1).values
        return amap, score


def _field(rng: np.random.Generator, size: int) -> np.ndarray:
    """A product's look: a smooth coloured texture, float ``[size, size, 3]``, without noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = rng.uniform(70, 170, size=3)
    f = 30.0 * np.sin(2 * np.pi * (1.5 * xx + 0.5 * yy) + rng.uniform(0, 2 * np.pi))
    f += 20.0 * np.sin(2 * np.pi * (0.4 * xx - 1.2 * yy) + rng.uniform(0, 2 * np.pi))
    return base[None, None, :] + f[..., None]


def _shot(rng: np.random.Generator, field: np.ndarray, blob: bool = False) -> np.ndarray:
    """One exposure of a product (sensor noise), with a bright blob inside the crop when ``blob``."""
    img = field + rng.normal(0, 2.0, size=field.shape)
    if blob:
        size = field.shape[0]
        cy, cx = rng.uniform(16, size - 16, size=2)
        yy, xx = np.mgrid[0:size, 0:size]
        img = img + 160.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 5.0**2))[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _export(graph: PromptDistance, path: Path) -> None:
    dummy = torch.zeros((2, graph.height, graph.width, 3), dtype=torch.uint8)
    names = ["image", PROMPT_NAME, MAP_NAME, SCORE_NAME]
    kwargs: dict[str, Any] = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad(), warnings.catch_warnings():
        # torch 1.13 warns about shape inference of constants; the spatial size is fixed by design.
        warnings.filterwarnings("ignore", message=".*shape inference.*")
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            graph,
            (dummy, dummy),
            str(path),
            input_names=names[:2],
            output_names=names[2:],
            dynamic_axes={n: {0: "N"} for n in names},
            opset_version=OPSET,
            **kwargs,
        )


def _run(graph: PromptDistance, images: np.ndarray, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        amap, score = graph(torch.from_numpy(images), torch.from_numpy(prompts))
    return amap.numpy().astype(np.float32), score.numpy().astype(np.float32)


def _bounds(good: np.ndarray, quantile: float) -> dict[str, float]:
    """trainer/'s rule: threshold 1.05 × a quantile of good values, min the least, max mirrored."""
    thr = 1.05 * float(np.quantile(good, quantile))
    lo = float(good.min())
    return {"threshold": thr, "min": lo, "max": thr + (thr - lo)}


def generate(
    out: str | Path,
    *,
    geometry: Any,
    crop: Callable[[np.ndarray], np.ndarray],
    seed: int,
    png: Callable[[np.ndarray], bytes],
) -> dict[str, Any]:
    """Write ``tiny-prompted`` at ``out``; returns its calibration thresholds.

    ``geometry`` is the fixtures' Geometry (resize 64, crop 56), ``crop`` turns resize-size images
    into model inputs as the runtime does, ``png`` encodes a sample image.
    """
    size = geometry.resize_height
    h, w = geometry.crop_hw
    graph = PromptDistance(h, w).eval()
    rng = np.random.default_rng(seed)
    # Calibration: 24 products, each a good shot against another good shot of itself as prompt.
    fields = [_field(rng, size) for _ in range(24)]
    calib_img = crop(np.stack([_shot(rng, f) for f in fields]))
    calib_prompt = crop(np.stack([_shot(rng, f) for f in fields]))
    cmap, cscore = _run(graph, calib_img, calib_prompt)
    calibration = {
        "method": f"fixture: 1.05 x max of {len(fields)} good scores (image) and 1.05 x p99.99 of their map pixels, "
        "each good shot against another good shot of its product as prompt",
        "image": _bounds(cscore, 1.0),
        "pixel": _bounds(cmap.ravel(), 0.9999),
    }
    # Two products A and B: a prompt, a good and a defective shot each (samples, before the crop).
    samples: dict[str, np.ndarray] = {}
    for product in ("a", "b"):
        f = _field(rng, size)
        samples[f"prompt-{product}"] = _shot(rng, f)
        samples[f"good-{product}"] = _shot(rng, f)
        samples[f"defect-{product}"] = _shot(rng, f, blob=True)
    c = {name: crop(img[None])[0] for name, img in samples.items()}
    images = np.stack([c["good-a"], c["defect-a"], c["good-b"], c["defect-b"], c["good-b"]])
    prompts = np.stack([c["prompt-a"], c["prompt-a"], c["prompt-b"], c["prompt-b"], c["prompt-a"]])
    labels = [0, 1, 0, 1, 1]
    amap, score = _run(graph, images, prompts)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        _export(graph, onnx_path)
        manifest = build_manifest(
            architecture="onenip",
            version="fixture-prompted-1",
            sha256="0" * 64,
            opset=OPSET,
            geometry=geometry,
            batch="dynamic",
            outputs={
                "anomalyMap": {
                    "name": MAP_NAME,
                    "height": h,
                    "width": w,
                    "appliedInGraph": [{"op": "resize", "height": h, "width": w, "alignCorners": True}],
                    "runtimeSteps": [],
                },
                "score": {"name": SCORE_NAME, "rule": {"op": "avgpool-max", "kernel": SCORE_KERNEL}},
                "extra": [],
            },
            calibration=calibration,
            training={
                "fixture": True,
                "network": "not OneNIP: the distance of 4x4-pooled colours of the frame and its prompt, with OneNIP's inputs and outputs",
                "regenerate": "cd trainer && .venv/bin/python -m trainer fixtures --out ../test/fixtures/models",
            },
        )
        manifest["prompt"] = {"name": PROMPT_NAME, "selection": "recipe"}
        golden = {
            "format": GOLDEN_FORMAT,
            "tolerance": 1e-4,
            "mapMode": "full",
            "note": "frames good-a, defect-a (prompt a), good-b, defect-b (prompt b), and good-b judged against "
            "product a's prompt (label 1: the wrong product)",
            "cases": [
                {
                    "name": "mixed",
                    "labels": labels,
                    "inputs": {"image": encode_array(images), PROMPT_NAME: encode_array(prompts)},
                    "outputs": {MAP_NAME: encode_array(amap), SCORE_NAME: encode_array(score)},
                    "reference": {"map": encode_array(amap), "score": encode_array(score)},
                }
            ],
        }
        files = {f"samples/{name}.png": png(img) for name, img in samples.items()}
        write_bundle(out, onnx_path, manifest, golden=golden, extra_files=files)
    thr = calibration["image"]["threshold"]
    wrong = [s for s, lab in zip(score.tolist(), labels, strict=True) if (s > thr) != (lab == 1)]
    if wrong:
        msg = f"{NAME}: scores {score.tolist()} against threshold {thr} do not separate the labels {labels}"
        raise RuntimeError(msg)
    return {"imageThreshold": thr, "scores": score.tolist()}
