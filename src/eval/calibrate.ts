/**
 * Thresholds from scores, as pure functions.
 *
 * - From good images alone: `threshold = Q(q) + margin · (Q(q) − Q(0.5))`, Q the linearly
 *   interpolated quantile of the good scores (numpy's default), q = 0.99 and margin = 0.1 by
 *   default. The margin moves the threshold a tenth of the good scores' upper spread past the
 *   quantile, because a few dozen good images under-estimate the tail the line will see.
 * - With defective images: the threshold meeting a target escape rate (defective parts accepted)
 *   or false-reject rate (good parts rejected) with the fewest errors of the other kind (and then
 *   the fewest of the targeted kind: no other threshold beats it on both), or else the one
 *   maximising F1.
 *
 * A chosen boundary is placed in the middle of the gap between the two scores it separates: the
 * confusion counts are those of the boundary, and the margin to either side is as large as the
 * data allow.
 */
import { LinewatchError } from '../errors.js';
import { f1Max, rankScores } from './metrics.js';

/** How the image threshold is chosen. */
export type ThresholdRule =
  | { readonly kind: 'good-quantile'; readonly quantile: number; readonly margin: number }
  | { readonly kind: 'target-escape-rate'; readonly rate: number }
  | { readonly kind: 'target-false-reject'; readonly rate: number }
  | { readonly kind: 'f1-max' };

/** Default quantile of the good scores for good-only calibration. */
export const DEFAULT_GOOD_QUANTILE = 0.99;
/** Default margin past the quantile, as a fraction of Q(q) − Q(0.5). */
export const DEFAULT_MARGIN = 0.1;

/** What a threshold does on a labelled set (reject when score >= threshold). */
export interface OperatingPoint {
  readonly threshold: number;
  /** Defective parts accepted. */
  readonly escapes: number;
  readonly escapeRate: number | null;
  /** Good parts rejected. */
  readonly falseRejects: number;
  readonly falseRejectRate: number | null;
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
}

/** Summary of a score distribution, in the manifest's `goodImageScores` shape. */
export interface Distribution {
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
  readonly quantiles: Record<string, number>;
}

function sortedCopy(values: ArrayLike<number>): Float64Array {
  const s = Float64Array.from(values);
  s.sort();
  return s;
}

/**
 * Linearly interpolated quantile of ascending values (numpy's default 'linear' method).
 * @example quantileSorted(Float64Array.of(1, 2, 3, 4), 0.5) // 2.5
 */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new LinewatchError('LW_ERR_EVAL_INPUT', 'quantile of no values');
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo] as number;
  return a + ((sorted[hi] as number) - a) * (pos - lo);
}

/** n, min, max, mean, population std and p50/p95/p99/p99.9 of some values. */
export function describe(values: ArrayLike<number>): Distribution {
  const s = sortedCopy(values);
  const n = s.length;
  if (n === 0) throw new LinewatchError('LW_ERR_EVAL_INPUT', 'cannot describe an empty set of scores');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i] as number;
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += ((s[i] as number) - mean) ** 2;
  const quantiles: Record<string, number> = {};
  for (const [key, q] of [
    ['p50', 0.5],
    ['p95', 0.95],
    ['p99', 0.99],
    ['p99.9', 0.999],
  ] as const) {
    quantiles[key] = quantileSorted(s, q);
  }
  return { n, min: s[0] as number, max: s[n - 1] as number, mean, std: Math.sqrt(sq / n), quantiles };
}

