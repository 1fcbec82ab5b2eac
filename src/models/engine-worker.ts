/**
 * One ONNX Runtime session in a worker thread: session.run blocks its thread for the whole
 * inference, so it must never run on the main loop (MQTT keep-alive, acquisition).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { LinewatchError, errorMessage, type ErrorCode } from '../errors.js';
import type { FromWorker, ToWorker, WireError, WorkerSetup } from './engine-protocol.js';
import { assertGraphMatches, type GraphValue } from './io-check.js';
import { createSessionWithFallback } from './providers.js';

const setup = workerData as WorkerSetup;
const port = parentPort;
if (port === null) throw new Error('engine-worker.js must run in a worker thread');

const m = setup.manifest;
const inp = m.input;
const fixedBatch = inp.batch === 'dynamic' ? null : inp.batch;
const perImageDims = inp.layout === 'NHWC' ? [inp.height, inp.width, inp.channels] : [inp.channels, inp.height, inp.width];
const perImage = inp.height * inp.width * inp.channels;
const mapName = m.outputs.anomalyMap.name;
const scoreName = m.outputs.score.name;
const mapPlane = m.outputs.anomalyMap.height * m.outputs.anomalyMap.width;
const fetches = scoreName === null ? [mapName] : [mapName, scoreName];

function wire(err: unknown, fallback: ErrorCode): WireError {
  return err instanceof LinewatchError ? { code: err.code, message: err.message } : { code: fallback, message: errorMessage(err) };
}

function metadata(list: readonly InferenceSession.ValueMetadata[]): GraphValue[] {
  return list.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: null, shape: [] }));
}

/** Fixed-batch graphs get a zero-padded batch when fewer images come (the end of a stream). */
function batchData(n: number, data: Uint8Array | Float32Array): Uint8Array | Float32Array {
  if (fixedBatch === null || n === fixedBatch) return data;
  const padded = data instanceof Uint8Array ? new Uint8Array(fixedBatch * perImage) : new Float32Array(fixedBatch * perImage);
  padded.set(data as never);
  return padded;
}

function tensor(n: number, data: Uint8Array | Float32Array): Tensor {
  const b = fixedBatch ?? n;
  return new ort.Tensor(inp.dtype === 'uint8' ? 'uint8' : 'float32', batchData(n, data), [b, ...perImageDims]);
}

/**
 * The first `length` values in an array whose buffer can be transferred to the main thread:
 * onnxruntime-node's own output when it is exactly that (no padding), else a copy.
 */
function ownedPrefix(a: Float32Array, length: number): Float32Array {
  if (a.length === length && a.byteOffset === 0 && a.buffer.byteLength === a.byteLength && a.buffer instanceof ArrayBuffer) return a;
  return a.slice(0, length);
}

function mapDims(b: number): number[] {
  return [b, 1, m.outputs.anomalyMap.height, m.outputs.anomalyMap.width];
}

/**
 * Graphs often leave the map's spatial dims symbolic, so the create-time check cannot see them;
 * the warm-up run (and every run) checks the shapes that actually come out.
 */
function checkDims(name: string, got: readonly number[], want: readonly number[]): void {
  if (got.length === want.length && got.every((d, i) => d === want[i])) return;
  throw new LinewatchError(
    'LW_ERR_BUNDLE_IO_MISMATCH',
    `${setup.onnxPath} does not match ${setup.manifestPath}: output "${name}" came out as [${got.join(',')}], the manifest says [${want.join(',')}]`,
  );
}

async function infer(session: InferenceSession, n: number, data: Uint8Array | Float32Array, prompt: Uint8Array | Float32Array | null) {
  const feeds: Record<string, Tensor> = { [inp.name]: tensor(n, data) };
  if (m.prompt !== null) {
    if (prompt === null) throw new LinewatchError('LW_ERR_SESSION_RUN', `the model needs prompt input "${m.prompt.name}" and none was given`);
    feeds[m.prompt.name] = tensor(n, prompt);
  }
  const t0 = performance.now();
  const out = await session.run(feeds, fetches);
  const inferMs = performance.now() - t0;
  const mapT = out[mapName];
  if (mapT === undefined) throw new LinewatchError('LW_ERR_SESSION_RUN', `the model returned no "${mapName}"`);
  checkDims(mapName, mapT.dims, mapDims(fixedBatch ?? n));
  const map = ownedPrefix(mapT.data as Float32Array, n * mapPlane);
  let score: Float32Array | null = null;
  if (scoreName !== null) {
    const s = out[scoreName];
    if (s === undefined) throw new LinewatchError('LW_ERR_SESSION_RUN', `the model returned no "${scoreName}"`);
    checkDims(scoreName, s.dims, [fixedBatch ?? n]);
    score = ownedPrefix(s.data as Float32Array, n);
  }
  return { map, score, inferMs };
}

async function start(): Promise<InferenceSession | null> {
  try {
    const created = await createSessionWithFallback(ort, setup.onnxPath, m.sha256, setup.providers, {
      intraOpNumThreads: setup.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const inputs = metadata(created.session.inputMetadata);
    const outputs = metadata(created.session.outputMetadata);
    try {
      assertGraphMatches(m, setup.onnxPath, setup.manifestPath, inputs, outputs);
    } catch (err) {
      await created.session.release();
      throw err;
    }
    let warmupMs: number | null = null;
    if (setup.warmup) {
      const n = fixedBatch ?? 1;
      const zeros = () => (inp.dtype === 'uint8' ? new Uint8Array(n * perImage) : new Float32Array(n * perImage));
      const r = await infer(created.session, n, zeros(), m.prompt === null ? null : zeros());
      warmupMs = r.inferMs;
    }
    const msg: FromWorker = { type: 'ready', provider: created.provider, fallbacks: created.fallbacks, inputs, outputs, warmupMs };
    port!.postMessage(msg);
    return created.session;
  } catch (err) {
    const msg: FromWorker = { type: 'failed', error: wire(err, 'LW_ERR_SESSION_CREATE') };
    port!.postMessage(msg);
    return null;
  }
}

const session = await start();
if (session === null) {
  port.close();
} else {
  // The engine sends the next batch while this one runs (it waits in the port); they run one
  // after the other, in order, never side by side: one session, intraOpThreads of CPU.
  let chain: Promise<void> = Promise.resolve();
  const runOne = async (msg: Extract<ToWorker, { type: 'run' }>): Promise<void> => {
    try {
      const r = await infer(session, msg.n, msg.data, msg.prompt);
      const reply: FromWorker = { type: 'result', id: msg.id, map: r.map, score: r.score, inferMs: r.inferMs };
      port.postMessage(reply, r.score === null ? [r.map.buffer as ArrayBuffer] : [r.map.buffer as ArrayBuffer, r.score.buffer as ArrayBuffer]);
    } catch (err) {
      const reply: FromWorker = { type: 'error', id: msg.id, error: wire(err, 'LW_ERR_SESSION_RUN') };
      port.postMessage(reply);
    }
  };
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'close') {
      chain = chain.then(() => session.release()).finally(() => port.close());
      return;
    }
    if (msg.type === 'crash') throw new Error('simulated crash (engine test hook)');
    chain = chain.then(() => runOne(msg));
  });
}
