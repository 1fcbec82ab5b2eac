/**
 * Preprocessing in a worker thread: decoding and the PIL-exact resize take milliseconds of CPU per
 * frame, which must not hold up the main loop (acquisition, MQTT keep-alive, verdicts).
 */
import { parentPort } from 'node:worker_threads';
import { LinewatchError, errorMessage } from '../../errors.js';
import type { Manifest } from '../../models/manifest.js';
import type { Frame, FrameImage } from '../frame.js';
import { preparePixels } from './index.js';
import type { PrepareJob, PrepareReply } from './pool.js';

const port = parentPort;
if (port === null) throw new Error('preprocess worker.js must run in a worker thread');

let manifest: Manifest | null = null;

port.on('message', (job: PrepareJob) => {
  if (job.manifest !== undefined) manifest = job.manifest;
  const m = manifest;
  if (m === null) {
    port.postMessage({ id: job.id, error: { code: 'LW_ERR_FRAME_INVALID', message: 'preprocess worker got a frame before a manifest' } } satisfies PrepareReply);
    return;
  }
  // Structured cloning turns Buffers into plain Uint8Arrays: give preprocess its Buffer back (no copy).
  const d = job.image.data;
  const data = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  const image: FrameImage = { ...job.image, data };
  const frame: Frame = { seq: job.seq, cameraId: job.cameraId, capturedAt: { monoNs: 0n, wallMs: 0 }, image, meta: {} };
  const t0 = performance.now();
  preparePixels(frame, m, job.roi, job.maxPixels).then(
    (p) => {
      const ms = performance.now() - t0;
      // A fresh, whole ArrayBuffer so that it can be transferred instead of copied.
      const pixels = new Uint8Array(p.pixels.length);
      pixels.set(p.pixels);
      const reply: PrepareReply = { id: job.id, pixels, channels: p.channels, order: p.order, geometry: p.geometry, ms };
      port.postMessage(reply, [pixels.buffer]);
    },
    (err: unknown) => {
      const error = err instanceof LinewatchError ? { code: err.code, message: err.message } : { code: 'LW_ERR_FRAME_DECODE' as const, message: errorMessage(err) };
      port.postMessage({ id: job.id, error } satisfies PrepareReply);
    },
  );
});