/** Confusion at one threshold. */
export function operatingPoint(good: ArrayLike<number>, bad: ArrayLike<number>, threshold: number): OperatingPoint {
  let falseRejects = 0;
  for (let i = 0; i < good.length; i++) if ((good[i] as number) >= threshold) falseRejects++;
  let escapes = 0;
  for (let i = 0; i < bad.length; i++) if ((bad[i] as number) < threshold) escapes++;
  const tp = bad.length - escapes;
  // Without defective images precision is undefined, not 0.
  const precision = bad.length > 0 && tp + falseRejects > 0 ? tp / (tp + falseRejects) : null;
  const recall = bad.length > 0 ? tp / bad.length : null;
  const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : bad.length > 0 ? 0 : null;
  return {
    threshold,
    escapes,
    escapeRate: bad.length > 0 ? escapes / bad.length : null,
    falseRejects,
    falseRejectRate: good.length > 0 ? falseRejects / good.length : null,
    precision,
    recall,
    f1,
  };
}

/**
 * Middle of the gap just below `boundary` among all scores: the same samples stay on each side.
 * `boundary` is a score that must be rejected (score >= threshold).
 */
function midGapBelow(all: Float64Array, boundary: number): number {
  let below = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < all.length; i++) {
    const v = all[i] as number;
    if (v < boundary && v > below) below = v;
  }
  return below === Number.NEGATIVE_INFINITY ? boundary : (below + boundary) / 2;
}

/** Middle of the gap just above `boundary`: `boundary` itself is accepted. */
function midGapAbove(all: Float64Array, boundary: number): number {
  let above = Number.POSITIVE_INFINITY;
  for (let i = 0; i < all.length; i++) {
    const v = all[i] as number;
    if (v > boundary && v < above) above = v;
  }
  if (above !== Number.POSITIVE_INFINITY) return (boundary + above) / 2;
  // Nothing above: step just past it, by a relative hair that survives float32 scores.
  return boundary + Math.max(Math.abs(boundary) * 1e-6, 1e-12);
}

/** Highest threshold with at most `k` defective scores below it. */
function highestWithEscapes(all: Float64Array, bad: ArrayLike<number>, k: number): number {
  const d = sortedCopy(bad);
  if (k >= d.length) {
    let top = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < all.length; i++) if ((all[i] as number) > top) top = all[i] as number;
    return midGapAbove(all, top);
  }
  return midGapBelow(all, d[k] as number);
}

/** Lowest threshold with at most `k` good scores at or above it. */
function lowestWithFalseRejects(all: Float64Array, good: ArrayLike<number>, k: number): number {
  const g = sortedCopy(good);
  if (k >= g.length) {
    let low = Number.POSITIVE_INFINITY;
    for (let i = 0; i < all.length; i++) if ((all[i] as number) < low) low = all[i] as number;
    return low;
  }
  return midGapAbove(all, g[g.length - 1 - k] as number);
}

function checkRate(name: string, rate: number): void {
  if (!(rate >= 0 && rate <= 1)) {
    throw new LinewatchError('LW_ERR_CALIBRATION_TARGET', `${name} must be between 0 and 1, got ${rate}`);
  }
}

/**
 * The image threshold for a rule.
 * @param good scores of good images (at least one)
 * @param bad scores of defective images (may be empty for good-quantile)
 * @example chooseThreshold([0.1, 0.2], [0.8], { kind: 'f1-max' }) // 0.5
 */
