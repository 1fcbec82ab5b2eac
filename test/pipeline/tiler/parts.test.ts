import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartMap, pitchPartId } from '../../../src/pipeline/tiler/parts.js';

/** Which part a line-scan segment belongs to (pure). */

test('parts named by triggers: a new partId starts a part at its buffer; the same one again continues it', () => {
  const parts = new PartMap();
  assert.equal(parts.at(10), undefined, 'before the first part');
  parts.add(100, 'A');
  parts.add(140, 'A'); // the next buffer still on part A
  parts.add(250, 'B');
  parts.add(200, 'C'); // behind B: out of order, ignored
  assert.equal(parts.at(99.9), undefined);
  assert.deepEqual([parts.at(100), parts.at(180), parts.at(249.9), parts.at(250), parts.at(1e6)], ['A', 'A', 'A', 'B', 'B']);
});

test('parts at a pitch from the web zero: numbered from `first` with a prefix', () => {
  const o = { pitchMm: 100, prefix: 'R-', first: 1 };
  assert.deepEqual([pitchPartId(0, o), pitchPartId(99.9, o), pitchPartId(150, o), pitchPartId(1000, o)], ['R-1', 'R-1', 'R-2', 'R-11']);
});

test('a part map keeps the recent parts only, and still answers for them', () => {
  const parts = new PartMap();
  for (let i = 0; i < 200; i++) parts.add(i * 10, `P${i}`);
  assert.equal(parts.at(1995), 'P199');
  assert.equal(parts.at(1905), 'P190');
});
