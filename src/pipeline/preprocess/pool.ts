import { Worker } from 'node:worker_threads';
import { LinewatchError, type ErrorCode } from '../../errors.js';
import type { Manifest } from '../../models/manifest.js';
import { bytesPerPixel, type Frame, type FrameImage } from '../frame.js';
import type { FrameGeometry, Rect } from '../geometry.js';
import { DEFAULT_MAX_FRAME_PIXELS, checkFramePixels, frameName, preparePixels, tightRows, type PreparedPixels } from './index.js';

/** Main → worker. `manifest` travels only when it changed for that worker. */
export interface PrepareJob {
  readonly id: number;
  readonly seq: number;
  readonly cameraId: string;
  readonly image: FrameImage;
  readonly roi: Rect | undefined;
  readonly maxPixels: number;
  readonly manifest?: Manifest;
}

export type PrepareReply =
  | {
      readonly id: number;
      readonly pixels: Uint8Array;
      readonly channels: 1 | 3;
      readonly order: PreparedPixels['order'];
      readonly geometry: FrameGeometry;
      /** Time the worker spent preparing the frame. */
      readonly ms: number;
      readonly error?: undefined;
    }
  | { readonly id: number; readonly error: { readonly code: ErrorCode; readonly message: string } };

interface Pending {
  readonly cost: CostKey;
  readonly resolve: (p: PreparedPixels) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  manifest: Manifest | null;
  readonly pending: Map<number, Pending>;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

export interface PreprocessPoolOptions {
  /**
   * A camera whose frames take less than this (ms, running average) to prepare has them prepared
   * on the calling thread: the hop to a worker and back (two thread wake-ups, a copy of the frame)
   * then costs more than it saves, and on a busy machine a wake-up can be late by milliseconds.
   * 0 = always in a worker. Default 1.
   */
  readonly inlineBelowMs?: number;
}

/** Where a camera's preparation cost is kept: per camera and model (a new model, a new cost). */
interface CostKey {
  readonly cameraId: string;
  readonly manifest: Manifest;
}

interface Cost {
  manifest: Manifest;
  ms: number;
}

/** Weight of the newest measurement in a camera's running average. */
const COST_ALPHA = 0.2;

/**
 * Frames are prepared by `size` worker threads (least busy first); 0 = on the main thread. A
 * camera whose frames are cheap to prepare (below `inlineBelowMs`, measured) is prepared on the
 * calling thread even with workers. A worker that dies fails only the frames it held (they become
 * `error` verdicts) and is replaced.
 *
 * @example
 * const pool = new PreprocessPool(1);
 * const p = await pool.prepare(frame, manifest, roi);
 * await pool.close();
 */
export class PreprocessPool {
  private readonly slots: Slot[];
  private nextId: number;
  private closed: boolean;
  readonly inlineBelowMs: number;
  private readonly costs: Map<string, Cost>;
  /** Frames prepared on the calling thread and in workers so far (bad ones included). */
  readonly prepared: { inline: number; worker: number };

  /** Worker threads (0 = the calling thread). */
  get size(): number {
    return this.slots.length;
  }

