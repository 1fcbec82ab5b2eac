import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idealLatencies, zeroCostLatencies } from '../../bench/queue.js';

test('ideal queue: a model faster than the camera never makes a frame wait', () => {
  assert.deepEqual(idealLatencies([5, 8, 6], 10, 6), [5, 8, 6, 5, 8, 6]);
});

test('ideal queue: one slow run delays the frames behind it until the backlog drains (Lindley)', () => {
  // interval 10: the 25 ms run leaves 15 ms of backlog, drained by 2 ms per following 8 ms run.
  assert.deepEqual(idealLatencies([8, 25, 8, 8, 8, 8], 10, 6), [8, 25, 23, 21, 19, 17]);
  // a model slower than the camera on average: the wait grows without bound.
  const l = idealLatencies([12], 10, 5);
  assert.deepEqual(l, [12, 14, 16, 18, 20]);
});

test('ideal queue: refuses what it cannot compute', () => {
  assert.throws(() => idealLatencies([], 10, 1), /no service times/);
  assert.throws(() => idealLatencies([1], 0, 1), /must be positive/);
});

test('zero-cost replay: a run starts when its frames are in and the previous run is over', () => {
  // Camera every 10 ms, model runs of 8, 25, 8, 8: the 25 ms run makes the next frames wait.
  const frames = [0, 10, 20, 30].map((arrivalMs, run) => ({ arrivalMs, run, runMs: [8, 25, 8, 8][run]! }));
  assert.deepEqual(zeroCostLatencies(frames), [8, 25, 23, 21]);
  // A late frame (the camera's delivery jitter) waits only for what was really in front of it.
  assert.deepEqual(zeroCostLatencies([{ arrivalMs: 0, run: 0, runMs: 25 }, { arrivalMs: 40, run: 1, runMs: 8 }]), [25, 8]);
});

test('zero-cost replay: frames of one batch wait for its last frame and share its end', () => {
  const frames = [
    { arrivalMs: 0, run: 7, runMs: 20 },
    { arrivalMs: 5, run: 7, runMs: 20 },
    { arrivalMs: 10, run: 8, runMs: 20 },
    { arrivalMs: 15, run: 8, runMs: 20 },
  ];
  // Batch 7 runs 5..25; batch 8 is in at 15 but waits for the model: 25..45.
  assert.deepEqual(zeroCostLatencies(frames), [25, 20, 35, 30]);
});
