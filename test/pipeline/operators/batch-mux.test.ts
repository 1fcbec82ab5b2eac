/**
 * Batching across cameras: lanes with their own bounds and order, batches taken from all lanes in
 * turn. `work` here is a batch the test finishes by hand (no timers, no sleeps): each step is a
 * state the test sets up and then reads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subject, type Observable } from 'rxjs';
import { BatchMux } from '../../../src/pipeline/operators/batch-mux.js';

interface Item {
  readonly cam: string;
  readonly seq: number;
}
type Out = { cam: string; seq: number; kind: 'done' | 'dropped'; batch: number };

/** A `work` whose batches wait until the test finishes them. */
class ManualWork {
  readonly batches: { items: Item[]; finish: () => void; finished: boolean }[] = [];
  readonly fn = (items: Item[]): Promise<Out[]> =>
    new Promise((resolve) => {
      const batch = this.batches.length;
      this.batches.push({ items, finished: false, finish: () => resolve(items.map((it) => ({ ...it, kind: 'done' as const, batch }))) });
    });

  /** Finishes batch k and lets the promise callbacks (and the next batch's start) run. */
  async finish(k: number): Promise<void> {
    const b = this.batches[k]!;
    b.finished = true;
    b.finish();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }

  /** Finishes batches (and those they let start) until none is left running. */
  async finishAll(): Promise<void> {
    for (let k = 0; k < this.batches.length; k++) if (!this.batches[k]!.finished) await this.finish(k);
  }

  cams(k: number): string[] {
    return this.batches[k]!.items.map((i) => i.cam);
  }
}

const dropped = (it: Item): Out => ({ ...it, kind: 'dropped', batch: -1 });

function collect(o: Observable<Out>): { out: Out[]; done: boolean } {
  const r = { out: [] as Out[], done: false };
  o.subscribe({ next: (x) => r.out.push(x), complete: () => (r.done = true) });
  return r;
}

test('four backlogged cameras share each batch equally, one frame each per turn', async () => {
  const work = new ManualWork();
  const mux = new BatchMux<Item, Out>({ batchSize: 4, batchWaitMs: 0, concurrency: 1 }, work.fn);
  const cams = ['a', 'b', 'c', 'd'];
  const inputs = cams.map(() => new Subject<Item>());
  const results = inputs.map((s) => collect(s.pipe(mux.lane({ capacity: 8 }, dropped))));
  // Camera a alone first: the model is idle, so its frame goes at once, alone.
  inputs[0]!.next({ cam: 'a', seq: 0 });
  assert.deepEqual(work.cams(0), ['a']);
  // While that batch runs every camera sends 3 frames (a sends 6): they wait in their own lanes.
  for (let seq = 1; seq <= 6; seq++) inputs[0]!.next({ cam: 'a', seq });
  for (let c = 1; c < 4; c++) for (let seq = 0; seq < 3; seq++) inputs[c]!.next({ cam: cams[c]!, seq });
  assert.equal(work.batches.length, 1, 'nothing else starts while the model is busy');
  await work.finish(0);
  assert.deepEqual(work.cams(1), ['b', 'c', 'd', 'a'], 'the next batch takes one frame from each camera, starting after a');
  await work.finish(1);
  assert.deepEqual(work.cams(2), ['b', 'c', 'd', 'a']);
  await work.finish(2);
  assert.deepEqual(work.cams(3), ['b', 'c', 'd', 'a'], 'a sent more, but gets no more than its turn while the others wait');
  await work.finish(3);
  assert.deepEqual(work.cams(4), ['a', 'a', 'a'], 'then the rest of a');
  await work.finish(4);
  for (const s of inputs) s.complete();
  for (let c = 0; c < 4; c++) {
    const r = results[c]!;
    assert.ok(r.done, `lane ${cams[c]} completed`);
    assert.deepEqual(r.out.map((o) => o.seq), [...Array(c === 0 ? 7 : 3).keys()], `lane ${cams[c]}: every frame once, in order`);
  }
  assert.deepEqual(mux.stats(), { batches: 5, items: 16, mixedBatches: 3, dropped: 0 });
});

