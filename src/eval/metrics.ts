/**
 * Detection metrics as pure functions, with scikit-learn's exact tie handling.
 *
 * Every curve here is a function of one sufficient statistic: the scores grouped by distinct value,
 * highest first, with how many positives and negatives sit at each value (`RankedCounts`). Exact
 * evaluation builds it by sorting; the streaming pixel accumulator (pixel-accumulator.ts) builds it
 * from a histogram. Both then share the same curve code, so they differ only where the histogram
 * merged distinct values into one bin.
 *
 * Semantics (checked against scikit-learn 1.2 in test/eval/metrics.test.ts):
 * - prediction at threshold t is `score >= t`; tied scores move together;
 * - ROC AUC is the trapezoid under (FPR, TPR) from (0, 0): a tie between a positive and a negative
 *   counts one half, as in `roc_auc_score`;
 * - AP is the step integral Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds, as `average_precision_score`;
 * - F1-max is the best F1 over the thresholds of `precision_recall_curve`;
 * - AUPRO (Bergmann et al.): PRO = mean over every ground-truth region (8-connected) of the
 *   fraction of its pixels predicted anomalous, i.e. each anomalous pixel weighted 1/(R·area of its
 *   region); integrated over the FPR of normal pixels from 0 to `maxFpr` (0.3), divided by `maxFpr`.
 */
import { LinewatchError } from '../errors.js';

/** Scores grouped by distinct threshold, highest first. */
export interface RankedCounts {
  /** Distinct thresholds, strictly decreasing. */
  readonly thresholds: Float64Array;
  /** Positives whose score equals thresholds[k] (or falls in its bin). */
  readonly pos: Float64Array;
  /** Negatives at thresholds[k]. */
  readonly neg: Float64Array;
  /** Σ 1/area of the ground-truth region of each positive at thresholds[k]; only for AUPRO. */
  readonly proWeight: Float64Array | null;
  /** Number of ground-truth regions the proWeights refer to (0 without proWeight). */
  readonly regions: number;
}

/** The labels/scores of a binary problem: labels 1 = defective (positive), 0 = good. */
export interface BinarySamples {
  readonly labels: ArrayLike<number>;
  readonly scores: ArrayLike<number>;
}

/**
 * Groups scores by distinct value, highest first.
 * @param proWeights optional per-sample weight for AUPRO (1/area of the sample's region; 0 for negatives)
 * @example rankScores({ labels: [0, 1, 1], scores: [0.1, 0.9, 0.9] }).pos // Float64Array [2, 0]
 */
export function rankScores(samples: BinarySamples, proWeights?: ArrayLike<number>, regions = 0): RankedCounts {
  const { labels, scores } = samples;
  const n = scores.length;
  if (labels.length !== n) {
    throw new LinewatchError('LW_ERR_EVAL_INPUT', `metrics: ${labels.length} labels for ${n} scores`);
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const s = scores[i] as number;
    if (Number.isNaN(s)) throw new LinewatchError('LW_ERR_EVAL_INPUT', `metrics: score ${i} is NaN`);
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new LinewatchError('LW_ERR_EVAL_INPUT', `metrics: label ${i} is ${l}, not 0 or 1`);
    order[i] = i;
  }
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number));
  const thresholds = new Float64Array(n);
  const pos = new Float64Array(n);
  const neg = new Float64Array(n);
  const pro = proWeights ? new Float64Array(n) : null;
  let k = -1;
  let last = Number.NaN;
  for (let j = 0; j < n; j++) {
    const i = order[j] as number;
    const s = scores[i] as number;
    if (s !== last) {
      k++;
      thresholds[k] = s;
      last = s;
    }
    if (labels[i] === 1) pos[k] = (pos[k] as number) + 1;
    else neg[k] = (neg[k] as number) + 1;
    if (pro && proWeights) pro[k] = (pro[k] as number) + (proWeights[i] as number);
  }
  const m = k + 1;
  return {
    thresholds: thresholds.slice(0, m),
    pos: pos.slice(0, m),
    neg: neg.slice(0, m),
    proWeight: pro ? pro.slice(0, m) : null,
    regions,
  };
}

function totals(r: RankedCounts): { p: number; n: number } {
  let p = 0;
  let n = 0;
  for (let k = 0; k < r.thresholds.length; k++) {
    p += r.pos[k] as number;
    n += r.neg[k] as number;
  }
  return { p, n };
}

/** Area under the ROC curve; null when one class is absent (undefined, as sklearn refuses it). */
export function auroc(r: RankedCounts): number | null {
  const { p, n } = totals(r);
  if (p === 0 || n === 0) return null;
  let area = 0;
  let tp = 0;
  for (let k = 0; k < r.thresholds.length; k++) {
    const dp = r.pos[k] as number;
    // Trapezoid over this step: width = negatives here, height = mean of TP before and after.
    area += (r.neg[k] as number) * (tp + dp / 2);
    tp += dp;
  }
  return area / (p * n);
}

/** Average precision (step integral of the PR curve); null without positives. */
export function averagePrecision(r: RankedCounts): number | null {
  const { p } = totals(r);
  if (p === 0) return null;
  let ap = 0;
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < r.thresholds.length; k++) {
    const dp = r.pos[k] as number;
    tp += dp;
    fp += r.neg[k] as number;
    if (dp > 0) ap += (dp / p) * (tp / (tp + fp));
  }
  return ap;
}

