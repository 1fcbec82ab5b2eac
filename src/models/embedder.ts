/**
 * The bundle's global-feature graph (manifest `prompt.embedding`) as a service: prepared images in,
 * one feature row each out. Used to choose each frame's prompt from its product's pool
 * (`cosine-pool`). It runs in its own worker thread, beside the model's session workers.
 *
 * Requests that come while a run is in flight are sent together as the next run: the frames of
 * one batch, which ask one by one as their pixels are prepared, share a session run.
 */
import type { Worker } from 'node:worker_threads';
import { LinewatchError, errorMessage } from '../errors.js';
import { allocateBatch, writeTensor, type PreparedPixels } from '../pipeline/preprocess/index.js';
import type { Bundle } from './bundle.js';
import type { Manifest } from './manifest.js';
import { normalizeProvider, type ProviderConfig, type ProviderSpec } from './providers.js';
import { CLOSE_GRACE_MS, closeWorker, replaceWorker, spawnReady, startWorker } from './worker-lifecycle.js';

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

/** One embedding worker up to 'ready' (session loaded, checked on a zero image), or its error. */
async function spawn(setup: EmbedWorkerSetup): Promise<{ worker: Worker; provider: string }> {
  const { worker, ready } = await spawnReady<EmbedFromWorker>(() => startWorker(setup, WORKER_URL), {
    path: setup.path,
    name: 'embedding worker',
    failure: (msg) => new LinewatchError('LW_ERR_SESSION_CREATE', msg.type === 'failed' ? msg.message : `${setup.path}: unexpected ${msg.type} before ready`),
  });
  return { worker, provider: ready.provider };
}

export class EmbeddingEngine implements Embedder {
  readonly dim: number;
  readonly provider: string;
  private readonly setup: EmbedWorkerSetup;
  /** null while a replacement starts (the one before died): requests wait in the queue. */
  private worker: Worker | null;
  private readonly manifest: Manifest;
  private readonly normalized: boolean;
  /** Images per run at most: the graph's fixed batch (trainer/ traces embed.onnx with the model's batch rule), else MAX_RUN. */
  private readonly maxRun: number;
  private readonly fixedBatch: number | null;
  private readonly queue: Pending[];
  private inFlight: { readonly id: number; readonly parts: readonly Pending[] } | null;
  private nextId: number;
  private closed: boolean;
  /** Why no worker can run any more (a replacement failed to start): every request is refused with it. */
  private broken: string | null;

  private constructor(setup: EmbedWorkerSetup, worker: Worker, provider: string) {
    this.setup = setup;
    this.manifest = setup.manifest;
    this.dim = setup.embedding.dim;
    this.normalized = setup.embedding.normalized;
    this.fixedBatch = setup.manifest.input.batch === 'dynamic' ? null : setup.manifest.input.batch;
    this.maxRun = this.fixedBatch ?? MAX_RUN;
    this.provider = provider;
    this.queue = [];
    this.inFlight = null;
    this.nextId = 1;
    this.closed = false;
    this.broken = null;
    this.worker = null;
    this.attach(worker);
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
    const { worker, provider } = await spawn(setup);
    // A replacement goes straight to the provider that worked.
    const chosen = setup.providers.find((p) => p.name === provider);
    return new EmbeddingEngine({ ...setup, providers: chosen ? [chosen] : setup.providers }, worker, provider);
  }

  private attach(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (msg: EmbedFromWorker) => this.onMessage(msg));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.onExit(`exit code ${code}`);
    });
    worker.on('error', () => {});
  }

  /**
   * The worker died (a crash in the session): the run it held fails — its frames become `error`
   * verdicts —, the requests waiting go to a replacement, as the model's engine does.
   */
  private onExit(why: string): void {
    this.worker = null;
    const running = this.inFlight;
    this.inFlight = null;
    for (const p of running?.parts ?? []) p.reject(new LinewatchError('LW_ERR_SESSION_RUN', `the embedding worker of ${this.manifest.version} died while running this batch (${why}); it is being replaced`));
    if (this.closed) return;
    replaceWorker(() => spawn(this.setup), {
      wanted: () => !this.closed,
      up: (worker) => {
        this.attach(worker);
        this.dispatch();
      },
      failed: (err) => {
        this.broken = `the embedding worker of ${this.manifest.version} died and its replacement failed to start: ${errorMessage(err)}`;
        for (const p of this.queue.splice(0)) p.reject(new LinewatchError('LW_ERR_SESSION_RUN', this.broken));
      },
    });
  }

  embed(images: readonly PreparedPixels[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new LinewatchError('LW_ERR_SESSION_RUN', 'the embedding engine is closed'));
    if (this.broken !== null) return Promise.reject(new LinewatchError('LW_ERR_SESSION_RUN', this.broken));
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
    for (const p of this.queue.splice(0)) p.reject(new LinewatchError('LW_ERR_SESSION_RUN', 'the embedding engine closed before this request ran'));
    const w = this.worker;
    if (w === null) return;
    await closeWorker(w, CLOSE_GRACE_MS);
  }

  /** Everything waiting goes as one run (up to MAX_RUN images) as soon as the worker is free. */
  private dispatch(): void {
    if (this.inFlight !== null || this.queue.length === 0 || this.worker === null) return;
    const parts: Pending[] = [this.queue.shift()!];
    let n = parts[0]!.n;
    while (this.queue.length > 0 && n + this.queue[0]!.n <= this.maxRun) {
      const p = this.queue.shift()!;
      parts.push(p);
      n += p.n;
    }
    // A fixed-batch graph gets exactly its batch: zero images after the real ones, their rows unread.
    const sent = this.fixedBatch ?? n;
    let data = parts[0]!.data;
    if (parts.length > 1 || sent > n) {
      data = allocateBatch(this.manifest, sent) as Uint8Array | Float32Array;
      let off = 0;
      for (const p of parts) {
        data.set(p.data as never, off);
        off += p.data.length;
      }
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

}

function normalize(v: Float32Array): void {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const k = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * k;
}
