import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executionProvidersSchema, normalizeProvider } from '../../src/models/index.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensorrtEngineCache, toOrtProvider } from '../../src/models/providers.js';

const SHA = 'ab'.repeat(32);

test('executionProviders: shorthand names and objects, default [cpu]', () => {
  assert.deepEqual(executionProvidersSchema.parse(undefined), ['cpu']);
  const parsed = executionProvidersSchema.parse(['tensorrt', { name: 'cuda', deviceId: 1 }, 'cpu']);
  assert.deepEqual(parsed.map(normalizeProvider).map((p) => p.name), ['tensorrt', 'cuda', 'cpu']);
  assert.deepEqual(normalizeProvider('cuda'), { name: 'cuda', deviceId: 0 });
});

test('executionProviders: unknown providers, empty lists and bad TensorRT options are refused with their path', () => {
  assert.equal(executionProvidersSchema.safeParse(['tpu']).success, false);
  assert.equal(executionProvidersSchema.safeParse([]).success, false);
  assert.equal(executionProvidersSchema.safeParse([{ name: 'cuda', deviceId: -1 }]).success, false);
  const bad = executionProvidersSchema.safeParse([{ name: 'tensorrt', options: { builderOptimizationLevel: 9 } }, 'cpu']);
  assert.equal(bad.success, false);
  assert.ok(
    bad.error?.issues.some((i) => i.path.join('.').includes('builderOptimizationLevel') || JSON.stringify(i).includes('builderOptimizationLevel')),
    JSON.stringify(bad.error?.issues),
  );
});

test('tensorrt options reach the provider object as trt_* keys, the engine cache keyed by the model hash', () => {
  const [trt] = executionProvidersSchema.parse([{ name: 'tensorrt', options: { fp16: true, engineCacheDir: '/var/cache/lw' } }]);
  assert.ok(trt !== undefined);
  const ort = toOrtProvider(normalizeProvider(trt), SHA) as unknown as Record<string, unknown>;
  assert.equal(ort['name'], 'tensorrt');
  assert.equal(ort['trt_fp16_enable'], true);
  assert.equal(ort['trt_engine_cache_enable'], true);
  assert.match(String(ort['trt_engine_cache_path']), new RegExp(`^/var/cache/lw/${SHA.slice(0, 16)}-trt`));
  assert.deepEqual(toOrtProvider({ name: 'cuda', deviceId: 2 }, SHA), { name: 'cuda', deviceId: 2 });
  assert.equal(toOrtProvider({ name: 'cpu' }, SHA), 'cpu');
});

test('TensorRT engine cache as the station reports it: none without tensorrt, build on first start, reuse after', () => {
  const root = mkdtempSync(join(tmpdir(), 'lw-trt-cache-'));
  try {
    assert.equal(tensorrtEngineCache(executionProvidersSchema.parse(['cuda', 'cpu']), SHA), null);
    const providers = executionProvidersSchema.parse([{ name: 'tensorrt', options: { engineCacheDir: root } }, 'cpu']);
    const first = tensorrtEngineCache(providers, SHA);
    assert.equal(first?.state, 'build-needed');
    const dir = first?.state === 'build-needed' ? first.dir : '';
    assert.ok(dir.startsWith(root) && dir.includes(SHA.slice(0, 16)), `the cache folder is keyed by the model hash: ${dir}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'TensorrtExecutionProvider_TRTKernel_graph_main_0_sm87.engine'), 'x');
    assert.equal(tensorrtEngineCache(providers, SHA)?.state, 'cached');
    assert.equal(tensorrtEngineCache(providers, 'cd'.repeat(32))?.state, 'build-needed', 'another model builds its own engine');
    const off = executionProvidersSchema.parse([{ name: 'tensorrt', options: { engineCacheDir: null } }]);
    assert.deepEqual(tensorrtEngineCache(off, SHA), { state: 'disabled' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
