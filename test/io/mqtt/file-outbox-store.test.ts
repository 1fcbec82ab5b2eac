import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { FileOutboxStore } from '../../../src/io/mqtt/file-outbox-store.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { freePort, startMosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';
import { outboxStoreContract } from './outbox-store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'lw-fob-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `outbox-${++n}.log`);

outboxStoreContract('FileOutboxStore', () => new FileOutboxStore(freshPath()));

test('FileOutboxStore: what waits survives a reopen, in order, text and bytes; a torn last line is ignored; compaction keeps it', () => {
  const path = freshPath();
  const a = new FileOutboxStore(path);
  for (let id = 1; id <= 3000; id++) a.add({ id, topic: 't', payload: id % 2 === 0 ? `s${id}` : Buffer.from([id & 255, 1]), retain: false, expiresAtMs: id });
  for (let id = 1; id <= 2990; id++) a.delete(id); // forces compactions on the way
  a.close();
  appendFileSync(path, '{"op":"add","id":99999,"top');
  const b = new FileOutboxStore(path);
  assert.deepEqual([...b.values()].map((m) => m.id), [2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998, 2999, 3000]);
  assert.equal(b.oldest()?.payload.toString(), Buffer.from([2991 & 255, 1]).toString());
  assert.equal([...b.values()][1]?.payload, 's2992');
  assert.equal([...b.values()][1]?.expiresAtMs, 2992);
  b.close();
});

test('rejects queued while the broker was unreachable survive a restart of linewatch and go out when it is back', async () => {
  const path = freshPath();
  const deadPort = await freePort();
  const offline = testConfig(`mqtt://127.0.0.1:${deadPort}`, { queue: { file: path }, station: 'durable' });
  const s1 = new SubjectStation(offline);
  const first = await startMqtt(offline, s1, quietLogger);
  const now = Date.now();
  for (let seq = 1; seq <= 3; seq++) s1.emit(seq, 'reject', { capturedAtMs: now, deadlineMs: now + 60_000 });
  s1.emit(4, 'reject', { capturedAtMs: now, deadlineMs: now + 50 });
  assert.equal(first.link.counters().outbox.depth, 4);
  await first.close();

  const broker = await startMosquitto();
  const obs = await observe(broker.url, ['linewatch/s1/l1/durable/reject']);
  const online = testConfig(broker.url, { queue: { file: path }, station: 'durable' });
  await new Promise((r) => setTimeout(r, 60));
  const second = await startMqtt(online, new SubjectStation(online), quietLogger);
  try {
    await obs.until(() => obs.messages.length >= 3, 'the 3 unexpired rejects from before the restart');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(obs.json<{ seq: number }>('linewatch/s1/l1/durable/reject').map((r) => r.seq), [1, 2, 3]);
    assert.equal(second.link.counters().outbox.expired, 1);
    await obs.until(() => second.link.counters().outbox.depth === 0, 'acknowledged');
  } finally {
    await second.close();
    await obs.close();
    await broker.stop();
  }
});
