import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';

let broker: Mosquitto;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker.stop();
});

interface RejectMsg { schema: string; seq: number; partId: string; deadlineMs: number; capturedAtMs: number; reasons: { code: string }[] }
interface ResultMsg { seq: number; verdict: string; late: boolean }
interface StatusMsg { state: string; health: { state: string; reasons: string[] }; counters: Record<string, number>; model: { version: string } }

test('rejects and results on the wire match the runtime counters; late rejects go to result only; status retained', async () => {
  // A 10 s deadline, not the default 2 s: 400 frames at once must all be on the wire before their
  // deadline, which a loaded machine can take longer than 2 s for (they would then be late, rightly).
  const config = testConfig(broker.url, { reject: { qos: 1, deadlineMs: 10_000 } });
  const station = new SubjectStation(config);
  const root = 'linewatch/s1/l1/st1';
  const obs = await observe(broker.url, [`${root}/#`]);
  const mqtt = await startMqtt(config, station, quietLogger);
  try {
    await mqtt.link.whenOnline(5_000);
    const now = Date.now();
    for (let seq = 1; seq <= 400; seq++) {
      const kind = seq % 4 === 0 ? 'reject' : seq % 10 === 1 ? 'error' : 'ok';
      // error frames under failSafe reject (the default) must eject their part too.
      station.emit(seq, kind);
    }
    // A reject whose part already passed the ejector (captured 30 s ago, deadline 10 s).
    station.emit(401, 'reject', { capturedAtMs: now - 30_000 });
    const c = station.counters();
    const expectedRejects = c.reject + c.error - 1; // all but the late one
    assert.ok(c.error > 0);
    await obs.until(() => obs.on(`${root}/result`).length >= 401, 'all results');
    await obs.until(() => obs.on(`${root}/reject`).length >= expectedRejects, 'all rejects');

    const rejects = obs.json<RejectMsg>(`${root}/reject`);
    const uniqueParts = new Set(rejects.map((r) => r.partId));
    assert.equal(uniqueParts.size, expectedRejects, 'one reject per rejected part');
    assert.equal(rejects.length, uniqueParts.size, 'no duplicates without a fault (QoS 1 may duplicate only across reconnects)');
    assert.equal(uniqueParts.has('part-401'), false, 'a late reject is never sent on …/reject');
    for (const m of obs.on(`${root}/reject`)) {
      assert.equal(m.retain, false, 'reject is never retained');
      assert.equal(m.qos, 1);
      assert.ok(m.expiry !== undefined && m.expiry >= 1 && m.expiry <= 11, `message expiry ${m.expiry} s covers the 10 s deadline, no more`);
    }
    const r0 = rejects[0] as RejectMsg;
    assert.equal(r0.schema, 'linewatch.reject/1');
    assert.equal(r0.deadlineMs, r0.capturedAtMs + 10_000);

    const results = obs.json<ResultMsg>(`${root}/result`);
    assert.equal(results.length, c['received'], 'one result per frame (sampleEvery 1)');
    const late = results.filter((r) => r.late);
    assert.deepEqual(late.map((r) => r.seq), [401], 'the late reject is on result, marked late');
    assert.equal(mqtt.publisher.counters().late, 1);

    const status = obs.json<StatusMsg>(`${root}/status`);
    assert.ok(status.length >= 1);
    assert.equal(status[0]?.state, 'online');
  } finally {
    await mqtt.close();
    await obs.close();
  }
  // After a clean close, a newcomer sees the retained offline status with the final counters.
  const late = await observe(broker.url, [`${root}/status`]);
  try {
    await late.until(() => late.on(`${root}/status`).length > 0, 'retained status');
    const s = late.json<StatusMsg>(`${root}/status`)[0] as StatusMsg;
    assert.equal(late.on(`${root}/status`)[0]?.retain, true);
    assert.equal(s.state, 'offline');
    assert.equal(s.counters['received'], 401);
    assert.equal(s.model.version, 'tiny-1');
  } finally {
    await late.close();
  }
});

test('load: 10 000 rejects as fast as they are produced all reach a subscriber', async () => {
  const config = testConfig(broker.url, { result: { sampleEvery: 0 }, station: 'load' });
  const station = new SubjectStation(config);
  const topic = 'linewatch/s1/l1/load/reject';
  const obs = await observe(broker.url, [topic]);
  const mqtt = await startMqtt(config, station, quietLogger);
  try {
    await mqtt.link.whenOnline(5_000);
    const t0 = Date.now();
    for (let seq = 1; seq <= 10_000; seq++) station.emit(seq, 'reject', { capturedAtMs: t0, deadlineMs: t0 + 60_000 });
    await obs.until(() => new Set(obs.on(topic).map((m) => m.payload.toString())).size >= 10_000, '10 000 rejects', 30_000);
    const seqs = new Set(obs.json<{ seq: number }>(topic).map((r) => r.seq));
    assert.equal(seqs.size, 10_000);
    assert.equal(mqtt.link.counters().outbox.droppedFull, 0);
    await obs.until(() => mqtt.link.counters().outbox.depth === 0, 'all acknowledged', 10_000);
  } finally {
    await mqtt.close();
    await obs.close();
  }
});
