"""OneNIP's training: the synthetic twins, resuming, and train → eval → export on two categories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.anomalies import TextureSource
from trainer.cli import main as cli_main
from trainer.data import discover, load_images
from trainer.evaluate import evaluate_run
from trainer.export import ort_outputs
from trainer.models.onenip import BackboneConfig, OneNip, OneNipConfig
from trainer.models.onenip.synthetic import SyntheticOptions, cutpaste, synthetic_anomaly
from trainer.models.onenip.health import StepRecord, refiner_health, refiner_peak
from trainer.models.onenip.train import Sampler, TrainOptions, cache_features, train_steps
from trainer.registry import get
from trainer.run import load_run
from trainer.synth import SynthOptions, synthesize


def _image(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = 100 + 60 * np.sin(xx / 5.0)[..., None] + 30 * np.cos(yy / 7.0)[..., None] + rng.normal(0, 3, (size, size, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def test_cutpaste_changes_pixels_only_inside_its_mask_and_is_seeded() -> None:
    img = _image()
    for seed in range(12):
        out, mask = cutpaste(img, np.random.default_rng(seed))
        changed = (out != img).any(axis=2)
        assert mask.any() and mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
        assert not changed[mask == 0].any(), "a pixel outside the mask changed"
        again, mask2 = cutpaste(img, np.random.default_rng(seed))
        np.testing.assert_array_equal(out, again)
        np.testing.assert_array_equal(mask, mask2)


def test_hybrid_twins_use_both_kinds_and_the_authors_perlin_settings() -> None:
    img, textures, options = _image(1), TextureSource(procedural=True), SyntheticOptions()
    assert (options.perlin.scale_exponents, options.perlin.rotate_deg, options.perlin.beta_max) == ((1, 5), 5.0, 0.8)
    rects = 0
    for seed in range(16):
        out, mask = synthetic_anomaly(img, np.random.default_rng(seed), textures, options)
        assert mask.any() and not ((out != img).any(axis=2) & (mask == 0)).any()
        ys, xs = np.nonzero(mask)
        rects += int(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all())  # CutPaste rectangles
    assert 2 <= rects <= 14, "about half CutPaste, half Perlin"


def _tiny(seed: int = 0) -> OneNip:
    torch.manual_seed(seed)
    cfg = OneNipConfig(backbone=BackboneConfig(kind="conv", conv_widths=[4, 4, 8, 8]), image_size=64, hidden_dim=16,
                       heads=2, ffn_dim=32, encoder_layers=1, decoder_layers=1, refiner_width=8)
    model = OneNip(cfg)
    model.reset_trainable()
    return model


def test_resumed_training_equals_uninterrupted_training() -> None:
    images = np.stack([_image(s) for s in range(6)])
    cats = np.array([0, 0, 0, 1, 1, 1])
    options = TrainOptions(iterations=6, batch=2, lr=1e-3, checkpoint_every=3)

    def run(start_from: dict | None = None, stop: bool = False) -> tuple[OneNip, list[float], dict]:
        model = _tiny()
        model.backbone.standardise(torch.randn(4, 3, 64, 64))
        opt = torch.optim.AdamW(model.trainable_parameters(), lr=options.lr)
        feats = cache_features(model, images)
        sampler = Sampler(images, cats, TextureSource(procedural=True), SyntheticOptions(), options.seed)
        saved: dict = {}
        start = 0
        if start_from:
            model.load_state_dict(start_from["model"])
            opt.load_state_dict(start_from["opt"])
            start = start_from["step"]

        def checkpoint(step: int) -> None:
            saved.update(step=step, model={k: v.clone() for k, v in model.state_dict().items()}, opt=opt.state_dict())
            if stop:
                raise KeyboardInterrupt

        try:
            losses = [r.loss for r in train_steps(model, feats, sampler, options, opt, start, checkpoint, progress=False)]
        except KeyboardInterrupt:
            losses = []
        return model, losses, saved

    straight, losses, _ = run()
    _, _, saved = run(stop=True)
    resumed, rest, _ = run(start_from=saved)
    assert rest == pytest.approx(losses[3:], abs=1e-6)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


@pytest.fixture(scope="module")
def two_categories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("onenip-synth")
    opts = SynthOptions(size_px=64, n_train=12, n_test_good=3, n_per_defect=1)
    synthesize(root / "s", 7, "surface", opts)
    synthesize(root / "p", 7, "part", opts)
    return root / "s", root / "p"


def test_train_eval_export_on_two_categories(two_categories: tuple[Path, Path], tmp_path: Path) -> None:
    surface, part = two_categories
    data = f"{surface},{part}"
    run_dir = tmp_path / "run"
    assert cli_main(["train", "--arch", "onenip", "--data", data, "--out", str(run_dir), "--resize", "64", "--crop",
                     "64", "--hidden-dim", "16", "--heads", "2", "--ffn-dim", "32", "--encoder-layers", "1",
                     "--decoder-layers", "1", "--iterations", "4", "--batch", "2", "--threads", "1",
                     "--prompt-selection", "cosine-pool", "--pool-size", "3"]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["architecture"] == "onenip" and config["model"]["backbone"]["weights"] == "standardised"
    assert sorted(config["data"]["prompts"]) == ["p", "s"] and len(config["data"]["prompts"]["s"]["pool"]) == 3
    assert config["recipe"]["fusion_scale"] > 0 and "held-out" in config["training"]["fusion_scale_from"]
    assert config["training"]["refiner"]["collapsed"] is False  # the authors' lr: the refiner is still answering
    results = evaluate_run(run_dir, data, threads=1)
    assert [r.name for r in results] == ["s", "p"]
    assert all(np.isfinite(list(r.metrics.values())).all() for r in results)

    assert cli_main(["export", "--run", str(run_dir), "--out", str(tmp_path / "b")]) == 0
    m = json.loads((tmp_path / "b" / "model.json").read_text())
    assert m["prompt"]["selection"] == "cosine-pool" and m["prompt"]["embedding"]["dim"] == 16
    assert m["training"]["model"]["backbone"] == "conv"
    # The bundle judges a test image with the prompt eval gave it exactly as eval does.
    run = load_run(run_dir)
    cat = discover(str(part), need_test=True)[0]
    images = load_images([t.image for t in cat.test[:3]], run.config.geometry)
    with torch.no_grad():
        ref_map, ref_score = get("onenip").scorer(run.model, run.config, cat)(images)
    from trainer.models.onenip.prompts import PromptChooser, selection_candidates

    chooser = PromptChooser(run.model, load_images(selection_candidates(cat.train, run.config.recipe),
                                                   run.config.geometry))
    pool = load_images(selection_candidates(cat.train, run.config.recipe), run.config.geometry)
    emb = ort_outputs(tmp_path / "b" / "embed.onnx", np.concatenate([images, pool]))["global_feature"]
    picked = np.argmax(emb[: len(images)] @ emb[len(images):].T, axis=1)
    np.testing.assert_array_equal(picked, chooser.indices(images))  # the runtime's rule = eval's
    got = ort_outputs(tmp_path / "b" / "model.onnx", {"image": images, "prompt": pool[picked]})
    assert np.abs(got["anomaly_map"] - ref_map.numpy()).max() <= 1e-4
    assert np.abs(got["score"] - ref_score.numpy()).max() <= 1e-4
    # --int8: the network's products quantized, the prompt input and the pool's embedding graph kept.
    good = next(surface.rglob("train/good"))
    assert cli_main(["export", "--run", str(run_dir), "--out", str(tmp_path / "b8"), "--int8", "--int8-margin", "100",
                     "--calib-data", str(good), "--eval-data", "none", "--threads", "1"]) == 0
    m8 = json.loads((tmp_path / "b8" / "model.json").read_text())
    assert m8["metrics"]["exportParity"]["int8"]["quantized"]["MatMul"] > 0 and m8["training"]["int8"] is True
    assert m8["input"] == m["input"] and m8["prompt"] == m["prompt"]
    assert (tmp_path / "b8" / "embed.onnx").read_bytes() == (tmp_path / "b" / "embed.onnx").read_bytes()
    with pytest.raises(ValueError, match="onenip: map mode 'raw' not supported"):
        get("onenip").export_spec(run.model, run.config, "raw")


def test_refiner_health_is_judged_on_the_last_steps() -> None:
    alive = [StepRecord(1.0, 0.5, 0.9, 0.4)] * 30
    dead = [StepRecord(0.8, 0.5, 0.5, 1e-9)] * 20
    assert refiner_health([], 1e-4) == {}
    assert refiner_health(alive, 1e-4) == {"steps": 20, "peak": 0.4, "dice": 0.9, "collapsed": False}
    verdict = refiner_health(alive + dead, 1e-3)
    assert verdict["collapsed"] is True and verdict["steps"] == 20
    assert "the refiner collapsed" in verdict["warning"] and "(0.001)" in verdict["warning"]
    assert refiner_health(dead + alive[:11], 1e-3)["collapsed"] is False  # the median of the last 20: alive again
    prob = torch.zeros(2, 1, 4, 4)
    prob[0, 0, 1, 1], prob[1, 0, 3, 3] = 0.8, 0.9  # the second image's high pixel lies outside its mask
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, 0, :2, :2] = 1
    assert refiner_peak(prob, mask) == pytest.approx(0.4)


def test_a_collapsed_refiner_is_reported(two_categories: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    """At a learning rate far above the authors' the Dice on the good images' empty masks drives every
    logit towards -inf within a few steps (the figure runs' 1e-3 did it in 200): train must say so."""
    surface, part = two_categories
    run_dir = tmp_path / "run"
    assert cli_main(["train", "--arch", "onenip", "--data", f"{surface},{part}", "--out", str(run_dir), "--resize",
                     "64", "--hidden-dim", "16", "--heads", "2", "--ffn-dim", "32", "--encoder-layers", "1",
                     "--decoder-layers", "1", "--iterations", "30", "--batch", "2", "--threads", "1",
                     "--lr", "0.05"]) == 0
    err = capsys.readouterr().err
    assert "onenip: the refiner collapsed" in err and "The learning rate (0.05)" in err
    refiner = json.loads((run_dir / "config.json").read_text())["training"]["refiner"]
    assert refiner["collapsed"] is True and refiner["peak"] < 0.05 and refiner["dice"] == pytest.approx(0.5, abs=0.02)


def test_efficientnet_without_weights_is_refused_before_any_work(two_categories, tmp_path: Path, capsys) -> None:
    assert cli_main(["train", "--arch", "onenip", "--data", str(two_categories[0]), "--out", str(tmp_path / "r"),
                     "--backbone", "efficientnet-b4"]) == 1
    assert "needs --backbone-weights FILE" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
