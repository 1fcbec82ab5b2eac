/**
 * Batching across cameras through the Station, with real sessions on bundles made by trainer/:
 * verdicts unchanged, no camera starves, each camera's drops and counts its own, a fixed-batch
 * model's padding and splits counted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { batchPlan, batchProbeUpTo } from '../../src/pipeline/batching.js';
import { identityHolds, type CounterSnapshot } from '../../src/pipeline/counters.js';
import { Station } from '../../src/pipeline/station.js';
import type { Verdict } from '../../src/pipeline/verdict.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const DEMO = join(root, 'models/demo');
const TINY = join(root, 'test/fixtures/models/tiny-inp');
const TINY_B2 = join(root, 'test/fixtures/models/tiny-inp-b2');
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function config(input: Omit<ConfigInput, 'model'> & { model: { bundle: string } }) {
  return parseConfig({ ...input, model: { intraOpThreads: 1, ...input.model } }, 'test config');
}

async function run(station: Station): Promise<Verdict[]> {
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  await station.ended();
  await station.stop();
  return all;
}

const folder = (bundle: string) => ({ type: 'folder' as const, path: join(bundle, 'samples') });

test('batch plan: across cameras by default, a batch per area-scan camera; a fixed-batch model its own batch; an explicit batchSize wins', () => {
  const cams = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, source: folder(TINY) }));
  const dynamic = { input: { batch: 'dynamic' as const } };
  const plan = (over: Partial<ConfigInput>, n: number, manifest: { input: { batch: 'dynamic' | number } } = dynamic) =>
    batchPlan(config({ model: { bundle: TINY }, cameras: cams(n), ...over }), manifest as never);
  assert.deepEqual(plan({}, 4), { acrossCameras: true, batchSize: 4, batchSizeBy: 'number of cameras', batchWaitMs: 2, concurrency: 2 });
  assert.deepEqual(plan({}, 1), { acrossCameras: false, batchSize: 1, batchSizeBy: 'one per camera', batchWaitMs: 2, concurrency: 2 });
  assert.deepEqual(plan({ inference: { batchAcrossCameras: false } }, 4), { acrossCameras: false, batchSize: 1, batchSizeBy: 'one per camera', batchWaitMs: 2, concurrency: 2 });
  assert.deepEqual(plan({}, 4, { input: { batch: 2 } }), { acrossCameras: true, batchSize: 2, batchSizeBy: 'fixed-batch model', batchWaitMs: 2, concurrency: 2 });
  assert.deepEqual(plan({ inference: { batchSize: 8, batchWaitMs: 0 } }, 3), { acrossCameras: true, batchSize: 8, batchSizeBy: 'config', batchWaitMs: 0, concurrency: 2 });
  const twoWorkers = batchPlan(config({ model: { bundle: TINY, workers: 2 } as never, cameras: cams(3) }), dynamic as never);
  assert.equal(twoWorkers.concurrency, 4, 'two batches per session worker');
});

test('batch plan with a probe: its choice for as many cameras as it measured; a configured or fixed batch wins; a probe for another camera count is not used', () => {
  const cams = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, source: folder(TINY) }));
  const probe = (upTo: number, chosen: number) => ({ timings: [], chosen, upTo, ms: 1 });
  const plan = (over: Partial<ConfigInput>, n: number, p: ReturnType<typeof probe>, batch: 'dynamic' | number = 'dynamic') =>
    batchPlan(config({ model: { bundle: TINY }, cameras: cams(n), ...over }), { input: { batch } } as never, p);
  assert.deepEqual([plan({}, 8, probe(8, 2)).batchSize, plan({}, 8, probe(8, 2)).batchSizeBy], [2, 'measured']);
  assert.deepEqual([plan({}, 8, probe(4, 2)).batchSize, plan({}, 8, probe(4, 2)).batchSizeBy], [8, 'number of cameras']);
  assert.deepEqual([plan({ inference: { batchSize: 8 } }, 8, probe(8, 2)).batchSize, plan({ inference: { batchSize: 8 } }, 8, probe(8, 2)).batchSizeBy], [8, 'config']);
  assert.deepEqual([plan({}, 8, probe(8, 2), 4).batchSize, plan({}, 8, probe(8, 2), 4).batchSizeBy], [4, 'fixed-batch model']);
  assert.equal(batchProbeUpTo(config({ model: { bundle: TINY }, cameras: cams(6) }), { input: { batch: 'dynamic' } } as never), 6);
  assert.equal(batchProbeUpTo(config({ model: { bundle: TINY }, cameras: cams(1) }), { input: { batch: 'dynamic' } } as never), null, 'one camera: nothing to share');
  assert.equal(batchProbeUpTo(config({ model: { bundle: TINY }, cameras: cams(6), inference: { batchSize: 3 } }), { input: { batch: 'dynamic' } } as never), null);
  assert.equal(batchProbeUpTo(config({ model: { bundle: TINY }, cameras: cams(6) }), { input: { batch: 2 } } as never), null);
});

test('three cameras on a dynamic model: the engine measures the batch at start, status says so, no model call holds more, probe runs are not counted', async () => {
  const cameras = ['a', 'b', 'c'].map((id) => ({ id, source: folder(TINY) }));
  const station = await Station.start(config({ model: { bundle: TINY }, cameras, inference: { batchWaitMs: 10_000 } }), { logger: quiet, deferCameras: true });
  const batch = station.health().model.batch;
  assert.equal(batch.by, 'measured');
  assert.deepEqual(
    batch.timings?.map((t) => t.batch),
    [1, 2, 3],
  );
  assert.ok(batch.size >= 1 && batch.size <= 3);
  station.begin();
  const verdicts = await run(station);
  assert.equal(verdicts.length, 12);
  const b = station.batching();
  assert.equal(b.batchedFrames, 12);
  assert.equal(b.images, 12, 'the probe ran batches of zeros: none of them is counted as a frame judged');
  // A long window: every batch but the last waits until it is full.
  assert.ok(b.batches >= Math.ceil(12 / batch.size) && b.batches <= Math.ceil(12 / batch.size) + 2, `${b.batches} batches of at most ${batch.size}`);
});

test('a model update to a fixed-batch model while the cameras run (warm): the running mux takes its batch from the next call on, status says where it came from', async () => {
  const cameras = ['a', 'b', 'c'].map((id) => ({ id, source: { ...folder(TINY), loop: true, fps: 20 } }));
  const station = await Station.start(config({ model: { bundle: TINY }, cameras }), { logger: quiet });
  assert.equal(station.health().model.batch.by, 'measured');
  const applied = await station.applyConfig(config({ model: { bundle: TINY_B2 }, cameras, version: 'v2' } as never));
  assert.ok(applied.ok, applied.reasons.join('; '));
  assert.equal(applied.level, 'warm', 'only the model changed: the cameras keep running');
  assert.deepEqual(station.health().model.batch, { size: 2, by: 'fixed-batch model' }, 'the running mux itself holds 2 now');
  const before = station.batching();
  await new Promise((r) => setTimeout(r, 1500));
  // And until frames were judged on it: 1.5 s need not hold a batch on a loaded machine.
  for (const until = Date.now() + 20_000; station.batching().batchedFrames <= before.batchedFrames && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await station.stop();
  const after = station.batching();
  assert.ok(after.batchedFrames > before.batchedFrames, 'frames judged on the new model');
  assert.equal(after.splitBatches, before.splitBatches, 'no batch larger than the fixed-batch model takes');
});

test('cameras and batch size changed together (cold): the new cameras start with the new batch', async () => {
  const cameras = ['a', 'b', 'c'].map((id) => ({ id, source: { ...folder(TINY), loop: true, fps: 20 } }));
  const station = await Station.start(config({ model: { bundle: TINY }, cameras, inference: { batchSize: 3 } }), { logger: quiet });
  assert.deepEqual(station.health().model.batch, { size: 3, by: 'config' });
  const two = cameras.slice(0, 2);
  const applied = await station.applyConfig(config({ model: { bundle: TINY }, cameras: two, version: 'v2' } as never));
  assert.ok(applied.ok, applied.reasons.join('; '));
  assert.equal(applied.level, 'cold');
  const batch = station.health().model.batch;
  assert.equal(batch.by, 'measured', 'measured anew for the two cameras now sharing the model');
  assert.deepEqual(
    batch.timings?.map((t) => t.batch),
    [1, 2],
  );
  await station.stop();
});

test('demo bundle, four cameras: batched across cameras, every verdict is the one each camera gets alone at batch 1 (scores within 1e-5, relative)', async () => {
  const cameras = ['a', 'b', 'c', 'd'].map((id) => ({ id, source: folder(DEMO) }));
  const frames = 9;
  const alone = await run(
    await Station.start(config({ model: { bundle: DEMO }, cameras, inference: { batchAcrossCameras: false, batchSize: 1 } }), { logger: quiet, maxFramesPerCamera: frames }),
  );
  // A long window: each batch waits until it holds 4 frames (or no camera can send more).
  const station = await Station.start(config({ model: { bundle: DEMO }, cameras, inference: { batchSize: 4, batchWaitMs: 10_000 } }), { logger: quiet, maxFramesPerCamera: frames });
  const batched = await run(station);
  const b = station.batching();
  assert.equal(b.batchedFrames, 4 * frames);
  assert.equal(b.batches, frames, 'every batch held one frame of each camera');
  assert.equal(b.mixedBatches, frames);
  assert.equal(b.runs, frames, 'one session.run per batch');
  const key = (v: Verdict) => `${v.cameraId}/${v.partId}`;
  const want = new Map(alone.map((v) => [key(v), v]));
  assert.equal(batched.length, 4 * frames);
  for (const v of batched) {
    const w = want.get(key(v));
    assert.ok(w, key(v));
    assert.equal(v.verdict, w.verdict, `${key(v)}: ${v.verdict} batched, ${w.verdict} alone`);
    // A few float32 ulps apart at most (test/models/batched-scores.test.ts says why).
    assert.ok(Math.abs(v.score! - w.score!) <= 1e-5 * Math.abs(w.score!), `${key(v)}: score ${v.score} batched, ${w.score} alone`);
    assert.equal(v.defects.length, w.defects.length, `${key(v)}: defects`);
  }
  assert.ok(batched.some((v) => v.verdict === 'reject') && batched.some((v) => v.verdict === 'ok'), 'good and defective parts both judged');
});

test('a fast and a slow camera share the model: the slow one never starves or drops, the fast one drops its own frames, counted on it; the identity holds per camera', async () => {
  const station = await Station.start(
    config({
      model: { bundle: TINY },
      cameras: [
        { id: 'fast', source: { type: 'synthetic', width: 64, height: 64, fps: 2000, count: 2000, seed: 3 } },
        { id: 'slow', source: { ...folder(TINY), fps: 4 } },
      ],
      // Frames prepared on this thread: a preprocess worker starting under load can hold the first
      // batches for seconds, and a camera's queue is not meant to outlast a start.
      // batchSize 2: the two cameras share every call they can (the probe might choose 1 on this model).
      inference: { maxQueuedFrames: 3, preprocessWorkers: 0, batchSize: 2 },
    }),
    { logger: quiet },
  );
  const verdicts = await run(station);
  const c = station.counters();
  const cams = c.cameras!;
  const slow = verdicts.filter((v) => v.cameraId === 'slow');
  assert.deepEqual(slow.map((v) => v.verdict).sort(), ['ok', 'ok', 'reject', 'reject'], 'each slow frame judged: good ok, defects rejected');
  assert.equal(cams['slow']!.dropped, 0);
  assert.equal(verdicts.filter((v) => v.cameraId === 'fast').length, 2000, 'every fast frame ends as one verdict');
  assert.ok(cams['fast']!.dropped > 0, `the fast camera overran its queue (${cams['fast']!.dropped} dropped)`);
  assert.equal(cams['fast']!.dropped, verdicts.filter((v) => v.cameraId === 'fast' && v.verdict === 'dropped').length);
  assert.equal(c.dropped, cams['fast']!.dropped);
  for (const [id, s] of Object.entries(cams)) assert.ok(identityHolds(s), `identity for camera ${id}`);
  assert.ok(identityHolds(c));
  const keys = ['received', 'ok', 'reject', 'error', 'dropped', 'inFlight', 'lost', 'late'] as const;
  for (const k of keys) assert.equal(c[k], Object.values(cams).reduce((n, s: CounterSnapshot) => n + s[k], 0), `${k}: the cameras add up to the station`);
  assert.ok(station.batching().mixedBatches > 0, 'some batches held frames of both cameras');
});

test('fixed batch 2 (tiny-inp-b2), three cameras at batchSize 3: each batch split into 2 + 1, the 1 padded, all counted', async () => {
  const cameras = ['a', 'b', 'c'].map((id) => ({ id, source: folder(TINY_B2) }));
  const station = await Station.start(config({ model: { bundle: TINY_B2 }, cameras, inference: { batchSize: 3, batchWaitMs: 10_000 } }), { logger: quiet });
  const verdicts = await run(station);
  assert.equal(verdicts.length, 12);
  assert.deepEqual(verdicts.filter((v) => v.partId?.startsWith('defect')).map((v) => v.verdict), Array(6).fill('reject'));
  assert.deepEqual(verdicts.filter((v) => v.partId?.startsWith('good')).map((v) => v.verdict), Array(6).fill('ok'));
  // Which cameras share a batch is timing (a camera can get two frames in ahead of the others), so
  // mixedBatches is not pinned.
  const { mixedBatches: mixed3, ...counts3 } = station.batching();
  assert.deepEqual(counts3, { batches: 4, batchedFrames: 12, runs: 8, images: 12, paddedRuns: 4, paddedImages: 4, splitBatches: 4 });
  assert.ok(mixed3 > 0, 'cameras share batches');
  // Its default batch is the model's own: no split, and a padded run only for a batch left short.
  const again = await Station.start(config({ model: { bundle: TINY_B2 }, cameras, inference: { batchWaitMs: 10_000 } }), { logger: quiet });
  await run(again);
  const { mixedBatches, ...counts } = again.batching();
  assert.deepEqual(counts, { batches: 6, batchedFrames: 12, runs: 6, images: 12, paddedRuns: 0, paddedImages: 0, splitBatches: 0 });
  assert.ok(mixedBatches > 0, 'cameras share batches');
});
