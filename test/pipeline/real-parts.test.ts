/**
 * Real parts through the one Inspector: a long part kept in proportion (1:2.5, no crop), and an
 * area-scan frame inspected tile by tile. The bundles are trainer/'s (fixtures_geometry.py), with
 * the PyTorch reference of each whole sample frame in samples/frames.json: the runtime must give
 * the same map and score, and put each defect where it is in camera pixels.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decideConfigSchema } from '../../src/config/sections.js';
import { loadBundle, InferenceEngine, type Bundle } from '../../src/models/index.js';
import { captureTimeNow, type Frame } from '../../src/pipeline/frame.js';
import { Inspector, createModelSlot, type JudgedFrame, type ModelSlot } from '../../src/pipeline/inspect/index.js';
import { DEFAULT_MAX_FRAME_PIXELS, preparePixels } from '../../src/pipeline/preprocess/index.js';
import type { Defect, Verdict } from '../../src/pipeline/verdict.js';
import { decode, fixture, maxAbsDiff, type FixtureName } from '../models/helpers.js';

interface ReferenceFrame {
  sample: string;
  width: number;
  height: number;
  /** Where each defect is, [x, y, w, h] in camera pixels (where it passes half its peak). */
  defects: [number, number, number, number][];
  score: number;
  map: { shape: number[]; dtype: string; base64: string };
}

interface Loaded {
  bundle: Bundle;
  engine: InferenceEngine;
  slot: ModelSlot;
  frames: ReferenceFrame[];
}

const rules = { decide: decideConfigSchema.parse(undefined), configVersion: 'test' };
const loaded: Partial<Record<FixtureName, Loaded>> = {};

async function load(name: FixtureName): Promise<Loaded> {
  const bundle = await loadBundle(fixture(name));
  const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  const frames = (JSON.parse(await readFile(join(bundle.dir, 'samples', 'frames.json'), 'utf8')) as { frames: ReferenceFrame[] }).frames;
  return { bundle, engine, slot: createModelSlot(bundle, engine), frames };
}

before(async () => {
  loaded['tiny-inp-long'] = await load('tiny-inp-long');
  loaded['tiny-inp-tiles'] = await load('tiny-inp-tiles');
});

after(async () => {
  for (const l of Object.values(loaded)) await l.engine.close();
});

/** Judges each reference sample; returns its verdict and the map the judge stage saw. */
async function judgeSamples(l: Loaded): Promise<{ ref: ReferenceFrame; verdict: Verdict; judged: JudgedFrame }[]> {
  const seen: JudgedFrame[] = [];
  const inspector = new Inspector({
    model: () => l.slot,
    rules: () => rules,
    prepare: (f, m, c) => preparePixels(f, m, c.roi, c.maxFramePixels),
    frameContext: () => ({ roi: undefined, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, extras: null }),
    judged: () => (j) => seen.push(j),
  });
  const frames: Frame[] = [];
  for (const [i, ref] of l.frames.entries()) {
    frames.push({ seq: i, cameraId: 'cam', capturedAt: captureTimeNow(), image: { kind: 'encoded', data: await readFile(join(l.bundle.dir, ref.sample)) }, meta: {} });
  }
  const verdicts = await inspector.judge(frames);
  return l.frames.map((ref, i) => ({ ref, verdict: verdicts[i]!, judged: seen.find((j) => j.frame.seq === i)! }));
}

function overlaps(d: Defect, box: [number, number, number, number]): boolean {
  const [x, y, w, h] = box;
  return d.x < x + w && x < d.x + d.w && d.y < y + h && y < d.y + d.h;
}

