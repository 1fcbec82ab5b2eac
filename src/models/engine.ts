/**
 * InferenceEngine: N ONNX Runtime sessions, each in its own worker thread, fed from one queue.
 * Creation checks the graph against the manifest and warms every session up; a worker that dies
 * fails only the batch it held and is replaced.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { LinewatchError, errorMessage } from '../errors.js';
import type { Bundle } from './bundle.js';
import { joinOutputs, splitBatch } from './fixed-batch.js';
import { MANIFEST_FILE } from './bundle.js';
import type { FromWorker, ToWorker, WorkerSetup } from './engine-protocol.js';
import type { GraphValue } from './io-check.js';
import { normalizeProvider, type ProviderConfig, type ProviderFallback, type ProviderSpec } from './providers.js';
import type { EngineBatchCounts, ModelInput, ModelOutput } from './types.js';
import { CLOSE_GRACE_MS, closeWorker, replaceWorker, spawnReady, startWorker } from './worker-lifecycle.js';

export type { EngineBatchCounts } from './types.js';

export interface EngineLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface EngineOptions {
  /** Session workers (each holds a full session; parallel batches). Default 1. */
  workers?: number;
  /** ONNX Runtime intra-op threads per session. Default max(1, floor(cores / workers)). */
  intraOpThreads?: number;
  /** Providers to try, best first (config `model.executionProviders`). Default ['cpu']. */
  executionProviders?: readonly ProviderConfig[];
  /** Run one zero batch per worker before create() resolves. Default true. */
  warmup?: boolean;
  /** Where fallbacks and worker replacements are reported. Default: one line on stderr each. */
  logger?: EngineLogger;
}

const stderrLogger: EngineLogger = {
  warn: (obj, msg) => process.stderr.write(`linewatch engine: ${msg} ${JSON.stringify(obj)}\n`),
  info: () => {},
};

interface Job {
  readonly id: number;
  readonly input: ModelInput;
  readonly resolve: (out: ModelOutput) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  state: 'starting' | 'up' | 'dead';
  /** Sent to this worker, oldest first: jobs[0] is running, the rest wait in its port. */
  jobs: Job[];
  crash: string | null;
}

interface Started {
  readonly provider: string;
  readonly fallbacks: readonly ProviderFallback[];
  readonly inputs: readonly GraphValue[];
  readonly outputs: readonly GraphValue[];
}

const WORKER_URL = new URL('./engine-worker.js', import.meta.url);
/**
 * Batches a worker holds at most: the one running and one waiting in its port, so that the next
 * starts the moment the last ends instead of after a round trip through the main thread (0.4 ms
 * median here, several ms when the main thread is busy), which a backlog pays once per batch.
 */
const WORKER_DEPTH = 2;

/**
 * Test hook: the worker that takes the next batch throws an uncaught error before running it,
 * as a bug in the worker would. (Terminating a worker from outside while it is inside
 * session.run aborts the whole process in onnxruntime-node's binding, so that is never done.)
 */
export const kCrashNextRun = Symbol('linewatch.engine.crashNextRun');

/** Transferable view of `a`: the buffer itself when the view spans all of it, else a copy. */
function ownBuffer<T extends Uint8Array | Float32Array>(a: T): T {
  const b = a.buffer;
  if (a.byteOffset === 0 && a.byteLength === b.byteLength && b instanceof ArrayBuffer) return a;
  // A copy into a buffer of its own (not a.slice(): on a Buffer that is a view of the same memory).
  return (a instanceof Float32Array ? new Float32Array(a) : new Uint8Array(a)) as T;
}

export class InferenceEngine {
  readonly bundle: Bundle;
  /** The execution provider actually in use. */
  readonly provider: string;
  /** Providers tried before it, and why each was not used. */
  readonly fallbacks: readonly ProviderFallback[];
  readonly workers: number;
  readonly intraOpThreads: number;
  /** Graph inputs and outputs as the session reports them. */
  readonly graphInputs: readonly GraphValue[];
  readonly graphOutputs: readonly GraphValue[];
  private readonly setup: WorkerSetup;
  private readonly logger: EngineLogger;
  private readonly slots: Slot[];
  private readonly queue: Job[];
  private nextId: number;
  private closing: boolean;
  private drained: (() => void) | null;
  private crashNext: boolean;
  private readonly perImage: number;
  /** The manifest's fixed batch, or null for a dynamic one. */
  private readonly fixedBatch: number | null;
  private readonly mapPlane: number;
  private counts: { runs: number; images: number; paddedRuns: number; paddedImages: number; splitBatches: number };

