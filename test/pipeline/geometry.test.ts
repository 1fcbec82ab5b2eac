import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeGeometry, mapPointToCamera, mapRectToCamera, roundHalfEven } from '../../src/pipeline/geometry.js';

test('centre-crop offsets round halves to even like torchvision (Python round)', () => {
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(1.5), 2);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(2.4), 2);
  assert.equal(roundHalfEven(2.6), 3);
  // 257 → 250: margin 7, offset round(3.5) = 4.
  assert.equal(computeGeometry({ width: 500, height: 500 }, { width: 257, height: 257 }, { width: 250, height: 250 }).crop.x, 4);
});

test('map corners go to the crop corners in camera pixels', () => {
  const g = computeGeometry({ width: 1000, height: 800 }, { width: 448, height: 448 }, { width: 392, height: 392 });
  const tl = mapPointToCamera(g, 28, 28, 0, 0);
  const br = mapPointToCamera(g, 28, 28, 28, 28);
  assert.ok(Math.abs(tl.x - (28 * 1000) / 448) < 1e-9 && Math.abs(tl.y - (28 * 800) / 448) < 1e-9);
  assert.ok(Math.abs(br.x - (420 * 1000) / 448) < 1e-9 && Math.abs(br.y - (420 * 800) / 448) < 1e-9);
});

test('a rectangle reaching the map edge stays inside the ROI', () => {
  const roi = { x: 10, y: 10, width: 100, height: 100 };
  const g = computeGeometry({ width: 200, height: 200 }, { width: 64, height: 64 }, null, roi);
  const r = mapRectToCamera(g, 16, 16, { x: 12, y: 12, width: 4, height: 4 });
  assert.equal(r.x + r.width, 110);
  assert.equal(r.y + r.height, 110);
});

test('an ROI outside the image or a crop larger than the resize is refused', () => {
  assert.throws(() => computeGeometry({ width: 100, height: 100 }, { width: 64, height: 64 }, null, { x: 50, y: 0, width: 60, height: 10 }), /does not fit inside the 100x100 image/);
  assert.throws(() => computeGeometry({ width: 100, height: 100 }, { width: 64, height: 64 }, { width: 65, height: 64 }), /larger than the resize/);
});
