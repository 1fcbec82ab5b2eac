import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCredentials } from '../../../src/io/mqtt/credentials.js';
import { mqttConfigSchema, resolveMqttPaths } from '../../../src/io/mqtt/schema.js';
import { LinewatchError } from '../../../src/errors.js';

test('password from a file (newline stripped) or the environment; never inline in the configuration', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-cred-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'pw'), 's3cret\n');
  const fromFile = loadCredentials(mqttConfigSchema.parse({ username: 'lw', password: { file: join(dir, 'pw') } }));
  assert.equal(fromFile.password?.toString(), 's3cret');
  assert.equal(fromFile.username, 'lw');
  const fromEnv = loadCredentials(mqttConfigSchema.parse({ password: { env: 'LW_TEST_PW' } }), { LW_TEST_PW: 'x y' });
  assert.equal(fromEnv.password?.toString(), 'x y');
  assert.equal(mqttConfigSchema.safeParse({ password: 's3cret' }).success, false, 'an inline secret is refused');
  assert.equal(mqttConfigSchema.safeParse({ password: { file: 'a', env: 'B' } }).success, false);
});

test('a missing secret names the variable or file, never a value', () => {
  assert.throws(
    () => loadCredentials(mqttConfigSchema.parse({ password: { env: 'LW_TEST_UNSET' } }), {}),
    (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_MQTT_CREDENTIALS' && e.message.includes('LW_TEST_UNSET'),
  );
  assert.throws(
    () => loadCredentials(mqttConfigSchema.parse({ tls: { caFile: '/nonexistent/ca.pem' } })),
    (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_MQTT_CREDENTIALS' && e.message.includes('/nonexistent/ca.pem'),
  );
});

test('resolveMqttPaths makes every mqtt file path absolute against the configuration folder, nothing else', () => {
  const m = mqttConfigSchema.parse({ url: 'mqtts://b:8883', password: { file: 'pw' }, tls: { caFile: 'ca.pem', certFile: '/etc/c.pem', keyFile: 'k.pem' }, remoteConfig: { stateDir: 'state' } });
  const r = resolveMqttPaths(m, (p) => (p.startsWith('/') ? p : `/cfg/${p}`));
  assert.deepEqual(r.password, { file: '/cfg/pw' });
  assert.deepEqual(r.tls, { caFile: '/cfg/ca.pem', certFile: '/etc/c.pem', keyFile: '/cfg/k.pem', rejectUnauthorized: true });
  assert.equal(r.remoteConfig.stateDir, '/cfg/state');
  assert.equal(r.url, 'mqtts://b:8883');
  const env = mqttConfigSchema.parse({ password: { env: 'X' } });
  assert.deepEqual(resolveMqttPaths(env, (p) => `/cfg/${p}`).password, { env: 'X' });
});
