import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatCamerasReport, runCamerasBench } from '../../bench/cameras.js';

const TINY = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));

// Not a timed test: it checks that `bench --cameras` runs both sides on the cameras it says and
// that the batched side really batches across them.
test('bench --cameras: N cameras batched and unbatched beside the bare loop at its best batch, saturated and paced', async () => {
  const r = await runCamerasBench({ modelDir: TINY, cameras: [1, 3], frames: 90, rounds: 1, bareBatches: [1, 2] });
  assert.match(r.camera, /^replay of .*samples/);
  assert.deepEqual(r.bare.map((b) => b.batch), [1, 2]);
  assert.equal(r.bestBareFps, Math.max(...r.bare.map((b) => b.fps)));
  assert.deepEqual(r.rows.map((row) => row.cameras), [1, 3]);
  for (const row of r.rows) {
    for (const side of [row.batched, row.unbatched]) {
      for (const run of [side.saturated, side.paced]) {
        for (const [k, v] of Object.entries(run)) if (k !== 'batchSizeBy') assert.ok(Number.isFinite(v) && v >= 0, `${row.cameras} cameras: ${k} = ${v}`);
        assert.ok(run.latencyMsP50 <= run.latencyMsP99);
        assert.ok(run.minShare > 0 && run.minShare <= 1 + 1e-9, `the slowest camera's share ${run.minShare} is at most its fair one`);
      }
    }
    assert.equal(row.unbatched.saturated.meanBatch, 1, 'without batching across cameras each frame is its own model call');
    assert.ok(row.paceFps >= 1);
  }
  const three = r.rows[1]!;
  const sat = three.batched.saturated;
  assert.equal(sat.batchSizeBy, 'measured', 'the station measured its batch at start (no batchSize configured)');
  assert.ok(sat.batchSize >= 1 && sat.batchSize <= 3, `batch at most ${sat.batchSize}: one frame per camera at most`);
  assert.ok(sat.meanBatch <= sat.batchSize, `three cameras batched: ${sat.meanBatch} frames per model call, at most ${sat.batchSize}`);
  if (sat.batchSize > 1) assert.ok(sat.meanBatch > 1, `three cameras batched at up to ${sat.batchSize}: ${sat.meanBatch} frames per model call`);
  const text = formatCamerasReport(r);
  assert.match(text, /best: batch [12], [\d.]+ frames\/s/);
  assert.match(text, /^ +3 \| +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ \| +[\d.]+ +[\d.]+ +[\d.]+ \| +[\d.]+$/m);
  assert.deepEqual(three.batchSizes, [sat.batchSize], 'one round: its batch size');
  assert.match(text, /batch at most, per round: 3 cameras [123] \(measured: inference.batchSize unset/);
  assert.match(text, /3 camera\(s\): [\d.]+ × bare \((met|NOT met)\), slowest camera [\d.]+ × fair \((met|NOT met)\)/);
  assert.match(text, /^ +3 +\d+ \| +[\d.]+ \/ [\d.]+ +\d+ \| +[\d.]+ \/ [\d.]+ +\d+ \| +[\d.]+$/m);
});