test('a fast and a slow camera: the slow one is served in every batch it waits for, the fast one drops its own oldest (counted on it)', async () => {
  const work = new ManualWork();
  const mux = new BatchMux<Item, Out>({ batchSize: 2, batchWaitMs: 0, concurrency: 1 }, work.fn);
  const fast = new Subject<Item>();
  const slow = new Subject<Item>();
  const f = collect(fast.pipe(mux.lane({ capacity: 3 }, dropped)));
  const s = collect(slow.pipe(mux.lane({ capacity: 3 }, dropped)));
  let fseq = 0;
  // Each round: the fast camera sends 10 frames, the slow one 1, and the model finishes one batch.
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 10; i++) fast.next({ cam: 'fast', seq: fseq++ });
    slow.next({ cam: 'slow', seq: round });
    await work.finish(work.batches.length - 1);
  }
  fast.complete();
  slow.complete();
  while (!(f.done && s.done)) await work.finish(work.batches.length - 1);
  assert.deepEqual(s.out.map((o) => o.kind), Array(20).fill('done'), 'the slow camera never starves and never drops');
  assert.deepEqual(s.out.map((o) => o.seq), [...Array(20).keys()]);
  const fastDone = f.out.filter((o) => o.kind === 'done').length;
  const fastDropped = f.out.filter((o) => o.kind === 'dropped').length;
  assert.equal(f.out.length, 200, 'every fast frame ends once');
  assert.deepEqual(f.out.map((o) => o.seq), [...Array(200).keys()], 'in order, drops included');
  assert.ok(fastDone >= 20, `the fast camera keeps at least its turn in each batch (${fastDone} judged)`);
  assert.equal(mux.stats().dropped, fastDropped, 'the drops are the fast camera\'s alone');
  assert.ok(fastDropped > 100, `the fast camera overran its own queue (${fastDropped} dropped)`);
  for (let k = 0; k < 20; k++) assert.ok(work.cams(k).includes('slow') || k === 0, `batch ${k} holds the slow camera's waiting frame`);
});

test('each lane keeps its order when batches finish out of order', async () => {
  const work = new ManualWork();
  const mux = new BatchMux<Item, Out>({ batchSize: 2, batchWaitMs: 0, concurrency: 3 }, work.fn);
  const a = new Subject<Item>();
  const b = new Subject<Item>();
  const ra = collect(a.pipe(mux.lane({ capacity: 8 }, dropped)));
  const rb = collect(b.pipe(mux.lane({ capacity: 8 }, dropped)));
  for (let seq = 0; seq < 3; seq++) {
    a.next({ cam: 'a', seq });
    b.next({ cam: 'b', seq });
  }
  assert.equal(work.batches.length, 3, 'three batches at once (concurrency 3)');
  await work.finish(2);
  await work.finish(1);
  assert.equal(ra.out.length, 0, 'a waits for its first frame');
  await work.finish(0);
  assert.deepEqual(ra.out.map((o) => o.seq), [0, 1], 'then a0 and a1, whose batch had finished already');
  await work.finishAll();
  assert.deepEqual(ra.out.map((o) => o.seq), [0, 1, 2]);
  assert.deepEqual(rb.out.map((o) => o.seq), [0, 1, 2]);
});

test('a camera that ends completes alone; the others go on', async () => {
  const work = new ManualWork();
  const mux = new BatchMux<Item, Out>({ batchSize: 4, batchWaitMs: 0, concurrency: 1 }, work.fn);
  const a = new Subject<Item>();
  const b = new Subject<Item>();
  const ra = collect(a.pipe(mux.lane({ capacity: 4 }, dropped)));
  const rb = collect(b.pipe(mux.lane({ capacity: 4 }, dropped)));
  a.next({ cam: 'a', seq: 0 });
  a.complete();
  b.next({ cam: 'b', seq: 0 });
  await work.finish(0);
  assert.equal(ra.done, true);
  assert.equal(rb.done, false);
  await work.finish(1);
  b.next({ cam: 'b', seq: 1 });
  assert.deepEqual(work.cams(2), ['b']);
  await work.finish(2);
  assert.deepEqual(rb.out.map((o) => o.seq), [0, 1]);
});

test('a partial batch waits for company only while a camera can still send', async () => {
  const work = new ManualWork();
  const mux = new BatchMux<Item, Out>({ batchSize: 4, batchWaitMs: 60_000, concurrency: 1 }, work.fn);
  const a = new Subject<Item>();
  const b = new Subject<Item>();
  collect(a.pipe(mux.lane({ capacity: 4 }, dropped)));
  const rb = collect(b.pipe(mux.lane({ capacity: 4 }, dropped)));
  a.next({ cam: 'a', seq: 0 });
  b.next({ cam: 'b', seq: 0 });
  assert.equal(work.batches.length, 0, 'two frames wait for a batch of 4 within the window');
  b.next({ cam: 'b', seq: 1 });
  b.next({ cam: 'b', seq: 2 });
  assert.deepEqual(work.cams(0), ['a', 'b', 'b', 'b'], 'four frames: the batch goes');
  await work.finish(0);
  a.next({ cam: 'a', seq: 1 });
  a.complete();
  assert.equal(work.batches.length, 1, 'b can still send: a\'s frame waits');
  b.complete();
  assert.deepEqual(work.cams(1), ['a'], 'no camera can send more: the partial batch goes at once');
  await work.finish(1);
  assert.equal(rb.done, true);
});
