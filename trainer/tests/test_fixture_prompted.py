"""The committed prompted bundle (test/fixtures/models/tiny-prompted) is sound and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from trainer.bundle import decode_array, read_manifest
from trainer.fixtures import GEOMETRY, SEED, _png, crop
from trainer.fixtures_prompted import NAME, PROMPT_NAME, generate

ROOT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "models" / NAME


def test_prompted_bundle_matches_its_golden_and_separates_the_labels() -> None:
    m = read_manifest(ROOT)  # schema mirror + sha256
    assert m["architecture"] == "onenip"
    assert m["prompt"] == {"name": PROMPT_NAME, "selection": "recipe"}
    g = json.loads((ROOT / "golden.json").read_text())
    sess = ort.InferenceSession(str(ROOT / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image", PROMPT_NAME]
    thr = m["calibration"]["image"]["threshold"]
    for case in g["cases"]:
        feeds = {k: decode_array(v) for k, v in case["inputs"].items()}
        amap, score = sess.run(["anomaly_map", "score"], feeds)
        assert np.abs(amap - decode_array(case["outputs"]["anomaly_map"])).max() <= g["tolerance"]
        assert np.abs(score - decode_array(case["outputs"]["score"])).max() <= g["tolerance"]
        labels = np.array(case["labels"])
        assert (score[labels == 1] > thr).all() and (score[labels == 0] < thr).all()
        # A frame against a copy of itself as prompt: nothing differs, the map is zero.
        same, _ = sess.run(["anomaly_map", "score"], {"image": feeds["image"], PROMPT_NAME: feeds["image"]})
        assert float(np.abs(same).max()) == 0.0


def test_regeneration_gives_the_same_bundle(tmp_path: Path) -> None:
    """Same inputs bit for bit, same outputs and thresholds to float rounding (torch versions differ in bits)."""
    generate(tmp_path / NAME, geometry=GEOMETRY, crop=crop, seed=SEED + 5, png=_png)
    a = json.loads((tmp_path / NAME / "golden.json").read_text())["cases"]
    b = json.loads((ROOT / "golden.json").read_text())["cases"]
    for ca, cb in zip(a, b, strict=True):
        for k in ("image", PROMPT_NAME):
            np.testing.assert_array_equal(decode_array(ca["inputs"][k]), decode_array(cb["inputs"][k]))
        for k in ("anomaly_map", "score"):
            assert np.abs(decode_array(ca["outputs"][k]) - decode_array(cb["outputs"][k])).max() <= 1e-6
    ma = json.loads((tmp_path / NAME / "model.json").read_text())["calibration"]
    mb = json.loads((ROOT / "model.json").read_text())["calibration"]
    for part in ("image", "pixel"):
        for k in ("threshold", "min", "max"):
            assert abs(ma[part][k] - mb[part][k]) <= 1e-6, (part, k)
