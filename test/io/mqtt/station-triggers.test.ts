import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { Station } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { quietLogger } from './helpers/subject-station.js';

const TINY = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp/', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('PLC triggers on <root>/trigger, fired before their frames, give the verdicts their partIds in order; a stale trigger is an orphan, judged by failSafe and sent to the line (late: its ejector has passed); all counted in status, beside the provider in use', async () => {
  const broker = await startMosquitto();
  const stateDir = mkdtempSync(join(tmpdir(), 'lw-trig-'));
  const root = 'linewatch/trig/l1/st1';
  const config = parseConfig(
    {
      // Asks for the Jetson's providers first: here they are missing and the status must say so.
      model: { bundle: TINY, intraOpThreads: 1, executionProviders: ['tensorrt', 'cuda', 'cpu'] },
      // Slow, endless frames: each waits for its trigger (up to timeoutMs) until the PLC's come in.
      cameras: [{ id: 'cam1', source: { type: 'folder', path: join(TINY, 'samples'), loop: true, fps: 2 }, triggers: { timeoutMs: 8_000 } }],
      mqtt: { url: broker.url, site: 'trig', line: 'l1', station: 'st1', remoteConfig: { requireSignature: false, stateDir } },
    },
    'trigger config',
  );
  // The PLC fires just before the station starts capturing.
  const firedAt = Date.now() - 10;
  const station = await Station.start(config, { logger: quiet });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  const obs = await observe(broker.url, [`${root}/status`, `${root}/result`]);
  const mqtt = await startMqtt(station.activeConfig(), station, quietLogger);
  try {
    await mqtt.link.whenOnline(5_000);
    // The link subscribes right after it connects, then publishes its birth status on the same
    // connection: once that status is here, the broker holds the trigger subscription (a fixed
    // 300 ms wait could end before it on a loaded machine, and the triggers would be lost).
    await obs.until(() => obs.json(`${root}/status`).some((m) => m['state'] === 'online'), 'the birth status (sent after the SUBSCRIBE)', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(verdicts.length, 0, 'no frame went on while its trigger was still due');
    // A trigger fired a minute ago: no frame of this run can be its frame.
    await obs.client.publishAsync(`${root}/trigger`, JSON.stringify({ partId: 'stale', at: firedAt - 60_000 }), { qos: 1 });
    await obs.client.publishAsync(`${root}/trigger`, 'not json', { qos: 1 });
    for (let i = 1; i <= 3; i++) {
      await obs.client.publishAsync(`${root}/trigger`, JSON.stringify({ partId: `P-${i}`, encoderPos: 1000 * i, at: firedAt }), { qos: 1 });
    }
    await until(() => verdicts.some((v) => v.partId === 'P-3'), 'the verdict of P-3', 20_000);
    await station.stop();

    // The stale trigger's part was never inspected: a `dropped` verdict with its partId, no frame (seq -1),
    // rejected by the default failSafe. Fired a minute ago, its deadline has passed: it goes out on
    // …/result marked late, never as a reject that could eject the wrong part.
    const orphans = verdicts.filter((v) => v.seq < 0);
    assert.deepEqual(orphans.map((v) => [v.partId, v.verdict]), [['stale', 'dropped']]);
    assert.deepEqual(orphans[0]?.reasons.map((r) => r.code), ['TRIGGER_WITHOUT_FRAME', 'FAILSAFE_REJECT']);
    await obs.until(
      () => obs.json(`${root}/result`).some((m) => m['partId'] === 'stale' && m['verdict'] === 'dropped' && m['late'] === true),
      'the late result of the stale part',
      5_000,
    );
    const framed = verdicts.filter((v) => v.seq >= 0);
    const triggered = framed.slice(0, 3);
    assert.deepEqual(triggered.map((v) => v.partId), ['P-1', 'P-2', 'P-3'], 'the first three frames carry the three triggers, in order');
    assert.deepEqual(triggered.map((v) => v.seq), [0, 1, 2]);
    assert.deepEqual(triggered.map((v) => v.meta?.['encoderPos']), [1000, 2000, 3000]);
    for (const v of triggered) assert.ok(v.verdict === 'ok' || v.verdict === 'reject', `P-x judged: ${v.verdict}`);
    for (const v of triggered) assert.ok(!v.reasons.some((r) => r.code === 'FRAME_WITHOUT_TRIGGER'), `${v.partId} was claimed by its trigger`);
    // Frames after them had no trigger: they keep the source's own partId (the file name).
    for (const v of framed.slice(3)) assert.ok(!String(v.partId).startsWith('P-'), `seq ${v.seq} has no PLC part`);

    const c = station.counters();
    assert.equal(c.triggersMatched, 3);
    assert.equal(c.orphanTriggers, 1, 'the stale trigger is an orphan (the malformed one is skipped)');
    assert.equal(c.framesWithoutTrigger, framed.length - 3);
    assert.equal(c.dropped, 1, 'the orphan counts as dropped');
    assert.ok(identityHolds(c), JSON.stringify(c));
    assert.equal(c.received, verdicts.length);
    // Visible to the line: the status report carries the trigger counters.
    const report = mqtt.status.report('online');
    assert.equal(report.counters['orphanTriggers'], 1);
    assert.equal(report.counters['triggersMatched'], 3);
    assert.equal(report.model.provider, 'cpu');
    assert.deepEqual(report.model.fallbacks.map((f) => f.provider), ['tensorrt', 'cuda']);
    assert.equal(report.model.tensorrtEngine, null, 'no engine cache while TensorRT does not run');
  } finally {
    await station.stop();
    await mqtt.close();
    await obs.close();
    await broker.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('a camera without `triggers` ignores the trigger topic: frames go on at once with their own partIds', async () => {
  const config = parseConfig(
    { model: { bundle: TINY, intraOpThreads: 1 }, cameras: [{ id: 'cam1', source: { type: 'folder', path: join(TINY, 'samples') } }] },
    'no trigger config',
  );
  const station = await Station.start(config, { logger: quiet });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  station.pushTrigger({ partId: 'P-1', at: Date.now() });
  await station.ended();
  await station.stop();
  assert.equal(verdicts.length, 4);
  assert.ok(verdicts.every((v) => !String(v.partId).startsWith('P-')));
  const c = station.counters();
  assert.equal(c.triggersMatched, undefined, 'no trigger counters on a station without triggers');
  assert.equal(station.health().cameras[0]?.triggers, undefined);
});
