import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { classOfPath, planReload } from '../../src/config/reload.js';
import { LinewatchError } from '../../src/errors.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lw-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

const minimal = `
model: { bundle: models/demo }
cameras:
  - id: cam1
    source: { type: folder, path: frames }
`;

test('a minimal file gets every default, and relative paths resolve against the file', async () => {
  const c = await loadConfig(await write('ok.yaml', minimal));
  assert.equal(c.model.bundle, join(dir, 'models/demo'));
  const src = c.cameras[0]!.source;
  assert.equal(src.type === 'folder' ? src.path : '', join(dir, 'frames'));
  assert.equal(c.decide.failSafe, 'reject');
  assert.deepEqual(c.decide.image, { value: 0.5, scale: 'normalized' });
  assert.equal(c.inference.maxQueuedFrames, 8);
  assert.deepEqual(c.model.executionProviders, ['cpu']);
  assert.equal(c.sinks.console.enabled, true);
});

test('file paths in GStreamer video/images presets and MQTT TLS resolve against the config file', async () => {
  const path = await write(
    'files.yaml',
    `
model: { bundle: m }
cameras:
  - id: clip
    source: { type: gstreamer, input: { preset: video, path: clips/line.mp4 } }
  - id: stills
    source: { type: gstreamer, input: { preset: images, location: stills/img_%05d.png } }
mqtt: { url: 'mqtts://127.0.0.1:8883', tls: { caFile: certs/ca.pem } }
`,
  );
  const config = await loadConfig(path);
  const inputs = config.cameras.map((c) => (c.source.type === 'gstreamer' ? c.source.input : null));
  assert.deepEqual(inputs[0], { ...inputs[0], path: join(dir, 'clips/line.mp4') });
  assert.deepEqual(inputs[1], { ...inputs[1], location: join(dir, 'stills/img_%05d.png') });
  assert.equal(config.mqtt.tls?.caFile, join(dir, 'certs/ca.pem'));
});

test('schema errors name every bad field by its path', async () => {
  const file = await write(
    'bad.yaml',
    `
model: { bundle: x }
cameras:
  - id: "cam 1"
    source: { type: folder }
  - id: cam2
    source: { type: synthetic, defectRate: 2 }
decide: { failSafe: maybe }
sinks: { console: { enabled: true, colour: true } }
mqtt: { reject: { deadlinMs: 500 }, remoteConfig: { publicKeys: { __proto__: abc } } }
`,
  );
  await assert.rejects(loadConfig(file), (e: unknown) => {
    assert.ok(e instanceof LinewatchError);
    assert.equal(e.code, 'LW_ERR_CONFIG_INVALID');
    assert.ok(e.message.includes(file), 'names the file');
    assert.match(e.message, /cameras\[0\]\.id: /);
    assert.match(e.message, /cameras\[0\]\.source\.path: /);
    assert.match(e.message, /cameras\[1\]\.source\.defectRate: /);
    assert.match(e.message, /decide\.failSafe: /);
    assert.match(e.message, /sinks\.console\.colour: unknown key$/m, 'a key no schema knows is refused, not ignored');
    assert.match(e.message, /mqtt\.reject\.deadlinMs: unknown key \(did you mean "deadlineMs"\?\)/, 'a typo deep in a section is refused, with the name it was meant to be');
    assert.match(e.message, /mqtt\.remoteConfig\.publicKeys\.__proto__: forbidden key/);
    return true;
  });
});

test('duplicate camera ids are refused', () => {
  assert.throws(
    () => parseConfig({ model: { bundle: 'x' }, cameras: [{ id: 'a', source: { type: 'synthetic' } }, { id: 'a', source: { type: 'synthetic' } }] }, 'p'),
    /cameras\[1\]\.id: camera id 'a' is used twice/,
  );
});

