"""The committed tiny-inp-long and tiny-inp-tiles bundles: their goldens and their whole-frame references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer.bundle import decode_array, read_manifest
from trainer.export import ort_outputs
from trainer.fixtures_geometry import BUNDLES, reference_frames
from trainer.preprocess import to_uint8_frame
from trainer.tiling import cut_tiles, merge_frames

ROOT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "models"


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_goldens_and_whole_frames_are_reproduced_by_onnx_runtime(name: str) -> None:
    d = ROOT / name
    m = read_manifest(d)
    geometry, recipe, hw = BUNDLES[name]
    assert m["geometry"] == geometry.manifest() | {"resize": m["geometry"]["resize"]}
    assert (m["outputs"]["anomalyMap"]["height"], m["outputs"]["anomalyMap"]["width"]) == (recipe.eval_height, recipe.eval_width)
    golden = json.loads((d / "golden.json").read_text())
    for case in golden["cases"]:
        got = ort_outputs(d / "model.onnx", decode_array(case["inputs"]["image"]))
        for k, v in case["outputs"].items():
            assert np.abs(got[k] - decode_array(v)).max() <= golden["tolerance"], (name, case["name"], k)
    threshold = m["calibration"]["image"]["threshold"]
    for frame in reference_frames(d):
        image = np.asarray(Image.open(d / frame["sample"]).convert("RGB"))
        assert image.shape[:2] == hw == (frame["height"], frame["width"])
        resized = to_uint8_frame(Image.fromarray(image), geometry)
        inputs = cut_tiles(resized, geometry) if geometry.is_tiled else resized[None]
        out = ort_outputs(d / "model.onnx", inputs)
        maps, scores = merge_frames(torch.from_numpy(out["anomaly_map"]), torch.from_numpy(out["score"]), geometry)
        assert np.abs(maps[0, 0].numpy() - decode_array(frame["map"])).max() <= 1e-4
        assert abs(float(scores[0]) - frame["score"]) <= 1e-4
        # The runtime's tests rely on these: a good frame below the threshold, the defect frame above.
        assert (frame["score"] > threshold) == bool(frame["defects"]), (name, frame["sample"])
