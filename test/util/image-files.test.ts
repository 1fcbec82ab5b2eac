import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderEntries, isImageName, listImages } from '../../src/util/image-files.js';
import { LinewatchError } from '../../src/errors.js';

test('isImageName: by extension, any case; other files are not images', () => {
  for (const n of ['a.png', 'b.JPG', 'c.jpeg', 'd.bmp', 'e.tif', 'f.TIFF', 'g.webp']) assert.ok(isImageName(n), n);
  for (const n of ['notes.txt', 'mask', 'h.gif', '.png.bak']) assert.ok(!isImageName(n), n);
});

test('listImages and folderEntries: links followed like real entries, names in file-name order; a link to nothing is refused naming it', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lw-image-files-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const real = join(root, 'real');
  const dir = join(root, 'set');
  await mkdir(real);
  await mkdir(dir);
  await writeFile(join(real, 'linked.png'), '');
  await writeFile(join(dir, 'b.png'), '');
  await writeFile(join(dir, 'a.JPG'), '');
  await writeFile(join(dir, 'readme.txt'), '');
  await mkdir(join(dir, 'sub.png'));
  await symlink(join(real, 'linked.png'), join(dir, 'c.png'));
  await symlink(real, join(dir, 'more'));

  assert.deepEqual(await listImages(dir), ['a.JPG', 'b.png', 'c.png'], 'a folder named like an image is not one');
  assert.deepEqual(await folderEntries(dir), [
    { name: 'a.JPG', kind: 'file' },
    { name: 'b.png', kind: 'file' },
    { name: 'c.png', kind: 'file' },
    { name: 'more', kind: 'dir' },
    { name: 'readme.txt', kind: 'file' },
    { name: 'sub.png', kind: 'dir' },
  ]);

  await symlink(join(root, 'nowhere.png'), join(dir, 'd.png'));
  await assert.rejects(listImages(dir), (err: unknown) => err instanceof LinewatchError && err.code === 'LW_ERR_DATASET_LAYOUT' && /set\/d\.png: a link to nothing/.test(err.message));
});
