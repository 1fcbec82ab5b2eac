/**
 * The runbook in deploy/jetson/README.md runs the kit's scripts in an order a freshly flashed board
 * can follow: every prerequisite a script checks (lw_require) is ensured (lw_ensure) by a script of
 * an earlier step, or is what the flash itself gives (l4t). Read from the README and the scripts
 * themselves, so a reordered runbook or a new check without its installer fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const jetson = join(root, 'deploy/jetson');
/** What a flashed board has before any script ran: its L4T, and its disks (each script checks the free space it needs). */
const FLASHED = new Set(['l4t', 'disk']);

/** Prerequisite names in `lw_require`/`lw_ensure` calls ("disk:$src:30" → "disk"). */
function calls(script: string, fn: 'lw_require' | 'lw_ensure'): Set<string> {
  const names = new Set<string>();
  for (const line of script.split('\n')) {
    const m = new RegExp(`^\\s*${fn} (.+)$`).exec(line);
    if (!m?.[1]) continue;
    for (const word of m[1].split(/\s+/)) names.add(word.replace(/^"/, '').split(':')[0] ?? '');
  }
  return names;
}

interface ScriptFacts { requires: Set<string>; ensures: Set<string> }

function facts(name: string): ScriptFacts {
  const text = readFileSync(join(jetson, name), 'utf8');
  const ensures = calls(text, 'lw_ensure');
  // lw_ensure checks again after installing: what a script ensures it does not need beforehand.
  const requires = new Set([...calls(text, 'lw_require')].filter((r) => !ensures.has(r)));
  return { requires, ensures };
}

/** The scripts the README's numbered runbook steps run, in order. */
function runbookScripts(readme: string): string[] {
  const start = readme.indexOf('## Runbook');
  assert.ok(start >= 0, 'README.md has a "## Runbook" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const scripts: string[] = [];
  for (const chunk of section.split(/\n(?=\d+\. )/)) {
    if (!/^\d+\. /.test(chunk)) continue;
    const step = chunk.split('\n\n')[0] ?? ''; // a list item ends at the first blank line
    const m = /`sudo deploy\/jetson\/([a-z-]+\.sh)/.exec(step);
    if (m?.[1]) scripts.push(m[1]);
  }
  return scripts;
}

/** The first prerequisite that is not there when its step runs, or null when the order works. */
function firstGap(order: readonly string[]): string | null {
  const have = new Set(FLASHED);
  for (const name of order) {
    const f = facts(name);
    for (const r of f.requires) if (!have.has(r)) return `${name} needs ${r}`;
    for (const e of f.ensures) have.add(e);
  }
  return null;
}

const readme = readFileSync(join(jetson, 'README.md'), 'utf8');

test('the runbook runs prepare-board, build-onnxruntime, install, then the GigE tuning', () => {
  assert.deepEqual(runbookScripts(readme), ['prepare-board.sh', 'build-onnxruntime.sh', 'install.sh', 'gige-network.sh']);
  // Every script a person runs is in the runbook (check-onnxruntime.sh is run by the unit and install.sh).
  const run = readdirSync(jetson).filter((f) => f.endsWith('.sh') && f !== 'check-onnxruntime.sh').sort();
  assert.deepEqual(run, [...runbookScripts(readme)].sort());
});

test('each step finds what it checks for: ensured by an earlier step or given by the flash', () => {
  const order = runbookScripts(readme);
  assert.equal(firstGap(order), null);
  // What the scripts say they need, so the order above is checked against something real.
  assert.deepEqual([...facts('build-onnxruntime.sh').requires].sort(), ['build-memory', 'cmake', 'cuda', 'cudnn', 'disk', 'l4t', 'node', 'tensorrt-dev']);
  assert.deepEqual([...facts('install.sh').requires].sort(), ['disk', 'gstreamer', 'l4t', 'node', 'onnxruntime-build', 'tensorrt']);
  assert.ok(facts('prepare-board.sh').ensures.has('cmake'), 'prepare-board.sh ensures a new enough cmake');
  assert.ok(facts('build-onnxruntime.sh').ensures.has('onnxruntime-build'));
});

test('the old order (building before anything is installed, install after) is caught', () => {
  assert.equal(firstGap(['build-onnxruntime.sh', 'prepare-board.sh', 'install.sh']), 'build-onnxruntime.sh needs cuda');
  assert.equal(firstGap(['prepare-board.sh', 'install.sh', 'build-onnxruntime.sh']), 'install.sh needs onnxruntime-build');
});

test('every prerequisite named is one lib/board.sh checks, and every ensured one has its installer', () => {
  const lib = readFileSync(join(jetson, 'lib/board.sh'), 'utf8');
  const body = lib.slice(lib.indexOf('lw_need() {'), lib.indexOf('\n}\n', lib.indexOf('lw_need() {')));
  const known = new Set([...body.matchAll(/^ {4}([a-z][a-z0-9-]*)\)$/gm)].map((m) => m[1] ?? ''));
  assert.ok(known.has('cmake') && known.has('build-memory'), `lw_need's cases: ${[...known].join(' ')}`);
  for (const name of readdirSync(jetson).filter((f) => f.endsWith('.sh'))) {
    const text = readFileSync(join(jetson, name), 'utf8');
    const f = facts(name);
    for (const p of [...f.requires, ...f.ensures]) assert.ok(known.has(p), `${name}: lw_need has no check for "${p}"`);
    for (const e of f.ensures) {
      assert.match(text, new RegExp(`^\\s*lw_install_${e.replaceAll('-', '_')}\\(\\) \\{`, 'm'), `${name} ensures ${e} without lw_install_${e.replaceAll('-', '_')}`);
    }
  }
});
