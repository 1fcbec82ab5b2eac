import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RELOAD_RULES, classOfPath, reloadTableRows } from '../../src/config/reload.js';

test('docs/configuration.md says what src/config/reload.ts does: the same rows, in order', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').filter((l) => /^\| `[a-zA-Z.]+` \| (hot|warm|cold|restart) \|/.test(l));
  assert.deepEqual(rows, reloadTableRows());
});

test('every rule classes its own fields (longest prefix wins), and an unknown field is cold', () => {
  for (const r of RELOAD_RULES) assert.equal(classOfPath(`${r.prefix}.x`), r.class, r.prefix);
  assert.equal(classOfPath('mqtt.url'), 'restart');
  assert.equal(classOfPath('mqtt.reject.deadlineMs'), 'hot');
  assert.equal(classOfPath('sinks.ngImages.enabled'), 'hot');
  assert.equal(classOfPath('something.new'), 'cold');
});
