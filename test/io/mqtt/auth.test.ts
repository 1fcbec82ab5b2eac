import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { SubjectStation, quietLogger, subjectControlPlane, testConfig } from './helpers/subject-station.js';

const SECRET = 'pw-9f8e7d6c-never-published';
let dir: string;
let broker: Mosquitto;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lw-auth-'));
  const pwFile = join(dir, 'passwd');
  writeFileSync(pwFile, '');
  execFileSync('mosquitto_passwd', ['-b', pwFile, 'linewatch', SECRET]);
  execFileSync('mosquitto_passwd', ['-b', pwFile, 'plc', 'plc-pw']);
  chmodSync(dir, 0o755);
  chmodSync(pwFile, 0o644);
  broker = await startMosquitto({ listenerLines: [`password_file ${pwFile}`] });
});
after(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('username + password from the environment: online; the secret appears in nothing published', async () => {
  process.env['LW_TEST_MQTT_PASSWORD'] = SECRET;
  const config = testConfig(broker.url, { username: 'linewatch', password: { env: 'LW_TEST_MQTT_PASSWORD' } });
  // allow_anonymous is global in the helper: password_file makes mosquitto check the pairs it knows.
  const obs = await observe(broker.url, ['linewatch/#'], { username: 'plc', password: 'plc-pw' });
  const station = new SubjectStation(config);
  const mqtt = await startMqtt(config, station, quietLogger, { controlPlane: subjectControlPlane(config, station) });
  try {
    await mqtt.link.whenOnline(5_000);
    station.emit(1, 'reject');
    await obs.client.publishAsync('linewatch/s1/l1/st1/config/set', JSON.stringify({ version: 5, config: station.config }), { qos: 1 });
    await obs.until(() => obs.on('linewatch/s1/l1/st1/config/ack').length === 1 && obs.on('linewatch/s1/l1/st1/reject').length === 1, 'ack and reject');
    for (const m of obs.messages) assert.ok(!m.payload.toString().includes(SECRET), `${m.topic} leaks the password`);
    assert.ok(obs.messages.length >= 4);
  } finally {
    await mqtt.close();
    await obs.close();
    delete process.env['LW_TEST_MQTT_PASSWORD'];
  }
});

test('a wrong password is refused by the broker: never online', async () => {
  process.env['LW_TEST_MQTT_PASSWORD'] = 'wrong';
  const config = testConfig(broker.url, { username: 'linewatch', password: { env: 'LW_TEST_MQTT_PASSWORD' }, station: 'badpw' });
  const mqtt = await startMqtt(config, new SubjectStation(config), quietLogger);
  const errors: string[] = [];
  mqtt.link.on('error', (e) => errors.push(e.message));
  try {
    await assert.rejects(mqtt.link.whenOnline(1_500), /not reached/);
    assert.ok(errors.some((e) => /not authori[sz]ed|bad user name or password/i.test(e)), errors.join('\n'));
    for (const e of errors) assert.ok(!e.includes('wrong'), 'errors do not echo the password');
  } finally {
    await mqtt.close();
    delete process.env['LW_TEST_MQTT_PASSWORD'];
  }
});
