import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MqttLink } from '../../../src/io/mqtt/link.js';
import { MemoryOutboxStore, Outbox } from '../../../src/io/mqtt/outbox.js';
import { VerdictPublisher } from '../../../src/io/mqtt/publisher.js';
import { mqttConfigSchema } from '../../../src/io/mqtt/schema.js';
import { topicsFor } from '../../../src/io/mqtt/topics.js';
import { manualClock } from './helpers/manual-clock.js';
import { SubjectStation, testConfig } from './helpers/subject-station.js';

const clock = manualClock(5_000_000);

function setup(mqtt: object) {
  const cfg = mqttConfigSchema.parse(mqtt);
  const outbox = new Outbox(new MemoryOutboxStore(), { maxMessages: 1000, overflow: 'drop-oldest' });
  const link = new MqttLink({
    url: 'mqtt://127.0.0.1:1',
    clientId: 'x',
    protocolVersion: 5,
    keepaliveS: 10,
    connectTimeoutMs: 1000,
    credentials: { rejectUnauthorized: true },
    reconnect: cfg.reconnect,
    outbox,
    will: () => ({ topic: 'w', payload: '{}', retain: true }),
    onConnectMessages: () => [],
    subscriptions: [],
    clock,
  });
  return { publisher: new VerdictPublisher(link, topicsFor(cfg), cfg, clock), outbox, station: new SubjectStation(testConfig(undefined)) };
}

test('result sampling: one ok verdict in sampleEvery; rejects and errors always; QoS 1 results wait in the outbox', () => {
  const { publisher, outbox, station } = setup({ result: { sampleEvery: 3, qos: 1 } });
  for (let seq = 1; seq <= 9; seq++) publisher.publish(station.emit(seq, 'ok', { capturedAtMs: clock.now }));
  assert.equal(publisher.counters().results, 3);
  publisher.publish(station.emit(10, 'reject', { capturedAtMs: clock.now }));
  publisher.publish(station.emit(11, 'error', { capturedAtMs: clock.now }));
  assert.equal(publisher.counters().results, 5);
  assert.equal(publisher.counters().rejects, 2, 'the error frame is ejected under failSafe reject');
  const topics = [...outbox.pending()].map((m) => m.topic.split('/').pop());
  assert.deepEqual(topics, ['result', 'result', 'result', 'reject', 'result', 'reject', 'result']);
});

test('deadline: the frame’s own deadline wins; a reject at or after it is late, on result only', () => {
  const { publisher, outbox, station } = setup({ reject: { deadlineMs: 500 }, result: { sampleEvery: 0 } });
  publisher.publish(station.emit(1, 'reject', { capturedAtMs: clock.now - 499 }));
  publisher.publish(station.emit(2, 'reject', { capturedAtMs: clock.now - 500 }));
  publisher.publish(station.emit(3, 'reject', { capturedAtMs: clock.now - 10_000, deadlineMs: clock.now + 1 }));
  assert.deepEqual(publisher.counters(), { rejects: 2, rejectsRefusedFull: 0, late: 1, results: 3, heatmaps: 0, heatmapsSkipped: 0 });
  const rejects = [...outbox.pending()].filter((m) => m.topic.endsWith('/reject')).map((m) => JSON.parse(m.payload.toString()) as { seq: number; deadlineMs: number });
  assert.deepEqual(rejects.map((r) => [r.seq, r.deadlineMs - clock.now]), [[1, 1], [3, 1]]);
  assert.equal([...outbox.pending()].find((m) => m.topic.endsWith('/reject'))?.expiresAtMs, clock.now + 1, 'the outbox drops it at the deadline');
});

test('heatmap slots: at most maxPerSecond, skipped ones counted; none when disabled', () => {
  const { publisher } = setup({ heatmap: { enabled: true, maxPerSecond: 2 } });
  const taken: boolean[] = [];
  for (let i = 0; i < 10; i++) {
    taken.push(publisher.takeHeatmapSlot());
    clock.now += 100;
  }
  assert.deepEqual(taken, [true, false, false, false, false, true, false, false, false, false]);
  assert.equal(publisher.counters().heatmapsSkipped, 8);
  assert.equal(setup({}).publisher.takeHeatmapSlot(), false);
});
