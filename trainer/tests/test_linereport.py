"""What eval and export tell a line: defects outside the view, escapes and false rejects at the threshold."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer import coverage, linecheck
from trainer.cli import main as cli_main
from trainer.preprocess import Geometry
from trainer.synth import SynthOptions, synthesize


def _mask(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> Path:
    m = np.zeros((size[1], size[0]), dtype=np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    Image.fromarray(m).save(path)
    return path


def test_defects_outside_the_crop_are_counted_fully_and_partly(tmp_path: Path) -> None:
    authors = Geometry(448, 448, 392, 392)  # keeps 28..420 of 448: 56..840 of a 896 px frame
    masks = [
        ("edge", _mask(tmp_path / "a.png", (896, 896), (0, 400, 40, 440))),  # entirely in the dropped band
        ("straddle", _mask(tmp_path / "b.png", (896, 896), (36, 400, 76, 440))),  # half out
        ("centre", _mask(tmp_path / "c.png", (896, 896), (400, 400, 440, 440))),
        ("empty", _mask(tmp_path / "d.png", (896, 896), (0, 0, 0, 0))),
    ]
    cov = coverage.measure(masks, authors)
    assert (cov.defective, cov.fully_outside, cov.partly_outside) == (3, ["edge"], ["straddle"])
    assert cov.lost == [1.0, pytest.approx(0.5)]
    lines = coverage.report(cov, authors)
    assert lines[0].startswith("WARNING: the model sees 392x392 crop of 448x448; of 3 defective images, 1 have their "
                               "defect entirely outside that view and 1 partly (on average 75.0 %")
    assert "--crop none" in lines[0]
    whole = Geometry(392, 392, 392, 392)
    assert coverage.report(coverage.measure(masks, whole), whole) == [
        "view: all 3 defects lie inside what the model sees (392x392 (whole view))"]
    tiled = Geometry(448, 896, 224, 224, tile_overlap=28)
    assert not coverage.measure(masks, tiled).lost, "tiles see the whole frame"


def test_view_follows_a_non_square_resize_and_crop() -> None:
    g = Geometry(252, 630, 224, 560)  # crop box (35, 14, 595, 238) of the resized frame
    seen = coverage.view_mask(500, 1250, g)
    cols = np.flatnonzero(seen.any(axis=0))
    rows = np.flatnonzero(seen.any(axis=1))
    # 35 / 630 · 1250 = 69.4 and 595 / 630 · 1250 = 1180.6; 14 / 252 · 500 = 27.8, 238 / 252 · 500 = 472.2
    assert (cols[0], cols[-1], rows[0], rows[-1]) == (69, 1180, 28, 471), "pixel centres inside the crop"


def test_line_check_counts_and_warns_when_escapes_are_high() -> None:
    ok = linecheck.check([0.1, 0.2, 0.3, 0.9], [1.0, 2.0, 3.0, 0.5], 0.8, "1.05 x p99.5 of 4 held-out good images")
    assert (ok.escapes, ok.defective, ok.false_rejects, ok.good) == (1, 4, 1, 4)
    lines = linecheck.report(ok)
    assert lines[0] == ("at the image threshold 0.8 (1.05 x p99.5 of 4 held-out good images): 1 of 4 defective parts "
                        "pass (escapes 25.0 %), 1 of 4 good parts are rejected (false rejects 25.0 %)")
    assert lines[1].startswith("WARNING: 1 of 4 defective parts (25.0 %) would pass this threshold.")
    assert "linewatch calibrate --model BUNDLE --good GOOD_DIR --defective DEFECT_DIR --target-escape-rate 0.01" in lines[1]
    fine = linecheck.check([0.1] * 20, [1.0] * 20, 0.5, "r")
    assert len(linecheck.report(fine)) == 1, "no warning when no defective part passes"
    assert linecheck.check([0.1], [0.2] * 100, 0.15, "r").escape_rate == 0.0


def test_eval_reports_defects_outside_the_crop_and_the_line_check(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 train_tiny: Callable[..., Path]) -> None:
    data = tmp_path / "long"
    # Chips come out of the ends of the long part: under the authors' kind of centre crop they are not seen.
    synthesize(data, 4, "long", SynthOptions(size_px=64, n_train=10, n_test_good=3, n_per_defect=2))
    run = train_tiny(data, tmp_path / "run", "--resize", "56x154", "--crop", "42x126")
    capsys.readouterr()
    assert cli_main(["eval", "--run", str(run), "--data", str(data), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    seen = re.search(r"WARNING: the model sees 42x126 crop of 56x154; of 10 defective images, (\d+) have their defect "
                     r"entirely outside that view", out)
    assert seen and int(seen[1]) >= 2, out
    assert "missing/000.png" in out.split("WARNING: the model sees")[1], "the examples name a chipped end"
    assert "at the image threshold" in out and "(what export calibrates: 1.05 x p99.5 of 1 held-out good images)" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["view"]["fullyOutside"] == int(seen[1]) and metrics["lineCheck"]["defective"] == 10
