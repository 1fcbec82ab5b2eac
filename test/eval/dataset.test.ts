import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverDataset } from '../../src/eval/dataset.js';
import { LinewatchError } from '../../src/errors.js';
import { makeMvtecSet } from './helpers/make-set.js';

function layoutError(pattern: RegExp) {
  return (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_DATASET_LAYOUT' && pattern.test(e.message);
}

test('one category folder: good and defective test images with their masks, train/ ignored', async (t) => {
  const set = await makeMvtecSet({ good: 3, bad: 2 });
  t.after(() => rm(set.root, { recursive: true, force: true }));
  const ds = await discoverDataset(set.categoryDir);
  assert.equal(ds.categories.length, 1);
  const cat = ds.categories[0];
  assert.ok(cat);
  assert.equal(cat.name, 'widget');
  assert.equal(cat.hasMasks, true);
  assert.equal(cat.samples.filter((s) => s.label === 0).length, 3);
  const bad = cat.samples.filter((s) => s.label === 1);
  assert.equal(bad.length, 2);
  assert.ok(bad.every((s) => s.defectType === 'blob' && s.maskPath?.endsWith('_mask.png')));
  assert.ok(cat.samples.every((s) => !s.path.includes('train')));
});

test('a folder of categories yields each category', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lw-eval-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await makeMvtecSet({ root, category: 'a', good: 1, bad: 1 });
  await makeMvtecSet({ root, category: 'b', good: 2, bad: 1 });
  await mkdir(join(root, 'notes'));
  const ds = await discoverDataset(root);
  assert.deepEqual(
    ds.categories.map((c) => [c.name, c.samples.length]),
    [
      ['a', 2],
      ['b', 3],
    ],
  );
  assert.equal(ds.categories[1]?.samples[0]?.name, join('b', 'test', 'blob', '000.png'));
});

test('bad layouts are refused naming the folder', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lw-eval-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await assert.rejects(discoverDataset(join(root, 'nope')), layoutError(/nope: not a folder/));
  await mkdir(join(root, 'empty'));
  await assert.rejects(discoverDataset(join(root, 'empty')), layoutError(/empty: neither an MVTec AD category/));
  await mkdir(join(root, 'flat', 'test'), { recursive: true });
  await assert.rejects(discoverDataset(join(root, 'flat')), layoutError(/flat\/test: no subfolders/));
  await mkdir(join(root, 'flat', 'test', 'good'));
  await assert.rejects(discoverDataset(join(root, 'flat')), layoutError(/flat\/test\/good: no images/));
  const set = await makeMvtecSet({ root: join(root, 'm'), good: 1, bad: 2 });
  await unlink(join(set.categoryDir, 'ground_truth', 'blob', '001_mask.png'));
  await assert.rejects(
    discoverDataset(set.categoryDir),
    layoutError(/1 defective image\(s\) of widget have no mask \(first expected: .*blob\/001_mask\.png\)/),
  );
});

test('without ground_truth/ the set is image-level only', async (t) => {
  const set = await makeMvtecSet({ good: 1, bad: 1 });
  t.after(() => rm(set.root, { recursive: true, force: true }));
  await rm(join(set.categoryDir, 'ground_truth'), { recursive: true });
  const ds = await discoverDataset(set.categoryDir);
  assert.equal(ds.categories[0]?.hasMasks, false);
  assert.equal(ds.categories[0]?.samples.find((s) => s.label === 1)?.maskPath, null);
});

const bottle = new URL('../../../../shared/data/mvtec-bottle-448', import.meta.url).pathname;
test('the real MVTec bottle set is discovered completely', { skip: !existsSync(bottle) && 'no ../shared/data' }, async () => {
  const ds = await discoverDataset(bottle);
  const cat = ds.categories[0];
  assert.equal(cat?.name, 'mvtec-bottle-448');
  assert.equal(cat?.samples.length, 83);
  assert.equal(cat?.samples.filter((s) => s.label === 0).length, 20);
});

test('a set made of links (scripts/split-defects.sh) counts every linked image and mask; a dangling link is refused', async (t) => {
  const set = await makeMvtecSet({ good: 3, bad: 4 });
  t.after(() => rm(set.root, { recursive: true, force: true }));
  const out = join(set.root, 'split');
  await promisify(execFile)('bash', ['scripts/split-defects.sh', set.categoryDir, '2', out]);
  const rest = await discoverDataset(join(out, 'rest'));
  const cat = rest.categories[0];
  assert.ok(cat);
  assert.equal(cat.samples.filter((s) => s.label === 0).length, 3, 'test/good is a link to the folder');
  const bad = cat.samples.filter((s) => s.label === 1);
  assert.deepEqual(bad.map((s) => s.name.split('/').pop()), ['002.png', '003.png'], 'the two held out are not evaluated');
  assert.ok(bad.every((s) => s.maskPath?.endsWith('_mask.png')));
  await symlink(join(set.root, 'nowhere.png'), join(out, 'rest', 'test', 'blob', '009.png'));
  await assert.rejects(discoverDataset(join(out, 'rest')), layoutError(/blob\/009\.png: a link to nothing/));
});
