import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { observe, sleep } from './helpers/observer.js';
import { SubjectStation, quietLogger, testConfig } from './helpers/subject-station.js';

let dir: string;
let broker: Mosquitto;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, and a certificate for `name` signed by it (key + cert PEM files named after `name`). */
function issue(ca: string, name: string, cn: string, ext?: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  const extArgs: string[] = [];
  if (ext !== undefined) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    extArgs.push('-extfile', `${name}.ext`);
  }
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...extArgs);
}

function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lw-tls-'));
  makeCa('ca');
  makeCa('rogue-ca');
  issue('ca', 'server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  issue('ca', 'client', 'linewatch');
  issue('rogue-ca', 'rogue', 'linewatch');
  // mosquitto started as root drops to its own user, which must read these test-only files.
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
  broker = await startMosquitto({
    scheme: 'mqtts',
    listenerLines: [`cafile ${join(dir, 'ca.crt')}`, `certfile ${join(dir, 'server.crt')}`, `keyfile ${join(dir, 'server.key')}`, 'require_certificate true'],
  });
});
after(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tlsFiles = (client: string) => ({ caFile: join(dir, 'ca.crt'), certFile: join(dir, `${client}.crt`), keyFile: join(dir, `${client}.key`) });

test('TLS with a client certificate signed by the broker CA: online, rejects delivered', async () => {
  const config = testConfig(broker.url, { tls: tlsFiles('client') });
  const station = new SubjectStation(config);
  const obs = await observe(broker.url, ['linewatch/s1/l1/st1/reject'], {
    ca: [readFileSync(join(dir, 'ca.crt'))],
    cert: readFileSync(join(dir, 'client.crt')),
    key: readFileSync(join(dir, 'client.key')),
  });
  const mqtt = await startMqtt(config, station, quietLogger);
  try {
    await mqtt.link.whenOnline(5_000);
    station.emit(1, 'reject');
    await obs.until(() => obs.messages.length === 1, 'the reject over TLS');
  } finally {
    await mqtt.close();
    await obs.close();
  }
});

test('TLS with a certificate from another CA: refused, never online, keeps retrying', async () => {
  const config = testConfig(broker.url, { tls: tlsFiles('rogue'), station: 'rogue' });
  const station = new SubjectStation(config);
  const mqtt = await startMqtt(config, station, quietLogger);
  const errors: string[] = [];
  mqtt.link.on('error', (e) => errors.push(e.message));
  try {
    await assert.rejects(mqtt.link.whenOnline(1_500), /not reached/);
    station.emit(1, 'reject');
    await sleep(100);
    assert.notEqual(mqtt.link.state, 'online');
    assert.equal(mqtt.link.counters().connects, 0);
    assert.equal(mqtt.link.counters().outbox.depth, 1, 'the reject waits, it is not lost');
  } finally {
    await mqtt.close();
  }
});

test('TLS with a broker certificate the client does not trust: refused', async () => {
  const config = testConfig(broker.url, { tls: { ...tlsFiles('client'), caFile: join(dir, 'rogue-ca.crt') }, station: 'distrust' });
  const mqtt = await startMqtt(config, new SubjectStation(config), quietLogger);
  const errors: string[] = [];
  mqtt.link.on('error', (e) => errors.push(e.message));
  try {
    await assert.rejects(mqtt.link.whenOnline(1_500), /not reached/);
    assert.ok(errors.some((e) => /certificate/i.test(e)), errors.join('\n'));
  } finally {
    await mqtt.close();
  }
});
