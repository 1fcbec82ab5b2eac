/**
 * deploy/jetson/lib/board.sh, the one place the kit reads versions and sizes from a board, run in
 * real bash on what JetPack 6.0–6.2.2 boards really report (fixtures/jetpack6-versions.json); and
 * the engine-cache key's TensorRT version read the same way in TypeScript.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineCacheKey, normalizeTensorrtVersion, parseTensorrtOptions, tensorrtVersionFromEnv } from '../../src/models/tensorrt-options.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const lib = join(root, 'deploy/jetson/lib/board.sh');

interface Release {
  jetpack: string;
  tegraRelease: string;
  nvidiaJetpack: string;
  libnvinfer: string;
  cudnn: string;
  nvcc: string;
  expected: { l4t: string; jetpack: string; tensorrt: string; cuda: string; supported: boolean };
}
const releases = (JSON.parse(readFileSync(join(root, 'test/deploy/fixtures/jetpack6-versions.json'), 'utf8')) as { releases: Release[] }).releases;

/** Runs `fn args…` with board.sh sourced; the arguments travel as positional parameters, unquoted by nobody. */
function call(fn: string, ...args: string[]): { out: string; status: number | null; err: string } {
  const r = spawnSync('bash', ['-c', `set -u; . "$0"; ${fn} "$@"`, lib, ...args], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.error, undefined, `bash could not run: ${String(r.error)}`);
  return { out: r.stdout.trim(), status: r.status, err: r.stderr };
}

test('JetPack 6.0–6.2.2: L4T, JetPack, TensorRT and CUDA read from what each release reports', () => {
  assert.deepEqual(releases.map((r) => r.jetpack), ['6.0', '6.1', '6.2', '6.2.1', '6.2.2']);
  for (const r of releases) {
    const l4t = call('lw_l4t_of_release', r.tegraRelease).out;
    assert.equal(l4t, r.expected.l4t, `${r.jetpack}: L4T`);
    assert.equal(call('lw_jetpack_of', r.nvidiaJetpack, l4t).out, r.expected.jetpack, `${r.jetpack}: from nvidia-jetpack`);
    assert.equal(call('lw_jetpack_of', '', l4t).out, r.expected.jetpack, `${r.jetpack}: from L4T alone (minimal image)`);
    assert.equal(call('lw_trt_version', r.libnvinfer).out, r.expected.tensorrt, `${r.jetpack}: TensorRT`);
    assert.equal(call('lw_cuda_of_nvcc', `nvcc: NVIDIA (R) Cuda compiler driver\n${r.nvcc}\nBuild cuda_x`).out, r.expected.cuda);
    // Supported = TensorRT 10, which comes with L4T 36.4: the l4t check's threshold.
    const supported = call('lw_version_ge', l4t, '36.4').status === 0;
    assert.equal(supported, r.expected.supported, `${r.jetpack}: supported`);
    assert.equal(r.libnvinfer.startsWith('10.'), r.expected.supported);
  }
});

