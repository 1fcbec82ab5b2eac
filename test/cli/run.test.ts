import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/linewatch.js');
const tiny = join(root, 'test/fixtures/models/tiny-inp');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would; `onStdout` may signal it (SIGTERM tests). */
function cli(args: string[], onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let folderCfg: string;
let endlessCfg: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lw-cli-'));
  folderCfg = join(dir, 'folder.yaml');
  await writeFile(
    folderCfg,
    `version: "7"
model: { bundle: ${tiny}, intraOpThreads: 1 }
cameras:
  - id: cam1
    source: { type: folder, path: ${join(tiny, 'samples')}, loop: true }
`,
  );
  endlessCfg = join(dir, 'endless.yaml');
  await writeFile(
    endlessCfg,
    `model: { bundle: ${tiny}, intraOpThreads: 1 }
cameras:
  - id: line
    source: { type: synthetic, width: 64, height: 64, fps: 30 }
`,
  );
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('run --max-frames: one human line per verdict and the exit summary with the counter identity', async () => {
  const r = await cli(['run', '--config', folderCfg, '--max-frames', '6', '--no-mqtt']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const verdictLines = lines.filter((l) => / cam1 +#\d+ /.test(l));
  assert.equal(verdictLines.length, 6);
  assert.match(verdictLines[0]!, /#0 +defect-0 +REJECT/);
  assert.match(verdictLines[2]!, /#2 +good-0 +OK/);
  assert.match(r.stdout, /linewatch summary: 6 frames in/);
  assert.match(r.stdout, /ok 2 {2}reject 4 {2}error 0 {2}dropped 0/);
  assert.match(r.stdout, /latency capture→verdict p50 [\d.]+ ms {2}p99 [\d.]+ ms/);
  assert.match(r.stdout, /received 6 = ok 2 \+ reject 4 \+ error 0 \+ dropped 0 \+ inFlight 0 \(6\) holds/);
});

test('run --json: stdout is one JSON verdict per line, the summary goes to stderr', async () => {
  const r = await cli(['run', '--config', folderCfg, '--max-frames', '3', '--json', '--no-mqtt']);
  assert.equal(r.code, 0, r.stderr);
  const verdicts = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; verdict: string; configVersion: string; partId: string });
  assert.deepEqual(verdicts.map((v) => [v.seq, v.partId, v.verdict]), [[0, 'defect-0', 'reject'], [1, 'defect-1', 'reject'], [2, 'good-0', 'ok']]);
  assert.equal(verdicts[0]!.configVersion, '7');
  assert.match(r.stderr, /linewatch summary: 3 frames/);
});

test('SIGTERM: sources stop, frames in flight finish, summary printed, exit 0', async () => {
  let signalled = false;
  const r = await cli(['run', '--config', endlessCfg, '--no-mqtt'], (out, child) => {
    if (!signalled && (out.match(/ line +#/g) ?? []).length >= 3) {
      signalled = true;
      child.kill('SIGTERM');
    }
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(signalled);
  const m = /linewatch summary: (\d+) frames/.exec(r.stdout);
  assert.ok(m !== null && Number(m[1]) >= 3, r.stdout);
  assert.match(r.stdout, /inFlight 0 \(\d+\) holds/);
  assert.equal((r.stdout.match(/ line +#/g) ?? []).length, Number(m[1]), 'every received frame got its verdict line');
});

test('run with the embedded MQTT broker (no mqtt.url) still inspects and exits cleanly', async () => {
  const r = await cli(['run', '--config', folderCfg, '--max-frames', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /linewatch summary: 2 frames/);
});

test('NG images: rejected frames and their heatmap overlays land in the ring folder', async () => {
  const cfg = join(dir, 'ng.yaml');
  await writeFile(
    cfg,
    `model: { bundle: ${tiny}, intraOpThreads: 1 }
cameras:
  - id: cam1
    source: { type: folder, path: ${join(tiny, 'samples')} }
sinks:
  console: { enabled: false }
  ngImages: { enabled: true, dir: ng, maxFrames: 10 }
`,
  );
  const r = await cli(['run', '--config', cfg, '--no-mqtt']);
  assert.equal(r.code, 0, r.stderr);
  const files = (await readdir(join(dir, 'ng'))).sort();
  assert.equal(files.length, 4, files.join());
  assert.equal(files.filter((f) => f.endsWith('-heatmap.jpg')).length, 2, 'two rejects (defect-0, defect-1), two files each');
  assert.ok(files.every((f) => f.includes('-cam1-0000000')));
});

test('the shipped demo (npm start) inspects the sample frames of the demo model', async () => {
  const r = await cli(['run', '--config', join(root, 'configs/demo.yaml'), '--max-frames', '3', '--no-mqtt']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /#0 +contamination_000 +REJECT/);
  assert.match(r.stdout, /received 3 = ok 0 \+ reject 3 /);
});

test('a camera that cannot start is refused before the station starts, with its reason', async () => {
  const cfg = join(dir, 'missing.yaml');
  await writeFile(cfg, `model: { bundle: ${tiny} }\ncameras:\n  - id: cam9\n    source: { type: folder, path: ${join(dir, 'no-frames-here')} }\n`);
  const r = await cli(['run', '--config', cfg, '--no-mqtt']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /LW_ERR_SOURCE_OPEN: camera cam9: folder source .*no-frames-here/);
  assert.equal(r.stdout, '', 'nothing ran: no verdicts, no summary');
});

test('an invalid configuration is refused before start, path by path; config validate and schema', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, `model: { bundle: ${tiny} }\ncameras:\n  - id: cam1\n    source: { type: folder, fps: -1 }\n`);
  const r = await cli(['run', '--config', bad, '--no-mqtt']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /LW_ERR_CONFIG_INVALID/);
  assert.match(r.stderr, /cameras\[0\]\.source\.path: /);
  assert.match(r.stderr, /cameras\[0\]\.source\.fps: /);
  assert.equal(r.stdout, '');
  const v = await cli(['config', 'validate', bad]);
  assert.equal(v.code, 1, v.stderr);
  assert.match(v.stderr, /cameras\[0\]\.source\.fps: /);
  const ok = await cli(['config', 'validate', folderCfg]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /valid/);
  const s = await cli(['config', 'schema']);
  assert.equal(s.code, 0, s.stderr);
  const schema = JSON.parse(s.stdout) as { properties: Record<string, unknown> };
  assert.ok('decide' in schema.properties && 'cameras' in schema.properties);
});
