import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/errors.js';

test('docs/errors.md and src/errors.ts list the same codes', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/`(LW_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]));
  const registered = new Set(Object.keys(ERROR_CODES));
  assert.deepEqual([...registered].filter((c) => !documented.has(c)), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !registered.has(c as string)), [], 'documented codes not in src/errors.ts');
});
