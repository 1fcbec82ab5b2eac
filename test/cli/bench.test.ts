import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { busyShare, formatBenchReport, runPipelineBench } from '../../bench/pipeline.js';

const TINY = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));

// Not a timed test: it checks that `linewatch bench` measures what it says on the frames it says.
test('bench replays the bundle samples raw by default and reports throughput, latency split and memory', async () => {
  const r = await runPipelineBench({ modelDir: TINY, frames: 60, batch: 1, rounds: 1, intraOpThreads: 1 });
  assert.match(r.camera, /^replay of .*samples/);
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v}`);
  assert.ok(r.bareFps > 0 && r.pipelineFps > 0 && Math.abs(r.ratio - r.pipelineFps / r.bareFps) < 1e-9);
  assert.ok(r.overheadMsP99 >= 0 && r.overheadMsP99 <= r.latencyMsP99, 'what the pipeline adds is part of the latency');
  assert.ok(r.latencyMsP50 <= r.latencyMsP99 && r.modelMsP50 <= r.modelMsP99);
  const text = formatBenchReport(r);
  assert.match(text, /latency − its own inference per frame .* p99 [\d.]+ ms \(target ≤ 5 ms: (met|NOT met)\)/);
  // The replay of the run itself: a zero-cost pipeline with the very same model runs can only be faster.
  assert.ok(r.replayMsP99 > 0 && r.replayMsP99 <= r.latencyMsP99 + 1e-6, `replay p99 ${r.replayMsP99} vs latency p99 ${r.latencyMsP99}`);
  assert.ok(r.excessMsP50 >= -1e-6 && r.excessMsP50 <= r.excessMsP99, 'no frame is judged sooner than a zero-cost pipeline could');
  assert.match(text, /zero-cost pipeline replaying the same round .*: \+[\d.]+ ms \(rounds \+[\d.]+; ≤ 5 ms: (met|NOT met)\)/);
  assert.ok(r.overReplayMsP99Rounds[0]! >= -1e-6);
  assert.match(text, /added by the pipeline per frame over that replay: p50 [\d.]+ ms, p99 [\d.]+ ms \(≤ 5 ms: (met|NOT met)\); the model inside the pipeline/);
  assert.match(text, /against the bare model's p99 \+ 5 ms/);
  assert.ok(r.idealMsP99 >= r.pacedModelMsP99 - 1e-9, 'queueing never makes the ideal faster than the model');
  assert.match(text, /zero-cost pipeline at that rate .* p99 [\d.]+ \+ 5 ms: (met|NOT met)/);
  assert.ok(r.pacedModelMsP50 > 0 && r.pacedModelMsP50 <= r.pacedModelMsP99);
  assert.deepEqual([r.latencyMsP99Rounds.length, r.pacedModelMsP99Rounds.length], [1, 1], 'one latency round per round');
  assert.equal(r.latencyMsP99, r.latencyMsP99Rounds[0]);
  assert.equal(r.modelBusyRounds.length, 1);
  // The live share measures the machine (paced at 80 % of one short throughput round; a loaded
  // machine read 4.1 here): finite and positive here; what it counts is checked exactly below.
  assert.ok(Number.isFinite(r.modelBusyRounds[0]!) && r.modelBusyRounds[0]! > 0, `model busy ${r.modelBusyRounds[0]}`);
  // Each run once, however many frames it judged, over the span of the arrivals: a batch of two
  // frames (8 ms) and one of one (4 ms) over 20 ms of arrivals is 12 / 20.
  assert.equal(busyShare([{ arrivalMs: 0, run: 1, runMs: 8 }, { arrivalMs: 10, run: 1, runMs: 8 }, { arrivalMs: 20, run: 2, runMs: 4 }]), 0.6);
  assert.match(text, /the model was busy \d+ % of each round/);
  assert.match(text, /against the bare model paced at the same rate/);
  // Figures ≥ 0 by construction that float arithmetic leaves a hair below 0 print as 0, never "+-0.00".
  const hair = formatBenchReport({ ...r, overReplayMsP99Rounds: [-1e-9], excessMsP50: -1e-9, overheadMsP50: -1e-9 });
  assert.match(hair, /: \+0\.00 ms \(rounds \+0\.0; ≤ 5 ms: met\)/);
  assert.match(hair, /over that replay: p50 0\.00 ms/);
  assert.match(hair, /included\): p50 0\.00 ms/);
});

test('bench --synthetic (framesFrom null) and --frames-from a folder choose the camera', async () => {
  const synth = await runPipelineBench({ modelDir: TINY, frames: 40, batch: 2, rounds: 1, intraOpThreads: 1, framesFrom: null, cameraWidth: 80, cameraHeight: 60 });
  assert.equal(synth.camera, 'synthetic 80x60');
  assert.equal(synth.batch, 2);
  const folder = join(TINY, 'samples');
  const replay = await runPipelineBench({ modelDir: TINY, frames: 40, batch: 1, rounds: 1, intraOpThreads: 1, framesFrom: folder });
  assert.equal(replay.camera, `replay of ${folder} (decoded once, raw)`);
});

test('bench on a prompted bundle (the tiny OneNIP): the same prompt for every frame on both sides, every frame judged; without one it is refused', async () => {
  const ONENIP = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip/', import.meta.url));
  const r = await runPipelineBench({ modelDir: ONENIP, frames: 40, batch: 2, rounds: 1, intraOpThreads: 1 });
  assert.equal(r.prompt, join(ONENIP, 'samples', 'prompt-a.png'), "the samples' first prompt image");
  // Error verdicts carry no latency: finite percentiles mean the frames were judged with their prompt.
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v}`);
  assert.ok(r.bareFps > 0 && r.pipelineFps > 0);
  assert.match(formatBenchReport(r), /prompt .*prompt-a\.png for every frame, on both sides/);
  const given = join(ONENIP, 'samples', 'prompt-b.png');
  const b = await runPipelineBench({ modelDir: ONENIP, frames: 20, batch: 1, rounds: 1, intraOpThreads: 1, prompt: given });
  assert.equal(b.prompt, given);
  await assert.rejects(
    runPipelineBench({ modelDir: ONENIP, frames: 20, batch: 1, rounds: 1, intraOpThreads: 1, framesFrom: null }),
    /LW_ERR_MODEL_NEEDS_UNMET|needs a prompt image for each frame and the synthetic camera has none: give one with --prompt FILE/,
  );
  const inp = await runPipelineBench({ modelDir: TINY, frames: 20, batch: 1, rounds: 1, intraOpThreads: 1 });
  assert.equal(inp.prompt, null);
});

