/**
 * The bundle's global-feature graph (manifest `prompt.embedding`) as a service: prepared images in,
 * one feature row each out. Used to choose each frame's prompt from its product's pool
 * (`cosine-pool`). It runs in its own worker thread, beside the model's session workers.
 *
 * Requests that come while a run is in flight are sent together as the next run: the frames of
 * one batch, which ask one by one as their pixels are prepared, share a session run.
 */
import type { Worker } from 'node:worker_threads';
import { LinewatchError } from '../errors.js';
import { allocateBatch, writeTensor, type PreparedPixels } from '../pipeline/preprocess/index.js';
import type { Bundle } from './bundle.js';
import { startWorker } from './engine.js';
import type { Manifest } from './manifest.js';
import { normalizeProvider, type ProviderConfig, type ProviderSpec } from './providers.js';

type Embedding = NonNullable<NonNullable<Manifest['prompt']>['embedding']>;

export interface EmbedWorkerSetup {
  readonly path: string;
  readonly manifest: Manifest;
  readonly embedding: Embedding;
  readonly providers: readonly ProviderSpec[];
  readonly intraOpThreads: number;
}

export type EmbedToWorker = { readonly type: 'run'; readonly id: number; readonly n: number; readonly data: Uint8Array | Float32Array } | { readonly type: 'close' };

export type EmbedFromWorker =
  | { readonly type: 'ready'; readonly provider: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly features: Float32Array }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

