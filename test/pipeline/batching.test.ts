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