export interface Curve {
  readonly x: Float64Array;
  readonly y: Float64Array;
  /** thresholds[i] produced point i; +Infinity for the (0, 0) start of ROC and PRO curves. */
  readonly thresholds: Float64Array;
}

/** ROC curve from (0, 0): x = FPR, y = TPR, one point per distinct threshold (none dropped). */
export function rocCurve(r: RankedCounts): Curve | null {
  const { p, n } = totals(r);
  if (p === 0 || n === 0) return null;
  const m = r.thresholds.length;
  const x = new Float64Array(m + 1);
  const y = new Float64Array(m + 1);
  const t = new Float64Array(m + 1);
  t[0] = Number.POSITIVE_INFINITY;
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < m; k++) {
    tp += r.pos[k] as number;
    fp += r.neg[k] as number;
    x[k + 1] = fp / n;
    y[k + 1] = tp / p;
    t[k + 1] = r.thresholds[k] as number;
  }
  return { x, y, thresholds: t };
}

/**
 * Precision–recall curve exactly as sklearn's `precision_recall_curve`: thresholds ascending,
 * precision/recall one longer, ending with the point (recall 0, precision 1).
 */
export function precisionRecallCurve(
  r: RankedCounts,
): { precision: Float64Array; recall: Float64Array; thresholds: Float64Array } | null {
  const { p } = totals(r);
  if (p === 0) return null;
  const m = r.thresholds.length;
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  const thresholds = new Float64Array(m);
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < m; k++) {
    tp += r.pos[k] as number;
    fp += r.neg[k] as number;
    const j = m - 1 - k;
    precision[j] = tp + fp > 0 ? tp / (tp + fp) : 0;
    recall[j] = tp / p;
    thresholds[j] = r.thresholds[k] as number;
  }
  precision[m] = 1;
  recall[m] = 0;
  return { precision, recall, thresholds };
}

export interface F1Max {
  readonly f1: number;
  /** Lowest threshold reaching the best F1 (predict defective when score >= threshold). */
  readonly threshold: number;
  readonly precision: number;
  readonly recall: number;
}

/** Best F1 over all thresholds; null without positives. */
export function f1Max(r: RankedCounts): F1Max | null {
  const { p } = totals(r);
  if (p === 0) return null;
  let best: F1Max = { f1: -1, threshold: Number.NaN, precision: 0, recall: 0 };
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < r.thresholds.length; k++) {
    tp += r.pos[k] as number;
    fp += r.neg[k] as number;
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    const recall = tp / p;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    // >= keeps the lowest threshold among equal maxima, as argmax over sklearn's ascending arrays.
    if (f1 >= best.f1) best = { f1, threshold: r.thresholds[k] as number, precision, recall };
  }
  return best;
}

/** The PRO curve from (0, 0): x = FPR of normal pixels, y = mean per-region overlap. */
export function proCurve(r: RankedCounts): Curve | null {
  const { n } = totals(r);
  if (!r.proWeight || r.regions === 0 || n === 0) return null;
  const m = r.thresholds.length;
  const x = new Float64Array(m + 1);
  const y = new Float64Array(m + 1);
  const t = new Float64Array(m + 1);
  t[0] = Number.POSITIVE_INFINITY;
  let fp = 0;
  let w = 0;
  for (let k = 0; k < m; k++) {
    fp += r.neg[k] as number;
    w += r.proWeight[k] as number;
    x[k + 1] = fp / n;
    // Rounding in the running sum can push the last point a hair over 1.
    y[k + 1] = Math.min(1, w / r.regions);
    t[k + 1] = r.thresholds[k] as number;
  }
  return { x, y, thresholds: t };
}

/**
 * Trapezoid area under a curve with non-decreasing x, from x[0] up to `xMax`, interpolating y
 * linearly where the curve crosses xMax.
 */
export function areaUpTo(curve: Curve, xMax: number): number {
  const { x, y } = curve;
  let area = 0;
  for (let i = 1; i < x.length; i++) {
    const x0 = x[i - 1] as number;
    const x1 = x[i] as number;
    const y0 = y[i - 1] as number;
    const y1 = y[i] as number;
    if (x0 >= xMax) break;
    if (x1 <= xMax) {
      area += ((x1 - x0) * (y0 + y1)) / 2;
    } else {
      const yCut = y0 + ((y1 - y0) * (xMax - x0)) / (x1 - x0);
      area += ((xMax - x0) * (y0 + yCut)) / 2;
      break;
    }
  }
  return area;
}

/** Normalised area under the PRO curve up to `maxFpr` (default 0.3); null without regions or normals. */
export function aupro(r: RankedCounts, maxFpr = 0.3): number | null {
  const curve = proCurve(r);
  return curve ? areaUpTo(curve, maxFpr) / maxFpr : null;
}

/** The four image-level figures of one binary problem. */
export interface BinaryMetrics {
  readonly auroc: number | null;
  readonly ap: number | null;
  readonly f1max: F1Max | null;
}

/** AUROC, AP and F1-max of one set of scores. */
export function binaryMetrics(r: RankedCounts): BinaryMetrics {
  return { auroc: auroc(r), ap: averagePrecision(r), f1max: f1Max(r) };
}
