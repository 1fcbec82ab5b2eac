"""anomalies: Perlin masks (deterministic, confined, coverage in range), textures, the blend, samples."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from trainer.anomalies import (
    AnomalyOptions,
    TextureSource,
    blend,
    coverage,
    perlin_mask,
    perlin_noise,
    photometric,
    procedural_texture,
    pseudo_anomaly,
    training_samples,
)


def test_perlin_noise_is_smooth_zero_at_lattice_points_and_spans_about_one() -> None:
    n = perlin_noise((64, 64), (4, 4), np.random.default_rng(0))
    assert n.shape == (64, 64) and np.isfinite(n).all()
    assert 0.5 < np.abs(n).max() <= 1.0 + 1e-9
    # Gradient noise: neighbouring pixels differ by far less than the field's range.
    assert np.abs(np.diff(n, axis=0)).max() < 0.25 * np.ptp(n)
    # At lattice corners (cell size 16 px, pixel centres at +0.5) the value is near zero.
    fine = perlin_noise((4 * 1000, 4 * 1000), (4, 4), np.random.default_rng(0))
    assert abs(fine[0, 0]) < 5e-3 and abs(fine[1000, 2000]) < 5e-3


def test_perlin_masks_are_deterministic_per_seed() -> None:
    a = perlin_mask((96, 80), np.random.default_rng(42))
    b = perlin_mask((96, 80), np.random.default_rng(42))
    c = perlin_mask((96, 80), np.random.default_rng(43))
    assert a.dtype == np.float32 and a.shape == (96, 80)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert set(np.unique(a)) <= {0.0, 1.0}


@pytest.mark.parametrize("seed", range(40))
def test_perlin_masks_stay_within_the_region_and_cover_the_range(seed: int) -> None:
    options = AnomalyOptions(coverage=(0.01, 0.3))
    region = (10, 20, 70, 90)  # top, left, bottom, right of a 96×112 crop
    mask = perlin_mask((96, 112), np.random.default_rng(seed), options, region)
    outside = mask.copy()
    outside[10:70, 20:90] = 0
    assert not outside.any(), "nothing outside the region"
    share = mask[10:70, 20:90].mean()
    assert 0.01 <= share <= 0.3


def test_perlin_masks_span_scales_and_refuse_what_cannot_be_met() -> None:
    coverages = [perlin_mask((128, 128), np.random.default_rng(s)).mean() for s in range(60)]
    lo, hi = AnomalyOptions().coverage
    assert min(coverages) >= lo and max(coverages) <= hi
    assert np.std(coverages) > 0.01, "large blobs and scattered specks both occur"
    with pytest.raises(ValueError, match=r"region \(0, 0, 200, 10\) is not inside an image of 128x128"):
        perlin_mask((128, 128), np.random.default_rng(0), region=(0, 0, 200, 10))
    impossible = AnomalyOptions(coverage=(0.99, 1.0), attempts=3)
    with pytest.raises(RuntimeError, match="no Perlin mask covering 0.99–1 of 128x128 in 3 draws"):
        perlin_mask((128, 128), np.random.default_rng(0), impossible)


def test_blend_follows_the_formula() -> None:
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    texture = np.full((4, 4, 3), 200, dtype=np.uint8)
    mask = np.zeros((4, 4), dtype=np.float32)
    mask[1:3, 1:3] = 1
    out = blend(image, texture, mask, beta=0.25)
    # inside: (1 − β)·200 + β·100 = 175; outside unchanged
    assert out[1, 1, 0] == 175 and out[0, 0, 0] == 100 and out.dtype == np.uint8
    assert (out[mask == 1] == 175).all() and (out[mask == 0] == 100).all()


def test_textures_and_photometric_ops_are_deterministic_images() -> None:
    t1 = procedural_texture((48, 40), np.random.default_rng(3))
    t2 = procedural_texture((48, 40), np.random.default_rng(3))
    assert t1.shape == (48, 40, 3) and t1.dtype == np.uint8 and np.array_equal(t1, t2)
    p1 = photometric(t1, np.random.default_rng(9))
    assert p1.shape == t1.shape and p1.dtype == np.uint8
    assert np.array_equal(p1, photometric(t1, np.random.default_rng(9)))


def test_texture_sources(tmp_path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    only_images = TextureSource(procedural=False, images=images)
    drawn = only_images.draw((32, 32), np.random.default_rng(1))
    turned = [v for im in images for k in range(4) for v in (np.rot90(im, k), np.rot90(im, k)[:, ::-1])]
    assert any(np.array_equal(drawn, v) for v in turned), "a training image, turned or mirrored"
    folder = tmp_path / "dtd"
    folder.mkdir()
    Image.fromarray(np.full((50, 70, 3), 7, dtype=np.uint8)).save(folder / "a.png")
    from_folder = TextureSource(procedural=False, folder=folder)
    assert (from_folder.draw((32, 32), np.random.default_rng(0)) == 7).all(), "resized to the crop"
    with pytest.raises(ValueError, match="texture folder .*missing does not exist"):
        TextureSource(folder=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="texture folder .*empty holds no images"):
        TextureSource(folder=tmp_path / "empty")
    with pytest.raises(ValueError, match="no texture source"):
        TextureSource(procedural=False)


def test_pseudo_anomalies_change_only_the_masked_pixels() -> None:
    image = np.random.default_rng(0).integers(60, 200, (64, 64, 3), dtype=np.uint8)
    out, mask = pseudo_anomaly(image, np.random.default_rng(5), TextureSource())
    assert mask.any()
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert (out[mask == 1] != image[mask == 1]).any()


def test_training_samples_are_stable_per_index_and_half_clean() -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    source = TextureSource(images=images)
    out, masks, src = training_samples(images, 200, seed=7, textures=source)
    few, few_masks, _ = training_samples(images, 10, seed=7, textures=source)
    assert np.array_equal(out[:10], few) and np.array_equal(masks[:10], few_masks), "sample i does not depend on count"
    clean = coverage(masks) == 0
    assert 0.4 < clean.mean() < 0.6, "about half left clean"
    assert all(np.array_equal(out[i], images[src[i]]) for i in np.flatnonzero(clean))
    none_clean = replace(AnomalyOptions(), clean_fraction=0.0)
    _, all_masks, _ = training_samples(images, 20, seed=7, textures=source, options=none_clean)
    assert (coverage(all_masks) > 0).all()