test('the TensorRT version is read the same way on the host, in the container and in the engine-cache key', () => {
  const dockerfile = readFileSync(join(root, 'deploy/jetson/Dockerfile'), 'utf8');
  const containerTrt = /^ARG TENSORRT_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
  const opts = parseTensorrtOptions({});
  const sha = 'a'.repeat(64);
  for (const r of releases) {
    const host = call('lw_trt_version', r.libnvinfer).out; // what install.sh writes to /etc/default/linewatch
    assert.equal(normalizeTensorrtVersion(r.libnvinfer), host, `${r.jetpack}: TypeScript reads the package version as lib/board.sh does`);
    assert.equal(tensorrtVersionFromEnv({ LINEWATCH_TENSORRT_VERSION: host }), host);
    // A raw package version in the environment keys the same engine as the normalised one.
    assert.equal(
      engineCacheKey(opts, { modelSha256: sha, tensorrtVersion: tensorrtVersionFromEnv({ LINEWATCH_TENSORRT_VERSION: r.libnvinfer }) }),
      engineCacheKey(opts, { modelSha256: sha, tensorrtVersion: host }),
    );
    if (r.expected.supported) assert.equal(containerTrt, host, `${r.jetpack}: the image's TENSORRT_VERSION is what the host key uses`);
  }
  // Three numbers (what python's tensorrt.__version__ says) would key differently: refused, named.
  assert.throws(() => tensorrtVersionFromEnv({ LINEWATCH_TENSORRT_VERSION: '10.3.0' }), /LINEWATCH_TENSORRT_VERSION "10\.3\.0" is not libnvinfer's version/);
  assert.equal(call('lw_trt_version', '10.3.0').status, 1);
  assert.equal(call('lw_trt_version', 'garbage').status, 1);
  assert.equal(tensorrtVersionFromEnv({}), 'unknown');
});

test('Debian versions, CMake, Node: the parsers the checks compare with', () => {
  assert.equal(call('lw_deb_upstream', '36.4.3-20250107174145').out, '36.4.3');
  assert.equal(call('lw_deb_upstream', '1:2.3.4-1ubuntu2').out, '2.3.4');
  assert.equal(call('lw_deb_upstream', '6.2.2+b24').out, '6.2.2+b24');
  assert.equal(call('lw_cmake_of', 'cmake version 3.22.1\n\nCMake suite maintained and supported by Kitware (kitware.com/cmake).').out, '3.22.1');
  assert.equal(call('lw_node_major', 'v24.11.1').out, '24');
  assert.equal(call('lw_node_major', 'nonsense').status, 1);
  // Ubuntu 22.04's CMake is too old for onnxruntime; the one prepare-board.sh installs is not.
  const min = spawnSync('bash', ['-c', '. "$0"; echo "$LW_CMAKE_MIN $LW_CMAKE_PIP"', lib], { encoding: 'utf8' }).stdout.trim().split(' ');
  assert.equal(min.length, 2);
  assert.equal(call('lw_version_ge', '3.22.1', min[0] ?? '').status, 1);
  assert.equal(call('lw_version_ge', min[1] ?? '', min[0] ?? '').status, 0);
  assert.equal(call('lw_version_ge', '3.28', '3.28.0').status, 0);
  assert.equal(call('lw_version_ge', '3.100', '3.28').status, 0, 'numeric, not lexical');
});

test('build parallelism follows the board: 4 GiB a job after 2 GiB for the system, 1 to one per CPU', () => {
  const gib = 1024 * 1024;
  // MemTotal as Orin modules report it (part of the DRAM is carved out for firmware and the GPU).
  const boards: [string, number, number, number][] = [
    ['Orin Nano 8 GB', 7_620_000, 6, 1],
    ['Orin NX 16 GB', 15_980_000, 8, 3],
    ['AGX Orin 32 GB', 31_700_000, 8, 7],
    ['AGX Orin 64 GB', 64_300_000, 12, 12],
  ];
  for (const [name, memKib, cpus, jobs] of boards) {
    assert.equal(call('lw_build_jobs', String(memKib), String(cpus)).out, String(jobs), name);
  }
  assert.equal(call('lw_build_jobs', String(2 * gib), '4').out, '1', 'never below one job');
  const meminfo = 'MemTotal:        7620000 kB\nMemFree:          300000 kB\nSwapTotal:       3810000 kB\n';
  assert.equal(call('lw_meminfo_kib', 'MemTotal', meminfo).out, '7620000');
  assert.equal(call('lw_meminfo_kib', 'SwapTotal', meminfo).out, '3810000');
});

test('only disk-backed swap counts for the build: JetPack\'s zram is RAM', () => {
  const zramOnly =
    'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' +
    '/dev/zram0                              partition\t635040\t\t0\t\t5\n/dev/zram1                              partition\t635040\t\t0\t\t5\n';
  assert.equal(call('lw_disk_swap_kib', zramOnly).out, '0');
  const withFile = `${zramOnly}/swapfile-linewatch                     file\t\t16777212\t0\t\t-2\n`;
  assert.equal(call('lw_disk_swap_kib', withFile).out, '16777212');
});

test('a missing prerequisite is named with what to do, and every one is listed before the script stops', () => {
  // Off a Jetson: no /etc/nv_tegra_release, no nvcc, no libnvinfer10 here.
  const r = spawnSync(
    'bash',
    ['-c', '. "$0"; LW_SCRIPT=t; LW_TEGRA_RELEASE=/nonexistent CUDA_HOME=/nonexistent lw_require l4t cuda tensorrt "disk:/:1"; echo unreachable', lib],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(r.status, 1);
  assert.doesNotMatch(r.stdout, /unreachable/);
  assert.match(r.stderr, /MISSING\s+l4t\s+no \/etc\/nv_tegra_release: .* -> flash JetPack 6\.1 or newer/);
  assert.match(r.stderr, /MISSING\s+cuda\s+no \/nonexistent\/bin\/nvcc -> sudo deploy\/jetson\/prepare-board\.sh/);
  assert.match(r.stderr, /MISSING\s+tensorrt\s+libnvinfer10 not installed .* -> JetPack 6\.1\+/);
  assert.match(r.stderr, /ok\s+disk\s+\d+ GiB free at \//);
  assert.match(r.stderr, /t: missing: l4t cuda tensorrt/);
  // JetPack 6.0's L4T is refused for what it lacks, not for being unknown.
  const old = spawnSync('bash', ['-c', '. "$0"; f=$(mktemp); echo "$1" >"$f"; LW_TEGRA_RELEASE=$f lw_need l4t', lib, releases[0]?.tegraRelease ?? ''], {
    encoding: 'utf8',
  });
  assert.equal(old.status, 1);
  assert.match(old.stderr, /L4T 36\.3\.0 \(JetPack 6\.0\) ships TensorRT 8\.6; the pinned onnxruntime needs TensorRT 10 -> flash JetPack 6\.1 or newer/);
});
