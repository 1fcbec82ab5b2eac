import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  chooseThreshold,
  describe,
  operatingPoint,
  quantileSorted,
  tradeoffTable,
} from '../../src/eval/calibrate.js';
import { LinewatchError } from '../../src/errors.js';

const reference = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/eval/reference.json', import.meta.url), 'utf8'),
) as { quantiles: { values: number[]; q: number[]; expected: number[] } };

const good = [0.1, 0.12, 0.15, 0.2, 0.22, 0.25, 0.3, 0.31, 0.33, 0.4];
const bad = [0.28, 0.35, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9];

test('quantiles equal numpy.quantile (linear)', () => {
  const s = Float64Array.from(reference.quantiles.values).sort();
  reference.quantiles.q.forEach((q, i) => {
    const want = reference.quantiles.expected[i] as number;
    assert.ok(Math.abs(quantileSorted(s, q) - want) < 1e-12, `q=${q}: ${quantileSorted(s, q)} vs ${want}`);
  });
});

test('good-only threshold: quantile plus the stated margin of the upper spread', () => {
  const t = chooseThreshold(good, [], { kind: 'good-quantile', quantile: 0.99, margin: 0.1 });
  const s = Float64Array.from(good).sort();
  const q99 = quantileSorted(s, 0.99);
  const q50 = quantileSorted(s, 0.5);
  assert.ok(Math.abs(t - (q99 + 0.1 * (q99 - q50))) < 1e-12);
  assert.ok(t > Math.max(...good), 'every good image of the set passes');
  assert.equal(operatingPoint(good, [], t).falseRejects, 0);
});

test('target escape rate: the highest threshold whose escapes stay within the target', () => {
  const zero = chooseThreshold(good, bad, { kind: 'target-escape-rate', rate: 0 });
  const p0 = operatingPoint(good, bad, zero);
  assert.equal(p0.escapes, 0);
  // Midway between the lowest defective score (0.28) and the good score below it (0.25).
  assert.ok(Math.abs(zero - 0.265) < 1e-12, `threshold ${zero}`);
  assert.equal(p0.falseRejects, 4);
  const quarter = chooseThreshold(good, bad, { kind: 'target-escape-rate', rate: 0.25 });
  const p25 = operatingPoint(good, bad, quarter);
  // Two escapes allowed: the boundary moves up under 0.5, past every good score (0.4 → 0.45).
  assert.equal(p25.escapes, 2);
  assert.equal(p25.falseRejects, 0);
  assert.ok(Math.abs(quarter - 0.45) < 1e-12, `threshold ${quarter}`);
  assert.ok(quarter > zero);
});

test('target false-reject rate: the lowest threshold whose false rejects stay within the target', () => {
  const t = chooseThreshold(good, bad, { kind: 'target-false-reject', rate: 0 });
  const p = operatingPoint(good, bad, t);
  assert.equal(p.falseRejects, 0);
  assert.equal(p.escapes, 2);
  assert.ok(Math.abs(t - 0.45) < 1e-12, `threshold ${t}`); // between 0.4 (good) and 0.5 (defective)
  // Two false rejects allowed (threshold 0.32, one escape); raising it to 0.34 keeps that one
  // escape and drops a false reject: the rule does not stop at a dominated point.
  const t2 = chooseThreshold(good, bad, { kind: 'target-false-reject', rate: 0.2 });
  assert.ok(Math.abs(t2 - 0.34) < 1e-12, `threshold ${t2}`);
  assert.equal(operatingPoint(good, bad, t2).falseRejects, 1);
  assert.equal(operatingPoint(good, bad, t2).escapes, 1);
});

test('target thresholds are never dominated: no other threshold has fewer escapes and no more false rejects, or the reverse', () => {
  const candidates = [...good, ...bad].flatMap((x) => [x, x + 1e-9]);
  for (const rate of [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1]) {
    for (const kind of ['target-escape-rate', 'target-false-reject'] as const) {
      const p = operatingPoint(good, bad, chooseThreshold(good, bad, { kind, rate }));
      for (const c of candidates) {
        const q = operatingPoint(good, bad, c);
        const better = (q.escapes < p.escapes && q.falseRejects <= p.falseRejects) || (q.falseRejects < p.falseRejects && q.escapes <= p.escapes);
        const withinTarget = kind === 'target-escape-rate' ? (q.escapeRate as number) <= rate : (q.falseRejectRate as number) <= rate;
        assert.ok(!(better && withinTarget), `${kind} ${rate}: ${c} beats the chosen ${p.threshold}`);
      }
    }
  }
});

test('F1-max threshold is the boundary of the best F1 on the set', () => {
  const t = chooseThreshold(good, bad, { kind: 'f1-max' });
  const best = operatingPoint(good, bad, t).f1 as number;
  for (const x of [...good, ...bad]) assert.ok((operatingPoint(good, bad, x).f1 as number) <= best + 1e-12);
});

test('the trade-off table is sorted, includes the chosen threshold and moves escapes against false rejects', () => {
  const chosen = chooseThreshold(good, bad, { kind: 'f1-max' });
  const rows = tradeoffTable(good, bad, chosen);
  assert.ok(rows.some((r) => r.threshold === chosen));
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    assert.ok(b.threshold > a.threshold);
    assert.ok(b.escapes >= a.escapes && b.falseRejects <= a.falseRejects);
  }
});

test('describe gives the manifest distribution fields', () => {
  const d = describe([1, 2, 3, 4]);
  assert.deepEqual([d.n, d.min, d.max, d.mean], [4, 1, 4, 2.5]);
  assert.ok(Math.abs(d.std - Math.sqrt(1.25)) < 1e-12);
  assert.equal(d.quantiles.p50, 2.5);
});

test('impossible targets are coded errors that say what is missing', () => {
  const coded = (re: RegExp) => (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_CALIBRATION_TARGET' && re.test(e.message);
  assert.throws(() => chooseThreshold(good, [], { kind: 'target-escape-rate', rate: 0.01 }), coded(/needs defective images/));
  assert.throws(() => chooseThreshold(good, bad, { kind: 'target-false-reject', rate: 1.5 }), coded(/between 0 and 1, got 1.5/));
  assert.throws(() => chooseThreshold([], bad, { kind: 'f1-max' }), coded(/needs good images/));
});
