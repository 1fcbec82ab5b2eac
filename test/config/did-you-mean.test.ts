import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, nearestName } from '../../src/config/did-you-mean.js';
import { forbiddenKeyPaths, jsonNesting } from '../../src/config/remote/guard.js';
import { applyMergePatch } from '../../src/config/remote/merge-patch.js';

test('edit distance against reference values (Levenshtein)', () => {
  const cases: [string, string, number][] = [
    ['', '', 0],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
    ['flaw', 'lawn', 2],
    ['deadlinMs', 'deadlineMs', 1],
    ['intention', 'execution', 5],
  ];
  for (const [a, b, d] of cases) {
    assert.equal(editDistance(a, b), d, `${a} → ${b}`);
    assert.equal(editDistance(b, a), d, `${b} → ${a}`);
  }
});

test('did you mean: the nearest known key within a third of the letters, case ignored; none when nothing is close', () => {
  assert.equal(nearestName('deadlinMs', ['qos', 'deadlineMs']), 'deadlineMs');
  assert.equal(nearestName('failsafe', ['failSafe', 'rejectOn']), 'failSafe');
  assert.equal(nearestName('colour', ['enabled', 'json']), null);
  assert.equal(nearestName('x', ['y', 'xx']), 'y');
});

test('nesting is measured without parsing, brackets in strings ignored, stopping past the limit', () => {
  assert.equal(jsonNesting('{"a":[1,{"b":"]}{["}]}', 32), 3);
  assert.equal(jsonNesting('"\\\\"', 32), 0);
  assert.equal(jsonNesting('{"a":"\\"{"}', 32), 1);
  assert.equal(jsonNesting('['.repeat(100_000), 32), 33);
});

test('forbidden keys are found at any depth, in arrays too, by path', () => {
  const v = JSON.parse('{"a":{"__proto__":{"x":1}},"b":[{"constructor":1}],"c":{"prototype":{}}}') as unknown;
  assert.deepEqual(forbiddenKeyPaths(v).sort(), ['a.__proto__', 'b[0].constructor', 'c.prototype']);
  assert.deepEqual(forbiddenKeyPaths({ decide: { image: { value: 1 } } }), []);
});

test('merge patch: 20 000 levels deep neither overflows the stack nor touches prototypes', () => {
  let patch: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 20_000; i++) patch = { a: patch };
  const merged = applyMergePatch({ keep: true }, patch) as Record<string, unknown>;
  assert.equal(merged['keep'], true);
  let depth = 0;
  let cur: unknown = merged['a'];
  while (typeof cur === 'object' && cur !== null && 'a' in cur) {
    cur = (cur as Record<string, unknown>)['a'];
    depth++;
  }
  assert.equal(depth, 19_999);
  const polluted = applyMergePatch({}, JSON.parse('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  assert.equal(Object.getPrototypeOf(polluted), Object.prototype);
});
