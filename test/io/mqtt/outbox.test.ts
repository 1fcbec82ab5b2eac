import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryOutboxStore, Outbox, type OutboxMessage } from '../../../src/io/mqtt/outbox.js';
import { outboxStoreContract } from './outbox-store.contract.js';

outboxStoreContract('MemoryOutboxStore', () => new MemoryOutboxStore());

const msg = (id: number, expiresAtMs: number | null = null): OutboxMessage => ({ id, topic: 't', payload: `${id}`, retain: false, expiresAtMs });
const ids = (o: Outbox): number[] => [...o.pending()].map((m) => m.id);

test('full outbox, drop-oldest: the newest message stays, the oldest goes, counted', () => {
  const o = new Outbox(new MemoryOutboxStore(), { maxMessages: 3, overflow: 'drop-oldest' });
  for (let id = 1; id <= 3; id++) assert.equal(o.offer(msg(id)), 'queued');
  assert.equal(o.offer(msg(4)), 'queued-evicted-oldest');
  assert.deepEqual(ids(o), [2, 3, 4]);
  assert.equal(o.counters().droppedFull, 1);
  assert.equal(o.counters().depth, 3);
});

test('full outbox, drop-newest: the new message is refused, counted', () => {
  const o = new Outbox(new MemoryOutboxStore(), { maxMessages: 2, overflow: 'drop-newest' });
  o.offer(msg(1));
  o.offer(msg(2));
  assert.equal(o.offer(msg(3)), 'refused-full');
  assert.deepEqual(ids(o), [1, 2]);
  assert.equal(o.counters().droppedFull, 1);
});

test('expired messages are pruned at their deadline and counted; acked ones are counted once', () => {
  const o = new Outbox(new MemoryOutboxStore(), { maxMessages: 10, overflow: 'drop-oldest' });
  o.offer(msg(1, 1_000));
  o.offer(msg(2, null));
  o.offer(msg(3, 2_000));
  assert.equal(o.pruneExpired(999), 0);
  assert.equal(o.pruneExpired(1_000), 1, 'a message at its deadline is already too late');
  assert.deepEqual(ids(o), [2, 3]);
  o.ack(2);
  o.ack(2);
  assert.deepEqual(o.counters(), { depth: 1, droppedFull: 0, expired: 1, acked: 1 });
});
