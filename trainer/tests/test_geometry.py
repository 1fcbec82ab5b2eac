"""Real parts as they come: any size and mode, any aspect, the whole field of view by default."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer import registry
from trainer.cli import main as cli_main
from trainer.evaluate import evaluate_run
from trainer.preprocess import Geometry, parse_size
from trainer.synth import SynthOptions, synthesize
from trainer.tiling import merge_frames, merge_maps, tile_boxes, tile_starts
from trainer.train import aspect_advice, geometry_from_args

INP = registry.get("inp-former")


def test_sizes_parse_as_height_by_width() -> None:
    assert parse_size("392", "--resize") == (392, 392)
    assert parse_size("224x560", "--resize") == (224, 560)
    for bad in ("", "0", "224x", "ax3", "1x2x3", "-4"):
        with pytest.raises(ValueError, match="--crop .*expected N or HxW"):
            parse_size(bad, "--crop")


def test_new_models_see_the_whole_field_of_view_unless_asked() -> None:
    assert geometry_from_args(None, None, INP) == Geometry(392, 392, 392, 392), "the authors' input size, no crop"
    assert geometry_from_args("224x560", None, INP) == Geometry(224, 560, 224, 560)
    assert geometry_from_args("224x560", "none", INP).is_whole_view
    assert geometry_from_args("448", "392", INP) == Geometry(448, 448, 392, 392), "the authors' framing on request"
    assert geometry_from_args(None, "392", INP) == Geometry(448, 448, 392, 392)
    assert geometry_from_args("252x630", "224x560", INP).crop_box() == (35, 14, 595, 238)


def test_impossible_geometries_are_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"--resize: inp-former .*multiples of 14; 250x625 is not \(try 252x630\)"):
        geometry_from_args("250x625", None, INP)
    with pytest.raises(ValueError, match="crop 392x392 is larger than the resize 256x256"):
        geometry_from_args("256", "392", INP)


def test_a_squeezed_aspect_is_pointed_out_with_the_resize_that_keeps_it() -> None:
    long_part = [(1250, 500), (1263, 500), (1261, 500)]
    advice = aspect_advice(long_part, Geometry(392, 392, 392, 392), 14)
    assert advice is not None and "about 1261x500" in advice and "squeezes them 2.52x along x" in advice
    assert advice.endswith("--resize 252x630"), advice
    assert aspect_advice(long_part, Geometry(252, 630, 252, 630), 14) is None


def _mix_sizes_and_modes(folder: Path) -> None:
    """Re-save a synthetic set's images at a few sizes and in several PIL modes, as real sets come."""
    modes = ("RGB", "L", "RGBA", "P", "I;16")
    for i, path in enumerate(sorted(folder.rglob("*.png"))):
        if "ground_truth" in path.parts:
            continue
        image = Image.open(path).convert("RGB").resize((128 + 3 * (i % 4), 128 - 2 * (i % 3)))
        mode = modes[i % len(modes)]
        if mode == "I;16":
            Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257).save(path)
        else:
            image.convert(mode).save(path)
        mask = path.parents[2] / "ground_truth" / path.parent.name / f"{path.stem}_mask.png"
        if mask.is_file():
            Image.open(mask).resize(image.size, Image.Resampling.NEAREST).save(mask)


def test_a_dataset_of_mixed_sizes_and_modes_trains_and_evaluates(tmp_path: Path, train_tiny: Callable[..., Path]) -> None:
    data = tmp_path / "set"
    synthesize(data, 11, "surface", SynthOptions(size_px=128, n_train=12, n_test_good=3, n_per_defect=1))
    _mix_sizes_and_modes(data)
    sizes = {Image.open(p).size for p in data.rglob("*.png")}
    image_modes = {Image.open(p).mode for p in (data / "train" / "good").glob("*.png")}
    assert len(sizes) > 4 and len(image_modes) >= 4, (sizes, image_modes)
    out = train_tiny(data, tmp_path / "run", "--resize", "56x112", "--iterations", "10")
    config = json.loads((out / "config.json").read_text())
    assert config["geometry"] == {"resize_height": 56, "resize_width": 112, "crop_height": 56, "crop_width": 112}
    assert (config["recipe"]["eval_height"], config["recipe"]["eval_width"]) == (256, 512), "the map keeps the aspect"
    (result,) = evaluate_run(out, str(data), threads=1)
    assert result.n_defective == 5 and np.isfinite(list(result.metrics.values())).all()


