/**
 * The model seam: one adapter per architecture, chosen by manifest.architecture; refusals of
 * bundles no adapter runs; each adapter through a real session on a bundle made by trainer/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinewatchError } from '../../src/errors.js';
import { adapterFor, describeNeeds, type FrameExtras, type ModelAdapter } from '../../src/models/adapters/index.js';
import { ARCHITECTURES } from '../../src/models/manifest.js';
import { InferenceEngine, loadBundle, type Manifest } from '../../src/models/index.js';
import { computeGeometry } from '../../src/pipeline/geometry.js';
import type { PreparedPixels } from '../../src/pipeline/preprocess/index.js';
import { decode, editedBundle, fixture, maxAbsDiff, readGolden } from './helpers.js';

const TOLERANCE = 1e-4;

function hasCode(code: string, ...texts: RegExp[]) {
  return (err: unknown) => {
    assert.ok(err instanceof LinewatchError, `expected a LinewatchError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const t of texts) assert.match(err.message, t);
    return true;
  };
}

/** Golden images (already at the model's size) as the runtime's prepared pixels, one per image. */
function preparedOf(m: Manifest, images: Uint8Array, n: number): PreparedPixels[] {
  const per = m.input.height * m.input.width * m.input.channels;
  const geometry = computeGeometry({ width: m.input.width, height: m.input.height }, { width: m.input.width, height: m.input.height }, null);
  const out: PreparedPixels[] = [];
  for (let k = 0; k < n; k++) {
    // A buffer of its own per image, as preprocess gives (the engine may take it).
    out.push({ pixels: Buffer.from(images.subarray(k * per, (k + 1) * per)), channels: 3, order: 'RGB', geometry });
  }
  return out;
}

test('every architecture the bundle format names has an adapter, and says what it needs', async () => {
  const bundle = await loadBundle(fixture('tiny-inp'));
  const prompted = await loadBundle(fixture('tiny-prompted'));
  const kinds: Record<string, string> = {};
  for (const a of ARCHITECTURES) {
    const b = a === 'onenip' ? prompted : { ...bundle, manifest: { ...bundle.manifest, architecture: a } };
    const adapter = adapterFor(b);
    assert.equal(adapter.architecture, a);
    kinds[a] = adapter.kind;
  }
  assert.deepEqual(kinds, { 'inp-former': 'single-image', 'inp-former++': 'single-image', onenip: 'prompted', anomalib: 'single-image', generic: 'single-image' });
  assert.equal(describeNeeds(adapterFor(bundle).needs), 'nothing besides the frame');
  assert.match(describeNeeds(adapterFor(prompted).needs), /a prompt image for each frame: a good image of its product, one per product \(graph input "prompt"\)/);
});

test('a bundle whose architecture has no adapter is refused when it loads, naming the bundle and the architecture', async () => {
  const c = await editedBundle('tiny-inp', (m) => {
    m['architecture'] = 'patchcore-v9';
  });
  try {
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_MODEL_ARCHITECTURE', new RegExp(`model bundle ${c.dir}: architecture "patchcore-v9" has no adapter`), /it runs inp-former, inp-former\+\+, onenip, anomalib, generic/));
    // A bundle put together by hand does not get past the adapter either.
    const b = await loadBundle(fixture('tiny-inp'));
    assert.throws(() => adapterFor({ ...b, manifest: { ...b.manifest, architecture: 'patchcore-v9' } }), hasCode('LW_ERR_MODEL_ARCHITECTURE', /patchcore-v9/));
  } finally {
    await c.done();
  }
});

test('a manifest that does not fit its architecture is refused, never run through another family', async () => {
  // An INP-Former bundle relabelled OneNIP has no prompt input to give it.
  const noPrompt = await editedBundle('tiny-inp', (m) => {
    m['architecture'] = 'onenip';
  });
  // A prompted bundle relabelled INP-Former would lose its prompt.
  const withPrompt = await editedBundle('tiny-prompted', (m) => {
    m['architecture'] = 'inp-former';
  });
  try {
    const a = await loadBundle(noPrompt.dir);
    assert.throws(() => adapterFor(a), hasCode('LW_ERR_BUNDLE_MANIFEST', /architecture "onenip" takes a prompt image beside the frame, but model\.json has no "prompt"/));
    const b = await loadBundle(withPrompt.dir);
    assert.throws(() => adapterFor(b), hasCode('LW_ERR_BUNDLE_MANIFEST', /architecture "inp-former" takes one image, but model\.json declares a prompt input "prompt"/));
  } finally {
    await noPrompt.done();
    await withPrompt.done();
  }
});

/** The single-image adapters, one engine: inputs → session → finish reproduces the trainer's reference. */
for (const name of ['tiny-inp', 'tiny-inp-raw'] as const) {
  test(`${name}: each single-image adapter turns frames into the model input and its output into the reference map and score`, async () => {
    const bundle = await loadBundle(fixture(name));
    const golden = await readGolden(bundle.dir);
    const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
    try {
      for (const architecture of ['inp-former', 'inp-former++', 'anomalib', 'generic']) {
        const adapter: ModelAdapter = adapterFor({ ...bundle, manifest: { ...bundle.manifest, architecture } });
        assert.equal(adapter.mapHeight, 64);
        assert.equal(adapter.mapWidth, 64);
        for (const c of golden.cases) {
          const { shape, data } = decode(c.inputs['image']!);
          const n = shape[0]!;
          const input = adapter.inputs(preparedOf(bundle.manifest, data as Uint8Array, n), null);
          assert.equal(input.prompt, undefined);
          const fin = adapter.finish(await engine.run(input));
          assert.equal(fin.maps.length, n * fin.height * fin.width);
          const dMap = maxAbsDiff(fin.maps, decode(c.reference.map).data);
          const dScore = maxAbsDiff(fin.scores, decode(c.reference.score).data);
          assert.ok(dMap <= TOLERANCE && dScore <= TOLERANCE, `${architecture} ${c.name}: map ${dMap}, score ${dScore}`);
        }
      }
    } finally {
      await engine.close();
    }
  });
}

