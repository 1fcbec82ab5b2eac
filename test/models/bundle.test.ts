import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LinewatchError } from '../../src/errors.js';
import { loadBundle } from '../../src/models/index.js';
import { copyBundle, fixture } from './helpers.js';

function hasCode(code: string, text: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof LinewatchError, `expected a LinewatchError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, text);
    return true;
  };
}

test('a good bundle loads with its manifest and ONNX path', async () => {
  const b = await loadBundle(fixture('tiny-inp'));
  assert.equal(b.manifest.architecture, 'inp-former');
  assert.equal(b.onnxPath, join(b.dir, 'model.onnx'));
  assert.equal(b.manifest.input.height, 56);
});

test('a missing model.onnx is refused, naming the file and the bundle', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    await rm(join(c.dir, 'model.onnx'));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_MISSING_FILE', /model\.onnx .*is missing/));
  } finally {
    await c.done();
  }
});

test('a missing model.json is refused', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    await rm(join(c.dir, 'model.json'));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_MISSING_FILE', /model\.json is missing/));
  } finally {
    await c.done();
  }
});

test('a tampered ONNX file is refused with both hashes', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    const want = (JSON.parse(await readFile(join(c.dir, 'model.json'), 'utf8')) as { sha256: string }).sha256;
    await appendFile(join(c.dir, 'model.onnx'), Buffer.from([0]));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_SHA256', new RegExp(`model\\.onnx: sha256 is [0-9a-f]{64}, model\\.json says ${want}`)));
  } finally {
    await c.done();
  }
});

test('manifest schema errors are listed path by path', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    const path = join(c.dir, 'model.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown> & { input: Record<string, unknown> };
    m.input.dtype = 'int7';
    delete m['version'];
    await writeFile(path, JSON.stringify(m));
    await assert.rejects(loadBundle(c.dir), (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_BUNDLE_MANIFEST');
      assert.match(err.message, /model\.json does not match the manifest schema/);
      assert.match(err.message, /^ {2}input\.dtype: /m);
      assert.match(err.message, /^ {2}version: /m);
      return true;
    });
    await writeFile(path, '{ not json');
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_MANIFEST', /not valid JSON/));
  } finally {
    await c.done();
  }
});

test('a manifest naming a file outside the bundle is refused', async () => {
  const c = await copyBundle('tiny-inp');
  try {
    const path = join(c.dir, 'model.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    m['file'] = '../elsewhere.onnx';
    await writeFile(path, JSON.stringify(m));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_MANIFEST', /must be a file name inside the bundle folder/));
  } finally {
    await c.done();
  }
});

test('a prompted bundle loads with its verified prompt-embedding graph', async () => {
  const b = await loadBundle(fixture('tiny-onenip'));
  assert.equal(b.manifest.architecture, 'onenip');
  assert.equal(b.manifest.prompt?.name, 'prompt');
  assert.equal(b.manifest.prompt?.selection, 'recipe');
  assert.equal(b.manifest.prompt?.embedding?.output, 'global_feature');
  assert.equal(b.embeddingPath, join(b.dir, 'embed.onnx'));
  assert.equal((await loadBundle(fixture('tiny-inp'))).embeddingPath, null);
});

test('a tampered or missing embed.onnx is refused, naming it', async () => {
  const c = await copyBundle('tiny-onenip');
  try {
    await appendFile(join(c.dir, 'embed.onnx'), Buffer.from([0]));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_SHA256', /embed\.onnx: sha256 is [0-9a-f]{64}, model\.json says/));
    await rm(join(c.dir, 'embed.onnx'));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_MISSING_FILE', /embed\.onnx \(named by model\.json prompt\.embedding\) is missing/));
  } finally {
    await c.done();
  }
});

test('cosine-pool without an embedding graph is refused by the schema', async () => {
  const c = await copyBundle('tiny-onenip');
  try {
    const path = join(c.dir, 'model.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as { prompt: Record<string, unknown> };
    m.prompt['selection'] = 'cosine-pool';
    delete m.prompt['embedding'];
    await writeFile(path, JSON.stringify(m));
    await assert.rejects(loadBundle(c.dir), hasCode('LW_ERR_BUNDLE_MANIFEST', /prompt\.embedding.*cosine-pool/s));
  } finally {
    await c.done();
  }
});
