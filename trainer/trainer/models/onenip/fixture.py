"""The tiny OneNIP bundle the runtime's tests run: ``test/fixtures/models/tiny-onenip``.

A real OneNIP (this package's module, graph and training loop), made small: the weight-free conv
backbone (8, 8, 16, 16 channels), 16-dim tokens, 2 heads, 2 + 2 layers, on 64×64 images (a 4×4
token grid, 3×3 neighbour windows). Two products, ``a`` (warm, diagonal waves) and ``b`` (cool,
crossed waves), trained together for a few hundred steps with CutPaste/Perlin twins and random
same-product prompts. Deterministic (fixed seeds, one thread); well under a minute on a CPU.

The bundle: ``model.onnx`` (inputs ``image`` and ``prompt``, uint8 NHWC [N,64,64,3]; outputs
``anomaly_map`` [N,1,64,64] and ``score`` [N]), ``embed.onnx`` (``image`` → ``global_feature``
[N,16]), ``golden.json`` (each case with its prompt; the embedding's outputs under ``aux``) and
``samples/``: ``prompt-a.png``/``prompt-b.png`` (each product's prompt), ``good-a``/``good-b``
and ``defect-a``/``defect-b`` (a bright blob). A frame scores below the threshold with its own
product's prompt when good, above it when defective, and a good frame of ``a`` judged against
``b``'s prompt scores far above it: the prompt is what decides.

``tiny-onenip-pool``: the same trained model exported again with ``prompt.selection: cosine-pool``
(calibrated by pairing each calibration image with the nearest of a pool of two good images per
product: ``samples/prompt-<p>.png`` and ``samples/pool-<p>.png``). Same graphs, other manifest: the
runtime's pool tests judge a frame against the nearest pool member and compare with the recipe run.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...anomalies import TextureSource
from ...export import GoldenCase, export_bundle
from ...preprocess import Geometry, to_model_input
from ...run import RunConfig
from .backbone import BackboneConfig
from .model import OneNip, OneNipConfig
from .prompts import PromptChooser
from .recipe import RecipeConfig, fuse, image_score
from .synthetic import SyntheticOptions
from .train import Sampler, TrainOptions, cache_features, measure_fusion_scale, train_steps

NAME = "tiny-onenip"
POOL_NAME = "tiny-onenip-pool"
SEED = 20251203
SIZE = 64
GEOMETRY = Geometry(SIZE, SIZE, SIZE, SIZE)
CONFIG = OneNipConfig(backbone=BackboneConfig(kind="conv", conv_widths=[8, 8, 16, 16], weights="standardised"),
                      image_size=SIZE, hidden_dim=16, heads=2, ffn_dim=32, encoder_layers=2, decoder_layers=2,
                      refiner_width=8)
STEPS = 400
N_TRAIN, N_CALIB = 40, 16
PRODUCTS = ("a", "b")
COMMAND = "cd trainer && .venv/bin/python -m trainer fixtures --out ../test/fixtures/models"


def product_image(product: str, rng: np.random.Generator) -> np.ndarray:
    """A good image of product ``a`` or ``b``: float RGB ``[64, 64, 3]``, shifted and re-lit a little."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE
    if product == "a":
        base = np.array([150.0, 110.0, 80.0])
        field = 22.0 * np.sin(2 * np.pi * (2.0 * xx + 1.0 * yy) + rng.uniform(0, 2 * np.pi))
    else:
        base = np.array([70.0, 110.0, 150.0])
        field = 16.0 * np.sin(2 * np.pi * 2.5 * xx + rng.uniform(0, 2 * np.pi))
        field += 16.0 * np.sin(2 * np.pi * 2.5 * yy + rng.uniform(0, 2 * np.pi))
    base = base + rng.uniform(-6, 6)
    return base[None, None, :] + field[..., None] + rng.normal(0, 2.0, size=(SIZE, SIZE, 3))


