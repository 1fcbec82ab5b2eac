"""``fixtures``: the tiny bundles the runtime's tests run (test/fixtures/models).

Deterministic (fixed seeds, one CPU thread), about half a minute on a CPU:

1. images: 64×64 smooth sinusoidal textures; "defective" ones carry a bright gaussian blob;
2. a tiny INP-Former (``tiny`` encoder: 24 dims, random and frozen) whose extractor, bottleneck
   and decoder are trained for a few hundred steps on good images (global cosine + 0.2 ×
   coherence), enough that a blob scores above a good image;
3. three bundles, calibrated on held-out good images: ``tiny-inp`` (map full, dynamic batch),
   ``tiny-inp-raw`` (map raw, dynamic batch), ``tiny-inp-b2`` (map full, fixed batch 2), each with
   ``golden.json`` (inputs, PyTorch outputs, reference final maps and scores) and ``samples/``
   (PNG images at the resize size, good and defective);
4. ``tiny-prompted``: a prompted bundle with OneNIP's inputs and outputs (fixtures_prompted.py).
5. ``tiny-onenip``: a tiny OneNIP with two products and their prompts (models/onenip/fixture.py).
6. ``tiny-inp-long`` (1:2.5, no crop) and ``tiny-inp-tiles`` (a frame cut into two tiles): the
   same model as ``tiny-inp`` with the geometries of real parts (fixtures_geometry.py).
7. ``tiny-inp-zeroshot`` (the tiny INP-Former's zero-shot map on another product) and ``tiny-inppp``
   (the same weights plus a residual head: INP-Former++), fixtures_pp.py.

Geometry: resize 64×64, centre crop 56×56 (a 4×4 patch grid), evaluation map 64×64.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import fixtures_geometry, fixtures_pp, fixtures_prompted
from .export import GoldenCase, export_bundle
from .models.inp_former import InpFormer, InpFormerConfig, RecipeConfig, coherence_loss, cosine
from .preprocess import Geometry, normalize, to_uint8_crop
from .run import RunConfig

SEED = 20251122
SIZE = 64
GEOMETRY = Geometry(resize_height=SIZE, resize_width=SIZE, crop_height=56, crop_width=56)
RECIPE = RecipeConfig(eval_height=64, eval_width=64, gaussian_sigma=4.0, gaussian_kernel=5, topk_fraction=0.01)
TRAIN_STEPS = 300
N_TRAIN = 64
N_CALIB = 32
BUNDLES = {
    "tiny-inp": {"map_mode": "full", "batch": "dynamic"},
    "tiny-inp-raw": {"map_mode": "raw", "batch": "dynamic"},
    "tiny-inp-b2": {"map_mode": "full", "batch": 2},
}
COMMAND = "cd trainer && .venv/bin/python -m trainer fixtures --out ../test/fixtures/models"


def texture(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A smooth coloured texture (one family, shifted and slightly re-lit), float ``[size, size, 3]``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = np.array([118.0, 104.0, 92.0]) + rng.uniform(-6, 6)
    field = 14.0 * np.sin(2 * np.pi * (1.5 * xx + 0.5 * yy) + rng.uniform(0, 2 * np.pi))
    field += 9.0 * np.sin(2 * np.pi * (0.4 * xx - 1.2 * yy) + rng.uniform(0, 2 * np.pi))
    return base[None, None, :] + field[..., None] + rng.normal(0, 2.0, size=(size, size, 3))


def add_blob(rng: np.random.Generator, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A bright gaussian blob inside the crop; returns (image, mask at the resize size)."""
    size = img.shape[0]
    cy, cx = rng.uniform(14, size - 14, size=2)
    sigma = rng.uniform(4.0, 6.0)
    yy, xx = np.mgrid[0:size, 0:size]
    g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    out = img + 200.0 * g[..., None]
    return out, (g > 0.5).astype(np.uint8)


