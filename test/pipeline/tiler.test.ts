import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, toArray } from 'rxjs';
import { LinewatchError } from '../../src/errors.js';
import { createGstreamerSource, gstreamerSourceSchema } from '../../src/pipeline/sources/gstreamer/index.js';
import {
  LinePositions,
  LineScanTiler,
  StreamingRegions,
  tileStarts,
  type Band,
  type LineDefect,
  type SegmentDecision,
  type Tile,
} from '../../src/pipeline/tiler/index.js';

test('tileStarts: step tile − overlap, last tile pulled back to the edge (reference values)', () => {
  assert.deepEqual(tileStarts(1000, 392, 64), [0, 328, 608]);
  assert.deepEqual(tileStarts(4096, 512, 0), [0, 512, 1024, 1536, 2048, 2560, 3072, 3584]);
  assert.deepEqual(tileStarts(256, 96, 32), [0, 64, 128, 160]);
  assert.deepEqual(tileStarts(512, 512, 0), [0]);
  assert.throws(() => tileStarts(100, 200, 0), (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_TILER_GEOMETRY');
  assert.throws(() => tileStarts(1000, 100, 100), /overlap 100 px must be smaller/);
});

function rowsOf(lines: string[]): Float32Array[] {
  return lines.map((l) => Float32Array.from(l, (c) => (c === '#' ? 1 : 0)));
}

test('streaming regions: 8-connected, a U joined at its bottom is one region, each region comes out once', () => {
  const rows = rowsOf([
    '#...#....#',
    '#...#.....',
    '#...#...#.',
    '#####.....',
    '..........',
    '.........#',
  ]);
  const finder = new StreamingRegions(0.5);
  const out = [];
  for (let i = 0; i < rows.length; i++) out.push(...finder.push(rows[i]!, 100 + i));
  out.push(...finder.flush());
  out.sort((a, b) => a.line - b.line || a.x - b.x);
  assert.deepEqual(
    out.map((r) => [r.x, r.line, r.w, r.h, r.area]),
    [
      [0, 100, 5, 4, 11], // the U
      [9, 100, 1, 1, 1],
      [8, 102, 1, 1, 1],
      [9, 105, 1, 1, 1],
    ],
  );
  const diag = new StreamingRegions(0.5);
  const d = rowsOf(['#...', '.#..', '..#.']);
  const got = [];
  for (let i = 0; i < d.length; i++) got.push(...diag.push(d[i]!, i));
  got.push(...diag.flush());
  assert.equal(got.length, 1, 'diagonal neighbours are connected');
});

test('encoder positions: interpolated between buffer anchors, extrapolated after the last', () => {
  const p = new LinePositions({ kind: 'encoder', countsPerMm: 4 });
  p.anchor(0, 1000);
  p.anchor(64, 1128);
  assert.equal(p.mm(32), 1064 / 4);
  assert.equal(p.mm(96), 1192 / 4);
  assert.equal(new LinePositions({ kind: 'fixed', mmPerLine: 0.25 }).mm(40), 10);
});

/** A simulated web: GRAY8, 256 px wide, defects (value 255) painted at known places on a 40 background. */
const WIDTH = 256;
const LINES = 320;
const BUFFER_LINES = 64;
const DEFECTS = [
  { x: 10, y: 60, w: 10, h: 10 }, // straddles camera buffers 0/1 and bands 0/1
  { x: 90, y: 200, w: 20, h: 6 }, // straddles the tiles at x 64 and 128 (overlap 32)
  { x: 240, y: 300, w: 11, h: 11 }, // in the last lines, only the end band sees it whole
];

function web(): Uint8Array {
  const px = new Uint8Array(WIDTH * LINES).fill(40);
  for (const d of DEFECTS) for (let y = d.y; y < d.y + d.h; y++) px.fill(255, y * WIDTH + d.x, y * WIDTH + d.x + d.w);
  return px;
}

/** The web as the camera delivers it: buffers of BUFFER_LINES lines. */
function splitWeb(): Uint8Array[] {
  const px = web();
  const out: Uint8Array[] = [];
  for (let l = 0; l < LINES; l += BUFFER_LINES) out.push(px.subarray(l * WIDTH, (l + BUFFER_LINES) * WIDTH));
  return out;
}

/** A tile's pixels tightly packed (tiles are views of the strip, rows `strideBytes` apart), GRAY8. */
function tight(t: Tile, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) out.set(t.data.subarray(y * t.strideBytes, y * t.strideBytes + w), y * w);
  return out;
}

/** The "model": a map at tile resolution; `blind` tiles see nothing in their left 32 px (the overlap with the tile before). */
function infer(band: Band, blind: (tileIndex: number) => boolean): Float32Array[] {
  return band.tiles.map((t, i) => {
    const px = tight(t, 96, 96);
    const m = new Float32Array(px.length);
    for (let k = 0; k < m.length; k++) m[k] = blind(i) && k % 96 < 32 ? 0 : px[k]! / 255;
    return m;
  });
}

function runWeb(
  blind: (tileIndex: number) => boolean,
  buffers: readonly Uint8Array[] = splitWeb(),
  cropMargin: number | null = null,
  bounds: 'none' | 'map' | 'rows' = 'none',
): { defects: LineDefect[]; segments: SegmentDecision[]; bands: number } {
  const tiler = new LineScanTiler({
    width: WIDTH,
    channels: 1,
    tileWidth: 96,
    tileHeight: 96,
    overlapAcrossPx: 32,
    overlapAlongLines: 32,
    threshold: 0.5,
    mmPerPixel: 0.1,
    resolution: { kind: 'fixed', mmPerLine: 0.5 },
    segmentLengthMm: 50,
    minDefectAreaPx: 20,
  });
  tiler.keepCrops(cropMargin);
  const defects: LineDefect[] = [];
  const segments: SegmentDecision[] = [];
  let bands = 0;
  // The maps with what the caller measured of them: nothing, each map's maximum, or its maximum per row.
  const add = (band: Band): ReturnType<LineScanTiler['addMaps']> => {
    const maps = infer(band, blind);
    if (bounds === 'none') return tiler.addMaps(band, maps);
    const rowMax = (m: Float32Array): Float32Array => Float32Array.from({ length: 96 }, (_, y) => Math.max(...m.subarray(y * 96, (y + 1) * 96)));
    return tiler.addMaps(band, maps, maps.map((m) => (bounds === 'map' ? Math.max(...m) : rowMax(m))));
  };
  for (const buf of buffers) {
    for (const band of tiler.push(buf, buf.length / WIDTH)) {
      bands++;
      const r = add(band);
      defects.push(...r.defects);
      segments.push(...r.segments);
    }
  }
  const last = tiler.end();
  if (last !== null) {
    bands++;
    const r = add(last);
    defects.push(...r.defects);
    segments.push(...r.segments);
  }
  const r = tiler.finish();
  defects.push(...r.defects);
  segments.push(...r.segments);
  return { defects, segments, bands };
}

test('line-scan strip: each defect reported once, at its known place across and along the web, in pixels and mm', () => {
  const { defects, bands } = runWeb(() => false);
  assert.equal(bands, 5); // bands at lines 0, 64, 128, 192 and the end band at 224
  const got = defects.map((d) => [d.x, d.y, d.w, d.h, d.area]).sort((a, b) => a[1]! - b[1]!);
  assert.deepEqual(
    got,
    DEFECTS.map((d) => [d.x, d.y, d.w, d.h, d.w * d.h]),
  );
  const first = defects.find((d) => d.y === 60)!;
  assert.equal(first.alongMm, 30);
  assert.equal(first.acrossMm, 1);
  assert.equal(first.lengthMm, 5);
  assert.equal(first.widthMm, 1);
  assert.equal(first.maxScore, 1);
});

test('map bounds given with the maps (per map, or per row as the line-scan operator gives them) spare reading rows, never a defect: the same defects and segments as without', () => {
  const plain = runWeb(() => false);
  assert.ok(plain.defects.length > 0);
  assert.deepEqual(runWeb(() => false, splitWeb(), null, 'map'), plain);
  assert.deepEqual(runWeb(() => false, splitWeb(), null, 'rows'), plain);
  // Tiles blind at their overlap: a defect seen by one of two tiles over it, so its rows' bounds come from one tile.
  assert.deepEqual(runWeb((i) => i % 2 === 1, splitWeb(), null, 'rows'), runWeb((i) => i % 2 === 1));
});

test('row maxima of the wrong length are refused, naming the band and tile', () => {
  const tiler = new LineScanTiler({ width: WIDTH, channels: 1, tileWidth: 96, tileHeight: 96, threshold: 0.5, mmPerPixel: 0.1, resolution: { kind: 'fixed', mmPerLine: 0.5 }, segmentLengthMm: 50 });
  const [band] = tiler.push(web(), LINES);
  const maps = band!.tiles.map(() => new Float32Array(96 * 96));
  assert.throws(() => tiler.addMaps(band!, maps, maps.map(() => new Float32Array(95))), { code: 'LW_ERR_FRAME_INVALID', message: /band 0 tile 0: 95 row maxima, want one per map row \(96\)/ });
});

test('overlapping tiles are merged by maximum: a defect one tile misses is still reported once, whole', () => {
  // Odd tiles are blind in their overlap with the tile before: the defect at x 90–109 is then seen in part by each tile.
  const { defects } = runWeb((i) => i % 2 === 1);
  const b = defects.filter((d) => d.y === 200);
  assert.equal(b.length, 1);
  assert.deepEqual([b[0]!.x, b[0]!.w, b[0]!.area], [90, 20, 120]);
});

test('segments of web are decided once each, in order, reject where a large enough defect starts', () => {
  const { segments } = runWeb(() => false);
  assert.deepEqual(
    segments.map((s) => [s.index, s.startMm, s.endMm, s.verdict, s.defects.length]),
    [
      [0, 0, 50, 'reject', 1],
      [1, 50, 100, 'ok', 0],
      [2, 100, 150, 'reject', 1],
      [3, 150, 200, 'reject', 1],
    ],
  );
});

test('NG crops: off by default (no crops); on, each rejected segment carries its defect cut out of the strip and the merged map, box plus margin clamped to the strip', () => {
  assert.ok(runWeb(() => false).segments.every((s) => s.crops === undefined));
  const margin = 16;
  const { segments } = runWeb(() => false, splitWeb(), margin);
  const px = web();
  assert.deepEqual(
    segments.map((s) => [s.verdict, s.crops?.length ?? 0]),
    [['reject', 1], ['ok', 0], ['reject', 1], ['reject', 1]],
  );
  const windows = [];
  for (const s of segments) {
    for (const c of s.crops ?? []) {
      windows.push([c.x, c.line, c.width, c.height]);
      assert.equal(c.defect, s.defects[0], 'the crop of the segment\'s defect');
      for (let y = 0; y < c.height; y++) {
        for (let x = 0; x < c.width; x++) {
          const v = px[(c.line + y) * WIDTH + c.x + x]!;
          assert.equal(c.pixels[y * c.width + x], v);
          assert.equal(c.map[y * c.width + x], Math.fround(v / 255), 'the merged map (this "model" maps each pixel to itself)');
        }
      }
    }
  }
  assert.deepEqual(windows, [
    [0, 44, 36, 42], // x clamped at 0
    [74, 184, 52, 38],
    [224, 284, 32, 36], // clamped at the right edge and at the end of the strip
  ]);
});

test('NG crops keep memory bounded: a streak along the whole web holds at most 8 tile heights of strip, and its crop shows its last lines', () => {
  const W = 64;
  const T = 32;
  const tiler = new LineScanTiler({
    width: W,
    channels: 1,
    tileWidth: T,
    tileHeight: T,
    threshold: 0.5,
    mmPerPixel: 1,
    resolution: { kind: 'fixed', mmPerLine: 1 },
    segmentLengthMm: 10_000,
  });
  tiler.keepCrops(8);
  const held = () => (tiler as unknown as { heldLines: number }).heldLines;
  let most = 0;
  const segments: SegmentDecision[] = [];
  for (let b = 0; b < 100; b++) {
    const buf = new Uint8Array(W * T).fill(40);
    for (let y = 0; y < T; y++) if (b * T + y >= 100 && b * T + y < 3000) buf.fill(255, y * W + 10, y * W + 13);
    for (const band of tiler.push(buf, T)) segments.push(...tiler.addMaps(band, band.tiles.map((t) => Float32Array.from(tight(t, T, T), (v) => v / 255))).segments);
    most = Math.max(most, held());
  }
  tiler.end();
  segments.push(...tiler.finish().segments);
  assert.ok(most <= 8 * T + 2 * T, `strip lines held at most ${most}`);
  const crops = segments.flatMap((s) => s.crops ?? []);
  assert.equal(crops.length, 1);
  const c = crops[0]!;
  assert.deepEqual([c.defect.y, c.defect.h, c.x, c.width], [100, 2900, 2, 19]);
  assert.equal(c.line + c.height, 3008, 'ends at the streak end plus the margin');
  assert.ok(c.height <= 9 * T, `crop of ${c.height} lines`);
});

test('a strip read through GStreamer (filesrc → rawvideoparse, 64-line buffers) into the tiler: the same defects, once each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-linescan-'));
  try {
    const file = join(dir, 'web.gray');
    writeFileSync(file, web());
    const source = createGstreamerSource(
      gstreamerSourceSchema.parse({
        type: 'gstreamer',
        format: 'GRAY8',
        input: {
          preset: 'launch',
          live: false,
          pipeline: `filesrc location=${file} blocksize=${WIDTH * BUFFER_LINES} ! rawvideoparse width=${WIDTH} height=${BUFFER_LINES} format=gray8 framerate=100/1 ! appsink name=sink`,
        },
      }),
      'web1',
    );
    const frames = await firstValueFrom(source.frames().pipe(toArray()));
    assert.equal(frames.length, LINES / BUFFER_LINES);
    const buffers = frames.map((f) => {
      assert.ok(f.image.kind === 'raw' && f.image.width === WIDTH && f.image.height === BUFFER_LINES);
      return new Uint8Array(f.image.data.buffer, f.image.data.byteOffset, f.image.data.length);
    });
    const { defects } = runWeb(() => false, buffers);
    assert.deepEqual(
      defects.map((d) => [d.x, d.y, d.w, d.h]).sort((a, b) => a[1]! - b[1]!),
      DEFECTS.map((d) => [d.x, d.y, d.w, d.h]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
