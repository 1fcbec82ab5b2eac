import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { manifestSchema, type Manifest, type ManifestInput } from '../../../src/models/manifest.js';
import type { Frame, FrameImage } from '../../../src/pipeline/frame.js';
import { regionToCamera } from '../../../src/pipeline/postprocess/index.js';
import { allocateBatch, batchTensor, prepare, preparePixels, writeTensor } from '../../../src/pipeline/preprocess/index.js';
import { LinewatchError } from '../../../src/errors.js';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../../../src/models/bundle.js';

function manifest(input: Partial<ManifestInput['input']>, geometry?: ManifestInput['geometry']): Manifest {
  return manifestSchema.parse({
    format: 'linewatch-bundle/1',
    architecture: 'generic',
    version: 't',
    sha256: '0'.repeat(64),
    input: {
      name: 'image',
      dtype: 'uint8',
      layout: 'NHWC',
      height: 48,
      width: 48,
      channels: 3,
      colorOrder: 'RGB',
      valueRange: [0, 255],
      normalize: null,
      batch: 'dynamic',
      ...input,
    },
    geometry: geometry ?? { resize: { height: 64, width: 64 }, crop: { height: 48, width: 48 } },
    outputs: { anomalyMap: { name: 'map', height: 48, width: 48 }, score: { name: null, rule: { op: 'max' } } },
    calibration: {
      method: 't',
      image: { threshold: 1, min: 0, max: 2 },
      pixel: { threshold: 1, min: 0, max: 2 },
    },
  });
}

function frame(image: FrameImage): Frame {
  return { seq: 0, cameraId: 'cam', capturedAt: { monoNs: 0n, wallMs: 0 }, image, meta: {} };
}

/** 200×100 grey camera image, dark, with a bright 20×20 square at x 100–119, y 40–59. */
function squareImage(): Buffer {
  const w = 200;
  const h = 100;
  const data = Buffer.alloc(w * h, 20);
  for (let y = 40; y < 60; y++) for (let x = 100; x < 120; x++) data[y * w + x] = 240;
  return data;
}

test('a bright square in the camera image lands where resize + centre crop put it, and maps back', async () => {
  const m = manifest({});
  const { tensor, geometry } = await prepare(frame({ kind: 'raw', format: 'GRAY8', width: 200, height: 100, data: squareImage() }), m);
  assert.deepEqual(geometry.crop, { x: 8, y: 8, width: 48, height: 48 });
  assert.ok(tensor instanceof Uint8Array);
  assert.equal(tensor.length, 48 * 48 * 3);
  // Resize 200×100 → 64×64 (x·0.32, y·0.64), crop at 8: the square spans x 24–30.4, y 17.6–30.4.
  const at = (x: number, y: number, c: number): number => tensor[(y * 48 + x) * 3 + c]!;
  assert.ok(at(27, 24, 0) > 200, `centre of the square is bright (${at(27, 24, 0)})`);
  assert.equal(at(27, 24, 0), at(27, 24, 2), 'grey camera → equal RGB channels');
  assert.ok(at(10, 10, 1) < 40, 'background stays dark');
  assert.ok(at(35, 24, 1) < 40, 'right of the square is dark');
  // Find the bright bbox in the tensor and map it back to camera pixels.
  let x0 = 48, y0 = 48, x1 = -1, y1 = -1, area = 0;
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 48; x++) {
      if (at(x, y, 0) >= 128) {
        area++;
        if (x < x0) x0 = x;
        if (y < y0) y0 = y;
        if (x > x1) x1 = x;
        if (y > y1) y1 = y;
      }
    }
  }
  const d = regionToCamera({ x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1, area, max: 1 }, geometry, 48, 48);
  assert.ok(Math.abs(d.x - 100) <= 4 && Math.abs(d.y - 40) <= 2, `bbox origin ${d.x},${d.y} ≈ 100,40`);
  assert.ok(Math.abs(d.w - 20) <= 4 && Math.abs(d.h - 20) <= 3, `bbox size ${d.w}x${d.h} ≈ 20x20`);
  assert.ok(Math.abs(d.area - 400) < 80, `area ${d.area} ≈ 400 camera pixels`);
});

test('an ROI crops first: the square at the ROI origin lands at the tensor origin', async () => {
  const m = manifest({ height: 20, width: 20 }, { resize: { height: 20, width: 20 }, crop: null });
  const roi = { x: 100, y: 40, width: 40, height: 40 };
  const p = await preparePixels(frame({ kind: 'raw', format: 'GRAY8', width: 200, height: 100, data: squareImage() }), m, roi);
  assert.deepEqual(p.geometry.roi, roi);
  // The square fills the ROI's top-left quarter → the tensor's top-left 10×10.
  assert.ok(p.pixels[(5 * 20 + 5) * 3]! > 200);
  assert.ok(p.pixels[(15 * 20 + 15) * 3]! < 40);
});

