import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUFFER_FLAG_DISCONT, type SampleMeta } from '../../../../src/pipeline/sources/gstreamer/binding.js';
import { RunLosses, lostOffsets, type UpstreamLossPlan } from '../../../../src/pipeline/sources/gstreamer/losses.js';

/** RunLosses: which frames went missing before each delivered sample (pure, reference cases). */

function meta(over: Partial<SampleMeta>): SampleMeta {
  return { pts: null, dts: null, duration: null, offset: null, offsetEnd: null, flags: 0, arrival: null, runningTime: null, baseTime: null, references: [], ...over };
}

const PLAIN: UpstreamLossPlan = { numbersFrames: false, timestampPeriodNs: null, flagsDiscont: false };
const ms = (n: number): bigint => BigInt(n) * 1_000_000n;

test('appsink drops: a jump in arrival numbers is the number of buffers it dropped (its count goes on across runs)', () => {
  const r = new RunLosses(10, PLAIN);
  assert.deepEqual(r.next(meta({ arrival: 11 })), { appsink: 0, upstream: 0, firstOffset: null });
  assert.deepEqual(r.next(meta({ arrival: 14 })), { appsink: 2, upstream: 0, firstOffset: null });
  assert.equal(r.trailing(17), 3, 'arrived after the last delivered one');
  assert.equal(r.evidence, 'none');
});

test('frame-number offsets: a gap is everything missing; what the appsink dropped is taken out, the rest was lost before it', () => {
  const r = new RunLosses(0, PLAIN);
  r.next(meta({ arrival: 1, offset: 100, offsetEnd: 101 }));
  // offsets 101, 102 missing; nothing dropped by the appsink: both lost upstream, with their offsets.
  assert.deepEqual(r.next(meta({ arrival: 2, offset: 103, offsetEnd: 104 })), { appsink: 0, upstream: 2, firstOffset: 101 });
  // 104..107 missing (4); the appsink dropped 1 of them: 3 upstream, which ones is not known.
  assert.deepEqual(r.next(meta({ arrival: 4, offset: 108, offsetEnd: 109 })), { appsink: 1, upstream: 3, firstOffset: null });
  // Offsets that start again (a reconnected camera) count nothing.
  assert.deepEqual(r.next(meta({ arrival: 5, offset: 0, offsetEnd: 1 })), { appsink: 0, upstream: 0, firstOffset: null });
  assert.equal(r.evidence, 'offsets');
});

test('GigE Vision 1.x frame ids wrap after 65535 to 1: a gap across the wrap is counted, with the ids it lost; a far jump back is a restart', () => {
  const plan: UpstreamLossPlan = { numbersFrames: true, timestampPeriodNs: null, flagsDiscont: true, offsetsWrapAfter: 65535 };
  const r = new RunLosses(0, plan);
  r.next(meta({ arrival: 1, offset: 65533, offsetEnd: 65534 }));
  // 65534, 65535 and 1 missing.
  const gap = r.next(meta({ arrival: 2, offset: 2, offsetEnd: 3 }));
  assert.deepEqual(gap, { appsink: 0, upstream: 3, firstOffset: 65534 });
  assert.deepEqual(lostOffsets(gap, plan.offsetsWrapAfter), [65534, 65535, 1]);
  // Right at the wrap: nothing missing.
  const s = new RunLosses(0, plan);
  s.next(meta({ arrival: 1, offset: 65535, offsetEnd: 65536 }));
  assert.deepEqual(s.next(meta({ arrival: 2, offset: 1, offsetEnd: 2 })), { appsink: 0, upstream: 0, firstOffset: null });
  // Only 1 lost, right after the wrap.
  const one = s.next(meta({ arrival: 3, offset: 3, offsetEnd: 4 }));
  assert.deepEqual(lostOffsets(one, 65535), [2]);
  // Back from 40000 to 5: the way round would be 25 539 lost frames (over 1/16 of the id range),
  // so the camera started counting again: nothing counted, rather than a flood of dropped verdicts.
  const t = new RunLosses(0, plan);
  t.next(meta({ arrival: 1, offset: 40_000, offsetEnd: 40_001 }));
  assert.deepEqual(t.next(meta({ arrival: 2, offset: 5, offsetEnd: 6 })), { appsink: 0, upstream: 0, firstOffset: null });
  // Without a wrap in the plan, ids past 65535 are ordinary numbers (GVSP 2.x: 64-bit ids).
  assert.deepEqual(lostOffsets({ appsink: 0, upstream: 2, firstOffset: 65535 }, null), [65535, 65536]);
});

test('offsets that are not frame numbers (byte offsets: offset_end ≠ offset + 1) are not read as gaps', () => {
  const r = new RunLosses(0, PLAIN);
  r.next(meta({ arrival: 1, offset: 0, offsetEnd: 4096 }));
  assert.deepEqual(r.next(meta({ arrival: 2, offset: 4096, offsetEnd: 8192 })), { appsink: 0, upstream: 0, firstOffset: null });
  assert.equal(r.evidence, 'none');
});

test('timestamps at a set frame period (free-running camera): two periods between timestamps is one lost frame; jitter rounds away', () => {
  const r = new RunLosses(0, { numbersFrames: false, timestampPeriodNs: ms(40), flagsDiscont: false });
  assert.equal(r.evidence, 'timestamps');
  r.next(meta({ arrival: 1, pts: ms(0) }));
  assert.deepEqual(r.next(meta({ arrival: 2, pts: ms(41) })), { appsink: 0, upstream: 0, firstOffset: null });
  assert.deepEqual(r.next(meta({ arrival: 3, pts: ms(121) })), { appsink: 0, upstream: 1, firstOffset: null });
  // Three periods, one of them dropped by the appsink: one lost upstream.
  assert.deepEqual(r.next(meta({ arrival: 5, pts: ms(239) })), { appsink: 1, upstream: 1, firstOffset: null });
});

test('DISCONT with the buffer duration tells a gap only where the source is known to flag lost data', () => {
  const flagged = new RunLosses(0, { numbersFrames: false, timestampPeriodNs: null, flagsDiscont: true });
  assert.equal(flagged.evidence, 'discont');
  flagged.next(meta({ arrival: 1, pts: ms(0), duration: ms(20), flags: BUFFER_FLAG_DISCONT }));
  assert.deepEqual(flagged.next(meta({ arrival: 2, pts: ms(20), duration: ms(20) })), { appsink: 0, upstream: 0, firstOffset: null });
  assert.deepEqual(flagged.next(meta({ arrival: 3, pts: ms(100), duration: ms(20), flags: BUFFER_FLAG_DISCONT })), { appsink: 0, upstream: 3, firstOffset: null });
  // Without DISCONT, a timestamp gap alone is not read (a variable-rate stream).
  assert.deepEqual(flagged.next(meta({ arrival: 4, pts: ms(200), duration: ms(20) })), { appsink: 0, upstream: 0, firstOffset: null });
  const silent = new RunLosses(0, PLAIN);
  silent.next(meta({ arrival: 1, pts: ms(0), duration: ms(20) }));
  assert.deepEqual(silent.next(meta({ arrival: 2, pts: ms(100), duration: ms(20), flags: BUFFER_FLAG_DISCONT })), { appsink: 0, upstream: 0, firstOffset: null });
});
