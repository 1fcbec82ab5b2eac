import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test file that needs a tool that is never installed, run in a child with and without CI=true. */
function runProbe(ci: boolean): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lw-tools-'));
  try {
    const helper = new URL('./tools.js', import.meta.url).href;
    const file = join(dir, 'probe.test.mjs');
    writeFileSync(
      file,
      [
        "import { test } from 'node:test';",
        `import { haveTool, missingCommand, requireTool, skipUnlessTool } from '${helper}';`,
        "const missing = missingCommand('lw-no-such-tool', 'nothing');",
        "test('whole test needs it', { skip: skipUnlessTool(missing) }, () => { requireTool(missing); });",
        "test('part of a test needs it', (t) => { if (!haveTool(t, missing)) return; });",
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, CI: ci ? 'true' : '' };
    // A child of a test file would otherwise think it is one of ours and run nothing.
    delete env['NODE_TEST_CONTEXT'];
    // tap: the default reporter differs between Node lines (spec from 23 on, also when piped).
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { env, encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a test that needs a missing tool skips on a developer machine and fails under CI=true', () => {
  const dev = runProbe(false);
  assert.equal(dev.status, 0, dev.out);
  assert.match(dev.out, /# skipped 2/);
  const ci = runProbe(true);
  assert.notEqual(ci.status, 0, 'under CI=true a missing tool fails the run');
  assert.match(ci.out, /# fail 2/);
  assert.match(ci.out, /CI=true and a test needs what is missing: lw-no-such-tool is not installed/);
});
