import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSparkplug } from '../../../src/io/mqtt/sparkplug.js';
import { DATATYPE, decodeSparkplugB, metricValue, rebirthWithoutDatatype } from './helpers/sparkplug-decode.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';

const metric = metricValue;

test('Sparkplug B 3.0, read by a second decoder: NBIRTH with datatypes, NDATA without, rates from its own window, rebirth with or without datatype, bdSeq kept across restarts, NDEATH at shutdown', async () => {
  const broker = await startMosquitto();
  const stateDir = mkdtempSync(join(tmpdir(), 'lw-spb-'));
  const config = testConfig(broker.url, { sparkplug: { enabled: true, group: 'plant', node: 'cam-a' }, status: { heartbeatMs: 400 } }, stateDir);
  const station = new SubjectStation(config);
  const obs = await observe(broker.url, ['spBv1.0/plant/#']);
  const mqtt = await startMqtt(config, station, quietLogger);
  const decoded = (kind: string) => obs.on(`spBv1.0/plant/${kind}/cam-a`).map((m) => decodeSparkplugB(m.payload));
  try {
    assert.ok(mqtt.sparkplug !== null);
    await obs.until(() => decoded('NBIRTH').length === 1, 'NBIRTH');
    const birth = decoded('NBIRTH')[0]!;
    assert.equal(metric(birth, 'bdSeq'), 0);
    assert.equal(Number(birth.seq), 0);
    assert.equal(metric(birth, 'Model/Version'), 'tiny-1');
    assert.equal(metric(birth, 'Node Control/Rebirth'), false);
    assert.equal(obs.on('spBv1.0/plant/NBIRTH/cam-a')[0]?.retain, false);
    assert.equal(birth.metrics.find((m) => m.name === 'Rates/FramesPerS')?.datatype, DATATYPE.Double, 'NBIRTH declares datatypes');

    // Frames keep coming while NDATA goes out: its rates are frames over its own heartbeat, not 0.
    let seq = 0;
    const feeder = setInterval(() => station.emit(++seq, seq % 4 === 0 ? 'reject' : 'ok'), 20);
    try {
      await obs.until(() => decoded('NDATA').filter((p) => (metric(p, 'Counters/received') as number) > 20).length >= 2, 'NDATA with counters', 10_000);
    } finally {
      clearInterval(feeder);
    }
    const data = decoded('NDATA').filter((p) => (metric(p, 'Counters/received') as number) > 20).at(-1)!;
    assert.ok(data.metrics.every((m) => m.datatype === undefined), 'NDATA metrics carry no datatype');
    const fps = metric(data, 'Rates/FramesPerS') as number;
    assert.ok(fps > 10 && fps < 100, `Rates/FramesPerS ${fps} (frames come at ~50/s)`);
    assert.ok((metric(data, 'Rates/RejectsPerS') as number) > 0);
    assert.ok(Number(data.seq) >= 1 && Number(data.seq) <= 255);

    await obs.client.publishAsync('spBv1.0/plant/NCMD/cam-a', encodeSparkplug({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }));
    await obs.until(() => decoded('NBIRTH').length === 2, 'rebirth with a datatype');
    await obs.client.publishAsync('spBv1.0/plant/NCMD/cam-a', Buffer.from(rebirthWithoutDatatype()));
    await obs.until(() => decoded('NBIRTH').length === 3, 'rebirth without a datatype');
    assert.equal(metric(decoded('NBIRTH')[2]!, 'bdSeq'), 0, 'same session, same bdSeq');
  } finally {
    await mqtt.close();
  }
  try {
    await obs.until(() => decoded('NDEATH').length === 1, 'NDEATH');
    assert.equal(metric(decoded('NDEATH')[0]!, 'bdSeq'), 0, 'NDEATH matches the NBIRTH it ends');
    // A new process (same state folder): the next bdSeq, not 0 again.
    const again = await startMqtt(config, new SubjectStation(config), quietLogger);
    try {
      await obs.until(() => decoded('NBIRTH').length === 4, 'NBIRTH after the restart');
      assert.equal(metric(decoded('NBIRTH')[3]!, 'bdSeq'), 1, 'bdSeq persisted across restarts');
    } finally {
      await again.close();
    }
  } finally {
    await obs.close();
    await broker.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
