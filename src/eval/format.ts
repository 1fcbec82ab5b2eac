/** Plain-text tables for the terminal (the JSON and HTML forms carry the exact values). */
import type { OperatingPoint } from './calibrate.js';
import type { CalibrationResult } from './calibrate-dataset.js';
import { coverageLines } from './coverage.js';
import { METRIC_KEYS, METRIC_LABELS, type Confusion, type EvalReport, type MetricSet } from './evaluate.js';
import { lineCheckLines } from './line-check.js';
import { describePrompts } from './prompts.js';

/** Left-aligned first column, right-aligned others. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}

function pct(v: number | null): string {
  return v === null ? '–' : (v * 100).toFixed(1);
}

function rate(v: number | null): string {
  return v === null ? '–' : `${(v * 100).toFixed(1)} %`;
}

function g(v: number): string {
  return v.toPrecision(5);
}

function metricRow(name: string, m: MetricSet): string[] {
  return [name, ...METRIC_KEYS.map((k) => pct(m[k]))];
}

function confusionRow(name: string, c: Confusion): string[] {
  return [name, String(c.caught), String(c.escapes), String(c.falseRejects), String(c.passed), String(c.errors), rate(c.escapeRate), rate(c.falseRejectRate)];
}

/** The eval result as two tables: detection metrics (%) and what the line would have done. */
export function formatEval(r: EvalReport): string {
  const metrics = [['category', ...METRIC_KEYS.map((k) => METRIC_LABELS[k])], ...r.categories.map((c) => metricRow(c.name, c.metrics))];
  if (r.categories.length > 1) metrics.push(metricRow('mean', r.mean));
  const line = [
    ['category', 'defective rejected', 'escapes', 'false rejects', 'good passed', 'errors', 'escape rate', 'false-reject rate'],
    ...r.categories.map((c) => confusionRow(c.name, c.confusion)),
    confusionRow('total', r.total),
  ];
  return [
    `model ${r.model.version} (${r.model.architecture}, map ${r.model.map}) on ${r.model.provider}; data ${r.data}`,
    `thresholds (raw): image ${g(r.thresholds.image)}, pixel ${g(r.thresholds.pixel)}; reject on ${r.thresholds.rejectOn}`,
    ...(r.prompts === null ? [] : [`prompts: ${describePrompts(r.prompts)}`]),
    '',
    'detection metrics (%):',
    table(metrics),
    '',
    "at the bundle's current thresholds:",
    table(line),
    '',
    ...lineCheckLines(r.total),
    ...coverageLines(r.view),
    '',
  ].join('\n');
}

function pointRow(p: OperatingPoint, chosen: number): string[] {
  return [
    p.threshold === chosen ? `${g(p.threshold)} ←` : g(p.threshold),
    `${p.escapes} (${rate(p.escapeRate)})`,
    `${p.falseRejects} (${rate(p.falseRejectRate)})`,
    p.precision === null ? '–' : p.precision.toFixed(3),
    p.recall === null ? '–' : p.recall.toFixed(3),
    p.f1 === null ? '–' : p.f1.toFixed(3),
  ];
}

/** What the chosen image threshold means for the line, in words. */
function expectationLines(r: CalibrationResult): string[] {
  const e = r.expected;
  const p = r.image.point;
  const lines = [
    `expected false-reject rate on new good parts: at most ${rate(e.upperBound)} ` +
      `(${e.atOrAbove} of these ${e.good} good images score at or above the threshold; (k + 1) / (n + 1), valid when ` +
      'they were not used for training and the line sends parts like them)',
  ];
  if (e.floor > 0.01) {
    const need = Math.ceil(1 / 0.01) - 1;
    lines.push(`  with ${e.good} good images no threshold can promise under ${rate(e.floor)}; ${need} or more are needed to promise 1 %`);
  }
  if (r.counts.defective > 0) {
    lines.push(
      `on these ${r.counts.defective} defective images: ${p.escapes} pass (escapes ${rate(p.escapeRate)}); ` +
        `with so few, each one is ${rate(1 / r.counts.defective)} of the estimate`,
    );
  } else {
    lines.push('escapes: unknown, no defective images were given; with a few, --defective DIR --target-escape-rate r sets the threshold for them');
  }
  return lines;
}

/** The calibration, the trade-off table and whether it was written. */
export function formatCalibration(r: CalibrationResult, dir: string, backup: string | null): string {
  const c = r.calibration;
  const p = r.previous;
  return [
    `${r.counts.good} good, ${r.counts.defective} defective images scored${r.counts.errors > 0 ? `, ${r.counts.errors} could not be read` : ''}`,
    `image threshold: ${g(c.image.threshold)} (was ${g(p.image.threshold)}) by ${r.image.rule}; normalisation range ${g(c.image.min)} … ${g(c.image.max)}`,
    `pixel threshold: ${g(c.pixel.threshold)} (was ${g(p.pixel.threshold)}) by ${r.pixel.rule}`,
    ...(r.prompts === null ? [] : [`prompts: ${describePrompts(r.prompts)}`]),
    ...expectationLines(r),
    '',
    'trade-off on this set (reject when score ≥ threshold; ← = chosen):',
    table([['threshold', 'escapes', 'false rejects', 'precision', 'recall', 'F1'], ...r.image.table.map((row) => pointRow(row, r.image.threshold))]),
    '',
    backup === null
      ? 'not written: add --write to put this calibration into model.json'
      : `written to ${dir}/model.json (previous kept as ${backup})`,
    '',
  ].join('\n');
}
