import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutboxMessage, OutboxStore } from '../../../src/io/mqtt/outbox.js';

const msg = (id: number): OutboxMessage => ({ id, topic: 't', payload: `p${id}`, retain: false, expiresAtMs: null });

/** What every OutboxStore must do; run once per implementation. */
export function outboxStoreContract(name: string, make: () => OutboxStore): void {
  test(`${name}: keeps insertion order and reports the oldest`, () => {
    const s = make();
    assert.equal(s.size, 0);
    assert.equal(s.oldest(), undefined);
    for (const id of [3, 1, 2]) s.add(msg(id));
    assert.equal(s.size, 3);
    assert.equal(s.oldest()?.id, 3);
    assert.deepEqual([...s.values()].map((m) => m.id), [3, 1, 2]);
  });

  test(`${name}: delete removes exactly one and says whether it was there`, () => {
    const s = make();
    for (const id of [1, 2, 3]) s.add(msg(id));
    assert.equal(s.delete(2), true);
    assert.equal(s.delete(2), false);
    assert.equal(s.delete(99), false);
    assert.deepEqual([...s.values()].map((m) => m.id), [1, 3]);
    assert.equal(s.delete(1), true);
    assert.equal(s.oldest()?.id, 3);
  });

  test(`${name}: deleting visited entries while iterating is safe`, () => {
    const s = make();
    for (let id = 1; id <= 5; id++) s.add(msg(id));
    const seen: number[] = [];
    for (const m of s.values()) {
      seen.push(m.id);
      s.delete(m.id);
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    assert.equal(s.size, 0);
  });

  test(`${name}: returns payloads unchanged`, () => {
    const s = make();
    const m: OutboxMessage = { id: 7, topic: 'a/b', payload: '{"x":"é"}', retain: true, expiresAtMs: 123 };
    s.add(m);
    assert.deepEqual(s.oldest(), m);
  });
}