test('float32 NCHW with mean/std and BGR order is written as the manifest declares', async () => {
  const m = manifest({
    dtype: 'float32',
    layout: 'NCHW',
    colorOrder: 'BGR',
    valueRange: [0, 1],
    normalize: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] },
    height: 4,
    width: 4,
  }, { resize: { height: 4, width: 4 }, crop: null });
  // A solid RGB colour (255, 0, 51) as an encoded PNG.
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 0, b: 51 } } }).png().toBuffer();
  const p = await preparePixels(frame({ kind: 'encoded', data: png }), m);
  const t = allocateBatch(m, 2);
  writeTensor(p, m, t, 1);
  assert.ok(t instanceof Float32Array);
  const plane = 16;
  const base = 3 * plane;
  // Channel 0 = B = 51/255 = 0.2 → (0.2 − 0.5)/0.25 = −1.2; channel 1 = G = 0 → −1; channel 2 = R = 1 → 0.5.
  assert.ok(Math.abs(t[base + 5]! - -1.2) < 1e-5, `B channel ${t[base + 5]}`);
  assert.ok(Math.abs(t[base + plane + 5]! - -1) < 1e-5);
  assert.ok(Math.abs(t[base + 2 * plane + 5]! - 0.5) < 1e-5);
  assert.equal(t[5], 0, 'image 0 of the batch is untouched');
});

test('a corrupt file is a LW_ERR_FRAME_DECODE naming the file; a short raw buffer is LW_ERR_FRAME_INVALID', async () => {
  const m = manifest({});
  await assert.rejects(
    preparePixels(frame({ kind: 'encoded', data: Buffer.from('not a png at all'), origin: '/x/bad.png' }), m),
    (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_FRAME_DECODE' && e.message.includes('/x/bad.png'),
  );
  await assert.rejects(
    preparePixels(frame({ kind: 'raw', format: 'RGB', width: 10, height: 10, data: Buffer.alloc(50) }), m),
    (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_FRAME_INVALID',
  );
});

test("the trainer's golden inputs: the fixture samples resized and cropped by the runtime are the model inputs PyTorch used", async () => {
  const dir = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp/', import.meta.url));
  const bundle = await loadBundle(dir);
  const golden = JSON.parse(await readFile(`${dir}golden.json`, 'utf8')) as {
    cases: { name: string; inputs: { image: { shape: number[]; base64: string } } }[];
  };
  for (const [name, file] of [['good', 'good-0'], ['defect', 'defect-0']] as const) {
    const c = golden.cases.find((x) => x.name === name)!;
    const want = Buffer.from(c.inputs.image.base64, 'base64');
    const png = await readFile(`${dir}samples/${file}.png`);
    const { tensor } = await prepare(frame({ kind: 'encoded', data: png, origin: file }), bundle.manifest);
    assert.equal(tensor.length, want.length);
    assert.ok(Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength).equals(want), `${file}: tensor equals golden ${name} input`);
  }
});

test('batchTensor: one RGB frame already is its uint8 NHWC tensor; any other case gets a tensor of its own, written as writeTensor writes it', async () => {
  const rgb = Buffer.alloc(200 * 100 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 13) & 255;
  const written = (ps: Awaited<ReturnType<typeof preparePixels>>[], m: Manifest) => {
    const t = allocateBatch(m, ps.length);
    ps.forEach((p, k) => writeTensor(p, m, t, k));
    return t;
  };
  const nhwc = manifest({});
  const one = await preparePixels(frame({ kind: 'raw', format: 'RGB', width: 200, height: 100, data: rgb }), nhwc);
  const expected = written([one], nhwc);
  const t = batchTensor([one], nhwc);
  assert.equal(t, one.pixels, 'handed over, not copied');
  assert.deepEqual(Buffer.from(t), Buffer.from(expected));
  // A BGR camera: the tensor is written with red and blue swapped; the prepared pixels stay as they were.
  const bgr = await preparePixels(frame({ kind: 'raw', format: 'BGR', width: 200, height: 100, data: rgb }), nhwc);
  const swapped = batchTensor([bgr], nhwc);
  assert.notEqual(swapped, bgr.pixels);
  assert.deepEqual(Buffer.from(swapped), Buffer.from(written([bgr], nhwc)));
  // NCHW, float32 and batches of two are written too.
  for (const m of [manifest({ layout: 'NCHW' }), manifest({ dtype: 'float32', layout: 'NCHW', valueRange: [0, 1] })]) {
    const p = await preparePixels(frame({ kind: 'raw', format: 'RGB', width: 200, height: 100, data: rgb }), m);
    assert.deepEqual(batchTensor([p], m), written([p], m));
  }
  const two = batchTensor([one, one], nhwc);
  assert.equal(two.length, 2 * 48 * 48 * 3);
  // Pixels that are a slice of Node's shared Buffer pool are copied, never handed on (the engine transfers what it gets).
  const tiny = manifest({ height: 8, width: 8 }, { resize: { height: 8, width: 8 }, crop: null });
  const pooled = { ...one, pixels: Buffer.from(Buffer.from(new Uint8Array(8 * 8 * 3).fill(9))) };
  assert.ok(pooled.pixels.byteLength < pooled.pixels.buffer.byteLength, 'a pooled Buffer');
  const own = batchTensor([pooled], tiny);
  assert.notEqual(own, pooled.pixels);
  assert.equal(own.byteLength, own.buffer.byteLength);
  assert.deepEqual(Buffer.from(own), pooled.pixels);
});