export function chooseThreshold(good: ArrayLike<number>, bad: ArrayLike<number>, rule: ThresholdRule): number {
  if (good.length === 0) {
    throw new LinewatchError('LW_ERR_CALIBRATION_TARGET', 'calibration needs good images (test/good): none were scored');
  }
  const all = new Float64Array(good.length + bad.length);
  all.set(Float64Array.from(good), 0);
  all.set(Float64Array.from(bad), good.length);
  if (rule.kind === 'good-quantile') {
    checkRate('the good-score quantile', rule.quantile);
    if (!(rule.margin >= 0)) throw new LinewatchError('LW_ERR_CALIBRATION_TARGET', `margin must be ≥ 0, got ${rule.margin}`);
    const s = sortedCopy(good);
    const q = quantileSorted(s, rule.quantile);
    return q + rule.margin * (q - quantileSorted(s, 0.5));
  }
  if (bad.length === 0) {
    throw new LinewatchError(
      'LW_ERR_CALIBRATION_TARGET',
      `${rule.kind} needs defective images (test/<defect>/): none were scored; calibrate from good images alone instead`,
    );
  }
  switch (rule.kind) {
    case 'target-escape-rate': {
      checkRate('--target-escape-rate', rule.rate);
      // The highest threshold within the target has the fewest false rejects; then go as low as
      // that count of false rejects allows, which can only remove escapes.
      const high = highestWithEscapes(all, bad, Math.floor(rule.rate * bad.length + 1e-9));
      return lowestWithFalseRejects(all, good, operatingPoint(good, bad, high).falseRejects);
    }
    case 'target-false-reject': {
      checkRate('--target-false-reject', rule.rate);
      // Symmetric: the lowest threshold within the target, then as high as its escapes allow.
      const low = lowestWithFalseRejects(all, good, Math.floor(rule.rate * good.length + 1e-9));
      return highestWithEscapes(all, bad, operatingPoint(good, bad, low).escapes);
    }
    case 'f1-max': {
      const labels = new Uint8Array(all.length);
      labels.fill(1, good.length);
      const best = f1Max(rankScores({ labels, scores: all }));
      // f1Max exists: there are positives.
      return midGapBelow(all, (best as NonNullable<typeof best>).threshold);
    }
  }
}

/** What a threshold set on good images promises for good parts the line has not shown yet. */
export interface ExpectedFalseRejects {
  /** Good calibration images at or above the threshold. */
  readonly atOrAbove: number;
  readonly good: number;
  /**
   * At most this share of new good parts is rejected, on average: (k + 1) / (n + 1). It holds
   * whatever the score distribution, as long as the new parts are like the calibration images and
   * those were not used for training (conformal prediction's rank argument).
   */
  readonly upperBound: number;
  /** The best any threshold can promise with n good images: 1 / (n + 1). */
  readonly floor: number;
}

/**
 * The expected false-reject rate of a threshold from good scores alone.
 * @example expectedFalseRejects([0.1, 0.2, 0.3], 0.25) // { atOrAbove: 1, good: 3, upperBound: 0.5, floor: 0.25 }
 */
export function expectedFalseRejects(good: ArrayLike<number>, threshold: number): ExpectedFalseRejects {
  let k = 0;
  for (let i = 0; i < good.length; i++) if ((good[i] as number) >= threshold) k++;
  const n = good.length;
  return { atOrAbove: k, good: n, upperBound: (k + 1) / (n + 1), floor: 1 / (n + 1) };
}

/**
 * The trade-off table a person chooses from: the chosen threshold among the good-score quantiles
 * and the escape-rate targets 0, 1 %, 5 %, 10 %, sorted by threshold, one row per distinct
 * (escapes, false rejects).
 */
export function tradeoffTable(good: ArrayLike<number>, bad: ArrayLike<number>, chosen: number): OperatingPoint[] {
  const thresholds = [chosen];
  if (good.length > 0) {
    for (const q of [0.9, 0.95, 0.99, 1]) {
      thresholds.push(chooseThreshold(good, bad, { kind: 'good-quantile', quantile: q, margin: 0 }));
    }
  }
  if (good.length > 0 && bad.length > 0) {
    for (const rate of [0, 0.01, 0.05, 0.1]) thresholds.push(chooseThreshold(good, bad, { kind: 'target-escape-rate', rate }));
    thresholds.push(chooseThreshold(good, bad, { kind: 'f1-max' }));
  }
  thresholds.sort((a, b) => a - b);
  // One row per distinct outcome; where several thresholds give the same, show the chosen one.
  const rows: OperatingPoint[] = [];
  for (const t of thresholds) {
    const p = operatingPoint(good, bad, t);
    const last = rows[rows.length - 1];
    if (last !== undefined && last.escapes === p.escapes && last.falseRejects === p.falseRejects) {
      if (t === chosen) rows[rows.length - 1] = p;
      continue;
    }
    rows.push(p);
  }
  return rows;
}
