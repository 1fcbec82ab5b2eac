/**
 * The Node-binding patch (deploy/jetson/patches/) checked without fetching onnxruntime: it is a
 * well-formed unified diff touching only the binding's session options, it applies (git apply and
 * GNU patch) to verbatim excerpts of the pinned upstream file, it does NOT apply to an older
 * binding (so the check notices drift), and what it forwards matches what linewatch sends.
 * It does not prove that the patched file compiles or that TensorRT honours the options: that needs
 * the Jetson build (deploy/jetson/README.md says so).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTensorrtOptions, toOrtTensorrtOptions } from '../../src/models/tensorrt-options.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const patchDir = join(root, 'deploy/jetson/patches');
const fixtures = join(root, 'test/deploy/fixtures');
const TARGET = 'js/node/src/session_options_helper.cc';

const patches = readdirSync(patchDir).filter((f) => f.endsWith('.patch')).sort();
const patchPath = join(patchDir, patches[0] ?? 'missing.patch');
const patchText = readFileSync(patchPath, 'utf8');

interface Hunk { oldStart: number; oldLines: number; newStart: number; newLines: number; body: string[] }

/** Hunks of a single-file unified diff; throws on a malformed header or count. */
function parseUnifiedDiff(text: string): { oldPath: string; newPath: string; hunks: Hunk[] } {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('--- '));
  assert.ok(start >= 0, 'no "--- " header');
  const oldPath = (lines[start] ?? '').slice(4).split('\t')[0] ?? '';
  const plus = lines[start + 1] ?? '';
  assert.ok(plus.startsWith('+++ '), 'no "+++ " header after "--- "');
  const newPath = plus.slice(4).split('\t')[0] ?? '';
  const hunks: Hunk[] = [];
  let i = start + 2;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line === '' && i === lines.length - 1) break;
    const m = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@/.exec(line);
    assert.ok(m, `line ${i + 1} should start a hunk: ${JSON.stringify(line)}`);
    const hunk: Hunk = { oldStart: Number(m[1]), oldLines: Number(m[2]), newStart: Number(m[3]), newLines: Number(m[4]), body: [] };
    let oldSeen = 0;
    let newSeen = 0;
    i++;
    while (i < lines.length && (oldSeen < hunk.oldLines || newSeen < hunk.newLines)) {
      const b = lines[i] ?? '';
      const tag = b[0];
      if (tag === ' ') { oldSeen++; newSeen++; } else if (tag === '-') oldSeen++;
      else if (tag === '+') newSeen++;
      else assert.fail(`line ${i + 1}: not a diff body line: ${JSON.stringify(b)}`);
      hunk.body.push(b);
      i++;
    }
    assert.equal(oldSeen, hunk.oldLines, `hunk at -${hunk.oldStart}: old line count`);
    assert.equal(newSeen, hunk.newLines, `hunk at -${hunk.oldStart}: new line count`);
    hunks.push(hunk);
  }
  return { oldPath, newPath, hunks };
}