test('YAML syntax errors are LW_ERR_CONFIG_READ with the line; a missing file names the path', async () => {
  const file = await write('syntax.yaml', 'model:\n  bundle: [unclosed\ncameras: []\n');
  await assert.rejects(loadConfig(file), (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_CONFIG_READ' && /line \d+/.test(e.message));
  await assert.rejects(loadConfig(join(dir, 'nope.yaml')), (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_CONFIG_READ' && e.message.includes('nope.yaml'));
});

test('the JSON Schema describes the sections and refuses unknown keys', () => {
  const s = configJsonSchema() as { properties: Record<string, { properties?: Record<string, unknown> }>; required: string[]; additionalProperties: boolean };
  for (const k of ['model', 'cameras', 'inference', 'decide', 'sinks', 'mqtt']) assert.ok(k in s.properties, k);
  assert.deepEqual([...s.required].sort(), ['cameras', 'model']);
  assert.equal(s.additionalProperties, false);
  assert.ok(s.properties['decide']?.properties?.['failSafe']);
});

test('the JSON Schema: every object refuses unknown keys and every number has bounds, at every depth', () => {
  const open: string[] = [];
  const unbounded: string[] = [];
  // Iterative walk over the published schema (what editors and remote senders see).
  const stack: Array<{ node: unknown; path: string }> = [{ node: configJsonSchema(), path: '' }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    const n = node as Record<string, unknown>;
    if (n['type'] === 'object' && n['properties'] !== undefined && n['additionalProperties'] !== false) open.push(path);
    if ((n['type'] === 'number' || n['type'] === 'integer') && n['const'] === undefined) {
      const lo = (n['minimum'] ?? n['exclusiveMinimum']) as number | undefined;
      const hi = (n['maximum'] ?? n['exclusiveMaximum']) as number | undefined;
      // zod's int() alone says ±2^53: that is no bound a line would choose.
      if (lo === undefined || hi === undefined || hi > 1e15 || lo < -1e15) unbounded.push(`${path} [${lo}, ${hi}]`);
    }
    for (const [k, v] of Object.entries(n)) if (typeof v === 'object') stack.push({ node: v, path: `${path}/${k}` });
  }
  assert.deepEqual(open, [], 'objects that would accept a typo');
  assert.deepEqual(unbounded, [], 'numbers without both bounds');
});

test('bounds: a negative or off-scale threshold, an absurd queue, a zero heartbeat are refused with their paths', () => {
  const base = { model: { bundle: 'x' }, cameras: [{ id: 'a', source: { type: 'synthetic' } }] };
  const bad: Array<[object, RegExp]> = [
    [{ decide: { image: { value: -1 } } }, /decide\.image\.value: a threshold must be > 0/],
    [{ decide: { pixel: { value: 0 } } }, /decide\.pixel\.value: a threshold must be > 0/],
    [{ decide: { image: { value: 3 } } }, /decide\.image\.value: 3 is off the normalized scale/],
    [{ inference: { maxQueuedFrames: 1e9 } }, /inference\.maxQueuedFrames: Too big/],
    [{ mqtt: { status: { heartbeatMs: 0 } } }, /mqtt\.status\.heartbeatMs: Too small/],
    [{ mqtt: { reconnect: { initialDelayMs: 5000, maxDelayMs: 1000 } } }, /mqtt\.reconnect\.maxDelayMs: must be at least/],
  ];
  for (const [extra, want] of bad) assert.throws(() => parseConfig({ ...base, ...extra }, 'p'), (e: Error) => want.test(e.message), JSON.stringify(extra));
  assert.equal(parseConfig({ ...base, decide: { image: { value: 7.5, scale: 'raw' } } }, 'p').decide.image.value, 7.5, 'raw thresholds in model units above 1 are fine');
});

test('reload classes: rules hot, model warm, cameras and queue cold, strongest wins', () => {
  const base = parseConfig({ model: { bundle: 'x' }, cameras: [{ id: 'a', source: { type: 'synthetic' } }] }, 'p');
  assert.equal(classOfPath('decide.image.value'), 'hot');
  assert.equal(classOfPath('model.bundle'), 'warm');
  assert.equal(classOfPath('cameras'), 'cold');
  assert.equal(classOfPath('something.new'), 'cold');
  assert.equal(planReload(base, base).level, 'none');
  const hot = planReload(base, { ...base, decide: { ...base.decide, failSafe: 'pass' } });
  assert.deepEqual(hot, { level: 'hot', changes: [{ path: 'decide.failSafe', class: 'hot' }] });
  const warm = planReload(base, { ...base, version: '2', model: { ...base.model, bundle: 'y' } });
  assert.equal(warm.level, 'warm');
  const cold = planReload(base, { ...base, model: { ...base.model, bundle: 'y' }, inference: { ...base.inference, batchSize: 4 } });
  assert.equal(cold.level, 'cold');
});
