import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MapWindow, StreamingRegions, type StripRegion } from '../../../src/pipeline/tiler/index.js';
import { maxOf } from '../../../src/pipeline/tiler/merge.js';

/** A small deterministic generator (xorshift32), so a failure names its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * The merge by maximum written the plain way: every tile value compared with what is there. The
 * window's copy of never-written columns and its row bounds must give exactly this.
 */
test('MapWindow: tiles in any order, with gaps and overlaps, across releases, merge exactly as a value-by-value maximum; each row bound is at least its row', () => {
  const W = 70;
  for (let seed = 1; seed <= 40; seed++) {
    const rand = rng(seed);
    const win = new MapWindow(W, 16);
    const ref = new Map<number, Float32Array>();
    let first = 0;
    for (let step = 0; step < 30; step++) {
      const tw = 1 + Math.floor(rand() * 20);
      const th = 1 + Math.floor(rand() * 12);
      const x0 = Math.floor(rand() * (W - tw + 1));
      const line0 = first + Math.floor(rand() * 10);
      const map = new Float32Array(tw * th);
      for (let i = 0; i < map.length; i++) map[i] = rand() < 0.05 ? Number.NaN : rand() * 4 - 2;
      // A third of the tiles come with their maximum as a caller measures it, a third with their
      // maximum per row (as the line-scan operator gives them), a third are measured by the window.
      const how = rand();
      if (how < 1 / 3) win.addTile(map, x0, line0, tw, th, maxOf(map));
      else if (how < 2 / 3) win.addTile(map, x0, line0, tw, th, Float32Array.from({ length: th }, (_, y) => maxOf(map.subarray(y * tw, (y + 1) * tw))));
      else win.addTile(map, x0, line0, tw, th);
      for (let y = 0; y < th; y++) {
        const row = ref.get(line0 + y) ?? new Float32Array(W).fill(-Infinity);
        for (let x = 0; x < tw; x++) {
          const v = map[y * tw + x]!;
          if (v > row[x0 + x]!) row[x0 + x] = v;
        }
        ref.set(line0 + y, row);
      }
      if (rand() < 0.3) {
        // Read every held row, then let the oldest go.
        for (const [line, row] of ref) {
          if (line < first) continue;
          // NaN is no value, as −∞ is: the window may hold either where every tile had NaN.
          const noNaN = (a: Float32Array): number[] => Array.from(a, (v) => (Number.isNaN(v) ? -Infinity : v));
          assert.deepEqual(noNaN(win.row(line)), noNaN(row), `seed ${seed}, step ${step}, line ${line}`);
          const bound = win.rowBound(line);
          for (let x = 0; x < W; x++) assert.ok(!(row[x]! > bound), `seed ${seed}: line ${line} value ${row[x]} over its bound ${bound}`);
        }
        first += 1 + Math.floor(rand() * 4);
        win.release(first);
        for (const line of [...ref.keys()]) if (line < first) ref.delete(line);
      }
    }
  }
});

test('StreamingRegions: a row known to be under the threshold (pushEmpty) closes regions exactly as pushing it would', () => {
  const rows = ['..##..', '..#...', '......', '#....#', '......', '......'].map((l) => Float32Array.from(l, (c) => (c === '#' ? 1 : 0)));
  const run = (skipEmpty: boolean): StripRegion[] => {
    const r = new StreamingRegions(0.5);
    const out: StripRegion[] = [];
    rows.forEach((row, line) => {
      const bound = maxOf(row);
      out.push(...(skipEmpty && !r.mayHold(bound) ? r.pushEmpty(line) : r.push(row, line)));
    });
    out.push(...r.flush());
    return out;
  };
  const plain = run(false);
  assert.equal(plain.length, 3);
  assert.deepEqual(run(true), plain);
});
