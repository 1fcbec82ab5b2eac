import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { decodeSparkplug, encodeSparkplug } from '../../../src/io/mqtt/sparkplug.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';

const metric = (p: ReturnType<typeof decodeSparkplug>, name: string): unknown => {
  const v = p.metrics?.find((m) => m.name === name)?.value;
  return typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : v;
};

test('Sparkplug B: NBIRTH with bdSeq and metrics, NDATA counters on heartbeat, rebirth on command, NDEATH at shutdown', async () => {
  const broker = await startMosquitto();
  const config = testConfig(broker.url, { sparkplug: { enabled: true, group: 'plant', node: 'cam-a' }, status: { heartbeatMs: 150 } });
  const station = new SubjectStation(config);
  const obs = await observe(broker.url, ['spBv1.0/plant/#']);
  const mqtt = await startMqtt(config, station, quietLogger, { configSchema });
  const decoded = (kind: string) => obs.on(`spBv1.0/plant/${kind}/cam-a`).map((m) => decodeSparkplug(m.payload));
  try {
    assert.ok(mqtt.sparkplug !== null);
    await obs.until(() => decoded('NBIRTH').length === 1, 'NBIRTH');
    const birth = decoded('NBIRTH')[0]!;
    assert.equal(metric(birth, 'bdSeq'), 0);
    assert.equal(Number(birth.seq), 0);
    assert.equal(metric(birth, 'Model/Version'), 'tiny-1');
    assert.equal(metric(birth, 'Node Control/Rebirth'), false);
    assert.equal(obs.on('spBv1.0/plant/NBIRTH/cam-a')[0]?.retain, false);

    for (let seq = 1; seq <= 3; seq++) station.emit(seq, seq === 2 ? 'reject' : 'ok');
    await obs.until(() => decoded('NDATA').some((p) => metric(p, 'Counters/received') === 3), 'NDATA with the counters');
    const data = decoded('NDATA').find((p) => metric(p, 'Counters/received') === 3)!;
    assert.equal(metric(data, 'Counters/reject'), 1);
    assert.ok(Number(data.seq) >= 1 && Number(data.seq) <= 255);

    await obs.client.publishAsync('spBv1.0/plant/NCMD/cam-a', encodeSparkplug({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }));
    await obs.until(() => decoded('NBIRTH').length === 2, 'rebirth');
    assert.equal(metric(decoded('NBIRTH')[1]!, 'bdSeq'), 0, 'same session, same bdSeq');
  } finally {
    await mqtt.close();
  }
  try {
    await obs.until(() => decoded('NDEATH').length === 1, 'NDEATH');
    assert.equal(metric(decoded('NDEATH')[0]!, 'bdSeq'), 0, 'NDEATH matches the NBIRTH it ends');
  } finally {
    await obs.close();
    await broker.stop();
  }
});