  private constructor(bundle: Bundle, setup: WorkerSetup, started: Started, workers: Worker[], logger: EngineLogger) {
    this.bundle = bundle;
    this.provider = started.provider;
    this.fallbacks = started.fallbacks;
    this.workers = workers.length;
    this.intraOpThreads = setup.intraOpThreads;
    this.graphInputs = started.inputs;
    this.graphOutputs = started.outputs;
    // Replacements go straight to the provider that worked; the fallbacks were already reported.
    const chosen = setup.providers.find((p) => p.name === started.provider);
    this.setup = { ...setup, providers: chosen ? [chosen] : setup.providers };
    this.logger = logger;
    this.slots = [];
    this.queue = [];
    this.nextId = 1;
    this.closing = false;
    this.drained = null;
    this.crashNext = false;
    const i = bundle.manifest.input;
    this.perImage = i.height * i.width * i.channels;
    this.fixedBatch = i.batch === 'dynamic' ? null : i.batch;
    const am = bundle.manifest.outputs.anomalyMap;
    this.mapPlane = am.height * am.width;
    this.counts = { runs: 0, images: 0, paddedRuns: 0, paddedImages: 0, splitBatches: 0 };
    for (let k = 0; k < workers.length; k++) {
      const slot: Slot = { index: k, worker: workers[k] as Worker, state: 'up', jobs: [], crash: null };
      this.slots.push(slot);
      this.attach(slot);
    }
  }

