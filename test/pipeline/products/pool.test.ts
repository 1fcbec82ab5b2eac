/**
 * The cosine-pool prompt rule on the tiny OneNIP exported with `selection: cosine-pool`
 * (test/fixtures/models/tiny-onenip-pool), real ONNX Runtime sessions for the model and its
 * embed.onnx: each frame is judged against the pool member nearest to it, named on the verdict,
 * with the score of the recipe run with that member alone; a pool is prepared and embedded once per
 * model and product; a bad pool refuses a configuration whole; a pool needs a pool bundle.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { decideConfigSchema } from '../../../src/config/sections.js';
import { LinewatchError } from '../../../src/errors.js';
import { EmbeddingEngine, type Embedder } from '../../../src/models/embedder.js';
import { InferenceEngine, loadBundle, type Bundle } from '../../../src/models/index.js';
import { captureTimeNow, type Frame } from '../../../src/pipeline/frame.js';
import { Inspector, createModelSlot, type ModelSlot } from '../../../src/pipeline/inspect/index.js';
import { preparePixels, type PreparedPixels } from '../../../src/pipeline/preprocess/index.js';
import { PromptCache, nearestRow, preparePrompt, promptServer, readRecipes, type Recipe } from '../../../src/pipeline/products/index.js';
import { Station } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { fixture } from '../../models/helpers.js';

const POOL = fixture('tiny-onenip-pool');
const RECIPE_BUNDLE = fixture('tiny-onenip');
const sample = (name: string): string => join(POOL, 'samples', `${name}.png`);
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

let bundle: Bundle;
let engine: InferenceEngine;
let embedder: EmbeddingEngine;
let dir: string;

before(async () => {
  bundle = await loadBundle(POOL);
  engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  embedder = await EmbeddingEngine.create(bundle);
  dir = await mkdtemp(join(tmpdir(), 'lw-pool-'));
});

after(async () => {
  await engine.close();
  await embedder.close();
  await rm(dir, { recursive: true, force: true });
});

function frame(name: string, product: string, seq = 0): Promise<Frame> {
  return readFile(sample(name)).then((data) => ({ seq, cameraId: 'cam1', capturedAt: captureTimeNow(), image: { kind: 'encoded' as const, data }, meta: { product } }));
}

function inspector(slot: ModelSlot, prompts: PromptCache): Inspector {
  return new Inspector({
    model: () => slot,
    rules: () => ({ decide: decideConfigSchema.parse(undefined), configVersion: 'pool' }),
    prepare: (f, m) => preparePixels(f, m),
    frameContext: () => ({ roi: undefined, maxFramePixels: 1e8, extras: promptServer(() => prompts, () => new Error('no product')) }),
    judged: () => null,
  });
}

test('nearestRow: the largest dot product; ties go to the first row', () => {
  const f = new Float32Array([1, 0, 0, 1, 0.6, 0.8, 0, 1]);
  assert.equal(nearestRow(f, 2, new Float32Array([0.1, 0.99])), 1);
  assert.equal(nearestRow(f, 2, new Float32Array([1, 0])), 0);
  assert.equal(nearestRow(f, 2, new Float32Array([0, 1])), 1, 'rows 1 and 3 tie: the first');
});

test("a pool of both products' good images: a frame of a picks a's member (named on the verdict) and scores as the recipe run with that member alone (1e-4); b's picks b's", async () => {
  const slot = createModelSlot(bundle, engine, undefined, embedder);
  const pooled = new PromptCache(await readRecipes({ mix: { pool: [sample('prompt-a'), sample('prompt-b')] } }));
  const alone = new PromptCache(await readRecipes({ a: { prompt: sample('prompt-a') }, b: { prompt: sample('prompt-b') } }));
  const judged = await inspector(slot, pooled).judge([await frame('good-a', 'mix', 0), await frame('good-b', 'mix', 1), await frame('defect-a', 'mix', 2)]);
  const ref = await inspector(slot, alone).judge([await frame('good-a', 'a', 0), await frame('good-b', 'b', 1), await frame('defect-a', 'a', 2)]);
  assert.deepEqual(judged.map((v) => v.prompt), ['prompt-a.png', 'prompt-b.png', 'prompt-a.png']);
  assert.deepEqual(ref.map((v) => v.prompt), ['prompt-a.png', 'prompt-b.png', 'prompt-a.png'], 'a recipe is named too');
  for (let i = 0; i < 3; i++) {
    assert.equal(judged[i]!.product, 'mix');
    assert.ok(Math.abs(judged[i]!.score! - ref[i]!.score!) < 1e-4, `frame ${i}: ${judged[i]!.score} vs ${ref[i]!.score}`);
  }
  assert.deepEqual(judged.map((v) => v.verdict), ['ok', 'ok', 'reject']);
});

test('a pool folder: its image files in file-name order; each frame gets the nearest of its own product', async () => {
  const a = join(dir, 'pool-a');
  await mkdir(a);
  await copyFile(sample('pool-a'), join(a, '2-second.png'));
  await copyFile(sample('prompt-a'), join(a, '1-first.png'));
  await writeFile(join(a, 'notes.txt'), 'not an image: skipped');
  const recipes = await readRecipes({ a: { pool: a } });
  assert.deepEqual(recipes.get('a')!.images.map((r) => r.path), [join(a, '1-first.png'), join(a, '2-second.png')]);
  const slot = createModelSlot(bundle, engine, undefined, embedder);
  const [v] = await inspector(slot, new PromptCache(recipes)).judge([await frame('good-a', 'a')]);
  assert.ok(v!.prompt === '1-first.png' || v!.prompt === '2-second.png', String(v!.prompt));
  assert.equal(v!.verdict, 'ok');
});

test('pool prompts are prepared and embedded once per model and product, however many frames; each frame is embedded once', async () => {
  const prepared: string[] = [];
  const counting = (r: Recipe, m: Parameters<typeof preparePrompt>[1]) => {
    prepared.push(r.path);
    return preparePrompt(r, m);
  };
  const runs: number[] = [];
  const counted: Embedder = {
    dim: embedder.dim,
    embed: (images: readonly PreparedPixels[]) => {
      runs.push(images.length);
      return embedder.embed(images);
    },
    close: async () => {},
  };
  const slot = createModelSlot(bundle, engine, undefined, counted);
  const cache = new PromptCache(await readRecipes({ a: { pool: [sample('prompt-a'), sample('pool-a')] }, b: { pool: [sample('prompt-b'), sample('pool-b')] } }), counting);
  await cache.prepareAll({ manifest: bundle.manifest, embedder: counted });
  assert.equal(prepared.length, 4);
  assert.deepEqual(runs, [2, 2], 'each pool embedded once, as one run');
  const insp = inspector(slot, cache);
  const frames = [];
  for (let i = 0; i < 40; i++) frames.push(await frame(i % 2 === 0 ? 'good-a' : 'good-b', i % 2 === 0 ? 'a' : 'b', i));
  for (let i = 0; i < frames.length; i += 8) {
    const vs = await insp.judge(frames.slice(i, i + 8));
    assert.ok(vs.every((v) => v.verdict === 'ok'), JSON.stringify(vs.map((v) => [v.verdict, v.reasons])));
  }
  assert.equal(prepared.length, 4, 'no pool image prepared again for 40 frames');
  assert.deepEqual(runs.slice(2), new Array(40).fill(1), 'one embedding per frame, none of the pools again');
});

function config(products: Config['products'], bundlePath = POOL, version = '1'): Config {
  return parseConfig(
    {
      version,
      model: { bundle: bundlePath, intraOpThreads: 1 },
      cameras: [{ id: 'cam1', source: { type: 'folder', path: join(dir, 'frames'), loop: true, fps: 25 }, product: 'a' }],
      products,
      inference: { preprocessWorkers: 0 },
    },
    'pool test',
  );
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a station runs a pool bundle (no longer refused by name): verdicts name the chosen pool member; a bad pool is refused whole at start and as a change, the running products staying', async () => {
  await mkdir(join(dir, 'frames'), { recursive: true });
  await copyFile(sample('good-a'), join(dir, 'frames', 'good-a.png'));
  const junk = join(dir, 'junk.png');
  await writeFile(junk, 'not an image');
  const empty = join(dir, 'empty-pool');
  await mkdir(empty, { recursive: true });
  const AB = { a: { pool: [sample('prompt-b'), sample('prompt-a'), sample('pool-a')] }, b: { prompt: sample('prompt-b') } };
  const refusal = (what: RegExp) => (err: unknown) => {
    assert.ok(err instanceof LinewatchError, String(err));
    assert.equal(err.code, 'LW_ERR_PRODUCT_PROMPT');
    assert.match(err.message, what);
    return true;
  };
  await assert.rejects(Station.start(config({ ...AB, b: { pool: [sample('prompt-b'), junk] } }), { logger: quiet, deferCameras: true }), refusal(new RegExp(`^products\\.b\\.pool ${junk}: `)));
  await assert.rejects(Station.start(config({ ...AB, b: { pool: empty } }), { logger: quiet, deferCameras: true }), refusal(new RegExp(`products\\.b\\.pool ${empty}: holds no image file`)));

  const station = await Station.start(config(AB), { logger: quiet });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  try {
    await until(() => verdicts.length >= 3, 'three verdicts');
    for (const v of verdicts) {
      assert.equal(v.verdict, 'ok', JSON.stringify(v.reasons));
      assert.equal(v.product, 'a');
      assert.ok(v.prompt === 'prompt-a.png' || v.prompt === 'pool-a.png', `good-a judged against ${v.prompt}, never b's`);
    }
    const running = station.activeConfig();
    const bad: [Config['products'], string][] = [
      [{ ...AB, c: { pool: [sample('prompt-a'), junk] } }, `products.c.pool ${junk}: `],
      [{ ...AB, c: { pool: [sample('prompt-a'), join(dir, 'missing.png')] } }, `products.c.pool ${join(dir, 'missing.png')}: cannot be read`],
      [{ ...AB, c: { pool: empty } }, `products.c.pool ${empty}: holds no image file`],
    ];
    for (const [products, what] of bad) {
      const r = await station.applyConfig(config(products, POOL, '2'));
      assert.equal(r.ok, false);
      assert.ok(r.reasons.some((x) => x.includes(what)), JSON.stringify(r.reasons));
      assert.equal(station.activeConfig(), running, 'the running configuration stays');
    }
    const n = verdicts.length;
    await until(() => verdicts.length >= n + 2, 'frames judged on');
    assert.ok(verdicts.slice(n).every((v) => v.verdict === 'ok' && v.configVersion === '1'));
    // A good change is taken: a pool for c, hot.
    const ok = await station.applyConfig(config({ ...AB, c: { pool: [sample('prompt-b'), sample('pool-b')] } }, POOL, '3'));
    assert.equal(ok.ok, true, JSON.stringify(ok.reasons));
    assert.deepEqual(Object.keys(station.activeConfig().products), ['a', 'b', 'c']);
  } finally {
    await station.stop();
  }
});

test('a pool on a recipe bundle is refused naming the product (it would err towards passing); a recipe on a pool bundle is a pool of one', async () => {
  await mkdir(join(dir, 'frames'), { recursive: true });
  await copyFile(sample('good-a'), join(dir, 'frames', 'good-a.png'));
  await assert.rejects(
    Station.start(config({ a: { prompt: sample('prompt-a') }, b: { pool: [sample('prompt-b'), sample('pool-b')] } }, RECIPE_BUNDLE), { logger: quiet, deferCameras: true }),
    (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_MODEL_NEEDS_UNMET');
      assert.match(err.message, /products\.b cannot give one: it names a pool, and this bundle's prompt\.selection is recipe/);
      return true;
    },
  );
  const station = await Station.start(config({ a: { prompt: sample('prompt-a') } }), { logger: quiet, maxFramesPerCamera: 2 });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  try {
    await until(() => verdicts.length >= 2, 'two verdicts');
    assert.ok(verdicts.every((v) => v.verdict === 'ok' && v.prompt === 'prompt-a.png'), JSON.stringify(verdicts.map((v) => [v.verdict, v.prompt, v.reasons])));
  } finally {
    await station.stop();
  }
});

test('configuration: a product is a recipe xor a pool; both or neither is refused', () => {
  const base = { model: { bundle: POOL }, cameras: [{ id: 'cam1', source: { type: 'folder', path: '.' }, product: 'a' }] };
  assert.throws(() => parseConfig({ ...base, products: { a: { prompt: 'a.png', pool: ['b.png'] } } }, 'both'), /either "prompt": FILE .* or "pool"/);
  assert.throws(() => parseConfig({ ...base, products: { a: {} } }, 'neither'), /either "prompt": FILE/);
  assert.throws(() => parseConfig({ ...base, products: { a: { pool: [] } } }, 'empty list'), /either "prompt"|pool/);
  const ok = parseConfig({ ...base, products: { a: { pool: 'goods/a' }, b: { pool: ['1.png', '2.png'] }, c: { prompt: 'c.png' } } }, 'ok');
  assert.deepEqual(Object.keys(ok.products), ['a', 'b', 'c']);
});

test('configs/onenip-pool.yaml runs: every part of a judged against the nearest of a\'s pool, named on its verdict', async () => {
  const { loadConfig } = await import('../../../src/config/load.js');
  const { fileURLToPath } = await import('node:url');
  const file = fileURLToPath(new URL('../../../../configs/onenip-pool.yaml', import.meta.url));
  const config = await loadConfig(file);
  const station = await Station.start({ ...config, sinks: { ...config.sinks, console: { ...config.sinks.console, enabled: false } } }, { logger: quiet, baseDir: join(file, '..'), maxFramesPerCamera: 8 });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  try {
    await station.ended();
  } finally {
    await station.stop();
  }
  assert.equal(verdicts.length, 8);
  assert.ok(verdicts.every((v) => v.product === 'a' && (v.prompt === 'prompt-a.png' || v.prompt === 'pool-a.png')), JSON.stringify(verdicts.map((v) => [v.product, v.prompt, v.verdict])));
  const good = verdicts.find((v) => v.meta?.['file'] !== undefined && String(v.meta['file']).endsWith('good-a.png')) ?? verdicts.find((v) => v.partId === 'good-a');
  assert.equal(good?.verdict, 'ok');
});

test('the embedding worker, if it dies, is replaced: requests after it are served (the run it held would fail its frames, never hang them)', async () => {
  const e = await EmbeddingEngine.create(bundle);
  try {
    const px = await preparePixels(await frame('good-a', 'a'), bundle.manifest);
    const [before] = await e.embed([px]);
    // Stopped while idle (a crash inside session.run would abort onnxruntime-node's whole process).
    await (e as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const [after] = await e.embed([px]);
    assert.deepEqual([...after!], [...before!]);
  } finally {
    await e.close();
  }
});