test('bench refuses by name, before anything runs, a bundle it cannot bench like for like: tiled (its bare loop would feed whole frames), or prompts from a pool (it would run one recipe prompt)', async () => {
  const tiles = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp-tiles', import.meta.url));
  const pool = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip-pool', import.meta.url));
  await assert.rejects(runPipelineBench({ modelDir: tiles, frames: 20, batch: 1, rounds: 1, intraOpThreads: 1 }), (e: Error) => {
    assert.equal(e.message.startsWith(`bench: model bundle ${tiles} is tiled (geometry.tiles 56x56, overlap 14: `), true, e.message);
    return true;
  });
  await assert.rejects(runPipelineBench({ modelDir: pool, frames: 20, batch: 1, rounds: 1, intraOpThreads: 1 }), /^Error: bench: model bundle .*tiny-onenip-pool chooses each frame's prompt from a pool \(prompt\.selection cosine-pool: .*`bench --pool`$/);
});

test('bench --pool on a cosine-pool bundle: the pipeline with the pool beside the same bundle with a recipe, both judging every frame; ratios side by side; a recipe bundle is refused', async () => {
  const { formatPoolBenchReport, runPoolBench } = await import('../../bench/pool.js');
  const POOL = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip-pool/', import.meta.url));
  const r = await runPoolBench({ modelDir: POOL, frames: 60, batch: 1, rounds: 1, intraOpThreads: 1 });
  assert.deepEqual(r.pool.map((p) => p.split('/').pop()), ['pool-a.png', 'pool-b.png', 'prompt-a.png', 'prompt-b.png'], "the samples' prompt* and pool* images");
  assert.equal(r.recipe, r.pool[0]);
  // Error verdicts carry no latency: finite percentiles mean every side judged its frames.
  for (const s of [r.poolSide, r.recipeSide]) for (const [k, v] of Object.entries(s)) assert.ok(Number.isFinite(v) && v > 0, `${k} = ${v} in ${JSON.stringify(r)}`);
  assert.ok(Number.isFinite(r.fpsRatio) && Number.isFinite(r.latencyP99Ratio));
  assert.match(formatPoolBenchReport(r), /ratio pool\/recipe +throughput \d+\.\d{3} +latency p50 \d+\.\d{3} +p99 \d+\.\d{3}/);
  const ONENIP = fileURLToPath(new URL('../../../test/fixtures/models/tiny-onenip/', import.meta.url));
  await assert.rejects(runPoolBench({ modelDir: ONENIP, frames: 10, batch: 1, rounds: 1 }), /does not choose prompts from a pool/);
});
