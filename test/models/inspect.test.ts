import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { formatInspectReport, inspectBundle, type InspectReport } from '../../src/models/index.js';
import { copyBundle, editedBundle, fixture } from './helpers.js';

const MODELS_INDEX = new URL('../../src/models/index.js', import.meta.url).href;

/**
 * Runs `linewatch model inspect …` in a child process started with `node -e` (which also checks
 * that the session workers start from such a process) (a commander program with only the model
 * commands: src/cli.ts wires the same function) and returns what it printed and its exit code.
 */
function cli(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const script = `import { Command } from 'commander'; import { registerModelCommands } from ${JSON.stringify(MODELS_INDEX)};
const p = new Command('linewatch'); registerModelCommands(p); await p.parseAsync(process.argv.slice(1), { from: 'user' });`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, '--', ...args], { cwd: process.cwd(), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ stdout, stderr, exitCode: code });
    });
  });
}

test('inspect reports the raw-map bundle: tensors, runtime steps, calibration and the provider here', async () => {
  const r = await inspectBundle(fixture('tiny-inp-raw'));
  assert.equal(r.manifest.outputs.score.name, null);
  assert.ok(r.session.ok);
  assert.equal(r.session.provider, 'cpu');
  assert.deepEqual(r.session.fallbacks.map((f) => f.provider), ['tensorrt', 'cuda']);
  const text = formatInspectReport(r);
  assert.match(text, /^input {8}image: uint8 NHWC 56x56x3 RGB/m);
  assert.match(text, /^ {2}runtime {4}bilinear resize to 56x56 \(align_corners true\), then bilinear resize to 64x64 \(align_corners false\), then gaussian σ=4 kernel 5 \(zero padding\)/m);
  assert.match(text, /^score {8}computed by the runtime: \{"op":"topk-mean","fraction":0.01\}/m);
  assert.match(text, /^adapter {6}single-image; needs nothing besides the frame$/m);
  assert.match(text, /^provider {5}cpu \(here\)/m);
  // One line: which providers work here, and why the others do not (this machine has no GPU libraries).
  assert.match(text, /^providers {4}here: cpu \(in use\); not here: tensorrt, cuda: ONNX Runtime's libonnxruntime_providers_shared\.so, libonnxruntime_providers_tensorrt\.so, libonnxruntime_providers_cuda\.so are not installed beside its library in \S+ \(deploy\/jetson\/build-onnxruntime\.sh builds an onnxruntime with them\)$/m);
  assert.equal(r.adapter.kind, 'single-image');
  assert.deepEqual(r.providers.here, [{ provider: 'cpu', state: 'in use' }]);
  assert.match(text, /^graph in {5}image uint8 \[\w+,56,56,3\]/m);
  assert.match(text, /^graph out {4}anomaly_map float32 \[\w+,1,/m);
});

test('model inspect --json --providers cpu prints the report as JSON', async () => {
  const r = await cli(['model', 'inspect', fixture('tiny-inp'), '--json', '--providers', 'cpu']);
  assert.equal(r.exitCode, 0, r.stderr);
  const report = JSON.parse(r.stdout) as InspectReport;
  assert.equal(report.manifest.input.name, 'image');
  assert.equal(report.session.ok && report.session.provider, 'cpu');
  assert.equal(report.session.ok && report.session.fallbacks.length, 0);
});

test('model inspect of a prompted bundle: its adapter and what it needs, and the providers probed quietly', async () => {
  const r = await cli(['model', 'inspect', fixture('tiny-prompted')]);
  assert.equal(r.exitCode, 0, r.stderr);
  // Probing tensorrt and cuda without their libraries used to print ONNX Runtime's own
  // "Failed to load library …libonnxruntime_providers_shared.so" twice: they are not tried now.
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^model {8}onenip fixture-prompted-1/m);
  assert.match(r.stdout, /^adapter {6}prompted; needs a prompt image for each frame: a good image of its product, one per product \(graph input "prompt"\)$/m);
  assert.match(r.stdout, /^providers {4}here: cpu \(in use\); not here: tensorrt, cuda: /m);
  assert.match(r.stdout, /^graph in {5}image uint8 \[\w+,56,56,3\]; prompt uint8 \[\w+,56,56,3\]$/m);
});

test('model inspect of a bundle whose architecture has no adapter exits 1 naming it', async () => {
  const c = await editedBundle('tiny-inp', (m) => {
    m['architecture'] = 'efficientad';
  });
  try {
    const r = await cli(['model', 'inspect', c.dir]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /^LW_ERR_MODEL_ARCHITECTURE: model bundle .*: architecture "efficientad" has no adapter in this runtime/);
  } finally {
    await c.done();
  }
});

test('model inspect on a broken bundle exits 1 with the coded error', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    await rm(join(c.dir, 'model.onnx'));
    const r = await cli(['model', 'inspect', c.dir]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /^LW_ERR_BUNDLE_MISSING_FILE: .*model\.onnx/);
    const bad = await cli(['model', 'inspect', fixture('tiny-inp'), '--providers', 'tpu']);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /--providers "tpu"/);
  } finally {
    await c.done();
  }
});

test('model inspect --config takes the bundle and provider list from the configuration', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lw-inspect-'));
  try {
    const file = join(root, 'line.yaml');
    const yaml = [
      'version: "7"',
      'model:',
      `  bundle: ${JSON.stringify(fixture('tiny-inp-raw'))}`,
      '  executionProviders: [cuda, cpu]',
      'cameras:',
      '  - id: cam1',
      `    source: { type: folder, path: ${JSON.stringify(join(fixture('tiny-inp'), 'samples'))} }`,
      '',
    ].join('\n');
    await writeFile(file, yaml);
    const r = await cli(['model', 'inspect', '--config', file, '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as InspectReport;
    assert.equal(report.dir, fixture('tiny-inp-raw'));
    assert.ok(report.session.ok);
    assert.equal(report.session.provider, 'cpu');
    assert.deepEqual(report.session.fallbacks.map((f) => f.provider), ['cuda']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
