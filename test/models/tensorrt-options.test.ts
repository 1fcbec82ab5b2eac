import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { LinewatchError } from '../../src/errors.js';
import {
  engineCacheDir,
  engineCacheKey,
  engineCacheState,
  formatShapes,
  parseTensorrtOptions,
  tensorrtOptionsSchema,
  tensorrtVersionFromEnv,
  toOrtTensorrtOptions,
} from '../../src/models/tensorrt-options.js';

const SHA = 'a'.repeat(64);
const ID = { modelSha256: SHA, tensorrtVersion: '10.3.0' };

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LinewatchError, 'a LinewatchError');
    assert.equal(err.code, 'LW_ERR_CONFIG_INVALID');
    return err.message;
  }
  assert.fail('expected a throw');
}

test('defaults map to FP16, engine and timing cache under /var/lib/linewatch, GPU only', () => {
  const ep = toOrtTensorrtOptions(parseTensorrtOptions({}));
  assert.deepEqual(ep, {
    name: 'tensorrt',
    deviceId: 0,
    trt_fp16_enable: true,
    trt_engine_cache_enable: true,
    trt_engine_cache_path: '/var/lib/linewatch/trt-engines',
    trt_timing_cache_enable: true,
    trt_timing_cache_path: '/var/lib/linewatch/trt-engines',
    trt_builder_optimization_level: 3,
    trt_dla_enable: false,
  });
  // What onnxruntime-node's typings accept as an execution provider entry.
  const asConfig: InferenceSession.ExecutionProviderConfig = ep;
  assert.equal(typeof asConfig, 'object');
});

test('every option reaches its trt_* key, shapes in ORT\'s name:AxBxC form', () => {
  const opts = parseTensorrtOptions({
    deviceId: 0,
    fp16: false,
    engineCacheDir: '/srv/engines',
    timingCacheDir: '/srv/timing',
    builderOptimizationLevel: 5,
    maxWorkspaceSizeBytes: 2 * 1024 ** 3,
    profile: {
      min: { image: [1, 392, 392, 3], prompt: [1, 392, 392, 3] },
      opt: { image: [4, 392, 392, 3], prompt: [4, 392, 392, 3] },
      max: { image: [8, 392, 392, 3], prompt: [8, 392, 392, 3] },
    },
    dlaCore: 1,
  });
  const ep = toOrtTensorrtOptions(opts, ID);
  assert.equal(ep.trt_fp16_enable, false);
  assert.equal(ep.trt_engine_cache_enable, true);
  assert.equal(ep.trt_engine_cache_path, join('/srv/engines', engineCacheKey(opts, ID)));
  assert.equal(ep.trt_timing_cache_path, '/srv/timing');
  assert.equal(ep.trt_builder_optimization_level, 5);
  assert.equal(ep.trt_max_workspace_size, 2147483648);
  assert.equal(ep.trt_profile_min_shapes, 'image:1x392x392x3,prompt:1x392x392x3');
  assert.equal(ep.trt_profile_opt_shapes, 'image:4x392x392x3,prompt:4x392x392x3');
  assert.equal(ep.trt_profile_max_shapes, 'image:8x392x392x3,prompt:8x392x392x3');
  assert.equal(ep.trt_dla_enable, true);
  assert.equal(ep.trt_dla_core, 1);
});

test('caches off: no paths are sent and the EP is told so', () => {
  const ep = toOrtTensorrtOptions(parseTensorrtOptions({ engineCacheDir: null, timingCacheDir: null }), ID);
  assert.equal(ep.trt_engine_cache_enable, false);
  assert.equal(ep.trt_timing_cache_enable, false);
  assert.ok(!('trt_engine_cache_path' in ep));
  assert.ok(!('trt_timing_cache_path' in ep));
  assert.equal(engineCacheDir(parseTensorrtOptions({ engineCacheDir: null }), ID), null);
});

