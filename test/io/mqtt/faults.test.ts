import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../../src/config/schema.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { observe, sleep } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';

let broker: Mosquitto;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker.stop();
});

interface StatusMsg { state: string; health: { state: string; reasons: string[] }; mqtt: Record<string, number | string> }

test('broker killed mid-run and restarted: unexpired rejects delivered, expired ones counted, status back online', async () => {
  // Slow first retry: the observer must be subscribed again before linewatch reconnects (what
  // linewatch sends before that reaches no one). 1.5 s left about 1 s for restarting mosquitto and
  // subscribing, which a loaded machine can spend; 4 s leaves 3.
  const config = testConfig(broker.url, { station: 'restart', reconnect: { initialDelayMs: 4_000, maxDelayMs: 8_000, jitter: 0 } });
  const root = 'linewatch/s1/l1/restart';
  const station = new SubjectStation(config);
  const mqtt = await startMqtt(config, station, quietLogger);
  try {
    await mqtt.link.whenOnline(5_000);
    await broker.kill();
    const t0 = Date.now();
    while (mqtt.link.state === 'online') {
      if (Date.now() - t0 > 3_000) throw new Error('link never noticed the broker died');
      await sleep(10);
    }
    const now = Date.now();
    for (let seq = 1; seq <= 5; seq++) station.emit(seq, 'reject', { capturedAtMs: now, deadlineMs: now + 60_000 });
    for (let seq = 6; seq <= 10; seq++) station.emit(seq, 'reject', { capturedAtMs: now, deadlineMs: now + 300 });
    assert.equal(mqtt.link.counters().outbox.depth, 10, 'rejects wait in the outbox while the broker is away');
    assert.ok(mqtt.link.counters().qos0DroppedOffline >= 10, 'QoS 0 results are not queued (queueQoSZero false)');
    await sleep(400);
    await broker.restart();
    const obs = await observe(broker.url, [`${root}/#`]);
    try {
      await mqtt.link.whenOnline(15_000);
      await obs.until(() => obs.on(`${root}/reject`).length >= 5, 'the 5 unexpired rejects');
      await sleep(200);
      const seqs = new Set(obs.json<{ seq: number }>(`${root}/reject`).map((r) => r.seq));
      assert.deepEqual([...seqs].sort((a, b) => a - b), [1, 2, 3, 4, 5], 'unexpired delivered, expired not');
      const c = mqtt.link.counters();
      assert.equal(c.outbox.expired, 5, 'expired rejects are counted');
      assert.equal(c.outbox.depth, 0);
      assert.equal(c.disconnects, 1);
      const status = obs.json<StatusMsg>(`${root}/status`);
      const last = status[status.length - 1];
      assert.equal(last?.state, 'online');
      assert.equal(last?.health.state, 'degraded');
      assert.ok(last?.health.reasons.some((r) => r.includes('5 queued messages expired')), JSON.stringify(last?.health));
      assert.equal(last?.mqtt['outboxExpired'], 5);
    } finally {
      await obs.close();
    }
  } finally {
    await mqtt.close();
  }
});

test('the last will shows offline when linewatch is killed with SIGKILL', async () => {
  const topic = 'linewatch/s1/l1/st1/status';
  const obs = await observe(broker.url, [topic]);
  const script = fileURLToPath(new URL('./helpers/child-linewatch.js', import.meta.url));
  const stateDir = mkdtempSync(join(tmpdir(), 'lw-child-'));
  const child = spawn(process.execPath, [script, broker.url, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('child never came online')), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('online')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    await obs.until(() => obs.json<StatusMsg>(topic).some((s) => s.state === 'online'), 'status online');
    child.kill('SIGKILL');
    await obs.until(() => obs.json<StatusMsg>(topic).at(-1)?.state === 'offline', 'last will: offline', 8_000);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await obs.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
  // And it stays retained for whoever looks next.
  const later = await observe(broker.url, [topic]);
  try {
    await later.until(() => later.on(topic).length > 0, 'retained status');
    assert.equal(later.json<StatusMsg>(topic)[0]?.state, 'offline');
    assert.equal(later.on(topic)[0]?.retain, true);
  } finally {
    await later.close();
  }
});