test('onenip: each frame goes in with its own prompt, and the output is the reference map and score', async () => {
  const bundle = await loadBundle(fixture('tiny-prompted'));
  const golden = await readGolden(bundle.dir);
  const adapter = adapterFor(bundle);
  assert.deepEqual(adapter.needs, { prompt: { input: 'prompt', selection: 'recipe', pool: null } });
  const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  try {
    const c = golden.cases[0]!;
    const { shape, data } = decode(c.inputs['image']!);
    const n = shape[0]!;
    const frames = preparedOf(bundle.manifest, data as Uint8Array, n);
    const prompts = preparedOf(bundle.manifest, decode(c.inputs['prompt']!).data as Uint8Array, n);
    const extras: FrameExtras[] = prompts.map((prompt) => ({ prompt }));
    const fin = adapter.finish(await engine.run(adapter.inputs(frames, extras)));
    assert.ok(maxAbsDiff(fin.maps, decode(c.reference.map).data) <= TOLERANCE);
    assert.ok(maxAbsDiff(fin.scores, decode(c.reference.score).data) <= TOLERANCE);
    // Prompts are shared between a product's frames: they were copied into the batch, not handed over.
    for (const p of prompts) assert.equal(p.pixels.byteLength, 56 * 56 * 3);
    // The same frames with swapped prompts: the scores follow the prompts, not the batch position.
    const again = preparedOf(bundle.manifest, data as Uint8Array, n);
    const swapped: FrameExtras[] = [extras[2]!, extras[0]!, extras[0]!, extras[2]!, extras[2]!];
    const fin2 = adapter.finish(await engine.run(adapter.inputs(again, swapped)));
    const thr = bundle.manifest.calibration.image.threshold;
    assert.deepEqual([...fin2.scores].map((s) => s > thr), [true, true, true, true, false], 'good-a vs b, defect-a vs a, good-b vs a, defect-b vs b, good-b vs b');
    assert.throws(() => adapter.inputs(again, null), hasCode('LW_ERR_MODEL_NEEDS_UNMET', /needs a prompt for each of the 5 frames/));
    assert.throws(() => adapter.inputs(frames.slice(0, 1), [{ prompt: null }]), hasCode('LW_ERR_MODEL_NEEDS_UNMET', /frame 0 of the batch has no prompt/));
  } finally {
    await engine.close();
  }
});

test('onenip, a real one (tiny-onenip): the prompted adapter reproduces every golden case, and the prompt decides', async () => {
  const bundle = await loadBundle(fixture('tiny-onenip'));
  const golden = await readGolden(bundle.dir);
  const adapter = adapterFor(bundle);
  assert.equal(adapter.kind, 'prompted');
  assert.equal(adapter.mapHeight, 64);
  const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  try {
    for (const c of golden.cases) {
      const { shape, data } = decode(c.inputs['image']!);
      const n = shape[0]!;
      const prompts = preparedOf(bundle.manifest, decode(c.inputs['prompt']!).data as Uint8Array, n);
      const fin = adapter.finish(await engine.run(adapter.inputs(preparedOf(bundle.manifest, data as Uint8Array, n), prompts.map((prompt) => ({ prompt })))));
      const dMap = maxAbsDiff(fin.maps, decode(c.reference.map).data);
      const dScore = maxAbsDiff(fin.scores, decode(c.reference.score).data);
      assert.ok(dMap <= TOLERANCE && dScore <= TOLERANCE, `${c.name}: map ${dMap}, score ${dScore}`);
    }
    // good-a with its own prompt, then with product b's: below the threshold, then above it.
    const good = golden.cases.find((c) => c.name === 'good-a')!;
    const other = golden.cases.find((c) => c.name === 'defect-b')!;
    const frames = preparedOf(bundle.manifest, decode(good.inputs['image']!).data as Uint8Array, 1);
    const own = preparedOf(bundle.manifest, decode(good.inputs['prompt']!).data as Uint8Array, 1)[0]!;
    const wrong = preparedOf(bundle.manifest, decode(other.inputs['prompt']!).data as Uint8Array, 1)[0]!;
    const twice = [...frames, ...preparedOf(bundle.manifest, decode(good.inputs['image']!).data as Uint8Array, 1)];
    const fin = adapter.finish(await engine.run(adapter.inputs(twice, [{ prompt: own }, { prompt: wrong }])));
    const thr = bundle.manifest.calibration.image.threshold;
    assert.ok(fin.scores[0]! < thr && fin.scores[1]! > thr, `own prompt ${fin.scores[0]}, other product's ${fin.scores[1]}, threshold ${thr}`);
  } finally {
    await engine.close();
  }
});
