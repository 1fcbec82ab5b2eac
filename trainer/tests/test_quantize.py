"""``export --int8``: a real tiny model quantized, checked against fp32, refused past its margin."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from trainer.bundle import decode_array
from trainer.cli import main as cli_main
from trainer.quantize import Int8Options, check, ort_runner, reversed_pairs
from trainer.synth import SynthOptions, synthesize


def test_check_counts_reversed_pairs_and_refuses_past_the_margin() -> None:
    labels = np.array([0, 0, 1, 1])
    fp32 = np.array([0.1, 0.2, 0.8, 0.9])  # every pair right: I-AUROC 1
    int8 = np.array([0.1, 0.85, 0.8, 0.9])  # the second good image above one anomaly: 3 of 4 pairs
    assert reversed_pairs(labels, fp32, int8) == 1
    r = check(labels, fp32, int8, Int8Options(margin_pt=0.5))
    assert (r.auroc_fp32, r.auroc_int8) == (1.0, 0.75) and not r.passed
    assert check(labels, fp32, int8, Int8Options(margin_pt=25.0)).passed


def test_int8_export_is_quantized_checked_calibrated_on_itself_and_refused_past_its_margin(
        tmp_path: Path, capsys: pytest.CaptureFixture, train_tiny: Callable[..., Path]) -> None:
    data = tmp_path / "surface"
    synthesize(data, 2, "surface", SynthOptions(size_px=64, n_train=16, n_test_good=4, n_per_defect=2))
    run = train_tiny(data, tmp_path / "run", "--resize", "64x64", "--crop", "56x56", "--iterations", "20")
    good = next(data.rglob("train/good"))
    out = tmp_path / "b8"
    export = ["export", "--run", str(run), "--out", str(out), "--eval-data", "none", "--threads", "1"]
    assert cli_main([*export, "--calib-data", str(good), "--int8", "--int8-margin", "100"]) == 0
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "LayerNormalization", "Softmax"} <= ops
    m = json.loads((out / "model.json").read_text())
    q = m["metrics"]["exportParity"]["int8"]
    assert m["training"]["int8"] is True and q["check"]["passed"] is True
    assert q["quantized"]["MatMul"] > 0 and q["keptFloat"]["network"]["LayerNormalization"] > 0
    assert q["check"]["pairs"] == 8 * 32  # half of 16 images held out, four anomalies drawn on each
    # golden.json holds what the int8 graph computes (what the runtime must reproduce).
    gold = json.loads((out / "golden.json").read_text())
    run8 = ort_runner(1)
    for case in gold["cases"]:
        got = run8(out / "model.onnx", {"image": decode_array(case["inputs"]["image"])})
        assert np.abs(got["score"] - decode_array(case["outputs"]["score"])).max() <= 1e-6
    # The threshold comes from the int8 graph's own scores on the calibration images.
    scores = run8(out / "model.onnx", {"image": decode_array(gold["cases"][0]["inputs"]["image"])})["score"]
    assert m["calibration"]["image"]["min"] <= float(scores.min()) < m["calibration"]["image"]["threshold"]

    # A margin of -101 pt asks int8 to beat fp32 by more than the whole scale: refused, and the
    # int8 bundle written above stays as it was.
    before = (out / "model.onnx").read_bytes()
    capsys.readouterr()
    assert cli_main([*export, "--calib-data", str(good), "--int8", "--int8-margin", "-101"]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"{out}: int8 refused: it loses -?[0-9.]+ pt of I-AUROC against fp32 on the check set .*"
                     r"more than the -101 pt allowed \(--int8-margin\); nothing written", err), err
    assert (out / "model.onnx").read_bytes() == before
    assert not [p for p in tmp_path.rglob("*.onnx") if p.name != "model.onnx"], "no optimisation artefacts beside"
