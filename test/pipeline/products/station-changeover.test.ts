/**
 * Changeover on a running station, real ONNX Runtime sessions on the tiny OneNIP (two products,
 * `a` and `b`): each frame is judged against the prompt of the product its camera ran when the
 * frame was received — checked against the score of the same image with each prompt alone —; an
 * unknown product makes error verdicts naming it; a configuration with a prompt that cannot be
 * read is refused at start and as a change, the running one staying.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { decideConfigSchema } from '../../../src/config/sections.js';
import { LinewatchError } from '../../../src/errors.js';
import { InferenceEngine, loadBundle } from '../../../src/models/index.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { captureTimeNow } from '../../../src/pipeline/frame.js';
import { Inspector, createModelSlot } from '../../../src/pipeline/inspect/index.js';
import { preparePixels } from '../../../src/pipeline/preprocess/index.js';
import { PromptCache, readRecipes } from '../../../src/pipeline/products/index.js';
import { Station } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { fixture } from '../../models/helpers.js';

const ONENIP = fixture('tiny-onenip');
const sample = (name: string): string => join(ONENIP, 'samples', `${name}.png`);
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

let dir: string;
/** The raw score of good-a judged against each product's prompt alone. */
const reference: Record<string, number> = {};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lw-changeover-'));
  // One image, looped: every frame is the same good part of product a.
  await copyFile(sample('good-a'), join(dir, 'good-a.png'));
  const bundle = await loadBundle(ONENIP);
  const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  try {
    const slot = createModelSlot(bundle, engine);
    const prompts = new PromptCache(await readRecipes({ a: { prompt: sample('prompt-a') }, b: { prompt: sample('prompt-b') } }));
    const data = await readFile(sample('good-a'));
    for (const product of ['a', 'b']) {
      const inspector = new Inspector({
        model: () => slot,
        rules: () => ({ decide: decideConfigSchema.parse(undefined), configVersion: 'ref' }),
        prepare: (f, m) => preparePixels(f, m),
        frameContext: () => ({ roi: undefined, maxFramePixels: 1e8, extras: (_f, s) => prompts.extras({ manifest: s.bundle.manifest, embedder: null }, product, null) }),
        judged: () => null,
      });
      const [v] = await inspector.judge([{ seq: 0, cameraId: 'ref', capturedAt: captureTimeNow(), image: { kind: 'encoded', data }, meta: {} }]);
      reference[product] = v!.score!;
    }
  } finally {
    await engine.close();
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function config(products: Record<string, { prompt: string }>, product = 'a', version = '1'): Config {
  return parseConfig(
    {
      version,
      model: { bundle: ONENIP, intraOpThreads: 1 },
      cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 25 }, product }],
      products,
      inference: { preprocessWorkers: 0 },
    },
    'changeover test',
  );
}

const AB = { a: { prompt: sample('prompt-a') }, b: { prompt: sample('prompt-b') } };

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the prompts differ measurably: good-a against prompt a scores lower than against prompt b', (t) => {
  assert.ok(reference['b']! - reference['a']! > 0.1, JSON.stringify(reference));
  t.diagnostic(`good-a: score ${reference['a']} with prompt a, ${reference['b']} with prompt b`);
});

test('changeover between two frames: frames received before it are judged with the old prompt, after it with the new one; an unknown product makes error verdicts naming it; a configuration changeover brings it back; one verdict per frame', async () => {
  const station = await Station.start(config(AB), { logger: quiet });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  try {
    await until(() => verdicts.length >= 3, 'three verdicts of product a');
    // Synchronous with the stamp: the frames received so far are a's, every later one is b's.
    const r = station.setProduct('cam1', 'b');
    const receivedAtSwitch = station.counters().received;
    assert.ok(r.ok && r.known && r.running?.product === 'b' && r.before?.product === 'a', JSON.stringify(r));
    assert.deepEqual(station.health().cameras[0]!.product, { ...station.health().cameras[0]!.product!, product: 'b', origin: 'mqtt', known: true });
    await until(() => verdicts.filter((v) => v.product === 'b').length >= 3, 'three verdicts of product b');

    const unknown = station.setProduct('cam1', 'zz');
    assert.ok(unknown.ok && !unknown.known);
    const atUnknown = station.counters().received;
    await until(() => verdicts.filter((v) => v.product === 'zz').length >= 2, 'two verdicts of product zz');
    assert.ok(station.health().reasons.some((x) => /camera cam1: product "zz" has no recipe/.test(x)), JSON.stringify(station.health().reasons));

    // A configuration update naming cam1's product again: hot, from the next frame.
    const applied = await station.applyConfig(config(AB, 'b', '2'));
    assert.equal(applied.ok, true, JSON.stringify(applied.reasons));
    assert.equal(applied.level, 'hot');
    assert.equal(station.health().cameras[0]!.product?.origin, 'config');
    await until(() => verdicts.filter((v) => v.product === 'b' && v.configVersion === '2').length >= 2, 'verdicts of b again');
    await station.stop();

    const bySeq = [...verdicts].sort((x, y) => x.seq - y.seq);
    const aCount = bySeq.filter((v) => v.product === 'a').length;
    assert.equal(aCount, receivedAtSwitch, 'exactly the frames received before the changeover are a\'s');
    assert.equal(bySeq.filter((v) => v.seq < bySeq[atUnknown]!.seq && v.product === 'zz').length, 0);
    // In seq order: a…a b…b zz…zz b…b — a frame takes the product running when it came in, never a later one.
    const runs = bySeq.map((v) => v.product).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    assert.deepEqual(runs, ['a', 'b', 'zz', 'b']);
    for (const v of bySeq) {
      if (v.product === 'zz') {
        assert.equal(v.verdict, 'error');
        assert.equal(v.score, null);
        assert.equal(v.reasons[0]!.code, 'LW_ERR_PRODUCT_UNKNOWN');
        assert.match(v.reasons[0]!.message, /product "zz" has no recipe \(no products\.zz\.prompt or \.pool; known: a, b\)/);
        assert.equal(v.reasons[1]!.code, 'FAILSAFE_REJECT', 'judged by failSafe like any error');
        continue;
      }
      assert.notEqual(v.verdict, 'error', JSON.stringify(v.reasons));
      const want = reference[v.product!]!;
      assert.ok(Math.abs(v.score! - want) < 1e-4, `frame ${v.seq} of ${v.product}: score ${v.score} ≠ ${want} (with prompt ${v.product} alone)`);
    }
    const c = station.counters();
    assert.ok(identityHolds(c), JSON.stringify(c));
    assert.equal(c.inFlight, 0);
    assert.equal(verdicts.length, c.received, 'every frame ends as exactly one verdict');
  } finally {
    await station.stop();
  }
});