def make_images(seed: int, n: int, defective: bool, look: Callable[..., np.ndarray] = texture) -> np.ndarray:
    """``n`` uint8 images ``[n, 64, 64, 3]`` (resize size) of a product's ``look`` (default :func:`texture`)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = look(rng, SIZE)
        if defective:
            img, _ = add_blob(rng, img)
        out.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return np.stack(out)


def crop(images: np.ndarray) -> np.ndarray:
    """Resize-size images → model input (the runtime's centre crop)."""
    return np.stack([to_uint8_crop(Image.fromarray(im), GEOMETRY) for im in images])


def train_tiny(images: np.ndarray, steps: int = TRAIN_STEPS, seed: int = SEED, progress: bool = False) -> InpFormer:
    """Tiny INP-Former, random frozen encoder, trained decoder (global cosine + 0.2 coherence)."""
    torch.manual_seed(seed)
    model = InpFormer(InpFormerConfig.for_size("tiny"))
    model.reset_trainable(std=0.01)
    model.train()
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=2e-3, weight_decay=1e-4)
    x_all = normalize(torch.from_numpy(images))
    g = torch.Generator().manual_seed(seed)
    for step in tqdm(range(steps), desc="train tiny", unit="step", leave=False, disable=not progress):
        idx = torch.randint(0, len(x_all), (16,), generator=g)
        out = model(x_all[idx])
        rec = 0.0
        for e, d in zip(out.en, out.de, strict=True):
            rec = rec + (1.0 - cosine(e.detach().flatten(1), d.flatten(1), dim=1)).mean()
        loss = rec / len(out.en) + 0.2 * coherence_loss(out)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 0.5)
        opt.step()
        for group in opt.param_groups:
            group["lr"] = 2e-3 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * (step + 1) / steps)))
    return model.eval()


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def generate(out: str | Path, steps: int = TRAIN_STEPS, progress: bool = False) -> dict[str, Any]:
    """Write the three bundles under ``out``; returns a summary (scores of the samples)."""
    torch.set_num_threads(1)
    t0 = time.time()
    out = Path(out)
    train = make_images(SEED + 1, N_TRAIN, defective=False)
    calib = make_images(SEED + 2, N_CALIB, defective=False)
    good = make_images(SEED + 3, 2, defective=False)
    bad = make_images(SEED + 4, 2, defective=True)
    model = train_tiny(crop(train), steps=steps, progress=progress)
    config = RunConfig(
        model=model.config,
        geometry=GEOMETRY,
        recipe=RECIPE,
        data={"train": f"fixtures.make_images(seed={SEED + 1}, n={N_TRAIN})"},
        training={"steps": steps, "seed": SEED, "loss": "global cosine + 0.2 coherence", "optimizer": "AdamW 2e-3"},
        version="fixture-tiny-1",
    )
    good_c, bad_c = crop(good), crop(bad)
    samples = {
        "samples/good-0.png": _png(good[0]),
        "samples/good-1.png": _png(good[1]),
        "samples/defect-0.png": _png(bad[0]),
        "samples/defect-1.png": _png(bad[1]),
    }
    summary: dict[str, Any] = {}
    for name, spec in tqdm(BUNDLES.items(), desc="export", unit="bundle", leave=False, disable=not progress):
        if spec["batch"] == "dynamic":
            cases = [
                GoldenCase("good", good_c[:1], [0]),
                GoldenCase("defect", bad_c[:1], [1]),
                GoldenCase("pair", np.stack([good_c[1], bad_c[1]]), [0, 1]),
            ]
        else:
            cases = [
                GoldenCase("pair", np.stack([good_c[0], bad_c[0]]), [0, 1]),
                GoldenCase("pair2", np.stack([bad_c[1], good_c[1]]), [1, 0]),
            ]
        manifest = export_bundle(
            model,
            config,
            out / name,
            calib_images=crop(calib),
            calib_source=f"{N_CALIB} held-out good synthetic images (fixtures.make_images seed {SEED + 2})",
            map_mode=spec["map_mode"],
            batch=spec["batch"],
            golden=cases,
            training={"fixture": True, "regenerate": COMMAND, "run": config.training},
            extra_files=samples,
            progress=False,
        )
        summary[name] = {
            "imageThreshold": manifest["calibration"]["image"]["threshold"],
            "parity": manifest["metrics"]["exportParity"],
        }
    summary[fixtures_prompted.NAME] = fixtures_prompted.generate(
        out / fixtures_prompted.NAME, geometry=GEOMETRY, crop=crop, seed=SEED + 5, png=_png
    )
    geo = fixtures_geometry.generate(out, model, SEED + 6, config.training, COMMAND)
    fixtures_geometry.check_threshold(geo)
    summary.update(geo)
    from .models.onenip import fixture as onenip_fixture

    summary[onenip_fixture.NAME] = onenip_fixture.generate(out, progress=progress)
    summary.update(fixtures_pp.generate(out, model=model, train=crop(train), geometry=GEOMETRY, recipe=RECIPE,
                                        make=make_images, crop=crop, png=_png, calib=calib, good=good, bad=bad,
                                        seed=SEED + 6, regenerate=COMMAND))
    summary["seconds"] = round(time.time() - t0, 1)
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    """CLI arguments of ``fixtures``."""
    p.add_argument("--out", required=True, help="folder for the bundles (e.g. ../test/fixtures/models)")
    p.add_argument("--steps", type=int, default=TRAIN_STEPS, help=f"training steps ({TRAIN_STEPS})")


def main(args: argparse.Namespace) -> int:
    """Run ``fixtures``."""
    summary = generate(args.out, steps=args.steps, progress=True)
    for name, s in summary.items():
        print(f"{name}: {s}")
    return 0