test('a long part in proportion: the whole 1:2.5 frame through export, the runtime and regionToCamera, a defect found at each end in camera pixels', async () => {
  const l = loaded['tiny-inp-long']!;
  const g = l.bundle.manifest.geometry;
  assert.deepEqual([g.resize.height, g.resize.width, l.bundle.manifest.input.height, l.bundle.manifest.input.width], [56, 140, 56, 140]);
  const [good, ends] = await judgeSamples(l);
  for (const { ref, judged, verdict } of [good!, ends!]) {
    const want = decode(ref.map);
    assert.deepEqual([judged.mapHeight, judged.mapWidth], want.shape, 'the map keeps the part\'s proportions');
    assert.ok(maxAbsDiff(judged.map, want.data) <= 1e-4, `${ref.sample}: map vs PyTorch ${maxAbsDiff(judged.map, want.data)}`);
    assert.ok(Math.abs((verdict.score as number) - ref.score) <= 1e-4, `${ref.sample}: score ${verdict.score} vs ${ref.score}`);
  }
  assert.equal(good!.verdict.verdict, 'ok');
  assert.equal(ends!.verdict.verdict, 'reject');
  const [left, right] = ends!.ref.defects;
  const found = ends!.verdict.defects;
  const atLeft = found.filter((d) => overlaps(d, left!));
  const atRight = found.filter((d) => overlaps(d, right!));
  assert.equal(atLeft.length, 1, `one defect at the left end (blob at ${left}): ${JSON.stringify(found)}`);
  assert.equal(atRight.length, 1, `one defect at the right end (blob at ${right}): ${JSON.stringify(found)}`);
  // In camera pixels of the 280 px frame, right at the ends; and exactly where the map says: each
  // side's above-threshold map pixels (64×160 map, 1.75 camera px each way) carried back by hand.
  const map = decode(ends!.ref.map).data;
  const t = l.bundle.manifest.calibration.pixel.threshold;
  for (const [d, x0, x1] of [[atLeft[0]!, 0, 80], [atRight[0]!, 80, 160]] as const) {
    let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity;
    for (let v = 0; v < 64; v++) for (let u = x0; u < x1; u++) if ((map[v * 160 + u] as number) > t) {
      u0 = Math.min(u0, u); u1 = Math.max(u1, u); v0 = Math.min(v0, v); v1 = Math.max(v1, v);
    }
    const want = { x: Math.floor(u0 * 1.75), y: Math.floor(v0 * 1.75), w: Math.ceil((u1 + 1) * 1.75) - Math.floor(u0 * 1.75), h: Math.ceil((v1 + 1) * 1.75) - Math.floor(v0 * 1.75) };
    assert.deepEqual({ x: d.x, y: d.y, w: d.w, h: d.h }, want, 'regionToCamera undoes the 2.5:1 resize on each axis');
  }
  assert.ok(atLeft[0]!.x < 30 && atRight[0]!.x + atRight[0]!.w > 250, JSON.stringify(found));
});

test('an area-scan frame tile by tile: the tiles are merged into one map and a defect straddling two tiles is found once', async () => {
  const l = loaded['tiny-inp-tiles']!;
  assert.equal(l.slot.tiling?.count, 2, 'tiles at x = 0 and 42 of the 98 px wide resized frame');
  assert.deepEqual(l.slot.tiling?.origins, [{ x: 0, y: 0 }, { x: 42, y: 0 }]);
  const [good, straddle] = await judgeSamples(l);
  for (const { ref, judged, verdict } of [good!, straddle!]) {
    const want = decode(ref.map);
    assert.deepEqual([judged.mapHeight, judged.mapWidth], [56, 98], 'the frame\'s map, at the resized frame\'s size');
    assert.ok(maxAbsDiff(judged.map, want.data) <= 1e-4, `${ref.sample}: merged map vs PyTorch ${maxAbsDiff(judged.map, want.data)}`);
    assert.ok(Math.abs((verdict.score as number) - ref.score) <= 1e-4, `${ref.sample}: score ${verdict.score} vs ${ref.score}`);
  }
  assert.equal(good!.verdict.verdict, 'ok');
  assert.equal(straddle!.verdict.verdict, 'reject');
  const streak = straddle!.ref.defects[0]!;
  const found = straddle!.verdict.defects.filter((d) => overlaps(d, streak));
  assert.equal(found.length, 1, `the streak is one defect: ${JSON.stringify(straddle!.verdict.defects)}`);
  // Tile 0 covers camera x 0–112, tile 1 x 84–196: the defect reaches into what only one or the other sees.
  const d = found[0]!;
  assert.ok(d.x < 84 && d.x + d.w > 112, `defect ${JSON.stringify(d)} spans both tiles`);
});
