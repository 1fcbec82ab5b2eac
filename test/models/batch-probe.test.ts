/**
 * The batch probe: which batch the cameras sharing a model fill. The choice is a pure function of
 * the timings (reference values below); the probe itself runs on a real session (tiny-inp and the
 * OneNIP fixture, made by trainer/) and must not count its runs as frames judged.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { batchCandidates, chooseBatch, probeBatch, type BatchProbe, type BatchTiming } from '../../src/models/batch-probe.js';
import { InferenceEngine, loadBundle } from '../../src/models/index.js';
import type { EngineBatchCounts } from '../../src/models/types.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const TINY = join(root, 'test/fixtures/models/tiny-inp');
const ONENIP = join(root, 'test/fixtures/models/tiny-onenip');

const at = (batch: number, runMs: number): BatchTiming => ({ batch, runMs, imagesPerS: (1000 * batch) / runMs });

/** The probe on a real engine for `dir`, at one intra-op thread; the engine is closed after. */
async function probeOn(dir: string, upTo: number, budgetMs?: number): Promise<{ probe: BatchProbe; counts: EngineBatchCounts }> {
  const engine = await InferenceEngine.create(await loadBundle(dir), { intraOpThreads: 1 });
  try {
    const probe = await probeBatch(engine, engine.bundle.manifest, upTo, budgetMs);
    return { probe, counts: engine.batchCounts() };
  } finally {
    await engine.close();
  }
}

test('batch candidates: powers of two below the number of cameras, then that number', () => {
  assert.deepEqual(batchCandidates(1), [1]);
  assert.deepEqual(batchCandidates(2), [1, 2]);
  assert.deepEqual(batchCandidates(3), [1, 2, 3]);
  assert.deepEqual(batchCandidates(6), [1, 2, 4, 6]);
  assert.deepEqual(batchCandidates(8), [1, 2, 4, 8]);
  assert.throws(() => batchCandidates(0), /upTo must be an integer ≥ 1, got 0/);
});

test('choose batch: the smallest within 5 % of the best images/s — a CPU keeps small batches, a GPU takes large ones', () => {
  // This machine's demo model at one thread (bench --cameras, 2026-12-04): 34.3, 36.8, 35.7, 35.9 frames/s.
  const cpu = [at(1, 1000 / 34.3), at(2, 2000 / 36.8), at(4, 4000 / 35.7), at(8, 8000 / 35.9)];
  assert.equal(chooseBatch(cpu), 2, 'batch 1 (34.3) is 6.8 % below the best (36.8); 2 is the best');
  assert.equal(chooseBatch(cpu, 0.1), 1, 'within 10 %, batch 1 is as good');
  // A batch of 2 that is 10 % faster than 1, and nothing more beyond.
  assert.equal(chooseBatch([at(1, 10), at(2, 18.2), at(4, 36), at(8, 72.5)]), 2);
  // A GPU: a run costs little more for eight images than for one.
  const gpu = [at(1, 4), at(2, 4.4), at(4, 5.2), at(8, 7)];
  assert.equal(chooseBatch(gpu), 8);
  // A zero tolerance takes the very best.
  assert.equal(chooseBatch([at(1, 20), at(2, 38.5)]), 1);
  assert.equal(chooseBatch([at(1, 20), at(2, 38.5)], 0), 2);
  assert.throws(() => chooseBatch([]), /no timings/);
});

test('probe on a real session: every candidate measured, the choice among them, no run counted as a frame', async () => {
  const { probe, counts } = await probeOn(TINY, 3);
  assert.deepEqual(
    probe.timings.map((t) => t.batch),
    [1, 2, 3],
  );
  for (const t of probe.timings) assert.ok(t.runMs > 0 && Number.isFinite(t.imagesPerS), `batch ${t.batch}: ${t.runMs} ms`);
  assert.ok([1, 2, 3].includes(probe.chosen));
  assert.equal(probe.upTo, 3);
  assert.deepEqual(counts, { runs: 0, images: 0, paddedRuns: 0, paddedImages: 0, splitBatches: 0 }, 'probe runs are not frames of the line');
});

test('probe within its budget: sizes that would take it past the budget are not tried; batch 1 always is', async () => {
  const { probe } = await probeOn(TINY, 8, 0);
  assert.deepEqual(
    probe.timings.map((t) => t.batch),
    [1],
  );
  assert.equal(probe.chosen, 1);
});

test('probe on a prompted model (OneNIP): the prompt input is fed too', async () => {
  const { probe } = await probeOn(ONENIP, 2);
  assert.deepEqual(
    probe.timings.map((t) => t.batch),
    [1, 2],
  );
});