function applyIn(fixture: string, cmd: 'git' | 'patch'): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ortpatch-'));
  try {
    cpSync(join(fixtures, fixture), dir, { recursive: true });
    const r =
      cmd === 'git'
        ? spawnSync('git', ['apply', '--check', '--verbose', patchPath], { cwd: dir, encoding: 'utf8' })
        : spawnSync('patch', ['-p1', '--dry-run', '--force', '-i', patchPath], { cwd: dir, encoding: 'utf8' });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('one patch, a well-formed unified diff of the binding\'s session options only', () => {
  assert.deepEqual(patches, ['0001-node-binding-tensorrt-provider-options.patch']);
  const diff = parseUnifiedDiff(patchText);
  assert.equal(diff.oldPath, `a/${TARGET}`);
  assert.equal(diff.newPath, `b/${TARGET}`);
  assert.equal(diff.hunks.length, 2);
  // Only additions: upstream behaviour for everything but the trt_* keys is untouched.
  const removed = diff.hunks.flatMap((h) => h.body.filter((l) => l.startsWith('-')));
  assert.deepEqual(removed, []);
  const added = diff.hunks.flatMap((h) => h.body.filter((l) => l.startsWith('+'))).length;
  assert.ok(added < 80, `the patch should stay small (${added} added lines)`);
  const stat = spawnSync('git', ['apply', '--numstat', patchPath], { encoding: 'utf8' });
  assert.equal(stat.status, 0, stat.stderr);
  assert.deepEqual(stat.stdout.trim().split('\n').map((l) => l.split('\t')[2]), [TARGET]);
});

test('the patch applies to the pinned upstream binding (git apply --check and patch --dry-run)', () => {
  const git = applyIn('onnxruntime-00982754', 'git');
  assert.equal(git.status, 0, git.out);
  const gnu = applyIn('onnxruntime-00982754', 'patch');
  assert.equal(gnu.status, 0, gnu.out);
  assert.match(gnu.out, /Hunk #2 succeeded/);
});

test('the patch does not apply to an older binding: drift is noticed, not papered over', () => {
  const old = applyIn('onnxruntime-7d9e6819', 'git');
  assert.notEqual(old.status, 0);
  assert.match(old.out, /patch does not apply/);
});

test('the kit pins the commit the patch is checked against, and the build checks each patch first', () => {
  const lib = readFileSync(join(root, 'deploy/jetson/lib/board.sh'), 'utf8');
  const script = readFileSync(join(root, 'deploy/jetson/build-onnxruntime.sh'), 'utf8');
  const pin = /^LW_ORT_COMMIT=([0-9a-f]{40})$/m.exec(lib);
  assert.ok(pin, 'LW_ORT_COMMIT=<40 hex> in deploy/jetson/lib/board.sh');
  assert.ok(pin[1]?.startsWith('00982754'), `pinned ${pin[1]} but the fixture is onnxruntime-00982754`);
  assert.ok(patchText.includes(pin[1] ?? '-'), 'the patch header names the pinned commit');
  assert.match(script, /git fetch -q --depth 1 origin "\$LW_ORT_COMMIT"/, 'the build fetches the pinned commit');
  assert.match(script, /git apply --check "\$p"/, 'the build checks each patch before applying it');
});

test('what linewatch sends is what the patched binding forwards', () => {
  const added = parseUnifiedDiff(patchText).hunks.flatMap((h) => h.body.filter((l) => l.startsWith('+')).map((l) => l.slice(1)));
  const code = added.join('\n');
  // The binding skips name/deviceId and forwards keys starting with trt_ to UpdateTensorRTProviderOptions.
  assert.match(code, /key == "name" \|\| key == "deviceId"/);
  assert.match(code, /key\.rfind\("trt_", 0\) != 0/);
  assert.match(code, /UpdateTensorRTProviderOptions\(options, keyPtrs\.data\(\), valuePtrs\.data\(\), keys\.size\(\)\)/);
  assert.match(code, /ApplyTensorRTProviderOptions\(epValue\.As<Napi::Object>\(\), deviceId, options\)/);
  const everything = toOrtTensorrtOptions(
    parseTensorrtOptions({
      maxWorkspaceSizeBytes: 1 << 30,
      profile: { min: { x: [1, 3, 8, 8] }, opt: { x: [2, 3, 8, 8] }, max: { x: [4, 3, 8, 8] } },
      dlaCore: 0,
    }),
  );
  const keys = Object.keys(everything);
  const forwarded = keys.filter((k) => k.startsWith('trt_')).sort();
  assert.deepEqual(keys.filter((k) => !k.startsWith('trt_')).sort(), ['deviceId', 'name']);
  assert.deepEqual(forwarded, [
    'trt_builder_optimization_level',
    'trt_dla_core',
    'trt_dla_enable',
    'trt_engine_cache_enable',
    'trt_engine_cache_path',
    'trt_fp16_enable',
    'trt_max_workspace_size',
    'trt_profile_max_shapes',
    'trt_profile_min_shapes',
    'trt_profile_opt_shapes',
    'trt_timing_cache_enable',
    'trt_timing_cache_path',
  ]);
  // Values are booleans, non-negative integers or strings: the three kinds the binding converts.
  for (const [k, v] of Object.entries(everything)) {
    if (!k.startsWith('trt_')) continue;
    assert.ok(typeof v === 'boolean' || typeof v === 'string' || (Number.isInteger(v) && (v as number) >= 0), `${k}=${String(v)}`);
  }
});
