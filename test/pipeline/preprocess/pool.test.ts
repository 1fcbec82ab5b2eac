import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LinewatchError } from '../../../src/errors.js';
import { loadBundle } from '../../../src/models/bundle.js';
import type { Frame, FrameImage } from '../../../src/pipeline/frame.js';
import { preparePixels } from '../../../src/pipeline/preprocess/index.js';
import { PreprocessPool, sendable } from '../../../src/pipeline/preprocess/pool.js';

const dir = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp/', import.meta.url));

function frame(seq: number, image: FrameImage): Frame {
  return { seq, cameraId: 'cam', capturedAt: { monoNs: 0n, wallMs: 0 }, image, meta: {} };
}

test('a worker pool prepares exactly what the main thread does, and reports bad frames with their code', async () => {
  const { manifest } = await loadBundle(dir);
  const pool = new PreprocessPool(2, { inlineBelowMs: 0 });
  try {
    const png = await readFile(`${dir}samples/defect-1.png`);
    const raw = Buffer.alloc(80 * 60 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 31) & 255;
    const frames = [
      frame(0, { kind: 'encoded', data: png, origin: 'defect-1.png' }),
      frame(1, { kind: 'raw', format: 'BGR', width: 80, height: 60, data: raw }),
    ];
    const roi = { x: 2, y: 3, width: 50, height: 40 };
    for (const f of frames) {
      for (const r of [undefined, roi]) {
        const [a, b] = await Promise.all([pool.prepare(f, manifest, r), preparePixels(f, manifest, r)]);
        assert.ok(a.pixels.equals(b.pixels), `frame ${f.seq} roi ${r !== undefined}`);
        assert.deepEqual(a.geometry, b.geometry);
        assert.equal(a.order, b.order);
      }
    }
    await assert.rejects(
      pool.prepare(frame(2, { kind: 'encoded', data: Buffer.from('garbage'), origin: '/line/bad.png' }), manifest, undefined),
      (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_FRAME_DECODE' && e.message.includes('/line/bad.png'),
    );
    assert.equal(pool.size, 2);
  } finally {
    await pool.close();
  }
});

function rawFrame(seq: number, width: number, height: number): Frame {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seq) & 255;
  return frame(seq, { kind: 'raw', format: 'RGB', width, height, data });
}

test('a camera whose frames are cheap to prepare is prepared on the calling thread after the first, with the same pixels', async () => {
  const { manifest } = await loadBundle(dir);
  const pool = new PreprocessPool(1, { inlineBelowMs: 1000 });
  try {
    for (let i = 0; i < 5; i++) {
      const f = rawFrame(i, 80, 60);
      const [a, b] = await Promise.all([pool.prepare(f, manifest, undefined), preparePixels(f, manifest)]);
      assert.ok(a.pixels.equals(b.pixels));
      assert.deepEqual(a.geometry, b.geometry);
    }
    // The first frame's cost is unknown: measured in the worker, then the camera stays here.
    assert.deepEqual(pool.prepared, { worker: 1, inline: 4 });
  } finally {
    await pool.close();
  }
});

test('a camera whose frames are costly stays in the worker; 0 keeps every frame there', async () => {
  const { manifest } = await loadBundle(dir);
  // A 5 MP frame resized to the model takes tens of ms: above a 1 ms bar on any machine.
  const costly = new PreprocessPool(1, { inlineBelowMs: 1 });
  const never = new PreprocessPool(1, { inlineBelowMs: 0 });
  try {
    for (let i = 0; i < 3; i++) await costly.prepare(rawFrame(i, 2448, 2048), manifest, undefined);
    assert.deepEqual(costly.prepared, { worker: 3, inline: 0 });
    for (let i = 0; i < 3; i++) await never.prepare(rawFrame(i, 8, 8), manifest, undefined);
    assert.deepEqual(never.prepared, { worker: 3, inline: 0 });
    assert.throws(() => new PreprocessPool(1, { inlineBelowMs: -1 }), /inlineBelowMs must be ≥ 0, got -1/);
  } finally {
    await Promise.all([costly.close(), never.close()]);
  }
});

test('a tile that is a view of a wide strip (rows a stride apart) is prepared where it lies, in the worker and here alike, as its tight copy is; to a worker it travels as its own pixels, not the strip', async () => {
  const { manifest } = await loadBundle(dir);
  const W = 500;
  const H = 90;
  const strip = Buffer.alloc(W * H * 3);
  for (let i = 0; i < strip.length; i++) strip[i] = (i * 13 + (i >> 7)) & 255;
  const [x0, y0, tw, th] = [37, 11, 70, 64];
  const stride = W * 3;
  const view = strip.subarray(y0 * stride + x0 * 3, (y0 + th - 1) * stride + (x0 + tw) * 3);
  const tight = Buffer.alloc(tw * th * 3);
  for (let y = 0; y < th; y++) strip.copy(tight, y * tw * 3, (y0 + y) * stride + x0 * 3, (y0 + y) * stride + (x0 + tw) * 3);
  const strided = frame(0, { kind: 'raw', format: 'RGB', width: tw, height: th, strideBytes: stride, data: view });
  const reference = await preparePixels(frame(1, { kind: 'raw', format: 'RGB', width: tw, height: th, data: tight }), manifest);
  const here = await preparePixels(strided, manifest);
  assert.ok(here.pixels.equals(reference.pixels), 'read in place with its stride');
  const pool = new PreprocessPool(1, { inlineBelowMs: 0 });
  try {
    const there = await pool.prepare(strided, manifest, undefined);
    assert.ok(there.pixels.equals(reference.pixels), 'in the worker');
  } finally {
    await pool.close();
  }
  const sent = sendable(strided.image);
  assert.ok(sent.kind === 'raw');
  assert.equal(sent.data.buffer.byteLength, tw * th * 3, 'posting carries the tile, not the strip');
  assert.equal(sent.strideBytes, undefined);
  const shared = Buffer.from(new SharedArrayBuffer(W * H * 3));
  const inShared: FrameImage = { kind: 'raw', format: 'RGB', width: tw, height: th, strideBytes: stride, data: shared.subarray(y0 * stride) };
  assert.equal(sendable(inShared), inShared, 'memory shared with GStreamer is shared, not copied');
});
