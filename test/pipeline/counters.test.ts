import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counters, formatIdentity, identityHolds } from '../../src/pipeline/counters.js';

test('received = ok + reject + error + dropped + inFlight at every step; seq gaps are lost', () => {
  const c = new Counters();
  c.receive('a', 0);
  c.receive('a', 1);
  c.receive('a', 4);
  c.receive('b', 10);
  assert.ok(identityHolds(c.snapshot()));
  assert.equal(c.snapshot().inFlight, 4);
  assert.equal(c.snapshot().lost, 2, 'seq 2 and 3 of camera a never arrived');
  c.settle('a', 'ok');
  c.settle('a', 'reject', true);
  c.settle('b', 'error');
  assert.ok(identityHolds(c.snapshot()));
  c.settle('a', 'dropped');
  const s = c.snapshot();
  assert.deepEqual(s, { received: 4, ok: 1, reject: 1, error: 1, dropped: 1, inFlight: 0, lost: 2, late: 1 });
  assert.deepEqual(c.perCamera(), {
    a: { received: 3, ok: 1, reject: 1, error: 0, dropped: 1, inFlight: 0, lost: 2, late: 1 },
    b: { received: 1, ok: 0, reject: 0, error: 1, dropped: 0, inFlight: 0, lost: 0, late: 0 },
  });
  assert.match(formatIdentity(s), /received 4 = ok 1 \+ reject 1 \+ error 1 \+ dropped 1 \+ inFlight 0 \(4\) holds/);
  c.resetSeq('a');
  c.receive('a', 0);
  assert.equal(c.snapshot().lost, 2, 'a restarted source does not count as a gap');
  assert.equal(identityHolds({ ...s, ok: 2 }), false);
});
