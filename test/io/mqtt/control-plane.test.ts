import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { readHistory } from '../../../src/config/remote/history.js';
import { acceptedConfigPath } from '../../../src/config/remote/persist.js';
import { startOnLastGood } from '../../../src/config/remote/last-good.js';
import { fileActive, startMqtt, type MqttHandle } from '../../../src/io/mqtt/start.js';
import type { Config } from '../../../src/config/schema.js';
import { conforms, docSchemas } from './helpers/doc-schemas.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { observe, type Observer } from './helpers/observer.js';
import { SubjectStation, quietLogger, subjectControlPlane, testConfig } from './helpers/subject-station.js';

let broker: Mosquitto;
let stateDir: string;
const ops = generateKeyPairSync('ed25519');
const intruder = generateKeyPairSync('ed25519');
const root = 'linewatch/s1/l1/st1';

before(async () => {
  broker = await startMosquitto();
  stateDir = mkdtempSync(join(tmpdir(), 'lw-cp-'));
});
after(async () => {
  await broker.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

function signed(body: object, key: KeyObject = ops.privateKey, keyId = 'ops', station: string | null = root): string {
  return signedText(JSON.stringify(station === null ? body : { station, ...body }), key, keyId);
}

function signedText(text: string, key: KeyObject = ops.privateKey, keyId = 'ops'): string {
  return JSON.stringify({ body: text, signature: sign(null, Buffer.from(text), key).toString('base64'), keyId });
}

function config(): Config {
  return testConfig(broker.url, {
    remoteConfig: { requireSignature: true, publicKeys: { ops: ops.publicKey.export({ type: 'spki', format: 'pem' }).toString() }, stateDir },
  }, stateDir);
}

interface Ack { accepted: boolean; reasons: string[]; version: number | null; requestId: string | null; activeVersion: number }
interface State { version: number; hash: string; by: string }

async function send(obs: Observer, payload: string): Promise<Ack> {
  const before = obs.on(`${root}/config/ack`).length;
  await obs.client.publishAsync(`${root}/config/set`, payload, { qos: 1 });
  await obs.until(() => obs.on(`${root}/config/ack`).length > before, 'config ack');
  return obs.json<Ack>(`${root}/config/ack`)[before] as Ack;
}

test('remote configuration: applied between frames, refused whole with reasons, persisted and restored after a restart', async (t) => {
  const station = new SubjectStation(config());
  const obs = await observe(broker.url, [`${root}/#`]);
  t.after(() => obs.close());
  let mqtt: MqttHandle = await startMqtt(config(), station, quietLogger, { controlPlane: subjectControlPlane(config(), station) });
  try {
    await mqtt.link.whenOnline(5_000);
    await obs.until(() => obs.on(`${root}/config/state`).length > 0, 'initial config state');
    assert.equal(obs.json<State>(`${root}/config/state`)[0]?.version, 1, "the file's version '1'");

    for (let seq = 1; seq <= 3; seq++) station.emit(seq, 'ok');
    const update = signed({ version: 2, baseVersion: 1, patch: { decide: { image: { value: 0.7 } } }, by: 'alice', requestId: 'r-2' });
    const ack = await send(obs, update);
    assert.deepEqual({ accepted: ack.accepted, reasons: ack.reasons, requestId: ack.requestId, activeVersion: ack.activeVersion }, { accepted: true, reasons: [], requestId: 'r-2', activeVersion: 2 });
    for (let seq = 4; seq <= 6; seq++) station.emit(seq, 'ok');
    await obs.until(() => obs.on(`${root}/result`).length >= 6, 'results');
    const versions = obs.json<{ seq: number; configVersion: string }>(`${root}/result`).map((r) => `${r.seq}:${r.configVersion}`);
    assert.deepEqual(versions, ['1:1', '2:1', '3:1', '4:2', '5:2', '6:2'], 'the new configuration judges from the first frame after the ack');
    assert.equal(station.config.decide.image.value, 0.7);
    await obs.until(() => obs.json<State>(`${root}/config/state`).some((s) => s.version === 2), 'config state v2');
    const persisted = readFileSync(acceptedConfigPath(stateDir), 'utf8');

    const refusals: [string, string, RegExp][] = [
      ['invalid JSON', '{"body": ', /invalid JSON/],
      ['unsigned', JSON.stringify({ version: 3, config: station.config }), /unsigned update/],
      ['wrong key', signed({ version: 3, baseVersion: 2, patch: { decide: { failSafe: 'pass' } } }, intruder.privateKey), /signature does not verify/],
      ['schema violation', signed({ version: 3, baseVersion: 2, patch: { decide: { image: { value: 'high' } } } }), /decide\.image\.value/],
      ['unknown key', signed({ version: 3, baseVersion: 2, patch: { treshold: 1 } }), /treshold/],
      ['typo in a nested key', signed({ version: 3, baseVersion: 2, patch: { mqtt: { reject: { deadlinMs: 500 } } } }), /mqtt\.reject\.deadlinMs: unknown key \(did you mean "deadlineMs"\?\)/],
      ['negative threshold', signed({ version: 3, baseVersion: 2, patch: { decide: { image: { value: -1 } } } }), /decide\.image\.value: a threshold must be > 0/],
      ['__proto__ key', signed({ version: 3, baseVersion: 2, patch: JSON.parse('{"decide":{"__proto__":{"failSafe":"pass"}}}') as object }), /forbidden key at patch\.decide\.__proto__/],
      ['constructor key', signed({ version: 3, baseVersion: 2, patch: { constructor: { prototype: 1 } } }), /forbidden key/],
      ['nested 20 000 deep', signedText(`{"station":"${root}","version":3,"baseVersion":2,"patch":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`), /body nests deeper than 32 levels/],
      ['signed for no station', signed({ version: 3, baseVersion: 2, patch: { decide: { failSafe: 'pass' } } }, ops.privateKey, 'ops', null), /must name its station/],
      ['signed for another station', signed({ version: 3, baseVersion: 2, patch: { decide: { failSafe: 'pass' } } }, ops.privateKey, 'ops', 'linewatch/s1/l1/st2'), /update is for station linewatch\/s1\/l1\/st2, this is linewatch\/s1\/l1\/st1/],
      ['replay', update, /version 2 is not newer than the active version 2/],
      ['older', signed({ version: 1, config: station.config }), /not newer/],
      ['stale base', signed({ version: 3, baseVersion: 1, patch: { decide: { failSafe: 'pass' } } }), /against version 1 but the active version is 2/],
    ];
    station.refuseWhen = (next) => (next.model.bundle === 'models/missing' ? 'model bundle models/missing: model.json is missing' : null);
    refusals.push(['model fails to load', signed({ version: 3, baseVersion: 2, patch: { model: { bundle: 'models/missing' } } }), /model\.json is missing/]);
    const appliedBefore = station.applied.length;
    for (const [what, payload, reason] of refusals) {
      const a = await send(obs, payload);
      assert.equal(a.accepted, false, what);
      assert.ok(a.reasons.some((r) => reason.test(r)), `${what}: ${JSON.stringify(a.reasons)}`);
      assert.equal(a.activeVersion, 2, `${what}: active version unchanged`);
      if (what !== 'invalid JSON' && what !== 'nested 20 000 deep') assert.equal(a.version, 3 - (what === 'replay' ? 1 : what === 'older' ? 2 : 0), `${what}: the ack echoes the version asked for`);
    }
    assert.equal(station.applied.length, appliedBefore, 'nothing refused reached the station');
    assert.equal(station.config.decide.image.value, 0.7);
    assert.equal(readFileSync(acceptedConfigPath(stateDir), 'utf8'), persisted, 'persisted configuration untouched');
    const history = readHistory(stateDir);
    assert.deepEqual(history.map((h) => h.outcome), ['applied', ...refusals.map(() => 'refused')]);
    assert.equal(history[0]?.by, 'alice');
    const schemas = docSchemas();
    for (const a of obs.json<Record<string, unknown>>(`${root}/config/ack`)) conforms(a, schemas.get('linewatch.config-ack/1')!);
    for (const st of obs.json<Record<string, unknown>>(`${root}/config/state`)) conforms(st, schemas.get('linewatch.config-state/1')!);
  } finally {
    await mqtt.close();
  }

  // Restart: the file still says version 1, but the update accepted before is what runs.
  const choice = await startOnLastGood({
    fileConfig: fileActive(config()),
    stateDir,
    schema: configSchema,
    start: async (c: Config) => {
      const s = new SubjectStation(config());
      s.config = c;
      return s;
    },
    nowMs: Date.now,
    warn: () => {},
  });
  const restarted = choice.started;
  mqtt = await startMqtt(config(), restarted, quietLogger, { controlPlane: subjectControlPlane(config(), restarted, choice) });
  try {
    assert.equal(restarted.config.decide.image.value, 0.7);
    assert.equal(restarted.config.version, '2');
    assert.equal(mqtt.controlPlane?.active.version, 2);
    await mqtt.link.whenOnline(5_000);
    const again = await send(obs, signed({ version: 2, baseVersion: 1, patch: { decide: { image: { value: 0.9 } } } }));
    assert.equal(again.accepted, false, 'a replay is refused after a restart too');
  } finally {
    await mqtt.close();
  }
});
