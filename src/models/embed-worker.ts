/**
 * The prompt-choice graph (manifest `prompt.embedding`, OneNIP's embed.onnx) in a worker thread:
 * session.run blocks its thread for a backbone pass, which must never run on the main loop.
 * One session; batches run one after the other, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { LinewatchError, errorMessage } from '../errors.js';
import type { EmbedFromWorker, EmbedToWorker, EmbedWorkerSetup } from './embedder.js';
import { createSessionWithFallback } from './providers.js';

const setup = workerData as EmbedWorkerSetup;
const port = parentPort;
if (port === null) throw new Error('embed-worker.js must run in a worker thread');
const inp = setup.manifest.input;
const emb = setup.embedding;
const perImageDims = inp.layout === 'NHWC' ? [inp.height, inp.width, inp.channels] : [inp.channels, inp.height, inp.width];

async function run(session: import('onnxruntime-node').InferenceSession, n: number, data: Uint8Array | Float32Array): Promise<Float32Array> {
  const feeds: Record<string, Tensor> = { [emb.input]: new ort.Tensor(inp.dtype === 'uint8' ? 'uint8' : 'float32', data, [n, ...perImageDims]) };
  const out = await session.run(feeds, [emb.output]);
  const t = out[emb.output];
  if (t === undefined) throw new LinewatchError('LW_ERR_SESSION_RUN', `${setup.path}: returned no "${emb.output}"`);
  if (t.dims.length !== 2 || t.dims[0] !== n || t.dims[1] !== emb.dim) {
    throw new LinewatchError('LW_ERR_BUNDLE_IO_MISMATCH', `${setup.path}: "${emb.output}" came out as [${t.dims.join(',')}], the manifest says [${n},${emb.dim}]`);
  }
  return (t.data as Float32Array).slice();
}

try {
  const created = await createSessionWithFallback(ort, setup.path, emb.sha256, setup.providers, { intraOpNumThreads: setup.intraOpThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const session = created.session;
  // A zero image checks the graph against the manifest (its input, output and dim) before anything relies on it.
  const warm = inp.batch === 'dynamic' ? 1 : inp.batch;
  const zeros = inp.dtype === 'uint8' ? new Uint8Array(warm * inp.height * inp.width * inp.channels) : new Float32Array(warm * inp.height * inp.width * inp.channels);
  await run(session, warm, zeros);
  port.postMessage({ type: 'ready', provider: created.provider } satisfies EmbedFromWorker);
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: EmbedToWorker) => {
    if (msg.type === 'close') {
      chain = chain.then(() => session.release()).finally(() => port.close());
      return;
    }
    chain = chain.then(async () => {
      try {
        const features = await run(session, msg.n, msg.data);
        port.postMessage({ type: 'result', id: msg.id, features } satisfies EmbedFromWorker, [features.buffer as ArrayBuffer]);
      } catch (err) {
        port.postMessage({ type: 'error', id: msg.id, message: errorMessage(err) } satisfies EmbedFromWorker);
      }
    });
  });
} catch (err) {
  port.postMessage({ type: 'failed', message: `${setup.path}: ${errorMessage(err)}` } satisfies EmbedFromWorker);
  port.close();
}