  /**
   * Starts the workers, each loading the bundle's ONNX file on the first provider that works,
   * checking graph I/O against the manifest (LW_ERR_BUNDLE_IO_MISMATCH) and warming up.
   *
   * @example
   * const engine = await InferenceEngine.create(await loadBundle('models/demo'), { executionProviders: ['cuda', 'cpu'] });
   * const out = await engine.run({ n: 1, data: tensor });
   */
  static async create(bundle: Bundle, opts: EngineOptions = {}): Promise<InferenceEngine> {
    const workers = opts.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`engine workers must be a positive integer, got ${workers}`);
    const intraOpThreads = opts.intraOpThreads ?? Math.max(1, Math.floor(availableParallelism() / workers));
    if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) throw new RangeError(`engine intraOpThreads must be a positive integer, got ${intraOpThreads}`);
    const dtype = bundle.manifest.input.dtype;
    if (dtype === 'float16') throw new LinewatchError('LW_ERR_SESSION_CREATE', `${bundle.dir}: float16 model inputs are not supported by this runtime yet`);
    const logger = opts.logger ?? stderrLogger;
    const providers: ProviderSpec[] = (opts.executionProviders ?? ['cpu']).map(normalizeProvider);
    const setup: WorkerSetup = {
      onnxPath: bundle.onnxPath,
      manifestPath: join(bundle.dir, MANIFEST_FILE),
      manifest: bundle.manifest,
      providers,
      intraOpThreads,
      warmup: opts.warmup ?? true,
    };
    // The first worker settles the provider; the others then load only that one, in parallel.
    const first = await InferenceEngine.spawn(setup);
    for (const f of first.started.fallbacks) {
      logger.warn({ provider: f.provider, reason: f.reason, model: bundle.dir }, `execution provider ${f.provider} is not available here, trying the next`);
    }
    const chosen = providers.find((p) => p.name === first.started.provider);
    const rest = { ...setup, providers: chosen ? [chosen] : providers };
    const others = await Promise.allSettled(Array.from({ length: workers - 1 }, () => InferenceEngine.spawn(rest)));
    const failed = others.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all([first, ...others.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))].map((w) => w.worker.terminate()));
      throw (failed as PromiseRejectedResult).reason;
    }
    const all = [first.worker, ...others.map((r) => (r as PromiseFulfilledResult<{ worker: Worker }>).value.worker)];
    logger.info({ provider: first.started.provider, workers, intraOpThreads, model: bundle.dir }, 'inference engine ready');
    return new InferenceEngine(bundle, setup, first.started, all, logger);
  }

  /** One worker up to 'ready' (session loaded, I/O checked, warmed up), or its error. */
  private static async spawn(setup: WorkerSetup): Promise<{ worker: Worker; started: Started }> {
    const { worker, ready } = await spawnReady<FromWorker>(() => startWorker(setup, WORKER_URL), {
      path: setup.onnxPath,
      name: 'session worker',
      failure: (msg) => (msg.type === 'failed' ? new LinewatchError(msg.error.code, msg.error.message) : null),
    });
    return { worker, started: { provider: ready.provider, fallbacks: ready.fallbacks, inputs: ready.inputs, outputs: ready.outputs } };
  }

  /**
   * Runs one batch. `input.data` (and `prompt`) belong to the engine from here on: transferred to
   * an idle worker (the caller's buffers are then detached), copied for one sent ahead to a busy
   * worker or when they are views of a larger buffer. The caller must not use them afterwards.
   * A fixed-batch model gets padded runs for a smaller batch and several runs for a larger one
   * (counted: {@link batchCounts}); the output is always one map (and score) per image given.
   * Rejects with LW_ERR_SESSION_RUN when the batch is malformed, the session fails, or its
   * worker dies; the engine stays usable. `counted: false` (a measurement such as the batch probe,
   * not frames of the line) leaves {@link batchCounts} as it was.
   */
  run(input: ModelInput, opts: { readonly counted?: boolean } = {}): Promise<ModelOutput> {
    if (this.closing) return Promise.reject(new LinewatchError('LW_ERR_SESSION_RUN', 'the inference engine is closed'));
    if (!this.slots.some((s) => s.state !== 'dead')) {
      return Promise.reject(new LinewatchError('LW_ERR_SESSION_RUN', 'no session worker is left (every replacement failed to start); recreate the engine'));
    }
    const problem = this.validate(input);
    if (problem !== null) return Promise.reject(new LinewatchError('LW_ERR_SESSION_RUN', problem));
    const fixed = this.fixedBatch;
    const counted = opts.counted ?? true;
    if (fixed === null || input.n <= fixed) return this.enqueue(input, counted);
    if (counted) this.counts.splitBatches++;
    const parts: Promise<ModelOutput>[] = [];
    for (const part of splitBatch(input, fixed, this.perImage)) parts.push(this.enqueue(part, counted));
    return Promise.all(parts).then((outs) => joinOutputs(input.n, outs, this.mapPlane));
  }

  /** Runs, images, padding and splits so far (see EngineBatchCounts). */
  batchCounts(): EngineBatchCounts {
    return { ...this.counts };
  }

  private enqueue(input: ModelInput, counted: boolean): Promise<ModelOutput> {
    const c = this.counts;
    if (counted) {
      c.runs++;
      c.images += input.n;
    }
    if (counted && this.fixedBatch !== null && input.n < this.fixedBatch) {
      c.paddedRuns++;
      c.paddedImages += this.fixedBatch - input.n;
    }
    return new Promise<ModelOutput>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, input, resolve, reject });
      this.dispatch();
    });
  }

  /** Batches waiting for a worker plus those running. */
  pending(): number {
    let sent = 0;
    for (const s of this.slots) sent += s.jobs.length;
    return this.queue.length + sent;
  }

  /** Finishes queued and running batches, releases every session and stops the workers. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.pending() > 0 && this.slots.some((s) => s.state !== 'dead')) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    }
    this.failQueued('the inference engine closed before this batch could run');
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.state === 'dead') return;
        if (s.state === 'starting') {
          // Its old worker is gone; the replacement is terminated when it comes up (see onExit).
          s.state = 'dead';
          return;
        }
        s.state = 'dead';
        await closeWorker(s.worker, CLOSE_GRACE_MS);
      }),
    );
  }

  [kCrashNextRun](): void {
    this.crashNext = true;
  }

  private validate(input: ModelInput): string | null {
    const m = this.bundle.manifest;
    if (!Number.isInteger(input.n) || input.n < 1) return `batch size n must be a positive integer, got ${input.n}`;
    const want = m.input.dtype === 'uint8' ? Uint8Array : Float32Array;
    const need = input.n * this.perImage;
    for (const [what, a] of [['input', input.data], ['prompt', input.prompt]] as const) {
      if (a === undefined) continue;
      if (!(a instanceof want)) return `${what} must be a ${want.name} (the manifest says ${m.input.dtype}), got ${a.constructor.name}`;
      if (a.length !== need) return `${what} holds ${a.length} values; ${input.n} × ${m.input.layout} ${m.input.height}×${m.input.width}×${m.input.channels} needs ${need}`;
    }
    if (m.prompt !== null && input.prompt === undefined) return `the model needs prompt images ("${m.prompt.name}") and none were given`;
    return null;
  }

  /** Idle workers first; only when none is idle does a busy one get its next batch ahead of time. */
  private dispatch(): void {
    for (let depth = 1; depth <= WORKER_DEPTH; depth++) {
      for (const slot of this.slots) {
        while (this.queue.length > 0 && slot.state === 'up' && slot.jobs.length < depth) this.send(slot, this.queue.shift() as Job);
      }
    }
    if (this.drained !== null && this.pending() === 0) {
      const d = this.drained;
      this.drained = null;
      d();
    }
  }

  /**
   * A batch for an idle worker is transferred (no copy on the latency path). One sent ahead to a
   * busy worker is copied and kept, so that if the worker dies before reaching it, it goes back
   * to the queue for the replacement instead of failing with the batch that killed the worker.
   */
  private send(slot: Slot, job: Job): void {
    const ahead = slot.jobs.length > 0;
    slot.jobs.push(job);
    if (this.crashNext) {
      this.crashNext = false;
      slot.worker.postMessage({ type: 'crash' } satisfies ToWorker);
    }
    const data = ahead ? job.input.data : ownBuffer(job.input.data);
    const prompt = job.input.prompt === undefined ? null : ahead ? job.input.prompt : ownBuffer(job.input.prompt);
    const msg: ToWorker = { type: 'run', id: job.id, n: job.input.n, data, prompt };
    if (ahead) slot.worker.postMessage(msg);
    else slot.worker.postMessage(msg, prompt === null ? [data.buffer as ArrayBuffer] : [data.buffer as ArrayBuffer, prompt.buffer as ArrayBuffer]);
  }

  private attach(slot: Slot): void {
    const w = slot.worker;
    w.on('message', (msg: FromWorker) => this.onMessage(slot, msg));
    w.on('error', (err: Error) => {
      slot.crash = errorMessage(err);
    });
    w.on('exit', (code: number) => {
      if (slot.worker === w) this.onExit(slot, code);
    });
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    const job = slot.jobs[0];
    if (job === undefined || (msg.type !== 'result' && msg.type !== 'error') || msg.id !== job.id) return;
    slot.jobs.shift();
    if (msg.type === 'result') {
      const m = this.bundle.manifest.outputs.anomalyMap;
      job.resolve({ n: job.input.n, map: msg.map, mapHeight: m.height, mapWidth: m.width, score: msg.score, inferMs: msg.inferMs });
    } else {
      job.reject(new LinewatchError(msg.error.code, msg.error.message));
    }
    this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    const wasClosing = this.closing && slot.state === 'dead';
    if (wasClosing) return;
    const why = slot.crash ?? `exit code ${code}`;
    const [running, ...waiting] = slot.jobs;
    slot.jobs = [];
    slot.state = 'dead';
    slot.crash = null;
    // The batches it had not started yet were copies (see send): they run on another worker.
    this.queue.unshift(...waiting);
    if (running !== undefined) {
      running.reject(new LinewatchError('LW_ERR_SESSION_RUN', `session worker ${slot.index} died while running this batch (${why}); it is being replaced`));
    }
    this.logger.warn({ worker: slot.index, reason: why }, 'session worker died; starting a replacement');
    if (this.closing) {
      this.dispatch();
      this.afterSlotLoss();
      return;
    }
    slot.state = 'starting';
    replaceWorker(() => InferenceEngine.spawn(this.setup), {
      wanted: () => !(this.closing && (slot.state === 'dead' || this.pending() === 0)),
      up: (worker) => {
        slot.worker = worker;
        slot.state = 'up';
        this.attach(slot);
        this.dispatch();
      },
      dropped: () => {
        slot.state = 'dead';
        this.afterSlotLoss();
      },
      failed: (err) => {
        slot.state = 'dead';
        this.logger.warn({ worker: slot.index, reason: errorMessage(err) }, 'replacement session worker failed to start');
        this.afterSlotLoss();
      },
    });
    this.dispatch();
  }

  /** With no worker left alive or starting, nothing queued can ever run: fail it now. */
  private afterSlotLoss(): void {
    if (this.slots.some((s) => s.state !== 'dead')) return;
    this.failQueued('no session worker is left to run this batch');
    if (this.drained !== null) {
      const d = this.drained;
      this.drained = null;
      d();
    }
  }

  private failQueued(why: string): void {
    const q = this.queue.splice(0, this.queue.length);
    for (const job of q) job.reject(new LinewatchError('LW_ERR_SESSION_RUN', why));
  }
}
