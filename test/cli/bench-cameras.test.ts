import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatCamerasReport, runCamerasBench } from '../../bench/cameras.js';
import { missingPeer } from '../../bench/peer.js';
import { haveTool } from '../helpers/tools.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TINY = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));
const ONENIP = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip/', import.meta.url));

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

// A prompted bundle (the tiny OneNIP) on every side: the bare loop with the prompt batch, the
// station with the prompt as product "bench" on every camera (a frame it could not judge fails the
// bench), and the Python peer with --prompt. Not timed: it checks what ran, not how fast.
test('bench --cameras on a prompted bundle: the same prompt on every side (bare, batched, unbatched, the Python peer), as `bench` finds it', async (t) => {
  // 120 frames a camera: the tiny model judges a frame in about a millisecond on a quiet machine,
  // and with 20 the first camera finished before the second had started (no overlap to measure).
  const r = await runCamerasBench({ modelDir: ONENIP, cameras: [1, 2], frames: 240, rounds: 1, bareBatches: [1, 2] });
  assert.equal(r.prompt, join(ONENIP, 'samples', 'prompt-a.png'), "the samples' first prompt image, as `bench` takes it");
  assert.deepEqual(r.bare.map((b) => b.batch), [1, 2]);
  for (const row of r.rows) {
    for (const side of [row.batched, row.unbatched]) {
      for (const run of [side.saturated, side.paced]) {
        for (const [k, v] of Object.entries(run)) if (k !== 'batchSizeBy') assert.ok(Number.isFinite(v) && v >= 0, `${row.cameras} cameras: ${k} = ${v}`);
      }
    }
  }
  const text = formatCamerasReport(r);
  assert.match(text, /^ {2}prompt .*prompt-a\.png for every frame, on every side \(the bare loop's prompt batch beside the frames'; the station runs it as product "bench" on every camera; the peer prepares it once/m);
  assert.match(text, /bare session\.run loop: batch 1 \d+\.\d+, batch 2 \d+\.\d+ frames\/s; best: batch [12], \d+\.\d+ frames\/s/);
  assert.match(text, /^ +2 \| +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ \| +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ \| +\d+\.\d+$/m);
  if (!haveTool(t, missingPeer())) return;
  assert.ok(!('skipped' in r.peer), `the peer ran: ${JSON.stringify(r.peer)}`);
  assert.match(r.peer.loop, /^N cameras in turn, batch 1, prompt prompt-a\.png prepared once and fed with every frame/);
  for (const row of r.rows) assert.ok(row.peer !== null && row.peer.fps > 0, `${row.cameras} camera(s): the peer's row`);
  assert.match(text, /^ +2 \| +\d+\.\d+ +\d+\.\d+ \/ \d+\.\d+ +\(\d+\.\d+ \+ \d+\.\d+ \+ \d+\.\d+\) \| +\d+\.\d+ \| +\d+\.\d+$/m);
  assert.match(text, /2 camera\(s\): \d+\.\d+ × peer \(> 1\.0: (met|NOT met)\)/);

  // --prompt: another prompt, on every side.
  const given = join(ONENIP, 'samples', 'prompt-b.png');
  const b = await runCamerasBench({ modelDir: ONENIP, cameras: [1], frames: 20, rounds: 1, bareBatches: [1], prompt: given });
  assert.equal(b.prompt, given);
  assert.ok(!('skipped' in b.peer) && b.rows[0]!.peer !== null);
});

test('bench --cameras refuses by name, before anything runs, a bundle it cannot bench like for like: tiled, or prompts from a pool', async () => {
  const tiles = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp-tiles', import.meta.url));
  const pool = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip-pool', import.meta.url));
  await assert.rejects(runCamerasBench({ modelDir: tiles, cameras: [1], frames: 20, rounds: 1 }), (e: Error) => {
    assert.equal(e.message.startsWith(`bench --cameras: model bundle ${tiles} is tiled (geometry.tiles 56x56, overlap 14: `), true, e.message);
    return true;
  });
  await assert.rejects(runCamerasBench({ modelDir: pool, cameras: [1], frames: 20, rounds: 1 }), /^Error: bench --cameras: model bundle .*tiny-onenip-pool chooses each frame's prompt from a pool \(prompt\.selection cosine-pool: .*`bench --pool`$/);
});

test('linewatch bench --cameras from the command line: a prompted bundle runs to its report; a tiled one is refused in one line, never an onnxruntime message', () => {
  const cli = (args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [join(ROOT, 'bin/linewatch.js'), 'bench', ...args, '--cameras', '1', '--frames', '40', '--rounds', '1', '--threads', '1', '--no-peer'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const ok = cli(['--model', 'test/fixtures/models/tiny-onenip']);
  assert.equal(ok.status, 0, String(ok.stderr));
  assert.match(String(ok.stdout), /^linewatch bench --cameras: onenip /);
  assert.match(String(ok.stdout), /prompt test\/fixtures\/models\/tiny-onenip\/samples\/prompt-a\.png for every frame, on every side/);
  assert.match(String(ok.stdout), /Python peer: left out: not asked for \(--no-peer\)/);
  const tiled = cli(['--model', 'test/fixtures/models/tiny-inp-tiles']);
  assert.equal(tiled.status, 1);
  assert.match(String(tiled.stderr), /^linewatch: bench --cameras: model bundle .*tiny-inp-tiles is tiled \(geometry\.tiles 56x56, overlap 14: /);
  assert.doesNotMatch(String(tiled.stderr), /feeds|onnxruntime/i);
  assert.equal(String(tiled.stdout), '');
});