def add_blob(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bright gaussian blob away from the border."""
    cy, cx = rng.uniform(16, SIZE - 16, size=2)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(3.5, 5.0) ** 2))
    return img + 180.0 * g[..., None]


def images(product: str, seed: int, n: int, defective: bool = False) -> np.ndarray:
    """``n`` uint8 images of a product."""
    rng = np.random.default_rng([seed, PRODUCTS.index(product)])
    out = []
    for _ in range(n):
        img = product_image(product, rng)
        out.append(np.clip(np.rint(add_blob(img, rng) if defective else img), 0, 255).astype(np.uint8))
    return np.stack(out)


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def train_tiny(train: np.ndarray, category_of: np.ndarray, steps: int, progress: bool) -> OneNip:
    """The tiny model, trained by the real loop (synthetic twins, same-product prompts)."""
    torch.manual_seed(SEED)
    model = OneNip(CONFIG)
    model.backbone.standardise(to_model_input(train))
    model.reset_trainable()
    options = TrainOptions(iterations=steps, batch=8, lr=2e-3, seed=SEED, checkpoint_every=10**9)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=options.lr, weight_decay=options.weight_decay)
    sampler = Sampler(train, category_of, TextureSource(procedural=True), SyntheticOptions(), SEED)
    train_steps(model, cache_features(model, train), sampler, options, optimizer, progress=progress)
    return model.eval()


def generate(out: str | Path, steps: int = STEPS, progress: bool = False) -> dict[str, Any]:
    """Write ``out/tiny-onenip`` and ``out/tiny-onenip-pool``; returns a summary (threshold, sample scores, parity)."""
    t0 = time.time()
    out = Path(out)
    train = np.concatenate([images(p, SEED + 1, N_TRAIN) for p in PRODUCTS])
    category_of = np.repeat(np.arange(len(PRODUCTS)), N_TRAIN)
    calib = np.concatenate([images(p, SEED + 2, N_CALIB) for p in PRODUCTS])
    prompt = {p: images(p, SEED + 3, 1)[0] for p in PRODUCTS}
    good = {p: images(p, SEED + 4, 1)[0] for p in PRODUCTS}
    bad = {p: images(p, SEED + 5, 1, defective=True)[0] for p in PRODUCTS}
    second = {p: images(p, SEED + 6, 1)[0] for p in PRODUCTS}
    model = train_tiny(train, category_of, steps, progress)
    samples = {f"samples/{kind}-{p}.png": _png(src[p]) for kind, src in
               (("prompt", prompt), ("good", good), ("defect", bad)) for p in PRODUCTS}
    with tempfile.TemporaryDirectory(prefix="lw-onenip-fixture-") as td:
        paths = {}
        for p in PRODUCTS:
            paths[p] = Path(td) / f"prompt-{p}.png"
            paths[p].write_bytes(samples[f"samples/prompt-{p}.png"])
        recipe = RecipeConfig(prompt_selection="recipe")
        chooser = PromptChooser(model, np.stack([prompt[p] for p in PRODUCTS]))
        if list(chooser.indices(np.stack([good[p] for p in PRODUCTS]))) != [0, 1]:
            msg = "fixture: the embedding does not tell the two products apart"
            raise RuntimeError(msg)
        recipe.fusion_scale = measure_fusion_scale(model, calib, chooser)
        config = RunConfig(
            model=CONFIG, geometry=GEOMETRY, recipe=recipe,
            data={"train": f"onenip.fixture.images(seed={SEED + 1}, n={N_TRAIN}) per product",
                  "categories": list(PRODUCTS),
                  "prompts": {p: {"recipe": str(paths[p]), "pool": [str(paths[p])]} for p in PRODUCTS}},
            training={"steps": steps, "seed": SEED, "loss": "MSE + 0.5 Dice", "optimizer": "AdamW 2e-3"},
            architecture="onenip", version="fixture-onenip-1",
        )
        cases = [
            GoldenCase("good-a", good["a"][None], [0]),
            GoldenCase("defect-b", bad["b"][None], [1]),
            GoldenCase("pair", np.stack([good["b"], bad["a"]]), [0, 1]),
        ]
        manifest = export_bundle(
            model, config, out / NAME, calib_images=calib,
            calib_source=f"{len(calib)} held-out good images of both products, each with its product's prompt",
            golden=cases, training={"fixture": True, "regenerate": COMMAND, "run": config.training},
            extra_files=samples, progress=False,
        )
    with torch.no_grad():
        wrong = model(to_model_input(good["a"][None]), to_model_input(prompt["b"][None]))
        wrong_score = float(image_score(fuse(wrong.rec_map, wrong.ref_logit, recipe), recipe.score_kernel))
    pool = _export_pool(model, recipe.fusion_scale, out, steps, calib, prompt, second, good, bad, samples)
    return {"imageThreshold": manifest["calibration"]["image"]["threshold"], "fusionScale": recipe.fusion_scale,
            "goodAWithPromptB": wrong_score, "parity": manifest["metrics"]["exportParity"],
            POOL_NAME: {"imageThreshold": pool["calibration"]["image"]["threshold"], "parity": pool["metrics"]["exportParity"]},
            "seconds": round(time.time() - t0, 1)}


def _export_pool(model: OneNip, fusion_scale: float, out: Path, steps: int, calib: np.ndarray,
                 prompt: dict[str, np.ndarray], second: dict[str, np.ndarray], good: dict[str, np.ndarray],
                 bad: dict[str, np.ndarray], samples: dict[str, bytes]) -> dict[str, Any]:
    """The same model as ``tiny-onenip``, exported with ``selection: cosine-pool`` and a pool of two per product."""
    pool_samples = {**samples, **{f"samples/pool-{p}.png": _png(second[p]) for p in PRODUCTS}}
    with tempfile.TemporaryDirectory(prefix="lw-onenip-pool-fixture-") as td:
        pools: dict[str, list[str]] = {}
        for p in PRODUCTS:
            pools[p] = []
            for name in (f"prompt-{p}.png", f"pool-{p}.png"):
                path = Path(td) / name
                path.write_bytes(pool_samples[f"samples/{name}"])
                pools[p].append(str(path))
        recipe = RecipeConfig(prompt_selection="cosine-pool", pool_size=2)
        recipe.fusion_scale = fusion_scale
        config = RunConfig(
            model=CONFIG, geometry=GEOMETRY, recipe=recipe,
            data={"train": f"onenip.fixture.images(seed={SEED + 1}, n={N_TRAIN}) per product",
                  "categories": list(PRODUCTS),
                  "prompts": {p: {"recipe": pools[p][0], "pool": pools[p]} for p in PRODUCTS}},
            training={"steps": steps, "seed": SEED, "loss": "MSE + 0.5 Dice", "optimizer": "AdamW 2e-3"},
            architecture="onenip", version="fixture-onenip-pool-1",
        )
        # Pool order as the RUN records it: a's two, then b's two.
        chooser = PromptChooser(model, np.stack([prompt["a"], second["a"], prompt["b"], second["b"]]))
        if [int(i) // 2 for i in chooser.indices(np.stack([good[p] for p in PRODUCTS]))] != [0, 1]:
            msg = "fixture: the pool's embedding does not tell the two products apart"
            raise RuntimeError(msg)
        cases = [
            GoldenCase("good-a", good["a"][None], [0]),
            GoldenCase("defect-b", bad["b"][None], [1]),
        ]
        return export_bundle(
            model, config, out / POOL_NAME, calib_images=calib,
            calib_source=f"{len(calib)} held-out good images of both products, each with the nearest of its pool",
            golden=cases, training={"fixture": True, "regenerate": COMMAND, "run": config.training},
            extra_files=pool_samples, progress=False,
        )
