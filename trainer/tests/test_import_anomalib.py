"""import-anomalib on a model made by real anomalib 2.x (test/fixtures/anomalib; anomalib is not needed here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from trainer import anomalib_graph as ag
from trainer.export import ort_outputs
from trainer.import_anomalib import import_anomalib

FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "anomalib"
ONNX = FIXTURE / "padim" / "model.onnx"
EXPECTED = json.loads((FIXTURE / "padim" / "expected.json").read_text())


def _image(rel: str) -> np.ndarray:
    """A fixture image as anomalib reads it: float32 [1, 3, H, W] in [0, 1]."""
    x = np.asarray(Image.open(FIXTURE / rel).convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("anomalib") / "bundle"
    return out, import_anomalib(ONNX, out)


def test_thresholds_and_normalisation_recovered_from_the_graph(bundle: tuple[Path, dict]) -> None:
    _, m = bundle
    pp = EXPECTED["post_processor"]
    cal = m["calibration"]
    # The graph holds float32 constants: recovered exactly, not approximately.
    assert cal["image"]["threshold"] == pytest.approx(pp["image_threshold"], abs=1e-6)
    assert cal["image"]["max"] - cal["image"]["min"] == pytest.approx(pp["image_max"] - pp["image_min"], rel=1e-6)
    assert cal["pixel"]["threshold"] == pytest.approx(pp["pixel_threshold"], abs=1e-6)
    assert cal["pixel"]["max"] - cal["pixel"]["min"] == pytest.approx(pp["pixel_max"] - pp["pixel_min"], rel=1e-6)
    assert m["architecture"] == "anomalib" and m["input"]["dtype"] == "float32" and m["input"]["layout"] == "NCHW"
    assert m["input"]["normalize"] is None, "anomalib's pre-processor (mean/std) is in the graph"
    assert m["metrics"]["importCheck"]["maxAbsDiffScore"] <= 1e-5


def test_scores_equal_anomalibs_own(bundle: tuple[Path, dict]) -> None:
    out, m = bundle
    onnx_model = onnx.load(str(out / "model.onnx"))
    assert [o.name for o in onnx_model.graph.output] == ["anomaly_map", "score"]
    assert not any(ag.module_of(n) == ag.POST for n in onnx_model.graph.node), "the post-processor is cut off"
    c = m["calibration"]["image"]
    labels = []
    for rel, want in EXPECTED["images"].items():
        got = ort_outputs(out / "model.onnx", {"input": _image(rel)})
        raw = float(got["score"][0])
        norm = float(np.clip((raw - c["threshold"]) / (c["max"] - c["min"]) + 0.5, 0, 1))
        assert raw == pytest.approx(want["raw_score"], abs=1e-5), rel
        assert norm == pytest.approx(want["pred_score"], abs=1e-6), rel
        assert (raw > c["threshold"]) == want["pred_label"], rel
        assert float(got["anomaly_map"].max()) == pytest.approx(want["raw_map_max"], abs=1e-5), rel
        labels.append(want["pred_label"])
    assert 0 < sum(labels) < len(labels), "both of anomalib's labels occur: the test is not vacuous"


def test_a_graph_without_post_processor_needs_metadata_or_calibration(tmp_path: Path) -> None:
    model = onnx.load(str(ONNX))
    bare = ag.cut(model, ag.split(model, ONNX), "anomaly_map", "pred_score")
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ValueError, match=r"bare\.onnx: no post_processor nodes.*--metadata.*--calib-data"):
        import_anomalib(tmp_path / "bare.onnx", tmp_path / "b0")
    pp = EXPECTED["post_processor"]
    (tmp_path / "metadata.json").write_text(json.dumps({"image_threshold": pp["image_threshold"]}))
    with pytest.raises(ValueError, match=r"metadata\.json: no number for pixel_threshold, image_min"):
        import_anomalib(tmp_path / "bare.onnx", tmp_path / "b1", metadata=tmp_path / "metadata.json")
    (tmp_path / "metadata.json").write_text(json.dumps(pp))
    m = import_anomalib(tmp_path / "bare.onnx", tmp_path / "b2", metadata=tmp_path / "metadata.json")
    want = {"threshold": pp["image_threshold"], "min": pp["image_min"], "max": pp["image_max"]}
    assert m["calibration"]["image"] == want
    assert m["calibration"]["pixel"]["threshold"] == pp["pixel_threshold"]
    with pytest.raises(ValueError, match="has its own post-processor; import it without --metadata"):
        import_anomalib(ONNX, tmp_path / "b3", metadata=tmp_path / "metadata.json")
    assert not (tmp_path / "b0").exists() and not (tmp_path / "b1").exists() and not (tmp_path / "b3").exists()


def test_calib_data_calibrates_by_linewatchs_rule(tmp_path: Path) -> None:
    good = FIXTURE / "surface" / "test" / "good"
    m = import_anomalib(ONNX, tmp_path / "b", calib_data=good)
    bundle_onnx = tmp_path / "b" / "model.onnx"
    raws = [float(ort_outputs(bundle_onnx, {"input": _image(str(p.relative_to(FIXTURE)))})["score"][0])
            for p in sorted(good.glob("*.png"))]
    assert m["calibration"]["image"]["threshold"] == pytest.approx(1.05 * np.quantile(raws, 0.995), rel=1e-6)
    assert m["calibration"]["method"].startswith("good-quantile-margin")
    assert m["training"]["anomalib"]["postProcessor"]["pred_score"]["threshold"] == pytest.approx(
        EXPECTED["post_processor"]["image_threshold"], abs=1e-6), "anomalib's own threshold kept for the record"


def test_not_an_anomalib_export_is_refused(tmp_path: Path) -> None:
    ours = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "models" / "tiny-inp" / "model.onnx"
    with pytest.raises(ValueError, match=r"model\.onnx: input 'image' is \['N', 56, 56, 3\], expected float32"):
        import_anomalib(ours, tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="nope.onnx: ONNX file not found"):
        import_anomalib(tmp_path / "nope.onnx", tmp_path / "b")