/** Images → L2-normalised feature rows (cosine similarity = dot product). */
export interface Embedder {
  readonly dim: number;
  /**
   * One row per image, in order. The pixels are copied when called (the caller may hand them to
   * the model's engine right after).
   */
  embed(images: readonly PreparedPixels[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export interface EmbedderOptions {
  readonly executionProviders?: readonly ProviderConfig[];
  /** ONNX Runtime intra-op threads of its session. Default 1: it runs beside the model's sessions. */
  readonly intraOpThreads?: number;
}

interface Pending {
  readonly n: number;
  readonly data: Uint8Array | Float32Array;
  readonly resolve: (rows: Float32Array[]) => void;
  readonly reject: (err: Error) => void;
}

const WORKER_URL = new URL('./embed-worker.js', import.meta.url);
/** At most this many images per run: a burst after a stall is split rather than run as one huge batch. */
const MAX_RUN = 32;

export class EmbeddingEngine implements Embedder {
  readonly dim: number;
  readonly provider: string;
  private readonly worker: Worker;
  private readonly manifest: Manifest;
  private readonly normalized: boolean;
  /** Images per run at most: the graph's fixed batch (trainer/ traces embed.onnx with the model's batch rule), else MAX_RUN. */
  private readonly maxRun: number;
  private readonly fixedBatch: number | null;
  private readonly queue: Pending[];
  private inFlight: { readonly id: number; readonly parts: readonly Pending[] } | null;
  private nextId: number;
  private closed: boolean;

  private constructor(worker: Worker, manifest: Manifest, embedding: Embedding, provider: string) {
    this.worker = worker;
    this.manifest = manifest;
    this.dim = embedding.dim;
    this.normalized = embedding.normalized;
    this.fixedBatch = manifest.input.batch === 'dynamic' ? null : manifest.input.batch;
    this.maxRun = this.fixedBatch ?? MAX_RUN;
    this.provider = provider;
    this.queue = [];
    this.inFlight = null;
    this.nextId = 1;
    this.closed = false;
    worker.on('message', (msg: EmbedFromWorker) => this.onMessage(msg));
    worker.on('exit', () => this.failAll(`the embedding worker of ${manifest.version} exited`));
    worker.on('error', (err) => this.failAll(`the embedding worker of ${manifest.version} failed: ${err.message}`));
  }

  /**
   * Starts the bundle's embedding graph (verified by loadBundle) and runs it once on a zero image.
   *
   * @throws LinewatchError LW_ERR_BUNDLE_MANIFEST when the bundle has no `prompt.embedding`;
   *   LW_ERR_SESSION_CREATE when its session cannot start or its output does not match the manifest
   */
  static async create(bundle: Bundle, opts: EmbedderOptions = {}): Promise<EmbeddingEngine> {
    const embedding = bundle.manifest.prompt?.embedding;
    if (embedding === undefined || bundle.embeddingPath === null) {
      throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', `model bundle ${bundle.dir}: has no prompt.embedding graph to choose prompts from a pool with`);
    }
    const setup: EmbedWorkerSetup = {
      path: bundle.embeddingPath,
      manifest: bundle.manifest,
      embedding,
      providers: (opts.executionProviders ?? ['cpu']).map(normalizeProvider),
      intraOpThreads: opts.intraOpThreads ?? 1,
    };
    const worker = startWorker(setup, WORKER_URL);
    const provider = await new Promise<string>((resolve, reject) => {
      worker.once('message', (msg: EmbedFromWorker) => {
        if (msg.type === 'ready') resolve(msg.provider);
        else reject(new LinewatchError('LW_ERR_SESSION_CREATE', msg.type === 'failed' ? msg.message : `${setup.path}: unexpected ${msg.type} before ready`));
      });
      worker.once('error', (err) => reject(new LinewatchError('LW_ERR_SESSION_CREATE', `${setup.path}: embedding worker failed to start: ${err.message}`, { cause: err })));
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new EmbeddingEngine(worker, bundle.manifest, embedding, provider);
  }

  embed(images: readonly PreparedPixels[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new LinewatchError('LW_ERR_SESSION_RUN', 'the embedding engine is closed'));
    if (images.length === 0) return Promise.resolve([]);
    if (images.length > this.maxRun) {
      // A pool larger than one run: in runs, rows back in order.
      const parts: Promise<Float32Array[]>[] = [];
      for (let s = 0; s < images.length; s += this.maxRun) parts.push(this.embed(images.slice(s, s + this.maxRun)));
      return Promise.all(parts).then((rows) => rows.flat());
    }
    const data = allocateBatch(this.manifest, images.length);
    for (let i = 0; i < images.length; i++) writeTensor(images[i]!, this.manifest, data, i);
    return new Promise((resolve, reject) => {
      this.queue.push({ n: images.length, data: data as Uint8Array | Float32Array, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies EmbedToWorker);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Everything waiting goes as one run (up to MAX_RUN images) as soon as the worker is free. */
  private dispatch(): void {
    if (this.inFlight !== null || this.queue.length === 0) return;
    const parts: Pending[] = [this.queue.shift()!];
    let n = parts[0]!.n;
    while (this.queue.length > 0 && n + this.queue[0]!.n <= this.maxRun) {
      const p = this.queue.shift()!;
      parts.push(p);
      n += p.n;
    }
    let data: Uint8Array | Float32Array;
    if (parts.length === 1) data = parts[0]!.data;
    else {
      data = parts[0]!.data instanceof Uint8Array ? new Uint8Array(n * (parts[0]!.data.length / parts[0]!.n)) : new Float32Array(n * (parts[0]!.data.length / parts[0]!.n));
      let off = 0;
      for (const p of parts) {
        data.set(p.data as never, off);
        off += p.data.length;
      }
    }
    // A fixed-batch graph gets exactly its batch: zero images after the real ones, their rows unread.
    const sent = this.fixedBatch ?? n;
    if (sent > n) {
      const padded = data instanceof Uint8Array ? new Uint8Array((data.length / n) * sent) : new Float32Array((data.length / n) * sent);
      padded.set(data as never);
      data = padded;
    }
    const id = this.nextId++;
    this.inFlight = { id, parts };
    this.worker.postMessage({ type: 'run', id, n: sent, data } satisfies EmbedToWorker, [data.buffer as ArrayBuffer]);
  }

  private onMessage(msg: EmbedFromWorker): void {
    const f = this.inFlight;
    if (f === null || (msg.type !== 'result' && msg.type !== 'error') || msg.id !== f.id) return;
    this.inFlight = null;
    if (msg.type === 'error') {
      for (const p of f.parts) p.reject(new LinewatchError('LW_ERR_SESSION_RUN', `prompt embedding: ${msg.message}`));
    } else {
      let row = 0;
      for (const p of f.parts) {
        const rows: Float32Array[] = [];
        for (let i = 0; i < p.n; i++, row++) {
          const r = msg.features.slice(row * this.dim, (row + 1) * this.dim);
          // The manifest may say the rows are not normalised: then they are here, so a dot product is the cosine.
          if (!this.normalized) normalize(r);
          rows.push(r);
        }
        p.resolve(rows);
      }
    }
    this.dispatch();
  }

  private failAll(why: string): void {
    if (this.closed && this.inFlight === null && this.queue.length === 0) return;
    const parts = [...(this.inFlight?.parts ?? []), ...this.queue.splice(0)];
    this.inFlight = null;
    for (const p of parts) p.reject(new LinewatchError('LW_ERR_SESSION_RUN', why));
  }
}

function normalize(v: Float32Array): void {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const k = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * k;
}
