import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  aupro,
  auroc,
  averagePrecision,
  f1Max,
  precisionRecallCurve,
  rankScores,
  rocCurve,
} from '../../src/eval/metrics.js';
import { labelRegions } from '../../src/eval/regions.js';
import { LinewatchError } from '../../src/errors.js';

interface BinaryCase {
  name: string;
  labels: number[];
  scores: number[];
  auroc: number;
  ap: number;
  precision: number[];
  recall: number[];
  thresholds: number[];
  f1max: number;
  f1maxThreshold: number;
}
interface ProCase {
  name: string;
  n: number;
  height: number;
  width: number;
  maps: number[];
  masks: number[];
  aupro: number;
  pixelAuroc: number;
  pixelAp: number;
  pixelF1max: number;
}
// Made by test/fixtures/eval/make_reference.py with scikit-learn / scikit-image.
const reference = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/eval/reference.json', import.meta.url), 'utf8'),
) as { binary: BinaryCase[]; pro: ProCase[] };

function close(actual: number | null | undefined, expected: number, tol: number, what: string): void {
  assert.ok(actual !== null && actual !== undefined, `${what}: got null`);
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs sklearn ${expected}`);
}

/** AUPRO input built the way evaluate.ts builds it: regions labelled per image, 1/area per defective pixel. */
function proRanked(c: ProCase) {
  const hw = c.height * c.width;
  const weights = new Float64Array(c.maps.length);
  let regions = 0;
  for (let i = 0; i < c.n; i++) {
    const mask = Uint8Array.from(c.masks.slice(i * hw, (i + 1) * hw));
    const lab = labelRegions(mask, c.height, c.width);
    for (let p = 0; p < hw; p++) {
      const l = lab.labels[p] as number;
      if (l > 0) weights[i * hw + p] = 1 / (lab.areas[l] as number);
    }
    regions += lab.count;
  }
  return rankScores({ labels: c.masks, scores: c.maps }, weights, regions);
}

for (const c of reference.binary) {
  test(`image metrics equal scikit-learn on ${c.name}`, () => {
    const r = rankScores({ labels: c.labels, scores: c.scores });
    close(auroc(r), c.auroc, 1e-6, 'roc_auc_score');
    close(averagePrecision(r), c.ap, 1e-6, 'average_precision_score');
    const f1 = f1Max(r);
    close(f1?.f1, c.f1max, 1e-6, 'F1-max');
    close(f1?.threshold, c.f1maxThreshold, 1e-12, 'F1-max threshold');
    const pr = precisionRecallCurve(r);
    assert.ok(pr);
    assert.equal(pr.thresholds.length, c.thresholds.length, 'precision_recall_curve length');
    for (let i = 0; i < c.thresholds.length; i++) {
      close(pr.thresholds[i], c.thresholds[i] as number, 0, `threshold ${i}`);
    }
    for (let i = 0; i < c.precision.length; i++) {
      close(pr.precision[i], c.precision[i] as number, 1e-12, `precision ${i}`);
      close(pr.recall[i], c.recall[i] as number, 1e-12, `recall ${i}`);
    }
  });
}

for (const c of reference.pro) {
  test(`AUPRO and pixel metrics equal the scikit-image/sklearn reference on ${c.name}`, () => {
    const r = proRanked(c);
    close(aupro(r), c.aupro, 1e-3, 'AUPRO@0.3');
    close(auroc(r), c.pixelAuroc, 1e-6, 'pixel AUROC');
    close(averagePrecision(r), c.pixelAp, 1e-6, 'pixel AP');
    close(f1Max(r)?.f1, c.pixelF1max, 1e-6, 'pixel F1-max');
  });
}

test('ROC curve starts at (0, 0), ends at (1, 1) and is monotone', () => {
  const c = reference.binary[1] as BinaryCase;
  const roc = rocCurve(rankScores({ labels: c.labels, scores: c.scores }));
  assert.ok(roc);
  assert.equal(roc.x[0], 0);
  assert.equal(roc.y[0], 0);
  assert.equal(roc.x[roc.x.length - 1], 1);
  assert.equal(roc.y[roc.y.length - 1], 1);
  for (let i = 1; i < roc.x.length; i++) assert.ok((roc.x[i] as number) >= (roc.x[i - 1] as number));
});

test('undefined metrics are null, not a number: one class only', () => {
  const r = rankScores({ labels: [0, 0, 0], scores: [0.1, 0.2, 0.3] });
  assert.equal(auroc(r), null);
  assert.equal(averagePrecision(r), null);
  assert.equal(f1Max(r), null);
  assert.equal(aupro(r), null);
});

test('AUPRO of a perfect map is 1 and of an inverted map is 0', () => {
  const mask = Uint8Array.from([0, 0, 0, 0, 1, 1, 0, 0, 0]);
  const lab = labelRegions(mask, 3, 3);
  const w = Float64Array.from(mask, (m) => (m ? 1 / 2 : 0));
  const good = rankScores({ labels: mask, scores: Array.from(mask, (m) => m * 0.9 + 0.05) }, w, lab.count);
  close(aupro(good), 1, 1e-12, 'perfect AUPRO');
  const bad = rankScores({ labels: mask, scores: Array.from(mask, (m) => 1 - m) }, w, lab.count);
  close(aupro(bad), 0, 1e-12, 'inverted AUPRO');
});

test('labelRegions joins diagonal neighbours (8-connectivity) and counts areas', () => {
  // 1 . . 1
  // . 1 . 1
  // . . . .
  // 1 1 . .
  const mask = Uint8Array.from([1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0]);
  const r = labelRegions(mask, 4, 4);
  assert.equal(r.count, 3);
  assert.deepEqual(Array.from(r.areas.subarray(1)), [2, 2, 2]);
  assert.equal(r.labels[0], r.labels[5]);
  assert.notEqual(r.labels[0], r.labels[3]);
});

test('bad input is a coded error naming what is wrong', () => {
  assert.throws(
    () => rankScores({ labels: [0, 1], scores: [0.1, Number.NaN] }),
    (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_EVAL_INPUT' && /score 1 is NaN/.test(e.message),
  );
  assert.throws(
    () => rankScores({ labels: [0, 2], scores: [0.1, 0.2] }),
    (e: unknown) => e instanceof LinewatchError && /label 1 is 2/.test(e.message),
  );
});
