import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LinewatchError } from '../../src/errors.js';
import { InferenceEngine, loadBundle } from '../../src/models/index.js';
import { kCrashNextRun } from '../../src/models/engine.js';
import { collectingLogger, copyBundle, fixture, type CollectedLog } from './helpers.js';

const PER_IMAGE = 56 * 56 * 3;

function batch(n: number, value = 120): Uint8Array {
  return new Uint8Array(n * PER_IMAGE).fill(value);
}

test('asking for tensorrt, cuda, cpu runs on cpu; the fallbacks name what was missing and are logged', async () => {
  const logs: CollectedLog[] = [];
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), {
    executionProviders: ['tensorrt', { name: 'cuda', deviceId: 0 }, 'cpu'],
    intraOpThreads: 1,
    logger: collectingLogger(logs),
  });
  try {
    assert.equal(engine.provider, 'cpu');
    assert.deepEqual(engine.fallbacks.map((f) => f.provider), ['tensorrt', 'cuda']);
    for (const f of engine.fallbacks) assert.match(f.reason, new RegExp(`libonnxruntime_providers_${f.provider}\\.so`), `the reason for ${f.provider} names its library`);
    const warned = logs.filter((l) => l.level === 'warn').map((l) => (l.obj as { provider: string }).provider);
    assert.deepEqual(warned, ['tensorrt', 'cuda']);
    const out = await engine.run({ n: 1, data: batch(1) });
    assert.equal(out.map.length, 64 * 64);
  } finally {
    await engine.close();
  }
});

test('no usable provider at all is LW_ERR_SESSION_CREATE listing each reason', async () => {
  await assert.rejects(
    InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { executionProviders: ['tensorrt', 'cuda'], logger: collectingLogger([]) }),
    (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_SESSION_CREATE');
      assert.match(err.message, /tensorrt: .*; cuda: /);
      return true;
    },
  );
});

test('the main event loop keeps ticking while batches run in the worker', async () => {
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { intraOpThreads: 1 });
  try {
    let last = performance.now();
    let maxGapMs = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      ticks++;
    }, 5);
    let longestInferMs = 0;
    try {
      last = performance.now();
      // Batches of 192 (about 90 ms each here; 48 took 16 ms, which a loaded machine's scheduler can
      // keep this thread waiting for): a tick gap that long is the main thread blocked, not a hiccup.
      for (let i = 0; i < 4; i++) {
        const out = await engine.run({ n: 192, data: batch(192, 40 * i) });
        longestInferMs = Math.max(longestInferMs, out.inferMs);
      }
    } finally {
      clearInterval(timer);
    }
    // Were session.run on this thread, no tick could land inside a batch: the gap would be ≥ the batch.
    assert.ok(ticks >= 10, `only ${ticks} ticks while 4 batches ran`);
    assert.ok(maxGapMs < longestInferMs, `longest gap between ticks ${maxGapMs.toFixed(1)} ms ≥ longest batch ${longestInferMs.toFixed(1)} ms`);
  } finally {
    await engine.close();
  }
});

test('a worker that dies fails only its batch; a replacement takes the next one', async () => {
  const logs: CollectedLog[] = [];
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { workers: 1, intraOpThreads: 1, logger: collectingLogger(logs) });
  try {
    engine[kCrashNextRun]();
    const first = engine.run({ n: 16, data: batch(16) });
    const second = engine.run({ n: 1, data: batch(1) });
    await assert.rejects(first, (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_SESSION_RUN');
      assert.match(err.message, /session worker 0 died while running this batch \(simulated crash \(engine test hook\)\)/);
      return true;
    });
    const out = await second;
    assert.equal(out.n, 1);
    assert.ok(logs.some((l) => l.level === 'warn' && /died/.test(l.msg)));
    const again = await engine.run({ n: 2, data: batch(2) });
    assert.equal(again.map.length, 2 * 64 * 64);
  } finally {
    await engine.close();
  }
});

test('two workers run batches side by side and agree with each other', async () => {
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { workers: 2, intraOpThreads: 1 });
  try {
    assert.equal(engine.workers, 2);
    const outs = await Promise.all([0, 1, 2, 3].map(() => engine.run({ n: 2, data: batch(2, 77) })));
    for (const o of outs) assert.deepEqual(o.map, outs[0]?.map);
  } finally {
    await engine.close();
  }
});

