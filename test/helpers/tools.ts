import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/**
 * Tests that need a tool outside Node (aravis, Chromium, systemd-analyze, mosquitto, a GStreamer
 * element). On a developer's machine without it they skip, saying what to install; under CI=true
 * they FAIL instead, because a CI run that skipped them would pass without having tested anything.
 * Every such test goes through here — never an early `return` or a bare `skip`.
 */

const inCi = process.env['CI'] === 'true';

/** Why a test cannot run here (`what` is missing), or null when it can. */
export type Missing = string | null;

/** The GStreamer element `name` is missing (and which Debian package has it), or null. */
export function missingGstElement(name: string, debianPackage: string): Missing {
  return spawnSync('gst-inspect-1.0', [name]).status === 0 ? null : `GStreamer element ${name} is not installed (Debian: ${debianPackage})`;
}

/** The command `name` is not on PATH (and which Debian package has it), or null. */
export function missingCommand(name: string, debianPackage: string): Missing {
  return spawnSync('sh', ['-c', `command -v '${name}'`]).status === 0 ? null : `${name} is not installed (Debian: ${debianPackage})`;
}

/** The first of several checks that fails, or null. */
export function firstMissing(...checks: Array<() => Missing>): Missing {
  for (const c of checks) {
    const m = c();
    if (m !== null) return m;
  }
  return null;
}

/**
 * The `skip` option of a test that needs a tool: the reason when it is missing here, false when it
 * is present or under CI=true (the test then runs and {@link requireTool} fails it first).
 *
 * @example
 * const chromium = existsSync(CHROMIUM) ? null : 'chromium is not installed (Debian: chromium)';
 * test('renders in Chromium', { skip: skipUnlessTool(chromium) }, () => { requireTool(chromium); … });
 */
export function skipUnlessTool(missing: Missing): string | false {
  return missing !== null && !inCi ? missing : false;
}

/** First line of a test that needs a tool: throws under CI=true when it is missing. */
export function requireTool(missing: Missing): void {
  if (missing !== null) throw new Error(`CI=true and a test needs what is missing: ${missing}`);
}

/**
 * Inside a test, for a part that needs a tool: true when it is there; false after marking the test
 * skipped (locally) — the caller returns; throws under CI=true.
 *
 * @example
 * if (!haveTool(t, missingCommand('systemd-analyze', 'systemd'))) return;
 */
export function haveTool(t: TestContext, missing: Missing): boolean {
  if (missing === null) return true;
  if (inCi) requireTool(missing);
  t.skip(missing);
  return false;
}
