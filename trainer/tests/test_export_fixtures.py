"""The committed tiny bundles (test/fixtures/models) are sound and agree with their goldens."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer import fixtures_pp
from trainer.bundle import decode_array, read_manifest
from trainer.export import ort_outputs
from trainer.fixtures import BUNDLES, GEOMETRY, crop, generate
from trainer.models.inp_former import finish_map, image_score

ROOT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "models"


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_fixture_bundle(name: str) -> None:
    d = ROOT / name
    m = read_manifest(d)  # schema mirror + sha256
    assert (d / "model.onnx").stat().st_size < 1_500_000
    assert sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) < 2_000_000
    spec = BUNDLES[name]
    assert m["input"]["batch"] == spec["batch"]
    assert (m["input"]["height"], m["input"]["width"]) == (56, 56)
    g = json.loads((d / "golden.json").read_text())
    thr = m["calibration"]["image"]["threshold"]
    for case in g["cases"]:
        x = decode_array(case["inputs"]["image"])
        got = ort_outputs(d / "model.onnx", x)
        for k, v in case["outputs"].items():
            assert np.abs(got[k] - decode_array(v)).max() <= g["tolerance"], (name, case["name"], k)
        ref_map = decode_array(case["reference"]["map"])
        ref_score = decode_array(case["reference"]["score"])
        if spec["map_mode"] == "raw":
            final = finish_map(torch.from_numpy(got["anomaly_map"]), (56, 56), _recipe(m))
            assert np.abs(final.numpy() - ref_map).max() <= 1e-4
            assert np.abs(image_score(final, 0.01).numpy() - ref_score).max() <= 1e-4
        else:
            np.testing.assert_array_equal(ref_map, decode_array(case["outputs"]["anomaly_map"]))
        labels = np.array(case["labels"])
        assert (ref_score[labels == 1] > thr).all() and (ref_score[labels == 0] < thr).all(), (name, case["name"])


def _recipe(m: dict):
    from trainer.models.inp_former import RecipeConfig

    return RecipeConfig(eval_height=64, eval_width=64, gaussian_sigma=4.0, gaussian_kernel=5,
                        topk_fraction=m["outputs"]["score"]["rule"]["fraction"])


def test_samples_are_the_golden_images_before_the_crop() -> None:
    d = ROOT / "tiny-inp"
    g = json.loads((d / "golden.json").read_text())
    cases = {c["name"]: decode_array(c["inputs"]["image"]) for c in g["cases"]}
    for sample, case in [("good-0", "good"), ("defect-0", "defect")]:
        img = np.asarray(Image.open(d / "samples" / f"{sample}.png").convert("RGB"))
        assert img.shape == (GEOMETRY.resize_height, GEOMETRY.resize_width, 3)
        np.testing.assert_array_equal(crop(img[None]), cases[case])


@pytest.mark.skipif(not os.environ.get("LW_REGEN_FIXTURES"), reason="set LW_REGEN_FIXTURES=1 (about a minute)")
def test_regeneration_is_deterministic(tmp_path) -> None:
    generate(tmp_path)
    for name in BUNDLES:
        a = json.loads((tmp_path / name / "model.json").read_text())
        b = json.loads((ROOT / name / "model.json").read_text())
        assert a["sha256"] == b["sha256"], name


@pytest.mark.parametrize("name", [fixtures_pp.ZERO_SHOT, fixtures_pp.PLUSPLUS])
def test_fixture_bundles_of_the_zero_shot_setting_and_inp_former_pp(name: str) -> None:
    d = ROOT / name
    m = read_manifest(d)
    assert sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) < 2_000_000
    g = json.loads((d / "golden.json").read_text())
    for case in g["cases"]:
        got = ort_outputs(d / "model.onnx", decode_array(case["inputs"]["image"]))
        assert set(got) == set(case["outputs"])
        for k, v in case["outputs"].items():
            assert np.abs(got[k] - decode_array(v)).max() <= g["tolerance"], (name, case["name"], k)
    if name == fixtures_pp.ZERO_SHOT:
        assert m["architecture"] == "inp-former" and m["training"]["mapMode"] == "zero-shot"
        assert "another product" in m["calibration"]["method"]
    else:
        assert m["architecture"] == "inp-former++" and m["outputs"]["extra"] == ["recon_map"]
        assert set(m["training"]["recipe"]["stats"]) == {"cos", "l2", "head"}
        thr = m["calibration"]["image"]["threshold"]
        for case in g["cases"]:
            score, labels = decode_array(case["reference"]["score"]), np.array(case["labels"])
            assert (score[labels == 1] > thr).all() and (score[labels == 0] < thr).all(), case["name"]
