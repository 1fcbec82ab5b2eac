/**
 * worker-lifecycle.ts on real worker threads (test/models/lifecycle-worker.ts): a worker that
 * never comes up is an LW_ERR_SESSION_CREATE naming its file and leaves no thread; close() does not
 * hang on a worker that ignores 'close'; a replacement its engine no longer wants is stopped.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { test } from 'node:test';
import { LinewatchError } from '../../src/errors.js';
import { closeWorker, replaceWorker, spawnReady, startWorker, type ReadyWatch } from '../../src/models/worker-lifecycle.js';
import type { LifecycleMode } from './lifecycle-worker.js';

const WORKER_URL = new URL('./lifecycle-worker.js', import.meta.url);
const PATH = fileURLToPath(WORKER_URL);

type Msg = { readonly type: 'ready'; readonly provider: string } | { readonly type: 'failed'; readonly message: string };

const watch: ReadyWatch<Msg> = {
  path: PATH,
  name: 'test worker',
  failure: (msg) => new LinewatchError('LW_ERR_SESSION_CREATE', msg.message),
};

/** A worker in `mode`, with whether it has exited (seen by a listener attached before spawnReady's). */
function starter(mode: LifecycleMode): { start: () => Worker; exited: () => boolean } {
  let gone = false;
  return {
    start: () => {
      const w = startWorker({ mode }, WORKER_URL);
      w.once('exit', () => {
        gone = true;
      });
      return w;
    },
    exited: () => gone,
  };
}

function sessionCreate(message: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof LinewatchError);
    assert.equal(err.code, 'LW_ERR_SESSION_CREATE');
    assert.equal(err.message, message);
    return true;
  };
}

test("a worker that exits before 'ready' is LW_ERR_SESSION_CREATE naming its file and exit code", async () => {
  await assert.rejects(spawnReady<Msg>(starter('exit').start, watch), sessionCreate(`${PATH}: test worker exited with code 3 before it was ready`));
});

test("a worker that throws before 'ready' is LW_ERR_SESSION_CREATE naming its file and the error", async () => {
  const s = starter('throw');
  await assert.rejects(spawnReady<Msg>(s.start, watch), sessionCreate(`${PATH}: test worker failed to start: no such graph`));
});

test("a worker that answers 'failed' gives the caller's error, and its thread is gone by then", async () => {
  const s = starter('failed');
  await assert.rejects(spawnReady<Msg>(s.start, watch), sessionCreate('the graph is not a graph'));
  assert.ok(s.exited(), 'terminated before the error came back');
});

test("a worker that says 'ready' is handed over with its message; closeWorker stops it without waiting out the grace", async () => {
  const { worker, ready } = await spawnReady<Msg>(starter('ready').start, watch);
  assert.deepEqual(ready, { type: 'ready', provider: 'cpu' });
  const code = new Promise<number>((resolve) => worker.once('exit', resolve));
  const t0 = performance.now();
  await closeWorker(worker, 60_000);
  assert.ok(performance.now() - t0 < 30_000, 'closed by its own exit, not by the grace');
  assert.equal(await code, 0);
});

test("closeWorker terminates a worker that ignores 'close' once the grace is over", async () => {
  const { worker } = await spawnReady<Msg>(starter('ready-deaf').start, watch);
  const code = new Promise<number>((resolve) => worker.once('exit', resolve));
  const t0 = performance.now();
  await closeWorker(worker, 300);
  assert.ok(performance.now() - t0 >= 250, 'it waited for the grace first');
  assert.equal(await code, 1, 'terminated');
});

test('a replacement that comes up after its engine no longer wants it is terminated, never handed over', async () => {
  const s = starter('ready');
  const outcome = await new Promise<string>((resolve) => {
    replaceWorker(() => spawnReady<Msg>(s.start, watch), {
      wanted: () => false,
      up: () => resolve('up'),
      dropped: () => resolve('dropped'),
      failed: () => resolve('failed'),
    });
  });
  assert.equal(outcome, 'dropped');
  const deadline = Date.now() + 20_000;
  while (!s.exited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(s.exited(), 'its thread stopped');
});

test('a replacement that cannot start goes to failed with its error', async () => {
  const err = await new Promise<unknown>((resolve) => {
    replaceWorker(() => spawnReady<Msg>(starter('failed').start, watch), {
      wanted: () => true,
      up: () => resolve('up'),
      failed: resolve,
    });
  });
  assert.ok(sessionCreate('the graph is not a graph')(err));
});
