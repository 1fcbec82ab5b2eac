"""ssl: making an encoder without pretrained weights useful (the PCA patch code and the conv stem)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.evaluate import evaluate_run
from trainer.export import export_bundle, ort_outputs, reference_outputs
from trainer.models.inp_former import EncoderConfig, InpFormer, InpFormerConfig, RecipeConfig
from trainer.models.inp_former.ssl import prepare_encoder, whitened_components
from trainer.preprocess import Geometry, to_model_input
from trainer.run import RunConfig, load_run
from trainer.synth import SynthOptions, synthesize
from trainer.train import add_arguments, run_training


def _conv_model(width: int = 24) -> InpFormer:
    torch.manual_seed(0)
    encoder = EncoderConfig.for_size("tiny", embed_dim=width, stem="conv", stem_channels=[8, 16, 24, 32])
    return InpFormer(InpFormerConfig.for_size("tiny", encoder=encoder)).eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    # Smooth random blobs rather than white noise: the statistics the stem is fitted to must be an image's.
    rng = np.random.default_rng(2)
    low = rng.integers(0, 256, (12, 8, 8, 3)).astype(np.float32)
    up = torch.nn.functional.interpolate(torch.from_numpy(low).permute(0, 3, 1, 2), size=(56, 56), mode="bilinear", align_corners=False)
    return up.permute(0, 2, 3, 1).clamp(0, 255).round().to(torch.uint8).numpy()


def test_whitened_components_compress_the_leading_variances() -> None:
    rng = np.random.default_rng(0)
    scales = torch.tensor([10.0, 3.0, 1.0, 0.3])
    samples = torch.from_numpy(rng.standard_normal((20_000, 4))).float() * scales + 5.0
    weight, bias, eigvals, total = whitened_components(samples, 3, whiten=1.0)
    assert torch.allclose(eigvals, scales[:3] ** 2, rtol=0.05)
    assert abs(total - float((scales**2).sum())) < 0.05 * float((scales**2).sum()), "total variance: the covariance's trace"
    projected = samples @ weight.T + bias
    assert projected.mean(dim=0).abs().max() < 0.05, "centred"
    # w = 1: component k ends with variance λk / (λk + λ̄).
    var = projected.var(dim=0)
    expected = eigvals / (eigvals + eigvals.mean())
    assert torch.allclose(var, expected, rtol=0.05)
    assert var.max() / var.min() < (eigvals.max() / eigvals.min()) / 3, "the strong component dominates less"


def test_conv_stem_is_standardised_on_the_training_images(images: np.ndarray) -> None:
    model = _conv_model()
    record = prepare_encoder(model, images, "conv")
    assert record["method"] == "conv" and record["whiten"] == 1.0 and 0 < record["explained_variance"] <= 1
    assert model.encoder.config.weights == "ssl-conv"
    stem = model.encoder.patch_embed
    x = to_model_input(images)
    with torch.no_grad():
        for stage in stem.stages:
            y = stage[0](x)  # the conv before its ReLU
            assert y.mean(dim=(0, 2, 3)).abs().max() < 1e-3
            assert (y.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
            x = stage(x)
        tokens = stem(to_model_input(images))
    assert tokens.shape == (12, 16, 24), "4×4 tokens of width 24 from a 56 px crop"
    assert torch.isfinite(tokens).all() and tokens.mean(dim=(0, 1)).abs().max() < 1e-3


def test_ssl_methods_refuse_the_wrong_stem(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="ssl pca: needs an encoder with the patch stem"):
        prepare_encoder(_conv_model(), images, "pca")
    patch = InpFormer(InpFormerConfig.for_size("tiny"))
    with pytest.raises(ValueError, match="ssl conv: needs an encoder with the conv stem"):
        prepare_encoder(patch, images, "conv")
    with pytest.raises(ValueError, match="unknown encoder stem 'pixels'"):
        EncoderConfig.for_size("tiny", stem="pixels")


def test_conv_stem_exports_with_parity(images: np.ndarray, tmp_path: Path) -> None:
    model = _conv_model()
    prepare_encoder(model, images, "conv")
    with torch.no_grad():  # trained-looking decoder weights, not the near-zero init
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    cfg = RunConfig(model=model.config, geometry=Geometry(64, 64, 56, 56), recipe=RecipeConfig(64, 64), version="test")
    export_bundle(model, cfg, tmp_path / "b", calib_images=images[:4], calib_source="test", map_mode="full",
                  batch="dynamic", progress=False)
    got = ort_outputs(tmp_path / "b" / "model.onnx", images[4:7])
    ref = reference_outputs(model, cfg, images[4:7], "full")
    assert np.abs(got["anomaly_map"] - ref["anomaly_map"]).max() <= 1e-4
    assert np.abs(got["score"] - ref["score"]).max() <= 1e-4
    manifest = json.loads((tmp_path / "b" / "model.json").read_text())
    assert manifest["training"]["model"]["encoderStem"] == "conv"


def test_train_cli_ssl_conv_learns_and_reloads(tmp_path: Path) -> None:
    data = tmp_path / "set"
    synthesize(data, 3, "surface", SynthOptions(size_px=128, n_train=20, n_test_good=8, n_per_defect=2))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "run"
    run_training(parser.parse_args([
        "--data", str(data), "--out", str(out), "--encoder", "small", "--embed-dim", "48", "--heads", "4",
        "--ssl", "conv", "--resize", "128", "--crop", "112", "--iterations", "100", "--warmup", "10", "--batch", "8",
        "--threads", "1",
    ]))
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["encoder"]["method"] == "conv"
    assert config["model"]["encoder"]["stem"] == "conv"
    assert load_run(out).model.encoder.config.stem == "conv", "the RUN rebuilds the conv stem"
    assert config["training"]["loss_last"] < 0.7 * config["training"]["loss_first"]
    (result,) = evaluate_run(out, str(data), threads=1)
    # 112 px gives the stem an 8×8 grid: coarse, but a model that learned nothing sits at 0.5.
    assert result.metrics["P-AUROC"] > 0.65, "defect pixels stand out after 100 steps"


def test_train_refuses_ssl_conv_with_pretrained_weights(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    data = tmp_path / "set"
    synthesize(data, 3, "surface", SynthOptions(size_px=64, n_train=4, n_test_good=1, n_per_defect=1))
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    args = parser.parse_args(["--data", str(data), "--out", str(tmp_path / "run"), "--ssl", "conv", "--encoder-weights", str(weights)])
    with pytest.raises(ValueError, match="--ssl conv .* --encoder-weights none only"):
        run_training(args)
    assert not (tmp_path / "run").exists()
