"""INP-Former++ and zero-shot bundles: ONNX Runtime = PyTorch (≤ 1e-4), manifests, the CLI end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer import export as export_cli
from trainer import train as train_cli
from trainer.bundle import decode_array, read_manifest
from trainer.data import discover
from trainer.evaluate import evaluate_run
from trainer.export import export_bundle, ort_outputs, reference_outputs
from trainer.models.inp_former import InpFormer, InpFormerConfig, RecipeConfig, coherence_distance, finish_map
from trainer.models.inp_former_pp import FusionRecipe, InpFormerPP, InpFormerPPConfig
from trainer.preprocess import Geometry, to_model_input
from trainer.run import RunConfig, load_run
from trainer.synth import SynthOptions, synthesize

TOL = 1e-4
GEOM = Geometry(64, 64, 56, 56)
STATS = {"cos": [0.3, 0.05], "l2": [0.2, 0.04], "head": [0.45, 0.1]}


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (6, 56, 56, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def pp() -> tuple[InpFormerPP, RunConfig]:
    torch.manual_seed(3)
    model = _perturbed(InpFormerPP(InpFormerPPConfig.from_inp_former(InpFormerConfig.for_size("tiny"))), 4)
    recipe = FusionRecipe(64, 64, stats=STATS)
    return model, RunConfig(model=model.config, geometry=GEOM, recipe=recipe, architecture="inp-former++",
                            version="test")


@pytest.fixture(scope="module")
def pp_bundle(tmp_path_factory, pp, images) -> Path:
    model, cfg = pp
    out = tmp_path_factory.mktemp("pp") / "bundle"
    export_bundle(model, cfg, out, calib_images=images[:4], calib_source="test", progress=False)
    return out


@pytest.mark.parametrize("n", [1, 2])
def test_pp_parity_fused_map_score_and_recon_map(pp_bundle, pp, images, n) -> None:
    model, cfg = pp
    x = images[4 : 4 + n]
    got = ort_outputs(pp_bundle / "model.onnx", x)
    ref = reference_outputs(model, cfg, x, "full")
    assert set(got) == {"anomaly_map", "score", "recon_map"}
    assert got["anomaly_map"].shape == (n, 1, 64, 64) and got["score"].shape == (n,)
    assert got["recon_map"].shape == (n, 1, 64, 64)
    for name in ("anomaly_map", "score", "recon_map"):
        assert np.abs(got[name] - ref[name]).max() <= TOL, name
    # The head matters: the fused map is not the reconstruction map alone.
    assert np.abs(got["anomaly_map"] - got["recon_map"]).max() > 0.05


def test_pp_manifest_declares_the_extra_output_and_the_statistics(pp_bundle) -> None:
    m = read_manifest(pp_bundle)
    assert m["architecture"] == "inp-former++"
    assert m["outputs"]["extra"] == ["recon_map"]
    assert m["outputs"]["score"] == {"name": "score", "rule": {"op": "topk-mean", "fraction": 0.01}}
    assert m["training"]["recipe"]["stats"] == STATS
    assert m["training"]["model"]["fusion"]["stats"] == STATS
    assert m["training"]["model"]["headChannels"] == [8, 4]
    assert m["metrics"]["exportParity"]["maxAbsDiffExtra"]["recon_map"] <= TOL
    g = json.loads((pp_bundle / "golden.json").read_text())
    for case in g["cases"]:
        got = ort_outputs(pp_bundle / "model.onnx", decode_array(case["inputs"]["image"]))
        for k, v in case["outputs"].items():
            assert np.abs(got[k] - decode_array(v)).max() <= TOL


def test_pp_refuses_raw_and_an_unmeasured_recipe(tmp_path, pp, images) -> None:
    model, cfg = pp
    with pytest.raises(ValueError, match=r"inp-former\+\+ has no map mode 'raw' \(it has full, zero-shot\)"):
        export_bundle(model, cfg, tmp_path / "raw", calib_images=images[:2], calib_source="t", map_mode="raw",
                      progress=False)
    bare = RunConfig(model=cfg.model, geometry=GEOM, recipe=FusionRecipe(64, 64), architecture="inp-former++")
    with pytest.raises(ValueError, match="no statistics for 'head'"):
        export_bundle(model, bare, tmp_path / "bare", calib_images=images[:2], calib_source="t", progress=False)
    assert not (tmp_path / "raw").exists() and not (tmp_path / "bare").exists()


@pytest.mark.parametrize("family", ["inp-former", "inp-former++"])
def test_zero_shot_bundle_is_the_token_to_nearest_prototype_distance(tmp_path, pp, images, family) -> None:
    if family == "inp-former":
        torch.manual_seed(3)
        model = _perturbed(InpFormer(InpFormerConfig.for_size("tiny")), 4)
        cfg = RunConfig(model=model.config, geometry=GEOM, recipe=RecipeConfig(64, 64), version="test")
    else:
        model, cfg = pp
    out = tmp_path / "zs"
    m = export_bundle(model, cfg, out, calib_images=images[:4], calib_source="t", map_mode="zero-shot",
                      progress=False)
    assert m["architecture"] == family and m["training"]["mapMode"] == "zero-shot"
    assert m["outputs"]["extra"] == [] and m["outputs"]["anomalyMap"]["runtimeSteps"] == []
    x = images[4:6]
    got = ort_outputs(out / "model.onnx", x)
    assert set(got) == {"anomaly_map", "score"}
    # Independently: the kept layers' mean tokens, the image's own INPs, min over them of 1 − cos.
    with torch.no_grad():
        layers = model.encode(to_model_input(x), model.encoder.pos_embed_for(56, 56))
        tokens = torch.stack(layers, 1).mean(1)
        d = coherence_distance(tokens, model.extract_prototypes(tokens)).reshape(2, 1, 4, 4)
        expected = finish_map(d, (56, 56), cfg.recipe)
    assert np.abs(got["anomaly_map"] - expected.numpy()).max() <= TOL
    assert np.abs(got["anomaly_map"] - reference_outputs(model, cfg, x, "full")["anomaly_map"]).max() > 1e-3


# ---- the commands end to end


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "set"
    synthesize(root, 5, "surface", SynthOptions(size_px=96, n_train=16, n_test_good=4, n_per_defect=1))
    return root


def _parse(add, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    if add is train_cli.add_arguments:
        add(parser, argv)
    else:
        add(parser)
    return parser.parse_args(argv)


# "after" also trains a non-square input without a crop: its map keeps the aspect, as INP-Former's.
@pytest.mark.parametrize(("schedule", "geometry"), [("joint", ("64", "56")), ("after", ("56x112", "none"))])
def test_train_eval_export_semi_supervised(tiny_data: Path, tmp_path: Path, schedule: str,
                                           geometry: tuple[str, str]) -> None:
    defects = tmp_path / "defects"
    defects.mkdir()
    for item in [t for t in discover(str(tiny_data))[0].test if t.label][:2]:
        Image.open(item.image).save(defects / f"{item.defect}.png")
        Image.open(item.mask).save(defects / f"{item.defect}_mask.png")
    out = tmp_path / "run"
    argv = ["--arch", "inp-former++", "--data", str(tiny_data), "--out", str(out), "--encoder", "tiny",
            "--resize", geometry[0], "--crop", geometry[1], "--iterations", "6", "--warmup", "2", "--batch", "4",
            "--threads", "1", "--anomaly-pool", "6", "--head-schedule", schedule, "--head-iterations", "4",
            "--defect-images", str(defects)]
    train_cli.run_training(_parse(train_cli.add_arguments, argv))
    run = load_run(out)
    assert run.config.architecture == "inp-former++"
    record = run.config.training
    assert record["anomalies"]["pool"] == 6 and record["anomalies"]["defectImages"]["count"] == 2
    assert record["plusplus"]["head_schedule"] == schedule and record["plusplus"]["coherence"] == "soft"
    assert set(run.config.recipe.stats) == {"cos", "l2", "head"}
    assert all(s[1] > 0 for s in run.config.recipe.stats.values())
    eval_hw = (run.config.recipe.eval_height, run.config.recipe.eval_width)
    assert eval_hw == ((256, 256) if geometry[1] == "56" else (256, 512))
    (result,) = evaluate_run(out, str(tiny_data), threads=1)
    assert np.isfinite(list(result.metrics.values())).all()
    bundle = tmp_path / "bundle"
    assert export_cli.main(_parse(export_cli.add_arguments, ["--run", str(out), "--out", str(bundle)])) == 0
    manifest = read_manifest(bundle)
    assert manifest["outputs"]["extra"] == ["recon_map"]
    assert manifest["metrics"]["exportParity"]["maxAbsDiffExtra"]["recon_map"] <= 1e-4


def test_export_zero_shot_needs_good_images_of_the_new_product(tiny_data: Path, tmp_path: Path, pp) -> None:
    from trainer.run import create_run

    model, cfg = pp
    run = create_run(tmp_path / "run", cfg, model.state_dict())
    args = _parse(export_cli.add_arguments, ["--run", str(run), "--out", str(tmp_path / "zs"), "--zero-shot"])
    with pytest.raises(ValueError, match="--zero-shot: .*pass --calib-data DIR"):
        export_cli.main(args)
    args = _parse(export_cli.add_arguments, ["--run", str(run), "--out", str(tmp_path / "zs"), "--zero-shot",
                                             "--calib-data", str(tiny_data / "train" / "good")])
    assert export_cli.main(args) == 0
    assert read_manifest(tmp_path / "zs")["training"]["mapMode"] == "zero-shot"
    bad = _parse(export_cli.add_arguments, ["--run", str(run), "--out", str(tmp_path / "x"), "--zero-shot",
                                            "--map", "raw"])
    with pytest.raises(ValueError, match="contradict"):
        export_cli.main(bad)


def test_pp_int8_quantizes_encoder_decoder_and_head_and_keeps_the_recon_map(tmp_path, pp) -> None:
    """``export --int8`` on an INP-Former++: the network (encoder, decoder, residual head) in int8,
    the fusion recipe float, the recon map still an extra output, golden.json = the int8 graph."""
    from trainer.quantize import Int8Options, ort_runner

    model, cfg = pp
    calib = np.random.default_rng(11).integers(0, 256, (12, 56, 56, 3), dtype=np.uint8)
    out = tmp_path / "b8"
    export_bundle(model, cfg, out, calib_images=calib, calib_source="test", progress=False,
                  int8=Int8Options(margin_pt=100.0))
    import onnx

    nodes = onnx.load(str(out / "model.onnx")).graph.node
    quantized_heads = [n.name for n in nodes if n.op_type == "DequantizeLinear" and "/head/" in n.name]
    assert quantized_heads, "the residual head's convolutions run in int8"
    m = read_manifest(out)
    assert m["outputs"]["extra"] == ["recon_map"]
    assert m["metrics"]["exportParity"]["int8"]["check"]["passed"] is True
    run8 = ort_runner(1)
    for case in json.loads((out / "golden.json").read_text())["cases"]:
        got = run8(out / "model.onnx", {"image": decode_array(case["inputs"]["image"])})
        for name in ("score", "recon_map"):
            assert np.abs(got[name] - decode_array(case["outputs"][name])).max() <= 1e-6, name
