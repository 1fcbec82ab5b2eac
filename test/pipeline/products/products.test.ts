/**
 * Products without a station: the configuration's `products` and `cameras[].product`, the recipes
 * read once, the prompt cache (prepared once per model and product, on the real preprocess code),
 * the changeover's stamp, and the PLC's product messages.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { planReload } from '../../../src/config/reload.js';
import { LinewatchError } from '../../../src/errors.js';
import { cameraOfProductTopic, parseProductMessage, productTopicFilter } from '../../../src/io/mqtt/product-topic.js';
import { parseTrigger } from '../../../src/io/mqtt/trigger-subscriber.js';
import { loadBundle } from '../../../src/models/index.js';
import type { Manifest } from '../../../src/models/manifest.js';
import { captureTimeNow, type Frame } from '../../../src/pipeline/frame.js';
import { Changeover, PromptCache, preparePrompt, readRecipes, type Recipe } from '../../../src/pipeline/products/index.js';
import { fixture } from '../../models/helpers.js';

const ONENIP = fixture('tiny-onenip');
const prompt = (p: string): string => join(ONENIP, 'samples', `${p}.png`);

function config(extra: Record<string, unknown>): unknown {
  return { model: { bundle: ONENIP }, cameras: [{ id: 'cam1', source: { type: 'folder', path: join(ONENIP, 'samples') }, product: 'a' }], ...extra };
}

test('config: products by name with a prompt each; a camera naming a product with no entry is refused whole, naming it', () => {
  const ok = parseConfig(config({ products: { a: { prompt: prompt('prompt-a') }, b: { prompt: prompt('prompt-b') } } }), 'test');
  assert.equal(ok.cameras[0]!.product, 'a');
  assert.deepEqual(Object.keys(ok.products), ['a', 'b']);
  assert.throws(
    () => parseConfig(config({ products: { b: { prompt: prompt('prompt-b') } } }), 'test'),
    (err: unknown) => err instanceof LinewatchError && err.code === 'LW_ERR_CONFIG_INVALID' && /cameras\[0\]\.product: product 'a' has no entry in products \(known: b\)/.test(err.message),
  );
  assert.throws(() => parseConfig(config({}), 'test'), /product 'a' has no entry in products \(none is configured\)/);
  assert.throws(() => parseConfig(config({ products: { 'a b': { prompt: 'x.png' } } }), 'test'), /LW_ERR_CONFIG_INVALID|not a valid/);
  // Without products nothing changes for the cameras that run none.
  const none = parseConfig({ model: { bundle: ONENIP }, cameras: [{ id: 'cam1', source: { type: 'folder', path: '.' } }] }, 'test');
  assert.deepEqual(none.products, {});
  // A changeover by configuration and a new recipe are hot: nothing restarts.
  const b = { ...ok, cameras: [{ ...ok.cameras[0]!, product: 'b' }] };
  assert.deepEqual(planReload(ok, b), { level: 'hot', changes: [{ path: 'cameras.product', class: 'hot' }] });
  assert.equal(planReload(ok, { ...ok, products: { ...ok.products, c: { prompt: 'c.png' } } }).level, 'hot');
});

test('recipes: read once; a missing or empty prompt file is LW_ERR_PRODUCT_PROMPT naming the product and the path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-recipes-'));
  try {
    const recipes = await readRecipes({ a: { prompt: prompt('prompt-a') } });
    assert.equal(recipes.get('a')!.images[0].path, prompt('prompt-a'));
    const missing = join(dir, 'nowhere.png');
    await assert.rejects(readRecipes({ a: { prompt: prompt('prompt-a') }, b: { prompt: missing } }), (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_PRODUCT_PROMPT');
      assert.ok(err.message.startsWith(`products.b.prompt ${missing}: cannot be read`), err.message);
      return true;
    });
    const empty = join(dir, 'empty.png');
    await writeFile(empty, '');
    await assert.rejects(readRecipes({ e: { prompt: empty } }), new RegExp(`products\\.e\\.prompt ${empty}: the file is empty`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function frame(product: string | undefined, seq = 0): Frame {
  return { seq, cameraId: 'cam1', capturedAt: captureTimeNow(), image: { kind: 'encoded', data: Buffer.alloc(0) }, meta: product === undefined ? {} : { product } };
}

test('the prompt cache prepares each product once per model, however many frames ask; a new model prepares anew', async () => {
  const recipes = await readRecipes({ a: { prompt: prompt('prompt-a') }, b: { prompt: prompt('prompt-b') } });
  const prepared: string[] = [];
  const counting = (r: Recipe, m: Manifest) => {
    prepared.push(`${r.product}@${m.version}`);
    return preparePrompt(r, m);
  };
  const cache = new PromptCache(recipes, counting);
  const model = { manifest: (await loadBundle(ONENIP)).manifest, embedder: null };
  const seen = new Set<unknown>();
  for (let i = 0; i < 200; i++) {
    const e = await cache.extras(model, i % 3 === 0 ? 'b' : 'a', null);
    seen.add(e.prompt);
  }
  assert.deepEqual(prepared.sort(), ['a@fixture-onenip-1', 'b@fixture-onenip-1'], 'once per product for 200 frames');
  assert.equal(seen.size, 2, 'every frame of a product shares its prompt');
  const a = (await cache.extras(model, 'a', null)).prompt!;
  // Prepared as a frame is: the bundle's geometry (64×64, no crop) and dtype.
  assert.deepEqual([a.geometry.crop.width, a.geometry.crop.height, a.channels], [model.manifest.input.width, model.manifest.input.height, model.manifest.input.channels]);
  // A model swap (a new manifest, here the same bundle loaded again) prepares its own prompts.
  const swapped = { manifest: (await loadBundle(ONENIP)).manifest, embedder: null };
  await cache.prepareAll(swapped);
  assert.equal(prepared.length, 4);
  await cache.extras(swapped, 'a', null);
  assert.equal(prepared.length, 4);
});

test('the prompt cache: an unknown product is LW_ERR_PRODUCT_UNKNOWN naming it; an undecodable prompt is LW_ERR_PRODUCT_PROMPT naming the product and the path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-prompts-'));
  try {
    const junk = join(dir, 'junk.png');
    await writeFile(junk, 'not a png at all');
    const model = { manifest: (await loadBundle(ONENIP)).manifest, embedder: null };
    const cache = new PromptCache(await readRecipes({ a: { prompt: prompt('prompt-a') }, junk: { prompt: junk } }));
    await assert.rejects(cache.extras(model, 'c', null), (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_PRODUCT_UNKNOWN');
      assert.match(err.message, /product "c" has no recipe \(no products\.c\.prompt or \.pool; known: a, junk\)/);
      return true;
    });
    await assert.rejects(cache.prepareAll(model), (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_PRODUCT_PROMPT');
      assert.ok(err.message.startsWith(`products.junk.prompt ${junk}: `), err.message);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('changeover: frames are stamped with the product running when they are received; a configuration change of a camera product wins, others keep the PLC choice', () => {
  let now = 1000;
  const c = new Changeover([{ id: 'cam1', product: 'a' }, { id: 'cam2' }], () => now);
  const f1 = c.stamp(frame(undefined, 1));
  const untouched = frame(undefined, 2);
  assert.equal(c.stamp({ ...untouched, cameraId: 'cam2' }).meta, untouched.meta, 'a camera with no product: the frame as it is');
  now = 2000;
  assert.equal(c.set('cam1', 'b', 'mqtt')?.product, 'a');
  const f2 = c.stamp(frame(undefined, 3));
  assert.deepEqual([f1.meta.product, f2.meta.product], ['a', 'b'], 'the frame received before the changeover keeps its product');
  assert.deepEqual(c.of('cam1'), { product: 'b', origin: 'mqtt', sinceMs: 2000 });
  // An update that does not touch cam1's product leaves the PLC's choice alone…
  assert.deepEqual(c.reconfigure([{ id: 'cam1', product: 'a' }, { id: 'cam2', product: 'a' }]), ['cam2']);
  assert.equal(c.of('cam1')?.product, 'b');
  // …one that changes it is an explicit changeover.
  assert.deepEqual(c.reconfigure([{ id: 'cam1', product: 'c' }, { id: 'cam2', product: 'a' }]), ['cam1']);
  assert.deepEqual(c.of('cam1'), { product: 'c', origin: 'config', sinceMs: 2000 });
  c.set('cam1', 'b', 'mqtt');
  assert.deepEqual(c.reset('cam1'), { product: 'c', origin: 'config', sinceMs: 2000 }, 'a cleared PLC topic: back to the configured product');
  c.reconfigure([{ id: 'cam1', product: 'c' }]);
  assert.equal(c.knows('cam2'), false, 'a removed camera is forgotten');
});

test('product messages: plain text or {"product"}; empty = cleared; anything else is LW_ERR_PRODUCT_INVALID. The topic names the camera. A trigger may name its part\'s product', () => {
  assert.equal(parseProductMessage(Buffer.from('bracket-b')), 'bracket-b');
  assert.equal(parseProductMessage(' bracket-b\n'), 'bracket-b');
  assert.equal(parseProductMessage('{"product":"bracket-b"}'), 'bracket-b');
  assert.equal(parseProductMessage(''), null);
  for (const bad of ['two words', '{"product":""}', '{"name":"a"}', '{not json', 'a/b']) {
    assert.throws(() => parseProductMessage(bad), (err: unknown) => err instanceof LinewatchError && err.code === 'LW_ERR_PRODUCT_INVALID', bad);
  }
  const root = 'linewatch/p/l/st';
  assert.equal(productTopicFilter(root), 'linewatch/p/l/st/+/product');
  assert.equal(cameraOfProductTopic(root, 'linewatch/p/l/st/cam1/product'), 'cam1');
  assert.equal(cameraOfProductTopic(root, 'linewatch/p/l/st/product'), null);
  assert.equal(cameraOfProductTopic(root, 'linewatch/p/l/st/config/set'), null);
  assert.deepEqual(parseTrigger('{"partId":"P-1","product":"b"}', 5), { partId: 'P-1', at: 5, product: 'b' });
  assert.throws(() => parseTrigger('{"partId":"P-1","product":"no such/thing"}', 5), /LW_ERR_TRIGGER_INVALID|trigger payload/);
});
