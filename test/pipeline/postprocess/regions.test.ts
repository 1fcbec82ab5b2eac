import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findRegions, regionToCamera } from '../../../src/pipeline/postprocess/index.js';
import { computeGeometry } from '../../../src/pipeline/geometry.js';

/** A map from rows of characters: '.' = 0, digits = value / 10. */
function mapOf(rows: string[]): { map: Float32Array; h: number; w: number } {
  const h = rows.length;
  const w = (rows[0] as string).length;
  const map = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const ch = (rows[y] as string)[x] as string;
    map[y * w + x] = ch === '.' ? 0 : Number(ch) / 10;
  }
  return { map, h, w };
}

test('8-connected: diagonal neighbours join, separate blobs stay apart', () => {
  const { map, h, w } = mapOf([
    '5.......',
    '.6....9.',
    '..7...9.',
    '........',
    '.....5..',
  ]);
  const r = findRegions(map, h, w, 0.5);
  assert.equal(r.length, 3);
  assert.deepEqual(r[0], { x: 0, y: 0, w: 3, h: 3, area: 3, max: r[0]?.max });
  assert.ok(Math.abs((r[0]?.max as number) - 0.7) < 1e-6);
  assert.deepEqual({ ...r[1], max: 0 }, { x: 6, y: 1, w: 1, h: 2, area: 2, max: 0 });
  assert.deepEqual({ ...r[2], max: 0 }, { x: 5, y: 4, w: 1, h: 1, area: 1, max: 0 });
});

test('the threshold is inclusive and below-threshold pixels are ignored', () => {
  const { map, h, w } = mapOf(['44', '.3']);
  assert.equal(findRegions(map, h, w, 0.4).length, 1);
  assert.equal(findRegions(map, h, w, 0.4)[0]?.area, 2);
  assert.equal(findRegions(map, h, w, 0.5).length, 0);
});

test('a map filled above threshold is one region covering it', () => {
  const map = new Float32Array(64 * 48).fill(1);
  const r = findRegions(map, 48, 64, 0.5);
  assert.deepEqual(r, [{ x: 0, y: 0, w: 64, h: 48, area: 64 * 48, max: 1 }]);
});

test('regionToCamera undoes the centre crop and resize (392 map of 448→392 on a 896x896 camera)', () => {
  const g = computeGeometry({ width: 896, height: 896 }, { width: 448, height: 448 }, { width: 392, height: 392 });
  assert.deepEqual(g.crop, { x: 28, y: 28, width: 392, height: 392 });
  const d = regionToCamera({ x: 10, y: 20, w: 5, h: 3, area: 12, max: 0.9 }, g, 392, 392);
  // map px 10 → resized 38 → camera 76; width 5 → 10 camera px; each map pixel is 2×2 camera pixels.
  assert.deepEqual(d, { x: 76, y: 96, w: 10, h: 6, area: 48, maxScore: 0.9 });
});

test('regionToCamera adds the ROI offset and scales a coarse map', () => {
  const roi = { x: 100, y: 50, width: 640, height: 480 };
  const g = computeGeometry({ width: 1280, height: 960 }, { width: 256, height: 256 }, null, roi);
  // A 32x32 map over a 256 input: each map pixel = 8 input px = 20 x 15 camera px.
  const d = regionToCamera({ x: 1, y: 2, w: 2, h: 1, area: 2, max: 0.5 }, g, 32, 32);
  assert.deepEqual(d, { x: 120, y: 80, w: 40, h: 15, area: 600, maxScore: 0.5 });
});
