"""``tiny-inp-zeroshot`` and ``tiny-inppp``: the zero-shot setting and INP-Former++ for the runtime's tests.

Both start from the tiny INP-Former that fixtures.py trains on its smooth textures:

- ``tiny-inp-zeroshot``: that model exported with ``map_mode="zero-shot"`` (each token's distance
  to the nearest INP of its own image, INP-Former's zero-shot map) for a product it never saw:
  textures of another colour and orientation (:func:`other_product`), calibrated on good images of
  that product. What the runtime must show is that such a bundle runs like any other; the tiny
  random encoder makes no good zero-shot detector, and the fixture does not pretend it does.
- ``tiny-inppp``: an ``InpFormerPP`` holding the same weights plus a residual head trained for
  :data:`HEAD_STEPS` steps on Perlin pseudo-anomalies of the training images (the ``after``
  schedule), the map components measured on the training images, exported with the fused map,
  the score and the ``recon_map`` extra output.

Deterministic (fixed seeds, one thread); a few seconds on top of fixtures.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .anomalies import AnomalyOptions, TextureSource, training_samples
from .export import GoldenCase, export_bundle
from .models.inp_former import InpFormer
from .models.inp_former.train import TrainOptions, cache_features, train_steps
from .models.inp_former_pp import FusionRecipe, InpFormerPP, InpFormerPPConfig
from .models.inp_former_pp.train import HeadData, PPOptions, fusion_statistics, head_loss, precompute_residuals
from .optim import StableAdamW
from .preprocess import Geometry
from .run import RunConfig

ZERO_SHOT = "tiny-inp-zeroshot"
PLUSPLUS = "tiny-inppp"
HEAD_STEPS = 120
POOL = 48


def other_product(rng: np.random.Generator, size: int) -> np.ndarray:
    """A texture the tiny model was not trained on: bluish horizontal bands, float ``[size, size, 3]``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = np.array([70.0, 120.0, 150.0]) + rng.uniform(-6, 6)
    field = 20.0 * np.sin(2 * np.pi * 3.0 * yy + rng.uniform(0, 2 * np.pi))
    field += 6.0 * np.sin(2 * np.pi * (0.7 * xx + 0.3 * yy) + rng.uniform(0, 2 * np.pi))
    return base[None, None, :] + field[..., None] + rng.normal(0, 2.0, size=(size, size, 3))


def _cases(good: np.ndarray, bad: np.ndarray) -> list[GoldenCase]:
    return [
        GoldenCase("good", good[:1], [0]),
        GoldenCase("defect", bad[:1], [1]),
        GoldenCase("pair", np.stack([good[1], bad[1]]), [0, 1]),
    ]


def plusplus_model(model: InpFormer, train: np.ndarray, seed: int) -> tuple[InpFormerPP, dict[str, Any]]:
    """The tiny INP-Former's weights with a residual head trained on pseudo-anomalies of ``train``."""
    torch.manual_seed(seed)
    pp = InpFormerPP(InpFormerPPConfig.from_inp_former(model.config))
    missing, unexpected = pp.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("head.") or k == "residual_scale" for k in missing)
    clean = cache_features(pp, train)
    with torch.no_grad():
        pp.residual_scale.fill_(1.0 / float(torch.stack([g.abs().mean() for g in clean.groups]).mean()))
    images, masks, _ = training_samples(train, POOL, seed, TextureSource(images=train),
                                        replace(AnomalyOptions(), clean_fraction=0.0))
    data = HeadData(clean, cache_features(pp, images), torch.from_numpy(masks).to(torch.uint8).unsqueeze(1))
    data.residuals = precompute_residuals(pp, data)
    options = TrainOptions(iterations=HEAD_STEPS, batch=8, warmup=10, seed=seed, checkpoint_every=10**9)
    plus = PPOptions()
    crop_hw = train.shape[1:3]
    optimizer = StableAdamW(pp.head_parameters(), lr=options.lr, weight_decay=options.weight_decay)
    losses = train_steps(pp, clean, options, optimizer, progress=False, params=pp.head_parameters(),
                         step_loss=lambda m, c, i, s: head_loss(m, data, s, options.batch, seed, plus, crop_hw))
    return pp.eval(), {"headSteps": HEAD_STEPS, "pool": POOL, "diceFirst": losses[0], "diceLast": losses[-1]}


def generate(
    out: Path,
    *,
    model: InpFormer,
    train: np.ndarray,
    geometry: Geometry,
    recipe: Any,  # noqa: ANN401 - fixtures.RECIPE (a RecipeConfig)
    make: Callable[..., np.ndarray],
    crop: Callable[[np.ndarray], np.ndarray],
    png: Callable[[np.ndarray], bytes],
    calib: np.ndarray,
    good: np.ndarray,
    bad: np.ndarray,
    seed: int,
    regenerate: str,
) -> dict[str, Any]:
    """Write both bundles under ``out``; ``make(seed, n, defective, look)`` draws resize-size images,
    ``train``/``calib``/``good``/``bad`` are fixtures.py's (crops for ``train``, resize size otherwise)."""
    summary: dict[str, Any] = {}
    # Zero-shot: another product, calibrated on its own good images.
    o_calib = make(seed + 1, 32, defective=False, look=other_product)
    o_good = make(seed + 2, 2, defective=False, look=other_product)
    o_bad = make(seed + 3, 2, defective=True, look=other_product)
    config = RunConfig(model=model.config, geometry=geometry, recipe=recipe, version="fixture-tiny-zeroshot-1",
                       data={"train": "fixtures.make_images (the tiny INP-Former's textures)"})
    m = export_bundle(model, config, out / ZERO_SHOT, calib_images=crop(o_calib), map_mode="zero-shot",
                      calib_source=f"32 good images of another product (fixtures_pp.other_product, seed {seed + 1})",
                      golden=_cases(crop(o_good), crop(o_bad)),
                      training={"fixture": True, "regenerate": regenerate, "zeroShot": "trained on fixtures.texture, "
                                "run on fixtures_pp.other_product"},
                      extra_files={f"samples/{k}-{i}.png": png(a[i]) for k, a in (("good", o_good), ("defect", o_bad))
                                   for i in range(2)},
                      progress=False)
    summary[ZERO_SHOT] = {"imageThreshold": m["calibration"]["image"]["threshold"],
                          "parity": m["metrics"]["exportParity"]}
    # INP-Former++: the same weights plus a head, on the training product.
    pp, head_record = plusplus_model(model, train, seed)
    fusion = FusionRecipe(**recipe.to_dict())
    fusion.stats = fusion_statistics(pp, cache_features(pp, train), geometry.crop_hw, fusion)
    config = RunConfig(model=pp.config, geometry=geometry, recipe=fusion, architecture="inp-former++",
                       version="fixture-tiny-inppp-1", training={"head": head_record})
    m = export_bundle(pp, config, out / PLUSPLUS, calib_images=crop(calib), calib_source="32 held-out good images",
                      golden=_cases(crop(good), crop(bad)),
                      training={"fixture": True, "regenerate": regenerate, "run": config.training},
                      extra_files={f"samples/{k}-{i}.png": png(a[i]) for k, a in (("good", good), ("defect", bad))
                                   for i in range(2)},
                      progress=False)
    summary[PLUSPLUS] = {"imageThreshold": m["calibration"]["image"]["threshold"],
                         "parity": m["metrics"]["exportParity"], **head_record}
    return summary
