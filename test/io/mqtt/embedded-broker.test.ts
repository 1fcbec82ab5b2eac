import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { observe } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';

test('no broker URL: an embedded broker on 127.0.0.1 carries the demo, speaking MQTT 3.1.1 after 5 is refused', async () => {
  const config = testConfig(undefined);
  const station = new SubjectStation(config);
  const mqtt = await startMqtt(config, station, quietLogger);
  try {
    assert.match(mqtt.brokerUrl, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    await mqtt.link.whenOnline(10_000);
    assert.equal(mqtt.link.counters().protocolVersion, 4, 'aedes speaks 3.1.1: the link fell back');
    const obs = await observe(mqtt.brokerUrl, ['linewatch/s1/l1/st1/reject'], { protocolVersion: 4 });
    try {
      station.emit(1, 'reject');
      await obs.until(() => obs.messages.length === 1, 'a reject through the embedded broker');
      const r = JSON.parse(obs.messages[0]?.payload.toString() ?? '{}') as { partId: string };
      assert.equal(r.partId, 'part-1');
    } finally {
      await obs.close();
    }
  } finally {
    await mqtt.close();
  }
});
