import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subject, firstValueFrom, toArray } from 'rxjs';
import { RoomGate, boundedBatch } from '../../../src/pipeline/operators/bounded-batch.js';

type Out = { id: number; kind: 'done' | 'dropped'; batch: number };

test('a fast producer into slow work: queue stays bounded, drops are counted, every item ends once', async () => {
  const input = new Subject<number>();
  let batches = 0;
  let maxBatch = 0;
  let active = 0;
  let maxActive = 0;
  const work = async (items: number[]): Promise<Out[]> => {
    const b = batches++;
    active++;
    maxActive = Math.max(maxActive, active);
    maxBatch = Math.max(maxBatch, items.length);
    await sleep(20);
    active--;
    return items.map((id) => ({ id, kind: 'done' as const, batch: b }));
  };
  // The window is counted from the oldest item's arrival: a long one, so that a machine that
  // stalls this loop for a millisecond cannot send a batch of 1 (the counts below would shift).
  const out = firstValueFrom(
    input.pipe(boundedBatch({ capacity: 4, batchSize: 2, batchWaitMs: 60_000 }, work, (id) => ({ id, kind: 'dropped' as const, batch: -1 })), toArray()),
  );
  for (let i = 0; i < 100; i++) input.next(i);
  input.complete();
  const results = await out;
  assert.equal(results.length, 100, 'every item ends as exactly one output');
  assert.deepEqual(results.map((r) => r.id), [...Array(100).keys()], 'outputs leave in input order');
  const done = results.filter((r) => r.kind === 'done');
  const dropped = results.filter((r) => r.kind === 'dropped');
  // Two batches of 2 started at once, 4 wait: 8 are worked on, the other 92 dropped, oldest first.
  assert.equal(done.length, 8);
  assert.equal(dropped.length, 92);
  assert.ok(maxBatch <= 2 && maxActive <= 2);
  assert.deepEqual(done.map((r) => r.id).sort((a, b) => a - b), [0, 1, 2, 3, 96, 97, 98, 99]);
});

test('a partial batch waits batchWaitMs, then goes', async () => {
  const input = new Subject<number>();
  const sizes: number[] = [];
  const out = firstValueFrom(
    input.pipe(
      boundedBatch({ capacity: 16, batchSize: 4, batchWaitMs: 15 }, async (items: number[]) => {
        sizes.push(items.length);
        return items;
      }, (x) => -x),
      toArray(),
    ),
  );
  input.next(1);
  input.next(2);
  await sleep(40);
  for (let i = 3; i <= 6; i++) input.next(i);
  input.complete();
  assert.deepEqual(await out, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(sizes, [2, 4]);
});

test('the room gate makes a waiting producer lossless', async () => {
  const gate = new RoomGate();
  const input = new Subject<number>();
  const out = firstValueFrom(
    input.pipe(
      boundedBatch({ capacity: 2, batchSize: 1, batchWaitMs: 0, concurrency: 1, gate }, async (items: number[]) => {
        await sleep(2);
        return items;
      }, (x) => -x - 1),
      toArray(),
    ),
  );
  for (let i = 0; i < 30; i++) {
    await gate.ready();
    input.next(i);
  }
  input.complete();
  const results = await out;
  assert.equal(results.filter((x) => x < 0).length, 0, 'nothing dropped');
  assert.deepEqual(results, [...Array(30).keys()]);
});

test('a batch that finishes early waits for the one before it', async () => {
  const input = new Subject<number>();
  const out = firstValueFrom(
    input.pipe(
      boundedBatch({ capacity: 4, batchSize: 1, batchWaitMs: 0 }, async (items: number[]) => {
        await sleep(items[0] === 0 ? 30 : 1);
        return items;
      }, (x) => -x),
      toArray(),
    ),
  );
  input.next(0);
  input.next(1);
  input.complete();
  assert.deepEqual(await out, [0, 1]);
});

test('a source error is passed on after the items in flight finish', async () => {
  const input = new Subject<number>();
  const seen: number[] = [];
  const done = new Promise<unknown>((resolve) => {
    input
      .pipe(boundedBatch({ capacity: 4, batchSize: 1, batchWaitMs: 0 }, async (items: number[]) => {
        await sleep(5);
        return items;
      }, (x) => x))
      .subscribe({ next: (x) => seen.push(x), error: resolve });
  });
  input.next(1);
  input.error(new Error('camera gone'));
  const err = await done;
  assert.deepEqual(seen, [1]);
  assert.match(String(err), /camera gone/);
});