test('a malformed batch is refused with what is wrong; the engine goes on', async () => {
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { intraOpThreads: 1 });
  try {
    await assert.rejects(engine.run({ n: 2, data: batch(1) }), /input holds 9408 values; 2 × NHWC 56×56×3 needs 18816/);
    await assert.rejects(engine.run({ n: 1, data: new Float32Array(PER_IMAGE) }), /input must be a Uint8Array \(the manifest says uint8\), got Float32Array/);
    await assert.rejects(engine.run({ n: 0, data: new Uint8Array(0) }), /batch size n must be a positive integer/);
    const ok = await engine.run({ n: 1, data: batch(1) });
    assert.equal(ok.n, 1);
  } finally {
    await engine.close();
  }
});

test('a view into a larger buffer is copied, not detached from under the caller', async () => {
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { intraOpThreads: 1 });
  try {
    const big = new Uint8Array(PER_IMAGE * 3).fill(90);
    const view = big.subarray(PER_IMAGE, 2 * PER_IMAGE);
    await engine.run({ n: 1, data: view });
    assert.equal(big.byteLength, PER_IMAGE * 3);
    assert.equal(view[0], 90);
  } finally {
    await engine.close();
  }
});

test('close() finishes batches in flight, then refuses new ones', async () => {
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { intraOpThreads: 1 });
  const inflight = [engine.run({ n: 8, data: batch(8) }), engine.run({ n: 8, data: batch(8) })];
  await engine.close();
  const outs = await Promise.all(inflight);
  assert.equal(outs.length, 2);
  await assert.rejects(engine.run({ n: 1, data: batch(1) }), /the inference engine is closed/);
});

test('a manifest naming an output the graph lacks is LW_ERR_BUNDLE_IO_MISMATCH naming both files', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    const path = join(c.dir, 'model.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as { outputs: { anomalyMap: { name: string } }; input: { height: number }; geometry: { crop: { height: number } } };
    m.outputs.anomalyMap.name = 'heatmap';
    // The manifest stays consistent with itself (the crop makes what the input says): only the graph disagrees.
    m.input.height = 60;
    m.geometry.crop.height = 60;
    await writeFile(path, JSON.stringify(m));
    const bundle = await loadBundle(c.dir);
    await assert.rejects(InferenceEngine.create(bundle, { intraOpThreads: 1 }), (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_BUNDLE_IO_MISMATCH');
      assert.ok(err.message.includes(join(c.dir, 'model.onnx')) && err.message.includes(path), err.message);
      assert.match(err.message, /output "heatmap" \(manifest anomalyMap\): the graph has no such output/);
      assert.match(err.message, /input "image" \(manifest input\): dimension 1 is 56 in the graph/);
      return true;
    });
  } finally {
    await c.done();
  }
});

test('when a dead worker cannot be replaced (model file gone), batches are refused instead of waiting forever', async () => {
  const c = await copyBundle('tiny-inp');
  const logs: CollectedLog[] = [];
  const engine = await InferenceEngine.create(await loadBundle(c.dir), { workers: 1, intraOpThreads: 1, logger: collectingLogger(logs) });
  try {
    await rm(join(c.dir, 'model.onnx'));
    engine[kCrashNextRun]();
    const queued = engine.run({ n: 1, data: batch(1) });
    const waiting = engine.run({ n: 1, data: batch(1) });
    await assert.rejects(queued, /died while running this batch/);
    await assert.rejects(waiting, /no session worker is left/);
    await assert.rejects(engine.run({ n: 1, data: batch(1) }), /no session worker is left/);
    assert.ok(logs.some((l) => /replacement session worker failed to start/.test(l.msg)));
  } finally {
    await engine.close();
    await c.done();
  }
});

test('a map size the graph leaves symbolic is still checked: the warm-up run refuses a wrong manifest size', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    const path = join(c.dir, 'model.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as { outputs: { anomalyMap: { height: number } } };
    m.outputs.anomalyMap.height = 32;
    await writeFile(path, JSON.stringify(m));
    await assert.rejects(InferenceEngine.create(await loadBundle(c.dir), { intraOpThreads: 1 }), (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_BUNDLE_IO_MISMATCH');
      assert.match(err.message, /output "anomaly_map" came out as \[1,1,64,64\], the manifest says \[1,1,32,64\]/);
      return true;
    });
  } finally {
    await c.done();
  }
});

test('close() right after a worker died (replacement still starting) returns and leaves no worker behind', async () => {
  const engine = await InferenceEngine.create(await loadBundle(fixture('tiny-inp')), { workers: 1, intraOpThreads: 1, logger: collectingLogger([]) });
  engine[kCrashNextRun]();
  await assert.rejects(engine.run({ n: 1, data: batch(1) }), /died/);
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    engine.close().then(() => 'closed'),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('hung'), 20_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(closed, 'closed');
  await assert.rejects(engine.run({ n: 1, data: batch(1) }), /closed/);
});
