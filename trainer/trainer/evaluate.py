"""The authors' metrics, and ``eval --run RUN --data DIR``.

Image level: I-AUROC, I-AP, I-F1max from the image scores. Pixel level over all test pixels
together: P-AUROC, P-AP, P-F1max, and AUPRO integrated to FPR 0.3 (min–max normalised FPR axis,
200 thresholds, each 8-connected defect region weighted by 1/area), as INP-Former/Dinomaly compute
them. Per category, then the mean. Ranking metrics are computed here with numpy (one sort) rather
than sklearn so that millions of pixels stay cheap; tests hold them to sklearn's values.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from .progress import progress

METRIC_NAMES = ("I-AUROC", "I-AP", "I-F1max", "P-AUROC", "P-AP", "P-F1max", "AUPRO")


# NumPy 2 renamed trapz to trapezoid (and 2.4 removed the old name); Debian's NumPy 1.24 has only trapz.
_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


def _ranked_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold, highest threshold first."""
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"metrics: {labels.size} labels but {scores.size} scores")
    if not np.all(np.isfinite(scores)):
        raise ValueError("metrics: scores contain NaN or infinity")
    order = np.argsort(scores, kind="mergesort")[::-1]
    sorted_scores = scores[order]
    sorted_labels = labels[order]
    # Last index of each run of equal scores: thresholds sit between distinct values.
    distinct = np.flatnonzero(np.diff(sorted_scores)) if sorted_scores.size > 1 else np.empty(0, int)
    ends = np.concatenate([distinct, [sorted_labels.size - 1]])
    tps = np.cumsum(sorted_labels, dtype=np.int64)[ends]
    fps = (ends + 1) - tps
    return tps, fps


def _check_both_classes(tps: np.ndarray, fps: np.ndarray, what: str) -> None:
    if tps[-1] == 0 or fps[-1] == 0:
        raise ValueError(f"metrics: {what} needs both positive and negative samples")


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids between distinct thresholds; ties count half)."""
    tps, fps = _ranked_counts(labels, scores)
    _check_both_classes(tps, fps, "AUROC")
    tpr = np.concatenate([[0.0], tps / tps[-1]])
    fpr = np.concatenate([[0.0], fps / fps[-1]])
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _precision_recall(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tps, fps = _ranked_counts(labels, scores)
    _check_both_classes(tps, fps, "precision/recall")
    return tps / (tps + fps), tps / tps[-1]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Step-wise AP: Σ (R_n − R_{n−1}) P_n, as sklearn's average_precision_score."""
    precision, recall = _precision_recall(labels, scores)
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """Best F1 over all thresholds (the authors' F1-max)."""
    precision, recall = _precision_recall(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return float(np.max(f1[np.isfinite(f1)]))


_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def aupro(masks: np.ndarray, maps: np.ndarray, max_fpr: float = 0.3, steps: int = 200) -> float:
    """Per-region overlap integrated to ``max_fpr`` (normalised), the authors' 200-step recipe.

    ``masks`` bool [N,H,W], ``maps`` float [N,H,W]. For each threshold the overlap of every
    8-connected ground-truth region is the fraction of its pixels above the threshold; PRO is the
    mean over regions. Computed for all thresholds at once: each pixel's threshold bin is found by
    one searchsorted, then per-region counts are reverse cumulative sums.
    """
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float64)
    if masks.shape != maps.shape or masks.ndim != 3:
        raise ValueError(f"aupro: masks {masks.shape} and maps {maps.shape} must both be [N,H,W]")
    regions = np.zeros(masks.shape, dtype=np.int64)
    n_regions = 0
    for i in range(masks.shape[0]):
        labelled, count = ndimage.label(masks[i], structure=_EIGHT_CONNECTED)
        regions[i] = np.where(labelled > 0, labelled + n_regions, 0)
        n_regions += count
    if n_regions == 0 or masks.all():
        raise ValueError("aupro: needs defect regions and defect-free pixels")
    lo, hi = float(maps.min()), float(maps.max())
    if hi <= lo:
        raise ValueError("aupro: the anomaly maps are constant")
    thresholds = np.arange(lo, hi, (hi - lo) / steps)
    # Pixel p is positive at threshold j iff value > thresholds[j] iff j < bins[p].
    bins = np.searchsorted(thresholds, maps.ravel(), side="left")
    n_th = thresholds.size
    flat_regions = regions.ravel()
    # Pixels above threshold j per region: counts of bins > j, via a reverse cumulative sum.
    joint = np.bincount(flat_regions * (n_th + 1) + bins, minlength=(n_regions + 1) * (n_th + 1))
    joint = joint.reshape(n_regions + 1, n_th + 1)
    above = np.cumsum(joint[:, ::-1], axis=1)[:, ::-1][:, 1:]  # [regions+1, n_th]: bins > j
    areas = joint.sum(axis=1)
    pro = (above[1:] / areas[1:, None]).mean(axis=0)
    fpr = above[0] / areas[0]
    keep = fpr < max_fpr
    if keep.sum() < 2 or np.ptp(fpr[keep]) == 0:
        raise ValueError("aupro: fewer than two distinct false-positive rates below the FPR limit")
    fpr, pro = fpr[keep], pro[keep]
    fpr = (fpr - fpr.min()) / (fpr.max() - fpr.min())
    # FPR falls as the threshold rises: reverse (not sort) so tied FPRs keep the curve's order.
    return float(_trapezoid(pro[::-1], fpr[::-1]))


