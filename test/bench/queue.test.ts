import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idealLatencies } from '../../bench/queue.js';

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
