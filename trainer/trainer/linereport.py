"""What ``eval`` tells a line engineer beyond the metrics: what the view leaves out, and what the
threshold export would calibrate does to escapes and false rejects (coverage.py, linecheck.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import calibrate as cal
from . import coverage, linecheck, registry
from .data import Category, discover
from .evaluate import CategoryResult, score_images
from .run import load_run


def coverage_of(run_dir: str | Path, data: str) -> tuple[coverage.Coverage, list[str]]:
    """How many defects of ``data``'s test sets lie outside the RUN's view, and the lines to print."""
    geometry = load_run(run_dir).config.geometry
    masks = [(str(item.image), item.mask) for c in discover(data, need_test=True) for item in c.test
             if item.mask is not None]
    cov = coverage.measure(masks, geometry)
    return cov, coverage.report(cov, geometry)


def _category_of(path: Path, categories: Sequence[Category]) -> Category:
    """The category whose folder holds ``path`` (the first one otherwise)."""
    for c in categories:
        if c.root.resolve() in path.resolve().parents:
            return c
    return categories[0]


def run_line_check(run_dir: str | Path, data: str, results: Sequence[CategoryResult],
                   batch: int = 8) -> tuple[linecheck.LineCheck | None, list[str]]:
    """Escapes and false rejects of ``results`` at the image threshold export would set from the
    RUN's held-out good images (1.05 × p99.5 of their scores); ``None`` when it records none."""
    run = load_run(run_dir)
    recorded = run.config.data.get("calibration") or []
    if not recorded:
        return None, ["line check: the RUN records no held-out good images; export --calib-data DIR sets the threshold"]
    paths = cal.resolve_images(recorded, Path(run_dir))
    categories = discover(data, need_test=True)
    arch = registry.get(run.config.architecture)
    scores = []
    for category in categories:
        mine = [p for p in paths if _category_of(p, categories) is category]
        if mine:
            scorer = arch.scorer(run.model, run.config, category)
            scores.append(score_images(mine, run.config.geometry, scorer, batch, "score held-out good images")[1])
    threshold, rule = cal.image_threshold(np.concatenate(scores))
    good = np.concatenate([r.scores[np.asarray(r.labels) == 0] for r in results if r.scores is not None])
    bad = np.concatenate([r.scores[np.asarray(r.labels) == 1] for r in results if r.scores is not None])
    check = linecheck.check(good, bad, threshold, f"what export calibrates: {rule}")
    return check, linecheck.report(check)
