"""evaluate: the metrics equal sklearn's and an independent skimage AUPRO; the committed demo works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import measure
from sklearn import metrics as skm

from trainer.evaluate import CategoryResult, aupro, auroc, average_precision, f1_max, format_table, results_json


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    # Rounded: plenty of ties, which is where hand-written ranking metrics usually go wrong.
    scores = np.round(rng.normal(size=n) + 0.8 * labels, 1)
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_metrics_equal_sklearn(seed: int) -> None:
    labels, scores = _scores(4000, seed)
    assert auroc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-6)
    assert average_precision(labels, scores) == pytest.approx(skm.average_precision_score(labels, scores), abs=1e-6)
    precision, recall, _ = skm.precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    assert f1_max(labels, scores) == pytest.approx(np.max(f1[np.isfinite(f1)]), abs=1e-6)


def test_perfect_and_reversed_scores() -> None:
    labels = np.array([0, 0, 1, 1])
    assert auroc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auroc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert f1_max(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match="both positive and negative"):
        auroc(np.zeros(5), np.arange(5.0))


def _reference_aupro(masks: np.ndarray, maps: np.ndarray, max_fpr: float = 0.3, steps: int = 200) -> float:
    """The authors' loop, written independently: skimage regions, one threshold at a time."""
    lo, hi = maps.min(), maps.max()
    pros, fprs = [], []
    inverse = ~masks
    for th in np.arange(lo, hi, (hi - lo) / steps):
        binary = maps > th
        overlaps = []
        for b, m in zip(binary, masks):
            for region in measure.regionprops(measure.label(m, connectivity=2)):
                overlaps.append(b[region.coords[:, 0], region.coords[:, 1]].sum() / region.area)
        pros.append(np.mean(overlaps))
        fprs.append(np.logical_and(inverse, binary).sum() / inverse.sum())
    pros, fprs = np.array(pros), np.array(fprs)
    keep = fprs < max_fpr
    fprs = fprs[keep]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return float(skm.auc(fprs, pros[keep]))


def test_aupro_matches_a_skimage_reference() -> None:
    rng = np.random.default_rng(3)
    masks = np.zeros((4, 48, 48), dtype=bool)
    masks[0, 5:12, 5:20] = True
    masks[0, 30:33, 30:45] = True  # a second region in the same image
    masks[1, 20:28, 20:28] = True
    masks[2, 10, 10:30] = True
    masks[2, 11, 30] = True  # touches diagonally: one 8-connected region
    maps = rng.random(masks.shape) * 0.7 + masks * rng.random(masks.shape) * 0.6
    ours = aupro(masks, maps)
    assert ours == pytest.approx(_reference_aupro(masks, maps), abs=1e-3)
    assert 0.3 < ours < 1.0


def test_aupro_weights_small_regions_like_large_ones() -> None:
    rng = np.random.default_rng(4)
    masks = np.zeros((1, 40, 40), dtype=bool)
    masks[0, 2:30, 2:30] = True  # large, found at every threshold
    masks[0, 35, 35] = True  # one pixel, never found
    maps = rng.random((1, 40, 40)) * 0.5
    maps[masks] = 1.0
    maps[0, 35, 35] = 0.0
    # Pixel-wise the large region dominates; region-wise the missed pixel weighs as much: PRO = 0.5.
    assert auroc(masks, maps) > 0.99
    assert aupro(masks, maps) == pytest.approx(0.5, abs=1e-6)


def test_table_and_json_report_every_metric() -> None:
    metrics = {k: 0.5 for k in ("I-AUROC", "I-AP", "I-F1max", "P-AUROC", "P-AP", "P-F1max", "AUPRO")}
    results = [CategoryResult("a", metrics, 3, 2), CategoryResult("b", {k: 1.0 for k in metrics}, 3, 2)]
    table = format_table(results)
    assert "mean" in table and "75.00" in table
    assert results_json(results)["mean"]["AUPRO"] == 0.75


DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def test_committed_demo_bundle_separates_its_sample_frames() -> None:
    """The demo as a user meets it: ONNX Runtime on models/demo/samples at the bundle's threshold."""
    import onnxruntime as ort

    from trainer.preprocess import Geometry, load_image

    manifest = json.loads((DEMO / "model.json").read_text())
    assert manifest["metrics"]["mean"]["I-AUROC"] >= 0.98 and manifest["metrics"]["mean"]["P-AUROC"] >= 0.97
    g = manifest["geometry"]
    geometry = Geometry(g["resize"]["height"], g["resize"]["width"], g["crop"]["height"], g["crop"]["width"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(DEMO / "model.onnx"), options, providers=["CPUExecutionProvider"])
    frames = sorted((DEMO / "samples").glob("*.png"))
    images = np.stack([load_image(f, geometry) for f in frames])
    (scores,) = session.run(["score"], {"image": images})
    threshold = manifest["calibration"]["image"]["threshold"]
    good = np.array([f.name.startswith("good_") for f in frames])
    assert good.sum() == 12 and (~good).sum() == 15
    assert (scores[good] < threshold).all(), "a good sample frame would be rejected"
    assert (scores[~good] > threshold).mean() >= 0.9, "most defective sample frames must be rejected"
    assert auroc(~good, scores) > 0.98
