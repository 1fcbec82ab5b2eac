/**
 * How the project installs: npm reads no unknown project config (npm 11 warns on every call about
 * keys it will stop honouring), every dependency's install script is decided in package.json's
 * allowScripts (npm 12 blocks undecided ones; gstreamer-superficial must build), onnxruntime-node's
 * download of CUDA binaries is denied and did not happen in this install, and the Node running the
 * tests is one of the LTS lines package.json declares (CI runs the suite on two of them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  allowScripts: Record<string, boolean>;
};

test('npm reads no unknown project config: no warning on every npm call', () => {
  const r = spawnSync('npm', ['config', 'get', 'fund'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `npm could not run: ${String(r.error)}`);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown project config/);
  assert.ok(!existsSync(join(root, '.npmrc')) || !/onnxruntime-node-install/.test(readFileSync(join(root, '.npmrc'), 'utf8')));
});

test('every install script in the lockfile is decided in allowScripts; onnxruntime-node\'s download is denied', () => {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.hasInstallScript === true)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
    .sort();
  assert.deepEqual(Object.keys(pkg.allowScripts).sort(), withScripts, 'allowScripts decides exactly the packages that have install scripts');
  assert.equal(pkg.allowScripts['onnxruntime-node'], false, 'its postinstall fetches CUDA providers from NuGet (or fails where that host is unreachable)');
  assert.equal(pkg.allowScripts['gstreamer-superficial'], true, 'its install script compiles the addon');
  // scripts/ensure-deps.sh says the same to npm versions that do not read allowScripts (npm 10).
  assert.match(readFileSync(join(root, 'scripts/ensure-deps.sh'), 'utf8'), /^\s*ONNXRUNTIME_NODE_INSTALL=skip npm ci /m);
});

test('this install downloaded no CUDA provider: onnxruntime-node holds only its CPU build', () => {
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const bin = join(root, 'node_modules/onnxruntime-node/bin/napi-v6/linux', arch);
  assert.ok(existsSync(join(bin, 'onnxruntime_binding.node')), `${bin}: the CPU binding ships in the package`);
  for (const lib of ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so', 'libonnxruntime_providers_shared.so']) {
    assert.ok(!existsSync(join(bin, lib)), `${lib} was downloaded by onnxruntime-node's install script`);
  }
});

test('the Node running these tests is one of the LTS lines package.json declares', () => {
  const lines = pkg.engines.node.split('||').map((r) => /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(r)?.slice(1).map(Number));
  assert.ok(lines.every((l) => l !== undefined), `engines.node "${pkg.engines.node}" is a list of ^X.Y.Z ranges`);
  assert.deepEqual(lines.map((l) => l?.[0]), [20, 22, 24]);
  const [major, minor] = process.versions.node.split('.').map(Number);
  const line = lines.find((l) => l?.[0] === major);
  assert.ok(line, `Node ${process.version} is not a declared line (${pkg.engines.node})`);
  assert.ok((minor ?? 0) >= (line[1] ?? 0), `Node ${process.version} is older than ${line.join('.')}`);
});
