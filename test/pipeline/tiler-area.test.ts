/**
 * tiler/area.ts on its own: tile origins as the line-scan tiler places them, the maximum where
 * tiles overlap, the highest tile score, and the same frames whether the tiles come in one model
 * run or in several (a fixed-batch model takes a frame's tiles a few at a time).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { manifestSchema, type Manifest } from '../../src/models/manifest.js';
import { AreaTiling } from '../../src/pipeline/tiler/area.js';
import type { FinishedMaps } from '../../src/pipeline/postprocess/finish.js';
import { fixture } from '../models/helpers.js';

async function tiled(resize: { height: number; width: number }, tiles: { height: number; width: number; overlap: number }): Promise<Manifest> {
  const m = JSON.parse(await readFile(join(fixture('tiny-inp-tiles'), 'model.json'), 'utf8')) as Record<string, unknown>;
  return manifestSchema.parse({ ...m, geometry: { resize, crop: null, tiles }, input: { ...(m['input'] as object), height: tiles.height, width: tiles.width } });
}

/** n tile maps of h×w, tile k constant (k + 1), scores k + 1. */
function constantTiles(n: number, h: number, w: number, first = 0): FinishedMaps {
  const maps = new Float32Array(n * h * w);
  const scores = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    maps.fill(first + k + 1, k * h * w, (k + 1) * h * w);
    scores[k] = first + k + 1;
  }
  return { maps, height: h, width: w, scores };
}

test('tiles start where the line-scan tiler starts them and overlaps keep the maximum', async () => {
  const t = new AreaTiling(await tiled({ height: 56, width: 140 }, { height: 56, width: 56, overlap: 14 }), 8, 8);
  assert.deepEqual(t.origins.map((o) => o.x), [0, 42, 84], 'tileStarts(140, 56, 14)');
  const frames = t.frames(1);
  t.merge(constantTiles(3, 8, 8), 3, 0, frames);
  const row = frames.maps.subarray(20 * 140, 21 * 140);
  assert.equal(row[41], 1);
  assert.equal(row[42], 2, 'tile 1 wins over tile 0 where both see the pixel');
  assert.equal(row[84], 3);
  assert.equal(row[139], 3);
  assert.equal(frames.scores[0], 3, 'the highest tile score');
});

test('a frame\'s tiles merged over several runs give the frames one run gives; tiles past a frame go to the next', async () => {
  const m = await tiled({ height: 98, width: 98 }, { height: 56, width: 56, overlap: 14 });
  const t = new AreaTiling(m, 16, 16);
  assert.equal(t.count, 4, '2 × 2 tiles');
  const once = t.frames(2);
  t.merge(constantTiles(8, 16, 16), 8, 0, once);
  const inRuns = t.frames(2);
  for (let s = 0; s < 8; s += 3) {
    const n = Math.min(3, 8 - s);
    t.merge(constantTiles(n, 16, 16, s), n, s, inRuns);
  }
  assert.deepEqual(inRuns.maps, once.maps);
  assert.deepEqual([...inRuns.scores], [4, 8], 'frame 1 got tiles 4–7');
  assert.ok(once.maps.every((v) => Number.isFinite(v)), 'every pixel of both frames is covered');
});
