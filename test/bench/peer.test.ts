import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, toArray } from 'rxjs';
import { formatPeerRows, type CamerasReport, type StationRun } from '../../bench/cameras.js';
import { formatPeerRatio, missingPeer, parsePeerReport, peerRefusal, runPeer } from '../../bench/peer.js';
import { parseConfig } from '../../src/config/load.js';
import { Station } from '../../src/pipeline/station.js';
import { listImages } from '../../src/util/image-files.js';
import { haveTool } from '../helpers/tools.js';


const report = {
  loop: '4 camera(s) in turn, batch 1, one process (python 3.11.2)',
  versions: { onnxruntime: '1.23.2', pillow: '9.4.0', scipy: '1.10.1', numpy: '1.24.2' },
  cameras: 4,
  threads: 1,
  frames: 40,
  measuredFrames: 36,
  fps: 28.5,
  p50Ms: 34.1,
  p99Ms: 40.2,
  rejects: 20,
  scores: [{ name: 'good-0', camera: 0, score: 0.61, normScore: 0.3, defects: 0 }],
};

test('parsePeerReport: the JSON on the last line, every figure checked', () => {
  const r = parsePeerReport(`some warning from a library\n${JSON.stringify(report)}\n\n`);
  assert.equal(r.fps, 28.5);
  assert.equal(r.cameras, 4);
  assert.equal(r.scores[0]!.name, 'good-0');
  assert.throws(() => parsePeerReport(''), /printed nothing/);
  assert.throws(() => parsePeerReport('Traceback (most recent call last):'), /not JSON/);
  assert.throws(() => parsePeerReport('[1, 2]'), /not a JSON object/);
  assert.throws(() => parsePeerReport(JSON.stringify({ ...report, fps: 'fast' })), /fps is "fast", not a number/);
  assert.throws(() => parsePeerReport(JSON.stringify({ ...report, p99Ms: undefined })), /p99Ms is undefined/);
  assert.throws(() => parsePeerReport(JSON.stringify({ ...report, scores: null })), /"scores" is not a list/);
});

test('formatPeerRatio: ≥ 1 on one camera, > 1 ahead with more, three decimals', () => {
  assert.equal(formatPeerRatio(31.2, 29.0, false), '1.076 × peer (≥ 1.0: met)');
  assert.equal(formatPeerRatio(29.0, 29.0, false), '1.000 × peer (≥ 1.0: met)');
  assert.equal(formatPeerRatio(29.0, 29.0, true), '1.000 × peer (> 1.0: NOT met)');
  assert.equal(formatPeerRatio(28.9, 29.0, false), '0.997 × peer (≥ 1.0: NOT met)');
  assert.equal(formatPeerRatio(10, 0, false), '– × peer');
});

test('formatPeerRows: the peer beside the station for each N, or why it was left out', () => {
  const run = (fps: number): StationRun => ({ fps, minShare: 1, latencyMsP50: 30, latencyMsP99: 40, dropped: 0, meanBatch: 1, batchSize: 1, batchSizeBy: 'measured' });
  const base: Omit<CamerasReport, 'rows' | 'peer'> = { model: 'm', threads: 1, frames: 100, rounds: 1, camera: 'c', prompt: null, bare: [{ batch: 1, fps: 30 }], bestBatch: 1, bestBareFps: 30 };
  const rows = [1, 4].map((n) => ({
    cameras: n,
    paceFps: 5,
    batched: { saturated: run(n === 1 ? 30 : 33), paced: run(5) },
    batchSizes: [1],
    unbatched: { saturated: run(30), paced: run(5) },
    peer: { fps: 30, p50Ms: 33, p99Ms: 36, preprocessMs: 0.4, runMs: 31.9, postMs: 0.7 },
  }));
  const text = formatPeerRows({ ...base, rows, peer: { loop: 'N cameras in turn, batch 1, one process', versions: report.versions } }).join('\n');
  assert.match(text, /onnxruntime 1\.23\.2 session\.run/);
  assert.match(text, /^ +4 \| +30\.0 +33\.0 \/ 36\.0 +\(0\.4 \+ 31\.9 \+ 0\.7\) \| +1\.100 \| +1\.000$/m);
  assert.match(text, /1 camera\(s\): 1\.000 × peer \(≥ 1\.0: met\)/);
  assert.match(text, /4 camera\(s\): 1\.100 × peer \(> 1\.0: met\)/);
  const skipped = formatPeerRows({ ...base, rows: rows.map((r) => ({ ...r, peer: null })), peer: { skipped: 'trainer/.venv/bin/python is missing' } });
  assert.deepEqual(skipped, ['  Python peer: left out: trainer/.venv/bin/python is missing']);
});

test('missingPeer: names the interpreter and how to install it', () => {
  const m = missingPeer('/nonexistent/python');
  assert.match(m ?? '', /\/nonexistent\/python is missing; install it with `bash scripts\/ensure-deps\.sh trainer`/);
});

// The peer does the same work as the runtime: the same frame gives the same image score (the
// runtime resizes bit-exactly as Pillow; both run the same graph), and the same number of frames.
// tiny-inp finishes its map in the graph; tiny-inp-raw leaves the two resizes, the blur and the
// score to the runtime (and so to the peer's numpy and scipy); tiny-inp-b2 takes a fixed batch of 2;
// tiny-inppp is INP-Former++ (one image in, like INP-Former, its fused map finished in the graph).
for (const fixture of ['tiny-inp', 'tiny-inp-raw', 'tiny-inp-b2', 'tiny-inppp']) {
  test(`the Python peer scores each frame of ${fixture} as the linewatch runtime does (within 1e-4)`, async (t) => {
    if (!haveTool(t, missingPeer())) return;
    await sameScores(fileURLToPath(new URL(`../../../test/fixtures/models/${fixture}/`, import.meta.url)));
  });
}

