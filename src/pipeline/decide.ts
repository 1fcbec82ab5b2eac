import type { DecideConfig, RectConfig } from '../config/sections.js';
import type { Defect, Reason, VerdictKind } from './verdict.js';

/**
 * Rules → verdict with reasons. Pure: the same inputs always give the same verdict, so the rules can
 * be tested without a model and changed between two frames (hot reload).
 */

/** Stable reason codes (PLCs and dashboards match on them). */
export const REASON = {
  SCORE: 'SCORE_OVER_THRESHOLD',
  DEFECT: 'DEFECT_FOUND',
  ERROR: 'FRAME_ERROR',
  DROPPED: 'FRAME_DROPPED',
  /** A PLC trigger whose frame never came: the part was not inspected. */
  NO_FRAME: 'TRIGGER_WITHOUT_FRAME',
  /** A frame the camera source lost (appsink overflow, restart, unreadable file): never inspected. */
  LOST: 'FRAME_LOST',
  /**
   * Line-scan: camera buffers of this segment were lost (by the source, or left out because the
   * line-scan judge's queue was full): part of the web under it was never inspected. An `ok`
   * segment becomes `dropped` (judged by failSafe); a `reject` stays, with this reason added.
   */
  LINES_LOST: 'LINES_LOST',
  /**
   * On a camera with triggers, a frame no PLC trigger claimed (a spurious or double exposure, or a
   * trigger lost on the way): judged like any frame, but its partId is not the PLC's. Informative:
   * it never changes the verdict.
   */
  NO_TRIGGER: 'FRAME_WITHOUT_TRIGGER',
  FAILSAFE_REJECT: 'FAILSAFE_REJECT',
  FAILSAFE_PASS: 'FAILSAFE_PASS',
} as const;

/** Calibration bounds of one scale (image or pixel), as in model.json. */
export interface CalibrationBounds {
  readonly threshold: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Raw model value that corresponds to a normalized one, inverting
 * norm = (raw − threshold) / (max − min) + 0.5. So normalizedToRaw(0.5, cal) = cal.threshold.
 */
export function normalizedToRaw(norm: number, cal: CalibrationBounds): number {
  return (norm - 0.5) * (cal.max - cal.min) + cal.threshold;
}

/** Raw pixel threshold that findRegions should use for these rules. */
export function rawPixelThreshold(rules: DecideConfig, pixelCal: CalibrationBounds): number {
  return rules.pixel.scale === 'raw' ? rules.pixel.value : normalizedToRaw(rules.pixel.value, pixelCal);
}

export interface ScoredFrame {
  /** Raw image score. */
  readonly score: number;
  /** Calibrated score, 0.5 = boundary. */
  readonly normScore: number;
  /** Regions above the pixel threshold, in camera pixels. */
  readonly defects: readonly Defect[];
}

export interface Decision {
  readonly verdict: 'ok' | 'reject';
  readonly reasons: Reason[];
  /** The defects that passed the area and ROI rules (the ones that count). */
  readonly defects: Defect[];
}

function centreIn(d: Defect, r: RectConfig): boolean {
  const cx = d.x + d.w / 2;
  const cy = d.y + d.h / 2;
  return cx >= r.x && cx < r.x + r.width && cy >= r.y && cy < r.y + r.height;
}

function counts(d: Defect, rules: DecideConfig): boolean {
  if (d.area < rules.minDefectAreaPx) return false;
  const include = rules.include;
  if (include.length > 0) {
    let inside = false;
    for (let i = 0; i < include.length; i++) if (centreIn(d, include[i]!)) inside = true;
    if (!inside) return false;
  }
  const exclude = rules.exclude;
  for (let i = 0; i < exclude.length; i++) if (centreIn(d, exclude[i]!)) return false;
  return true;
}

/**
 * Judge one scored frame.
 *
 * @example
 * decide(rules, { score: 3.1, normScore: 0.71, defects: [] })
 * // → { verdict: 'reject', reasons: [{ code: 'SCORE_OVER_THRESHOLD', … }], defects: [] }
 */
export function decide(rules: DecideConfig, frame: ScoredFrame): Decision {
  const defects: Defect[] = [];
  for (let i = 0; i < frame.defects.length; i++) {
    const d = frame.defects[i]!;
    if (counts(d, rules)) defects.push(d);
  }
  const img = rules.image;
  const scored = img.scale === 'raw' ? frame.score : frame.normScore;
  const scoreFires = scored >= img.value;
  const defectFires = defects.length > 0;
  let reject: boolean;
  switch (rules.rejectOn) {
    case 'score':
      reject = scoreFires;
      break;
    case 'defect':
      reject = defectFires;
      break;
    case 'score-or-defect':
      reject = scoreFires || defectFires;
      break;
    case 'score-and-defect':
      reject = scoreFires && defectFires;
      break;
  }
  const reasons: Reason[] = [];
  // Only the rules that take part in the decision are named as reasons.
  const scoreRule = rules.rejectOn !== 'defect';
  const defectRule = rules.rejectOn !== 'score';
  if (reject && scoreRule && scoreFires) {
    reasons.push({
      code: REASON.SCORE,
      message: `${img.scale} score ${scored.toFixed(3)} ≥ ${img.value}`,
    });
  }
  if (reject && defectRule && defectFires) {
    let largest = defects[0]!;
    for (let i = 1; i < defects.length; i++) if (defects[i]!.area > largest.area) largest = defects[i]!;
    reasons.push({
      code: REASON.DEFECT,
      message: `${defects.length} defect(s), largest ${largest.area} px at (${largest.x},${largest.y})`,
    });
  }
  return { verdict: reject ? 'reject' : 'ok', reasons, defects };
}

/**
 * Reasons for a frame that was never judged (error or dropped): the cause first, then what the
 * line is told according to failSafe.
 */
export function failSafeReasons(
  kind: 'error' | 'dropped',
  failSafe: DecideConfig['failSafe'],
  cause: Reason,
): Reason[] {
  const policy: Reason =
    failSafe === 'reject'
      ? { code: REASON.FAILSAFE_REJECT, message: `failSafe: reject (${kind} frame treated as NG)` }
      : { code: REASON.FAILSAFE_PASS, message: `failSafe: pass (${kind} frame let through uninspected)` };
  return [cause, policy];
}

/**
 * Whether the line must eject this part: a `reject`, or an `error`/`dropped` frame under
 * failSafe reject. Sinks that drive the ejector (MQTT …/reject) use this, not `verdict` alone.
 */
export function ejects(v: { readonly verdict: VerdictKind; readonly reasons: readonly Reason[] }): boolean {
  if (v.verdict === 'reject') return true;
  if (v.verdict === 'ok') return false;
  const reasons = v.reasons;
  for (let i = 0; i < reasons.length; i++) if (reasons[i]!.code === REASON.FAILSAFE_REJECT) return true;
  return false;
}
