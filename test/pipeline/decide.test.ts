import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { decideConfigSchema } from '../../src/config/sections.js';
import { REASON, decide, ejects, failSafeReasons, normalizedToRaw, rawPixelThreshold } from '../../src/pipeline/decide.js';
import type { Defect } from '../../src/pipeline/verdict.js';

const rules = (over: object = {}) => decideConfigSchema.parse(over);
const defect = (x: number, y: number, area: number): Defect => ({ x, y, w: 10, h: 10, area, maxScore: 1 });

test('defaults: normalized image threshold 0.5 is the calibrated boundary, failSafe reject', () => {
  const r = rules();
  assert.equal(r.failSafe, 'reject');
  assert.equal(decide(r, { score: 9, normScore: 0.5, defects: [] }).verdict, 'reject');
  assert.equal(decide(r, { score: 9, normScore: 0.4999, defects: [] }).verdict, 'ok');
  const d = decide(r, { score: 9, normScore: 0.7, defects: [] });
  assert.equal(d.reasons[0]?.code, REASON.SCORE);
  assert.match(d.reasons[0]!.message, /0\.700 ≥ 0\.5/);
});

test('raw image threshold compares the raw score', () => {
  const r = rules({ image: { value: 3, scale: 'raw' } });
  assert.equal(decide(r, { score: 3.2, normScore: 0.1, defects: [] }).verdict, 'reject');
  assert.equal(decide(r, { score: 2.9, normScore: 0.9, defects: [] }).verdict, 'ok');
});

test('defect rule: minimum area, include and exclude rectangles (by region centre)', () => {
  const r = rules({
    rejectOn: 'defect',
    minDefectAreaPx: 50,
    include: [{ x: 0, y: 0, width: 100, height: 100 }],
    exclude: [{ x: 0, y: 0, width: 20, height: 20 }],
  });
  assert.equal(decide(r, { score: 0, normScore: 0, defects: [defect(50, 50, 49)] }).verdict, 'ok', 'too small');
  assert.equal(decide(r, { score: 0, normScore: 0, defects: [defect(200, 50, 500)] }).verdict, 'ok', 'outside include');
  assert.equal(decide(r, { score: 0, normScore: 0, defects: [defect(2, 2, 500)] }).verdict, 'ok', 'inside exclude');
  const d = decide(r, { score: 0, normScore: 0, defects: [defect(2, 2, 500), defect(50, 50, 60)] });
  assert.equal(d.verdict, 'reject');
  assert.equal(d.defects.length, 1, 'only the counting defect is reported');
  assert.equal(d.reasons[0]?.code, REASON.DEFECT);
});

test('combined rules', () => {
  const hi = { score: 5, normScore: 0.9 };
  const lo = { score: 0, normScore: 0.1 };
  const ds = [defect(50, 50, 100)];
  const and = rules({ rejectOn: 'score-and-defect' });
  assert.equal(decide(and, { ...hi, defects: [] }).verdict, 'ok');
  assert.equal(decide(and, { ...hi, defects: ds }).verdict, 'reject');
  const or = rules({ rejectOn: 'score-or-defect' });
  assert.equal(decide(or, { ...lo, defects: ds }).verdict, 'reject');
  assert.equal(decide(or, { ...lo, defects: [] }).verdict, 'ok');
  assert.equal(decide(or, { ...hi, defects: ds }).reasons.length, 2);
});

test('normalized thresholds invert the calibration: 0.5 ↔ threshold', () => {
  const cal = { threshold: 0.3, min: 0.1, max: 0.9 };
  assert.equal(normalizedToRaw(0.5, cal), 0.3);
  assert.ok(Math.abs(normalizedToRaw(0.75, cal) - 0.5) < 1e-12);
  assert.equal(rawPixelThreshold(rules({ pixel: { value: 0.42, scale: 'raw' } }), cal), 0.42);
  assert.equal(rawPixelThreshold(rules(), cal), 0.3);
});

test('failSafe: error and dropped frames eject under reject, pass through under pass', () => {
  const cause = { code: REASON.ERROR, message: 'corrupt' };
  const rej = failSafeReasons('error', 'reject', cause);
  assert.equal(ejects({ verdict: 'error', reasons: rej }), true);
  const pass = failSafeReasons('dropped', 'pass', { code: REASON.DROPPED, message: 'queue full' });
  assert.equal(pass[1]?.code, REASON.FAILSAFE_PASS);
  assert.equal(ejects({ verdict: 'dropped', reasons: pass }), false);
  assert.equal(ejects({ verdict: 'reject', reasons: [] }), true);
  assert.equal(ejects({ verdict: 'ok', reasons: [] }), false);
});

test('docs/mqtt.md lists every reason code a verdict can carry', () => {
  const doc = readFileSync(new URL('../../../docs/mqtt.md', import.meta.url), 'utf8');
  const missing = Object.values(REASON).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, [], 'reason codes missing from docs/mqtt.md');
});
