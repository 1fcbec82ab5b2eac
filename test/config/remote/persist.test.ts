import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configHash } from '../../../src/config/remote/canonical.js';
import { appendHistory, formatHistory, historyPath, readHistory } from '../../../src/config/remote/history.js';
import { acceptedConfigPath, persistAcceptedConfig, readAcceptedConfig } from '../../../src/config/remote/persist.js';
import { LinewatchError } from '../../../src/errors.js';

test('persisted configuration reads back; no temporary file is left behind', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-persist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(readAcceptedConfig(dir), null);
  const config = { b: 1, a: { d: [1, 2], c: 'x' } };
  const lkg = { state: 'good' as const, starts: 0, previous: null, versionFloor: 3 };
  persistAcceptedConfig(dir, { version: 3, hash: configHash(config), appliedAtMs: 5, by: 'ops', config, ...lkg });
  persistAcceptedConfig(dir, { version: 4, hash: configHash(config), appliedAtMs: 6, by: 'ops', config, ...lkg, versionFloor: 4 });
  assert.deepEqual(readAcceptedConfig(dir), { version: 4, hash: configHash(config), appliedAtMs: 6, by: 'ops', config, ...lkg, versionFloor: 4 });
  assert.deepEqual(readdirSync(dir), ['accepted-config.json']);
});

test('a damaged state file is an LW_ERR_CONFIG_READ naming the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-persist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(acceptedConfigPath(dir), '{"version": 2, "hash"');
  assert.throws(() => readAcceptedConfig(dir), (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_CONFIG_READ' && e.message.includes('accepted-config.json'));
});

test('configHash ignores key order and sees every value', () => {
  assert.equal(configHash({ a: 1, b: { c: 2, d: 3 } }), configHash({ b: { d: 3, c: 2 }, a: 1 }));
  assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
});

test('history lists applied and refused updates in order, skipping a torn last line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-history-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  appendHistory(dir, { atMs: Date.UTC(2026, 0, 1), version: 2, by: 'alice', outcome: 'applied', hash: 'abcdef0123456789', reasons: [], requestId: 'r1' });
  appendHistory(dir, { atMs: Date.UTC(2026, 0, 2), version: 2, by: 'unknown', outcome: 'refused', hash: null, reasons: ['version 2 is not newer'], requestId: null });
  appendFileSync(historyPath(dir), '{"atMs": 3, "vers');
  const entries = readHistory(dir);
  assert.equal(entries.length, 2);
  const text = formatHistory(entries);
  assert.match(text, /2026-01-01T00:00:00.000Z\s+v2\s+applied\s+by alice\s+hash abcdef012345/);
  assert.match(text, /refused .*version 2 is not newer/);
});