# ---- tiles


def test_tiles_start_like_the_runtime_tiler_and_cover_the_frame() -> None:
    assert tile_starts(1000, 392, 64) == [0, 328, 608], "src/pipeline/tiler/tiles.ts tileStarts' example"
    assert tile_starts(224, 224, 28) == [0]
    g = geometry_from_args("224x560", None, INP, tile="224")
    assert g == Geometry(224, 560, 224, 224, tile_overlap=28) and g.is_whole_view
    assert tile_boxes(g) == [(0, 0, 224, 224), (196, 0, 420, 224), (336, 0, 560, 224)]
    assert g.manifest()["crop"] is None and g.manifest()["tiles"] == {"height": 224, "width": 224, "overlap": 28}
    assert Geometry.from_dict(g.to_dict()) == g and "tile_overlap" not in Geometry().to_dict()
    with pytest.raises(ValueError, match="--tile needs --resize HxW"):
        geometry_from_args(None, None, INP, tile="224")
    with pytest.raises(ValueError, match="--tile and --crop exclude each other"):
        geometry_from_args("224x560", "112", INP, tile="224")
    with pytest.raises(ValueError, match=r"--tile: inp-former .*200x200 is not \(try 196x196\)"):
        geometry_from_args("224x560", None, INP, tile="200")


def test_tile_maps_merge_by_maximum_into_the_frame() -> None:
    g = Geometry(4, 10, 4, 4, tile_overlap=1)  # tiles at x = 0, 3, 6
    maps = torch.stack([torch.full((1, 2, 2), v) for v in (1.0, 5.0, 2.0)])
    frame = merge_maps(maps, g)[0]
    assert frame.shape == (4, 10)
    assert frame[:, 0:3].eq(1).all() and frame[:, 3:7].eq(5).all() and frame[:, 7:].eq(2).all()
    merged, scores = merge_frames(torch.cat([maps, maps * 2]), torch.tensor([1.0, 3.0, 2.0, 0.5, 0.1, 0.2]), g)
    assert merged.shape == (2, 1, 4, 10) and scores.tolist() == [3.0, 0.5], "the highest tile score per image"


def test_a_tiled_model_trains_evaluates_and_exports_whole_images(tmp_path: Path, train_tiny: Callable[..., Path]) -> None:
    data = tmp_path / "long"
    synthesize(data, 6, "long", SynthOptions(size_px=64, n_train=10, n_test_good=3, n_per_defect=1))
    run = train_tiny(data, tmp_path / "run", "--resize", "56x140", "--tile", "56", "--tile-overlap", "14")
    config = json.loads((run / "config.json").read_text())
    assert config["geometry"]["tile_overlap"] == 14 and config["data"]["train_images"] == 9, "9 images, 27 tiles"
    (result,) = evaluate_run(run, str(data), threads=1)
    assert result.n_defective == 5 and np.isfinite(list(result.metrics.values())).all()
    assert cli_main(["export", "--run", str(run), "--out", str(tmp_path / "b"), "--threads", "1"]) == 0
    manifest = json.loads((tmp_path / "b" / "model.json").read_text())
    assert manifest["geometry"]["tiles"] == {"height": 56, "width": 56, "overlap": 14} and manifest["geometry"]["crop"] is None
    assert (manifest["input"]["height"], manifest["input"]["width"]) == (56, 56), "the graph takes one tile"
    good = manifest["calibration"]["goodImageScores"]
    assert good["n"] == 1, "calibrated on whole images (their tiles merged), not on tiles"
    lc = manifest["metrics"]["lineCheck"]
    assert (lc["good"], lc["defective"]) == (3, 5)
