/**
 * How the models' worker threads start and stop, shared by the model's session workers
 * (InferenceEngine) and the prompt-embedding worker (EmbeddingEngine), so that both give the same
 * errors for a worker that never comes up and neither leaves a thread behind. What the workers are
 * asked to run, and how requests queue for them, stays with each engine.
 */
import { Worker } from 'node:worker_threads';
import { LinewatchError } from '../errors.js';

/**
 * Node flags for the workers: the parent's, minus those that describe the parent's own entry
 * script (`node -e …`, `--input-type`), which a worker started from a file refuses.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++;
      continue;
    }
    if (a.startsWith('--input-type') || a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}

/**
 * A worker running `url` with the parent's flags. Node refuses per-process flags in a worker's
 * execArgv, and `node --test` on Node 24 hands each test file every option it knows explicitly
 * (`--v8-pool-size=4`, `--secure-heap=0`, …): the flags the refusal names are dropped and the
 * worker started again with the rest.
 */
export function startWorker(workerData: unknown, url: URL): Worker {
  const execArgv = workerExecArgv();
  try {
    return new Worker(url, { workerData, execArgv });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    // "Initiated Worker with invalid execArgv flags: --a=1, --b"
    const refused = new Set((err as Error).message.replace(/^[^:]*:\s*/, '').split(', '));
    return new Worker(url, { workerData, execArgv: execArgv.filter((a) => !refused.has(a)) });
  }
}

/** How long a worker may take to release its session after 'close' before it is terminated. */
export const CLOSE_GRACE_MS = 5000;

export interface ReadyWatch<M extends { readonly type: string }> {
  /** The file the worker loads: every error names it. */
  readonly path: string;
  /** The worker as the errors call it ('session worker', 'embedding worker'). */
  readonly name: string;
  /** The error a message other than 'ready' stands for, or null for one to wait past. */
  readonly failure: (msg: Exclude<M, { readonly type: 'ready' }>) => Error | null;
}

/**
 * A worker up to its 'ready' message, or the error for why it never got there (the one `failure`
 * gives, or LW_ERR_SESSION_CREATE when it threw or exited). It is terminated before the promise
 * rejects, so that a worker that never came up holds no thread.
 */
export async function spawnReady<M extends { readonly type: string }>(
  start: () => Worker,
  watch: ReadyWatch<M>,
): Promise<{ readonly worker: Worker; readonly ready: Extract<M, { readonly type: 'ready' }> }> {
  const worker = start();
  let cleanup = (): void => {};
  try {
    const ready = await new Promise<Extract<M, { readonly type: 'ready' }>>((resolve, reject) => {
      const onMessage = (msg: M): void => {
        if (msg.type === 'ready') {
          resolve(msg as Extract<M, { readonly type: 'ready' }>);
          return;
        }
        const err = watch.failure(msg as Exclude<M, { readonly type: 'ready' }>);
        if (err !== null) reject(err);
      };
      const onError = (err: Error): void => reject(new LinewatchError('LW_ERR_SESSION_CREATE', `${watch.path}: ${watch.name} failed to start: ${err.message}`, { cause: err }));
      const onExit = (code: number): void => reject(new LinewatchError('LW_ERR_SESSION_CREATE', `${watch.path}: ${watch.name} exited with code ${code} before it was ready`));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // Only these, never removeAllListeners: Node's own listeners on a Worker start its message port.
      cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
    });
    cleanup();
    return { worker, ready };
  } catch (err) {
    cleanup();
    await worker.terminate();
    throw err;
  }
}

/**
 * Asks a running worker to release its session and stop, and terminates it if it has not stopped
 * after `graceMs`, so that a worker that never stops (a release that hangs, 'close' never read)
 * cannot keep close() waiting for ever.
 */
export async function closeWorker(worker: Worker, graceMs: number): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ type: 'close' });
  const timer = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a replacement for a worker that died. One that comes up when it is no longer wanted
 * (its engine closed meanwhile) is terminated instead of handed over, so that no thread outlives
 * its engine; one that fails to start goes to `failed`, which must refuse whatever waits for a
 * worker: nothing else would ever run it.
 */
export function replaceWorker(
  spawn: () => Promise<{ readonly worker: Worker }>,
  on: { readonly wanted: () => boolean; readonly up: (worker: Worker) => void; readonly dropped?: () => void; readonly failed: (err: unknown) => void },
): void {
  spawn().then(({ worker }) => {
    if (!on.wanted()) {
      void worker.terminate();
      on.dropped?.();
      return;
    }
    on.up(worker);
  }, on.failed);
}