// Prompted bundles: the peer prepares --prompt as a frame, once, and feeds it as the graph's
// prompt input with every frame; linewatch judges the same frames as product "bench" whose recipe
// is that prompt (as `bench --cameras` runs it). tiny-onenip is a real OneNIP (no crop); tiny-prompted
// crops 64 → 56, so the prompt goes through the same resize and crop as the frames.
for (const fixture of ['tiny-onenip', 'tiny-prompted']) {
  test(`the Python peer scores each frame of ${fixture} judged with its prompt as the linewatch runtime does (within 1e-4)`, async (t) => {
    if (!haveTool(t, missingPeer())) return;
    const model = fileURLToPath(new URL(`../../../test/fixtures/models/${fixture}/`, import.meta.url));
    await sameScores(model, `${model}samples/prompt-a.png`);
  });
}

test('the Python peer refuses what it does not cover by name (exit 3), never with a traceback', async (t) => {
  if (!haveTool(t, missingPeer())) return;
  const tiles = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp-tiles', import.meta.url));
  const pool = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip-pool', import.meta.url));
  const onenip = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip', import.meta.url));
  const tiled = `model bundle ${tiles}: the peer loop covers bundles without tiles (geometry.tiles`;
  assert.ok(peerRefusal(tiles)?.startsWith(tiled), String(peerRefusal(tiles)));
  assert.match(peerRefusal(pool) ?? '', /tiny-onenip-pool: the peer loop takes one prompt per product \(prompt.selection recipe\), not a cosine-pool/);
  assert.match(peerRefusal(onenip) ?? '', /tiny-onenip takes a prompt image beside each frame \(graph input 'prompt'\): give one with --prompt FILE$/);
  assert.match(peerRefusal(onenip, `${onenip}/samples/nothing.png`) ?? '', /tiny-onenip: the prompt .*nothing\.png is not a file$/);
  assert.equal(peerRefusal(onenip, `${onenip}/samples/prompt-a.png`), null);
  assert.equal(peerRefusal(fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp', import.meta.url))), null);
  // The loop itself says the same when run, and runPeer passes it on as one line.
  await assert.rejects(runPeer({ modelDir: tiles, framesFrom: `${tiles}/samples`, frames: 4, cameras: 1, intraOpThreads: 1 }), (e: Error) => e.message === `peer loop: ${peerRefusal(tiles)}`);
});

async function sameScores(model: string, prompt: string | null = null): Promise<void> {
  const samples = `${model}samples`;
  const files = (await listImages(samples)).map((f) => f.replace(/\.[a-z]+$/, ''));
  const frames = 2 * files.length;
  const peer = await runPeer({ modelDir: model, framesFrom: samples, frames, cameras: 2, intraOpThreads: 1, scores: frames, prompt });
  assert.equal(peer.frames, frames);
  assert.equal(peer.cameras, 2);
  assert.match(peer.loop, prompt === null ? /^2 camera\(s\) in turn, batch 1/ : /^2 camera\(s\) in turn, batch 1, prompt prompt-a\.png prepared once and fed with every frame/);
  assert.ok(peer.fps > 0 && peer.p50Ms <= peer.p99Ms);
  const st = peer.stagesMsP50!;
  assert.ok(st.preprocess > 0 && st.run > 0 && st.post > 0, `stages ${JSON.stringify(st)}`);
  // Cameras in turn: each file comes once from camera 0, then from camera 1.
  assert.deepEqual(peer.scores.map((s) => `${s.name}/${s.camera}`), files.flatMap((f) => [`${f}/0`, `${f}/1`]));

  const config = parseConfig(
    {
      version: 'peer-test',
      model: { bundle: model, intraOpThreads: 1, executionProviders: ['cpu'] },
      // A prompted model: one product whose recipe is the prompt, the camera set to it.
      ...(prompt !== null ? { products: { bench: { prompt } } } : {}),
      cameras: [{ id: 'c0', source: { type: 'folder', path: samples, preload: true }, ...(prompt !== null ? { product: 'bench' } : {}) }],
    },
    'peer test',
  );
  const station = await Station.start(config, { logger: { info: () => {}, warn: () => {}, error: () => {} } });
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  await station.ended();
  await station.stop();
  const verdicts = await all;
  assert.equal(verdicts.length, files.length);
  for (const v of verdicts) {
    assert.notEqual(v.score, null, `${v.partId}: ${v.verdict}`);
    const same = peer.scores.filter((s) => s.name === v.partId);
    assert.equal(same.length, 2, `${v.partId}: once per camera in the peer`);
    for (const p of same) {
      assert.ok(Math.abs(p.score - v.score!) <= 1e-4, `${v.partId}: peer ${p.score}, linewatch ${v.score}`);
      assert.ok(Math.abs(p.normScore - v.normScore!) <= 1e-4, `${v.partId}: peer norm ${p.normScore}, linewatch ${v.normScore}`);
      assert.equal(p.defects, v.defects.length, `${v.partId}: defect regions`);
    }
  }
}