test('a prompt that cannot be read or decoded refuses the configuration, at start and as a change; the running configuration stays', async () => {
  // Beside the camera's folder, not in it (the camera would read the junk as a frame).
  const recipes = await mkdtemp(join(tmpdir(), 'lw-recipes-'));
  const missing = join(recipes, 'no-such-prompt.png');
  const junk = join(recipes, 'junk-prompt.png');
  await writeFile(junk, 'not an image');
  const refusal = (path: string, product: string) => (err: unknown) => {
    assert.ok(err instanceof LinewatchError, String(err));
    assert.equal(err.code, 'LW_ERR_PRODUCT_PROMPT');
    assert.ok(err.message.includes(`products.${product}.prompt ${path}`), err.message);
    return true;
  };
  await assert.rejects(Station.start(config({ ...AB, b: { prompt: missing } }), { logger: quiet, deferCameras: true }), refusal(missing, 'b'));
  await assert.rejects(Station.start(config({ ...AB, b: { prompt: junk } }), { logger: quiet, deferCameras: true }), refusal(junk, 'b'));

  const station = await Station.start(config(AB), { logger: quiet });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  try {
    const running = station.activeConfig();
    for (const [path, why] of [[missing, /cannot be read/], [junk, /products\.b\.prompt .*junk-prompt\.png: /]] as const) {
      const r = await station.applyConfig(config({ ...AB, b: { prompt: path } }, 'b', '2'));
      assert.equal(r.ok, false);
      assert.ok(r.reasons.some((x) => x.includes(`products.b.prompt ${path}`) && why.test(x)), JSON.stringify(r.reasons));
      assert.equal(station.activeConfig(), running, 'the running configuration stays');
      assert.equal(station.health().cameras[0]!.product?.product, 'a', 'and so does the product');
    }
    // A prompted model on a camera without a product is refused as a change too.
    const noProduct = parseConfig({ ...running, version: '3', cameras: [{ ...running.cameras[0]!, product: undefined }] }, 'no product');
    const r = await station.applyConfig(noProduct);
    assert.equal(r.ok, false);
    assert.match(r.reasons[0]!, /camera cam1 cannot give one: no product is set for it/);
    const n = verdicts.length;
    await until(() => verdicts.length >= n + 2, 'frames judged on');
    const later = verdicts.slice(n);
    assert.ok(later.every((v) => v.product === 'a' && v.verdict !== 'error' && v.configVersion === '1'), JSON.stringify(later.map((v) => [v.product, v.verdict, v.configVersion, v.reasons])));
  } finally {
    await station.stop();
    await rm(recipes, { recursive: true, force: true });
  }
});

test("a trigger's product is its part's product: that frame is judged with that prompt, the next ones with the camera's", async () => {
  const base = config(AB);
  const triggered = parseConfig(
    { ...base, cameras: [{ ...base.cameras[0]!, source: { type: 'folder', path: dir, loop: true, fps: 10 }, triggers: { timeoutMs: 5_000 } }] },
    'trigger test',
  );
  const station = await Station.start(triggered, { logger: quiet, deferCameras: true, maxFramesPerCamera: 3 });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  try {
    const at = Date.now();
    station.pushTrigger({ partId: 'P-1', at, product: 'b' });
    station.pushTrigger({ partId: 'P-2', at });
    station.pushTrigger({ partId: 'P-3', at, product: 'b' });
    station.begin();
    await station.ended();
    assert.deepEqual(
      verdicts.map((v) => [v.partId, v.product]),
      [
        ['P-1', 'b'],
        ['P-2', 'a'],
        ['P-3', 'b'],
      ],
    );
    for (const v of verdicts) assert.ok(Math.abs(v.score! - reference[v.product!]!) < 1e-4, `${v.partId}: ${v.score}`);
    assert.equal(station.health().cameras[0]!.product?.product, 'a', "one part's trigger is no changeover");
  } finally {
    await station.stop();
  }
});
