/**
 * A worker thread for the worker-lifecycle tests: real threads that misbehave in the ways a model
 * worker can (exit or throw before 'ready', answer 'failed', ignore 'close'), with no ONNX session.
 */
import { parentPort, workerData } from 'node:worker_threads';

export type LifecycleMode = 'exit' | 'throw' | 'failed' | 'ready' | 'ready-deaf';

const port = parentPort;
if (port === null) throw new Error('lifecycle-worker.js must run in a worker thread');
const mode = (workerData as { mode: LifecycleMode }).mode;
// Keeps the thread alive until it is closed or terminated, as a loaded session would.
const alive = setInterval(() => {}, 60_000);

if (mode === 'exit') process.exit(3);
if (mode === 'throw') throw new Error('no such graph');
if (mode === 'failed') port.postMessage({ type: 'failed', message: 'the graph is not a graph' });
if (mode === 'ready' || mode === 'ready-deaf') {
  port.postMessage({ type: 'ready', provider: 'cpu' });
  port.on('message', (msg: { type: string }) => {
    if (msg.type !== 'close' || mode === 'ready-deaf') return;
    clearInterval(alive);
    port.close();
  });
}
