/**
 * What a threshold does on a line, in plain words, and a warning when too many defective parts
 * pass. A threshold set from good images alone (trainer export's 1.05 × p99.5) keeps false rejects
 * down but says nothing about defects: on the real sets 96–100 % of defective parts passed
 * it. `eval` prints this under its tables; trainer/trainer/linecheck.py says the same at export.
 */
import type { Confusion } from './evaluate.js';

/** Above this share of defective parts passing, say so loudly (the same in trainer/trainer/linecheck.py). */
export const HIGH_ESCAPE_RATE = 0.05;

/** The command the warning points to (README: "First day on a real line"). */
export const CALIBRATE_HINT = 'linewatch calibrate --model BUNDLE --good GOOD_DIR --defective DEFECT_DIR --target-escape-rate 0.01 --write';

function pct(n: number, of: number): string {
  return of > 0 ? `${((100 * n) / of).toFixed(1)} %` : '–';
}

/**
 * One line with the counts at the bundle's thresholds, and a warning with the remedy when more
 * than {@link HIGH_ESCAPE_RATE} of the defective parts pass.
 * @example lineCheckLines({ caught: 3, escapes: 60, falseRejects: 1, passed: 19, errors: 0, escapeRate: 60 / 63, falseRejectRate: 0.05 })
 */
export function lineCheckLines(c: Confusion): string[] {
  const defective = c.caught + c.escapes;
  const good = c.falseRejects + c.passed;
  const lines = [
    `at the bundle's thresholds: ${c.escapes} of ${defective} defective parts pass (escapes ${pct(c.escapes, defective)}), ` +
      `${c.falseRejects} of ${good} good parts are rejected (false rejects ${pct(c.falseRejects, good)})`,
  ];
  if (c.escapeRate !== null && c.escapeRate > HIGH_ESCAPE_RATE) {
    lines.push(
      `WARNING: ${c.escapes} of ${defective} defective parts (${pct(c.escapes, defective)}) would pass on the line. ` +
        'A threshold from good images alone says nothing about how far defects score above them: before a line relies on ' +
        `it, set it with some defective samples: ${CALIBRATE_HINT} (README, 'First day on a real line').`,
    );
  }
  return lines;
}