test('validation errors name the field and what is wrong', () => {
  assert.match(messageOf(() => parseTensorrtOptions({ builderOptimizationLevel: 9 })), /^tensorrt\.builderOptimizationLevel: /);
  assert.match(messageOf(() => parseTensorrtOptions({ dlaCore: 2 })), /tensorrt\.dlaCore/);
  assert.match(messageOf(() => parseTensorrtOptions({ maxWorkspaceSizeBytes: -1 })), /tensorrt\.maxWorkspaceSizeBytes/);
  assert.match(messageOf(() => parseTensorrtOptions({ fp16: 'yes' })), /tensorrt\.fp16/);
  assert.match(messageOf(() => parseTensorrtOptions({ engineCacheDir: '' })), /tensorrt\.engineCacheDir/);
  const shape = [1, 3, 392, 392];
  const rev = messageOf(() =>
    parseTensorrtOptions({ profile: { min: { x: [4, 3, 392, 392] }, opt: { x: shape }, max: { x: shape } } }, 'model.executionProviders.0'),
  );
  assert.match(rev, /model\.executionProviders\.0\.profile\.opt\.x\.0: dimension 0 of "x" must satisfy min ≤ opt ≤ max \(4 ≤ 1 ≤ 1\)/);
  const rank = messageOf(() => parseTensorrtOptions({ profile: { min: { x: [1, 3] }, opt: { x: shape }, max: { x: shape } } }));
  assert.match(rank, /tensorrt\.profile\.opt\.x: .*differ in rank \(2\/4\/4\)/);
  const missing = messageOf(() => parseTensorrtOptions({ profile: { min: { x: shape }, opt: { x: shape }, max: {} } }));
  assert.match(missing, /tensorrt\.profile\.max\.x: input "x" has no max shape/);
  const stray = messageOf(() => parseTensorrtOptions({ profile: { min: { x: shape, y: shape }, opt: { x: shape }, max: { x: shape } } }));
  assert.match(stray, /tensorrt\.profile\.min\.y: input "y" has no opt shape/);
  const comma = messageOf(() => parseTensorrtOptions({ profile: { min: { 'a,b': shape }, opt: { 'a,b': shape }, max: { 'a,b': shape } } }));
  assert.match(comma, /tensorrt\.profile\.(min|opt|max)/);
  assert.match(comma, /must not be empty or contain ":", ","/);
});

test('the schema is a plain object schema the provider union can extend with a name', () => {
  const entry = tensorrtOptionsSchema.extend({});
  assert.equal(entry.parse({}).fp16, true);
});

test('engine cache key: stable, and changes with model, TensorRT version and engine-shaping options only', () => {
  const base = parseTensorrtOptions({});
  const key = engineCacheKey(base, ID);
  assert.match(key, /^a{16}-trt10\.3\.0-[0-9a-f]{12}$/);
  assert.equal(engineCacheKey(parseTensorrtOptions({}), ID), key, 'same inputs, same key');
  assert.equal(engineCacheKey(parseTensorrtOptions({ engineCacheDir: '/elsewhere', timingCacheDir: '/t' }), ID), key, 'folders do not shape the engine');
  const different = [
    engineCacheKey(base, { ...ID, modelSha256: 'b'.repeat(64) }),
    engineCacheKey(base, { ...ID, tensorrtVersion: '10.7.0' }),
    engineCacheKey(parseTensorrtOptions({ fp16: false }), ID),
    engineCacheKey(parseTensorrtOptions({ builderOptimizationLevel: 4 }), ID),
    engineCacheKey(parseTensorrtOptions({ dlaCore: 0 }), ID),
    engineCacheKey(parseTensorrtOptions({ maxWorkspaceSizeBytes: 1 << 30 }), ID),
  ];
  assert.equal(new Set([key, ...different]).size, different.length + 1);
  assert.match(messageOf(() => engineCacheKey(base, { ...ID, modelSha256: 'xyz' })), /modelSha256 must be 64 hex digits/);
  assert.match(messageOf(() => engineCacheKey(base, { ...ID, tensorrtVersion: '../../etc' })), /tensorrtVersion "\.\.\/\.\.\/etc"/);
});

test('engine cache state tells a first start (build) from a reuse', () => {
  const root = mkdtempSync(join(tmpdir(), 'lw-trt-'));
  try {
    const dir = join(root, 'k');
    assert.deepEqual(engineCacheState(null), { state: 'disabled' });
    assert.deepEqual(engineCacheState(dir), { state: 'build-needed', dir });
    mkdirSync(dir);
    writeFileSync(join(dir, 'TensorrtExecutionProvider_cache_sm87.timing'), '');
    assert.deepEqual(engineCacheState(dir), { state: 'build-needed', dir }, 'a timing cache alone is no engine');
    writeFileSync(join(dir, 'TensorrtExecutionProvider_TRTKernel_graph_main_1_0_sm87.engine'), 'x');
    assert.deepEqual(engineCacheState(dir), {
      state: 'cached',
      dir,
      engines: ['TensorrtExecutionProvider_TRTKernel_graph_main_1_0_sm87.engine'],
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('formatShapes and the TensorRT version from the service environment', () => {
  assert.equal(formatShapes({ input: [1, 3, 392, 392] }), 'input:1x3x392x392');
  assert.equal(tensorrtVersionFromEnv({ LINEWATCH_TENSORRT_VERSION: ' 10.3.0.30 ' }), '10.3.0.30');
  assert.equal(tensorrtVersionFromEnv({}), 'unknown');
});
