import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { configHash } from '../src/config/remote/canonical.js';
import { acceptedConfigPath, readAcceptedConfig } from '../src/config/remote/persist.js';
import type { Config, ConfigInput } from '../src/config/schema.js';
import { Daemon } from '../src/daemon.js';
import { startMosquitto, type Mosquitto } from './io/mqtt/helpers/mosquitto.js';
import { conforms, docSchemas } from './io/mqtt/helpers/doc-schemas.js';
import { observe, type Observer } from './io/mqtt/helpers/observer.js';
import { quietLogger } from './io/mqtt/helpers/subject-station.js';

/**
 * The composition root against a real mosquitto and the tiny model: what an operator sees on
 * …/config/ack and …/status when a remote change is refused, applied, or fails after it was applied.
 */

const TINY = fileURLToPath(new URL('../../test/fixtures/models/tiny-inp/', import.meta.url));
let broker: Mosquitto;
let root: string;

before(async () => {
  broker = await startMosquitto();
  root = mkdtempSync(join(tmpdir(), 'lw-daemon-'));
});
after(async () => {
  await broker.stop();
  rmSync(root, { recursive: true, force: true });
});

function devNull(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

interface Ack { accepted: boolean; rolledBack: boolean; reasons: string[]; version: number | null; requestId: string | null; activeVersion: number; sections: { section: string; outcome: string; paths: string[] }[] }
interface Status { config: { version: number; onProbation?: boolean; rolledBack?: { version: number } | null; setAside?: { file: string; version: number } | null } }

let n = 0;
/** A station of its own (topic root, state folder), looping over the tiny model's samples. */
function setup(extra: Partial<ConfigInput> = {}): { config: Config; topic: string; stateDir: string } {
  n++;
  const stateDir = join(root, `state-${n}`);
  const config = parseConfig(
    {
      model: { bundle: TINY, intraOpThreads: 1 },
      cameras: [{ id: 'cam1', source: { type: 'folder', path: join(TINY, 'samples'), loop: true, fps: 20 } }],
      mqtt: { url: broker.url, site: 'd', line: 'l', station: `st${n}`, remoteConfig: { requireSignature: false, stateDir, probationMs: 3_000 } },
      ...extra,
    },
    'daemon test',
  );
  return { config, topic: `linewatch/d/l/st${n}`, stateDir };
}

async function send(obs: Observer, topic: string, body: object): Promise<Ack> {
  const before = obs.on(`${topic}/config/ack`).length;
  await obs.client.publishAsync(`${topic}/config/set`, JSON.stringify(body), { qos: 1 });
  await obs.until(() => obs.on(`${topic}/config/ack`).length > before, 'config ack', 20_000);
  return obs.json<Ack>(`${topic}/config/ack`)[before]!;
}

test('a poison-pill camera path (/dev/zero, ../../etc/passwd) is refused before the ack; the cameras run on', async () => {
  const { config, topic, stateDir } = setup();
  const obs = await observe(broker.url, [`${topic}/#`]);
  const daemon = await Daemon.start(config, { baseDir: root, logger: quietLogger, mqtt: true, out: devNull() });
  try {
    await daemon.mqtt!.link.whenOnline(5_000);
    for (const [i, path] of ['/dev/zero', '../../../../etc/passwd', join(root, 'nowhere')].entries()) {
      const ack = await send(obs, topic, { version: 2 + i, baseVersion: 1, requestId: `pill-${i}`, patch: { cameras: [{ id: 'cam1', source: { type: 'folder', path } }] } });
      assert.equal(ack.accepted, false, path);
      assert.equal(ack.requestId, `pill-${i}`);
      assert.ok(ack.reasons.some((r) => r.includes('cam1') && r.includes('folder source')), JSON.stringify(ack.reasons));
      assert.deepEqual(ack.sections.filter((s) => s.section !== 'version').map((s) => [s.section, s.outcome]), [['cameras', 'refused']]);
    }
    assert.equal(existsSync(acceptedConfigPath(stateDir)), false, 'nothing persisted');
    const before = daemon.station.counters().received;
    // Waited for, not slept on: 600 ms (12 frames at 20/s) is not a bound on a loaded machine.
    await obs.until(() => daemon.station.counters().received > before, 'the camera runs on: a frame received after the refusals', 20_000);
    assert.ok(daemon.station.counters().received > before, 'the camera runs on');
  } finally {
    await daemon.stop();
    await obs.close();
  }
});

test('a change that fails after it was applied is rolled back by itself, persisted, and said on …/config/ack and …/status', async () => {
  const { config, topic, stateDir } = setup();
  // A readable folder whose only "images" do not decode: it passes the check, then every frame is an error.
  const bad = join(root, 'bad-images');
  mkdirSync(bad, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(bad, `x${i}.png`), 'not a png');
  const obs = await observe(broker.url, [`${topic}/#`]);
  const daemon = await Daemon.start(config, { baseDir: root, logger: quietLogger, mqtt: true, out: devNull() });
  try {
    await daemon.mqtt!.link.whenOnline(5_000);
    const ack = await send(obs, topic, { version: 2, baseVersion: 1, requestId: 'r2', patch: { cameras: [{ id: 'cam1', source: { type: 'folder', path: bad, loop: true, fps: 50 } }] } });
    assert.equal(ack.accepted, true, JSON.stringify(ack.reasons));
    assert.deepEqual(ack.sections.map((s) => [s.section, s.outcome]), [['version', 'applied'], ['cameras', 'applied']]);
    await obs.until(() => obs.json<Ack>(`${topic}/config/ack`).some((a) => a.rolledBack), 'the rollback ack', 20_000);
    const rb = obs.json<Ack>(`${topic}/config/ack`).find((a) => a.rolledBack)!;
    assert.deepEqual({ requestId: rb.requestId, version: rb.version, accepted: rb.accepted, activeVersion: rb.activeVersion }, { requestId: 'r2', version: 2, accepted: false, activeVersion: 1 });
    assert.ok(rb.reasons.some((r) => /version 2 failed after it was applied: camera cam1: 5 error verdicts in a row/.test(r)), JSON.stringify(rb.reasons));
    const src = daemon.station.activeConfig().cameras[0]!.source;
    assert.equal(src.type === 'folder' ? src.path : src.type, join(TINY, 'samples'));
    await obs.until(() => obs.json<Status>(`${topic}/status`).some((s) => s.config.rolledBack?.version === 2), 'status names the rollback');
    assert.equal(readAcceptedConfig(stateDir), null, 'back on the file: the failed configuration is set aside');
    assert.ok(readdirSync(stateDir).some((f) => f.startsWith('accepted-config.set-aside-')));
    // The failed version stays burned.
    const replay = await send(obs, topic, { version: 2, baseVersion: 1, patch: { decide: { failSafe: 'pass' } } });
    assert.equal(replay.accepted, false);
    // Every ack, status and config state on the wire as a standard validator reads docs/mqtt.md.
    const schemas = docSchemas();
    for (const [sub, schema] of [['config/ack', 'linewatch.config-ack/1'], ['status', 'linewatch.status/1'], ['config/state', 'linewatch.config-state/1']] as const) {
      for (const m of obs.json(`${topic}/${sub}`)) conforms(m, schemas.get(schema)!);
    }
    const okVerdicts = daemon.station.counters().ok;
    // Waited for, not slept on: the restored camera's first good verdicts may take longer than 600 ms on a loaded machine.
    await obs.until(() => daemon.station.counters().ok > okVerdicts, 'an ok verdict after the rollback', 20_000);
    assert.ok(daemon.station.counters().ok > okVerdicts, 'judging good parts again');
  } finally {
    await daemon.stop();
    await obs.close();
  }
});

test('a persisted poison pill at start is set aside (kept, named in status); the station starts on the last good configuration', async () => {
  const { config, topic, stateDir } = setup();
  mkdirSync(stateDir, { recursive: true });
  const good = { ...config, version: '3', decide: { ...config.decide, failSafe: 'pass' as const } };
  const pill = { ...config, version: '4', cameras: [{ ...config.cameras[0]!, source: { type: 'folder' as const, path: '/dev/zero', loop: false, fps: 0, preload: false } }] };
  const rec = (c: Config, v: number) => ({ version: v, hash: configHash(c), appliedAtMs: 1, by: 'ops', config: c });
  writeFileSync(acceptedConfigPath(stateDir), JSON.stringify({ ...rec(pill, 4), state: 'good', starts: 0, previous: rec(good, 3), versionFloor: 4 }));
  const obs = await observe(broker.url, [`${topic}/#`]);
  const daemon = await Daemon.start(config, { baseDir: root, logger: quietLogger, mqtt: true, out: devNull() });
  try {
    assert.ok(daemon.setAside !== null);
    assert.equal(daemon.setAside.version, 4);
    assert.match(daemon.setAside.reason, /version 4 cannot start: camera cam1: folder source \/dev\/zero/);
    assert.ok(existsSync(daemon.setAside.file), 'kept on disk');
    assert.equal(daemon.station.activeConfig().decide.failSafe, 'pass', 'the last good one runs');
    assert.equal(daemon.controlPlane?.active.version, 3);
    await obs.until(() => obs.json<Status>(`${topic}/status`).some((s) => s.config.setAside?.version === 4), 'status names the set-aside file', 10_000);
    assert.equal(readAcceptedConfig(stateDir)?.version, 3, 'the last good one is what the next start runs');
    const replay = await send(obs, topic, { version: 4, baseVersion: 3, patch: { decide: { failSafe: 'reject' } } });
    assert.equal(replay.accepted, false, 'the set-aside version stays burned');
  } finally {
    await daemon.stop();
    await obs.close();
  }
});

test('NG images enabled remotely: the next rejected frames are written, heatmaps scaled by the model in force', async () => {
  const { config, topic } = setup();
  const dir = join(root, 'ng-remote');
  const obs = await observe(broker.url, [`${topic}/#`]);
  const daemon = await Daemon.start(config, { baseDir: root, logger: quietLogger, mqtt: true, out: devNull() });
  try {
    await daemon.mqtt!.link.whenOnline(5_000);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(existsSync(dir), false);
    writeFileSync(join(root, 'a-file'), 'not a folder');
    const refused = await send(obs, topic, { version: 2, baseVersion: 1, patch: { sinks: { ngImages: { enabled: true, dir: join(root, 'a-file', 'ng') } } } });
    assert.equal(refused.accepted, false, 'a folder that cannot be made is refused, not acked');
    assert.deepEqual(refused.sections.filter((s) => s.outcome === 'refused').map((s) => s.section), ['sinks.ngImages']);
    const ack = await send(obs, topic, { version: 3, baseVersion: 1, patch: { sinks: { ngImages: { enabled: true, dir, maxFrames: 50 } } } });
    assert.equal(ack.accepted, true, JSON.stringify(ack.reasons));
    assert.deepEqual(ack.sections.map((s) => [s.section, s.outcome]), [['version', 'applied'], ['sinks.ngImages', 'applied']]);
    await obs.until(() => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('-heatmap.jpg')), 'NG images written', 20_000);
    const restart = await send(obs, topic, { version: 4, baseVersion: 3, patch: { mqtt: { keepaliveS: 30 } } });
    assert.equal(restart.accepted, true);
    assert.deepEqual(restart.sections.map((s) => [s.section, s.outcome, s.paths.join()]), [['version', 'applied', 'version'], ['mqtt', 'restart-needed', 'mqtt.keepaliveS']]);
  } finally {
    await daemon.stop();
    await obs.close();
  }
});