@dataclass
class CategoryResult:
    name: str
    metrics: dict[str, float]
    n_good: int
    n_defective: int
    scores: np.ndarray | None = None
    """Image scores in test order (for the line check)."""
    labels: list[int] | None = None


def compute_metrics(labels: Sequence[int], scores: np.ndarray, masks: np.ndarray, maps: np.ndarray) -> dict[str, float]:
    """All seven metrics for one category (maps and masks at the same resolution)."""
    labels_arr = np.asarray(labels)
    return {
        "I-AUROC": auroc(labels_arr, scores),
        "I-AP": average_precision(labels_arr, scores),
        "I-F1max": f1_max(labels_arr, scores),
        "P-AUROC": auroc(masks, maps),
        "P-AP": average_precision(masks, maps),
        "P-F1max": f1_max(masks, maps),
        "AUPRO": aupro(masks, maps),
    }


def mean_metrics(results: Sequence[CategoryResult]) -> dict[str, float]:
    """The per-category mean (the authors average categories, not images)."""
    return {k: float(np.mean([r.metrics[k] for r in results])) for k in METRIC_NAMES}


def format_table(results: Sequence[CategoryResult]) -> str:
    """A plain-text table in percent, one row per category and the mean."""
    head = f"{'category':<16}" + "".join(f"{k:>9}" for k in METRIC_NAMES)
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r.name:<16}" + "".join(f"{100 * r.metrics[k]:9.2f}" for k in METRIC_NAMES))
    if len(results) > 1:
        mean = mean_metrics(results)
        rows.append(f"{'mean':<16}" + "".join(f"{100 * mean[k]:9.2f}" for k in METRIC_NAMES))
    return "\n".join(rows)


def results_json(results: Sequence[CategoryResult], extra: dict | None = None) -> dict:
    """What ``eval --json`` writes: per category and mean, as fractions in [0, 1]."""
    return {
        "categories": {
            r.name: {**r.metrics, "n_good": r.n_good, "n_defective": r.n_defective} for r in results
        },
        "mean": mean_metrics(results),
        **(extra or {}),
    }


# ---- command line


def score_images(paths: Sequence[Path], geometry: Any, score_batch: Any, batch: int = 8,
                 desc: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Maps ``[N, H, W]`` and scores ``[N]`` of image files by the reference recipe: ``batch``
    images at a time through ``score_batch`` (an architecture's scorer); a tiled geometry scores
    every tile and merges each image's maps and scores (tiling.py)."""
    import torch

    from .data import load_images
    from .tiling import merge_frames

    maps_list, scores_list = [], []
    starts = range(0, len(paths), batch)
    for start in progress(starts, desc or "", unit="batch", enabled=desc is not None):
        inputs = load_images(paths[start : start + batch], geometry)
        with torch.no_grad():
            amap, score = merge_frames(*score_batch(inputs), geometry)
        maps_list.append(amap[:, 0].numpy().astype(np.float32))
        scores_list.append(score.numpy().astype(np.float64))
    return np.concatenate(maps_list), np.concatenate(scores_list)


def evaluate_run(run_dir: str | Path, data: str, batch: int = 8, threads: int = 2) -> list[CategoryResult]:
    """Score every test image of every category under ``data`` with the RUN's model.

    Maps and scores come from the architecture's reference recipe (its ``scorer``, registry.py);
    masks are resized to the map with nearest neighbour.
    """
    import torch

    from . import registry
    from .data import discover, load_mask
    from .run import load_run

    torch.set_num_threads(max(1, threads))
    run = load_run(run_dir)
    arch = registry.get(run.config.architecture)
    geometry = run.config.geometry
    results = []
    for category in discover(data, need_test=True):
        items = category.test
        score_batch = arch.scorer(run.model, run.config, category)
        maps, scores = score_images([i.image for i in items], geometry, score_batch, batch, f"eval {category.name}")
        masks = np.stack([load_mask(item.mask, geometry, maps.shape[1:]) for item in items])
        labels = [item.label for item in items]
        results.append(CategoryResult(category.name, compute_metrics(labels, scores, masks, maps),
                                      n_good=labels.count(0), n_defective=labels.count(1), scores=scores,
                                      labels=labels))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python3 -m trainer eval``."""
    parser.add_argument("--run", required=True, help="RUN folder written by train or import-official")
    parser.add_argument("--data", required=True, help="dataset folder(s) with test/ and ground_truth/, comma-separated")
    parser.add_argument("--json", help="also write the results here (default: only RUN/metrics.json)")
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--no-save", action="store_true", help="do not write RUN/metrics.json")


def main(args: argparse.Namespace) -> int:
    """Entry point of ``bin/trainer eval``: the table, what the view leaves out, the line check; JSON."""
    from .run import save_metrics
    from .linereport import coverage_of, run_line_check

    results = evaluate_run(args.run, args.data, args.batch, args.threads)
    print(format_table(results))
    cov, cov_lines = coverage_of(args.run, args.data)
    check, check_lines = run_line_check(args.run, args.data, results, args.batch)
    for line in [*cov_lines, *check_lines]:
        print(line)
    payload = results_json(results, {"data": [str(Path(d).resolve()) for d in args.data.split(",") if d],
                                     "view": cov.to_dict(), **({"lineCheck": check.to_dict()} if check else {})})
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    if not args.no_save:
        save_metrics(args.run, payload)
    return 0
