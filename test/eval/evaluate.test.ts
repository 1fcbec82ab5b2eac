import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../../src/models/bundle.js';
import { discoverDataset } from '../../src/eval/dataset.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { makeMvtecSet } from './helpers/make-set.js';

const models = new URL('../../../test/fixtures/models/', import.meta.url).pathname;

test('two categories: per-category results, the mean over categories, and the same result whether the graph or the runtime finishes the map', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lw-eval-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await makeMvtecSet({ root, category: 'plate', good: 5, bad: 5, seed: 11 });
  await makeMvtecSet({ root, category: 'sheet', good: 4, bad: 6, seed: 12, blobAmplitude: [40, 120] });
  const dataset = await discoverDataset(root);

  const full = await evaluate(await loadBundle(join(models, 'tiny-inp')), dataset, { exactPixels: true });
  const r = full.report;
  assert.deepEqual(r.categories.map((c) => [c.name, c.good, c.defective]), [
    ['plate', 5, 5],
    ['sheet', 4, 6],
  ]);
  for (const k of ['iAuroc', 'pAuroc', 'aupro'] as const) {
    const a = r.categories[0]?.metrics[k] as number;
    const b = r.categories[1]?.metrics[k] as number;
    assert.ok(Math.abs((r.mean[k] as number) - (a + b) / 2) < 1e-12, `mean ${k}`);
  }
  assert.equal(r.total.caught + r.total.escapes, 11);
  assert.equal(r.total.falseRejects + r.total.passed, 9);
  // The streamed pixel metrics against the exact ones, on real model maps.
  for (const c of r.categories) {
    const exact = c.pixelExact;
    assert.ok(exact);
    for (const k of ['pAuroc', 'pAp', 'pF1max', 'aupro'] as const) {
      t.diagnostic(`${c.name} ${k}: streamed − exact = ${((c.metrics[k] as number) - (exact[k] as number)).toExponential(2)}`);
      assert.ok(Math.abs((c.metrics[k] as number) - (exact[k] as number)) <= 1e-5, `${c.name} ${k}: ${c.metrics[k]} vs exact ${exact[k]}`);
    }
  }
  // Worst cases: misjudged ones first, each category's own images.
  for (const c of r.categories) {
    assert.ok(c.worst.every((w) => w.category === c.name));
    const firstGood = c.worst.findIndex((w) => w.label === 0);
    assert.ok(firstGood > 0, 'defective cases come first');
  }
  assert.equal(full.gallery.length, r.categories.reduce((n, c) => n + c.worst.length, 0));

  // tiny-inp-raw emits the 4×4 patch map; the runtime applies resize, resize, gaussian and top-k:
  // the evaluation must come out the same as with the graph doing it.
  const raw = (await evaluate(await loadBundle(join(models, 'tiny-inp-raw')), dataset)).report;
  for (let i = 0; i < r.samples.length; i++) {
    const a = r.samples[i]!;
    const b = raw.samples[i]!;
    assert.equal(a.name, b.name);
    assert.ok(Math.abs((a.score as number) - (b.score as number)) <= 1e-4, `${a.name}: ${a.score} vs ${b.score}`);
  }
  assert.ok(Math.abs((raw.mean.aupro as number) - (r.mean.aupro as number)) <= 1e-3);
});
