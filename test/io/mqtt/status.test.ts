import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MqttLink } from '../../../src/io/mqtt/link.js';
import { MemoryOutboxStore, Outbox } from '../../../src/io/mqtt/outbox.js';
import { VerdictPublisher } from '../../../src/io/mqtt/publisher.js';
import { StatusReporter } from '../../../src/io/mqtt/status.js';
import { topicsFor } from '../../../src/io/mqtt/topics.js';
import { conforms, docSchemas } from './helpers/doc-schemas.js';
import { manualClock } from './helpers/manual-clock.js';
import { SubjectStation, testConfig } from './helpers/subject-station.js';

const clock = manualClock(1_000_000);

test('status: rates over the window since the last published status, health degraded with reasons, counters as the station reports them', () => {
  const config = testConfig('mqtt://127.0.0.1:1');
  const station = new SubjectStation(config);
  const topics = topicsFor(config.mqtt);
  const link = new MqttLink({
    url: 'mqtt://127.0.0.1:1',
    clientId: 'x',
    protocolVersion: 5,
    keepaliveS: 10,
    connectTimeoutMs: 1000,
    credentials: { rejectUnauthorized: true },
    reconnect: config.mqtt.reconnect,
    outbox: new Outbox(new MemoryOutboxStore(), { maxMessages: 5, overflow: 'drop-oldest' }),
    will: () => ({ topic: topics.status, payload: '{}', retain: true }),
    onConnectMessages: () => [],
    subscriptions: [],
    clock,
  });
  const publisher = new VerdictPublisher(link, topics, config.mqtt, clock);
  const status = new StatusReporter({ station, publisher, link, config: () => ({ version: 4, hash: 'h' }) }, topics.status, 5_000, clock);

  // Never started: offline. 50 frames in 5 s, every 5th rejected, while the broker is away.
  for (let seq = 1; seq <= 50; seq++) {
    const v = station.emit(seq, seq % 5 === 0 ? 'reject' : 'ok', { capturedAtMs: clock.now });
    publisher.publish(v);
  }
  clock.now += 5_000;
  const first = status.report('online');
  assert.deepEqual(first.rates, { framesPerS: 10, rejectsPerS: 2 });
  assert.equal(first.counters['received'], 50);
  assert.equal(first.counters['reject'], 10);
  assert.deepEqual(first.config, { version: 4, hash: 'h' });
  assert.equal(first.model.version, 'tiny-1');
  assert.equal(first.health.state, 'degraded');
  assert.deepEqual(first.health.reasons, ['broker away: 5 QoS 1 messages waiting', '5 messages dropped: outbox full']);
  assert.equal(status.report('online').rates.framesPerS, 10, 'reading does not start a new window');

  const msg = status.message('online');
  assert.equal(msg.retain, true);
  conforms(JSON.parse(msg.payload.toString()), docSchemas().get('linewatch.status/1')!);
  clock.now += 1_000;
  assert.deepEqual(status.report('online').rates, { framesPerS: 0, rejectsPerS: 0 }, 'publishing started a new window');
});
