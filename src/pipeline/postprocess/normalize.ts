/** Calibration thresholds of one kind (image or pixel), as in the manifest. */
export interface CalibrationRange {
  readonly threshold: number;
  readonly min: number;
  readonly max: number;
}

/**
 * anomalib's normalisation: clamp((raw − threshold) / (max − min) + 0.5, 0, 1), so 0.5 is the
 * calibrated boundary. A degenerate range (max ≤ min) gives 0, 0.5 or 1 by the side of the threshold.
 *
 * @example
 * normalizeScore(0.3, { threshold: 0.3, min: 0.1, max: 0.5 }) // 0.5
 */
export function normalizeScore(raw: number, cal: CalibrationRange): number {
  const range = cal.max - cal.min;
  if (!(range > 0)) return raw > cal.threshold ? 1 : raw < cal.threshold ? 0 : 0.5;
  const v = (raw - cal.threshold) / range + 0.5;
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** The raw value whose normalised score is `norm` (0 < norm < 1): for turning config thresholds into map units. */
export function denormalizeScore(norm: number, cal: CalibrationRange): number {
  const range = cal.max - cal.min;
  if (!(range > 0)) return cal.threshold;
  return (norm - 0.5) * range + cal.threshold;
}
