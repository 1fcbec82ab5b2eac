import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LinewatchError } from '../../../src/errors.js';
import { loadBundle } from '../../../src/models/bundle.js';
import type { Frame, FrameImage } from '../../../src/pipeline/frame.js';
import { preparePixels } from '../../../src/pipeline/preprocess/index.js';
import { PreprocessPool } from '../../../src/pipeline/preprocess/pool.js';

const dir = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp/', import.meta.url));

function frame(seq: number, image: FrameImage): Frame {
  return { seq, cameraId: 'cam', capturedAt: { monoNs: 0n, wallMs: 0 }, image, meta: {} };
}

test('a worker pool prepares exactly what the main thread does, and reports bad frames with their code', async () => {
  const { manifest } = await loadBundle(dir);
  const pool = new PreprocessPool(2);
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