  /** @param size worker threads; 0 prepares on the calling thread. */
  constructor(size: number, opts: PreprocessPoolOptions = {}) {
    const inlineBelowMs = opts.inlineBelowMs ?? 1;
    if (!(inlineBelowMs >= 0)) throw new RangeError(`preprocess inlineBelowMs must be ≥ 0, got ${inlineBelowMs}`);
    this.slots = [];
    this.nextId = 1;
    this.closed = false;
    this.inlineBelowMs = inlineBelowMs;
    this.costs = new Map();
    this.prepared = { inline: 0, worker: 0 };
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  prepare(frame: Frame, manifest: Manifest, roi: Rect | undefined, maxPixels = DEFAULT_MAX_FRAME_PIXELS): Promise<PreparedPixels> {
    const cost: CostKey = { cameraId: frame.cameraId, manifest };
    const img = frame.image;
    if (img.kind === 'raw') {
      // A raw frame states its size: an oversized one is refused here, before its bytes are copied to a worker.
      try {
        checkFramePixels(img.width, img.height, maxPixels, frameName(frame));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    if (this.slots.length === 0 || this.cheap(cost)) return this.prepareHere(frame, manifest, roi, maxPixels, cost);
    this.prepared.worker++;
    if (this.closed) return Promise.reject(new LinewatchError('LW_ERR_FRAME_INVALID', 'the preprocess pool is closed'));
    let slot = this.slots[0]!;
    for (let i = 1; i < this.slots.length; i++) if (this.slots[i]!.pending.size < slot.pending.size) slot = this.slots[i]!;
    const id = this.nextId++;
    const job: PrepareJob = {
      id,
      seq: frame.seq,
      cameraId: frame.cameraId,
      image: sendable(frame.image),
      roi,
      maxPixels,
      ...(slot.manifest !== manifest ? { manifest } : {}),
    };
    slot.manifest = manifest;
    return new Promise<PreparedPixels>((resolve, reject) => {
      slot.pending.set(id, { cost, resolve, reject });
      // Frame bytes are copied (or shared), not transferred: the frame lives on (NG images, crops).
      slot.worker.postMessage(job);
    });
  }

  private cheap(key: CostKey): boolean {
    if (this.inlineBelowMs === 0) return false;
    const c = this.costs.get(key.cameraId);
    return c !== undefined && c.manifest === key.manifest && c.ms < this.inlineBelowMs;
  }

  private measured(key: CostKey, ms: number): void {
    const c = this.costs.get(key.cameraId);
    if (c === undefined || c.manifest !== key.manifest) this.costs.set(key.cameraId, { manifest: key.manifest, ms });
    else c.ms += COST_ALPHA * (ms - c.ms);
  }

  private async prepareHere(frame: Frame, manifest: Manifest, roi: Rect | undefined, maxPixels: number, cost: CostKey): Promise<PreparedPixels> {
    this.prepared.inline++;
    const t0 = performance.now();
    const p = await preparePixels(frame, manifest, roi, maxPixels);
    this.measured(cost, performance.now() - t0);
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_URL), manifest: null, pending: new Map() };
    this.attach(slot);
    return slot;
  }

  private attach(slot: Slot): void {
    const w = slot.worker;
    w.unref();
    w.on('message', (r: PrepareReply) => {
      const p = slot.pending.get(r.id);
      if (p === undefined) return;
      slot.pending.delete(r.id);
      if (r.error !== undefined) {
        p.reject(new LinewatchError(r.error.code, r.error.message));
        return;
      }
      this.measured(p.cost, r.ms);
      p.resolve({ pixels: Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.byteLength), channels: r.channels, order: r.order, geometry: r.geometry });
    });
    const died = (why: string): void => {
      for (const p of slot.pending.values()) p.reject(new LinewatchError('LW_ERR_FRAME_DECODE', `preprocess worker died: ${why}`));
      slot.pending.clear();
      if (this.closed) return;
      slot.worker = new Worker(WORKER_URL);
      slot.manifest = null;
      this.attach(slot);
    };
    w.on('error', (err) => died(err.message));
    w.on('exit', (code) => {
      if (slot.worker === w && !this.closed) died(`exit code ${code}`);
    });
  }
}

/**
 * The image as it should travel to a worker. Posting copies a view's whole ArrayBuffer, not just
 * the view: a line-scan tile (a view of its strip) would carry the whole strip, a slice of Node's
 * Buffer pool the whole slab. Such a view goes as its own rows, tightly packed (one copy of exactly
 * its pixels); a whole buffer goes as it is, and a SharedArrayBuffer
 * is shared, not copied.
 */
export function sendable(image: FrameImage): FrameImage {
  if (image.kind !== 'raw') return image;
  const d = image.data;
  if (d.buffer instanceof SharedArrayBuffer || (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength)) return image;
  try {
    return { ...image, data: tightRows(image, bytesPerPixel(image.format)), strideBytes: undefined };
  } catch {
    // A buffer too short for its rows: the worker refuses it with the same clear error.
    return image;
  }
}
