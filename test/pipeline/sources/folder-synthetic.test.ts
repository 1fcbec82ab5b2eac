import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { firstValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { LinewatchError } from '../../../src/errors.js';
import { createSource } from '../../../src/pipeline/sources/index.js';
import { folderSourceSchema, syntheticSourceSchema } from '../../../src/pipeline/sources/schema.js';

test('folder: images only, sorted, file name as partId, looped, seq gap-free', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-folder-'));
  try {
    for (const n of ['b.png', 'a.jpg', 'notes.txt', 'c.PNG']) await writeFile(join(dir, n), n);
    await mkdir(join(dir, 'sub.png'));
    const once = createSource('cam', folderSourceSchema.parse({ type: 'folder', path: dir }));
    const frames = await firstValueFrom(once.frames().pipe(toArray()));
    assert.deepEqual(frames.map((f) => f.meta.partId), ['a', 'b', 'c']);
    assert.deepEqual(frames.map((f) => f.seq), [0, 1, 2]);
    assert.equal(frames[1]!.image.kind === 'encoded' ? frames[1]!.image.data.toString() : '', 'b.png');
    const looped = createSource('cam', folderSourceSchema.parse({ type: 'folder', path: dir, loop: true }));
    const seven: string[] = [];
    await new Promise<void>((resolve) => {
      const sub = looped.frames().subscribe((f) => {
        seven.push(String(f.meta.partId));
        if (seven.length === 7) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    assert.deepEqual(seven, ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('folder preload: decoded once into raw pixels as a camera sends them (RGB or GRAY8); what does not decode stays as it was', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-preload-'));
  try {
    await sharp({ create: { width: 5, height: 4, channels: 3, background: { r: 200, g: 10, b: 30 } } }).png().toFile(join(dir, 'a.png'));
    await sharp(Buffer.alloc(18, 77), { raw: { width: 6, height: 3, channels: 1 } }).toColourspace('b-w').png().toFile(join(dir, 'b.png'));
    await writeFile(join(dir, 'c.png'), 'not a png');
    const frames = await firstValueFrom(createSource('cam', folderSourceSchema.parse({ type: 'folder', path: dir, preload: true })).frames().pipe(toArray()));
    const [a, b, c] = frames.map((f) => f.image);
    assert.ok(a?.kind === 'raw' && a.format === 'RGB' && a.width === 5 && a.height === 4);
    assert.deepEqual([...a.data.subarray(0, 3)], [200, 10, 30]);
    assert.ok(b?.kind === 'raw' && b.format === 'GRAY8' && b.width === 6 && b.data.length === 18 && b.data[0] === 77);
    assert.ok(c?.kind === 'encoded' && c.data.toString() === 'not a png' && c.origin === join(dir, 'c.png'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('folder: a missing or empty folder is LW_ERR_SOURCE_OPEN naming it', async () => {
  const missing = createSource('cam', folderSourceSchema.parse({ type: 'folder', path: '/no/such/folder' }));
  await assert.rejects(firstValueFrom(missing.frames()), (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_SOURCE_OPEN' && e.message.includes('/no/such/folder'));
  const empty = await mkdtemp(join(tmpdir(), 'lw-empty-'));
  try {
    await assert.rejects(firstValueFrom(createSource('cam', folderSourceSchema.parse({ type: 'folder', path: empty })).frames()), /no image files/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test('synthetic: deterministic per seed, defects at the configured rate with their box', async () => {
  const cfg = syntheticSourceSchema.parse({ type: 'synthetic', width: 64, height: 48, defectRate: 0.5, seed: 7, count: 200 });
  const a = await firstValueFrom(createSource('s', cfg).frames().pipe(toArray()));
  const b = await firstValueFrom(createSource('s', cfg).frames().pipe(toArray()));
  assert.equal(a.length, 200);
  const img = a[0]!.image;
  assert.ok(img.kind === 'raw' && img.format === 'RGB' && img.width === 64 && img.height === 48 && img.data.length === 64 * 48 * 3);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!.image;
    const y = b[i]!.image;
    assert.ok(x.kind === 'raw' && y.kind === 'raw' && x.data.equals(y.data), `frame ${i} is the same for the same seed`);
  }
  const defective = a.filter((f) => f.meta['defect'] !== null);
  assert.ok(defective.length > 70 && defective.length < 130, `about half carry a defect (${defective.length})`);
  const box = defective[0]!.meta['defect'] as { x: number; y: number; w: number; h: number };
  assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.w <= 64 && box.y + box.h <= 48);
  // The defect is dark on the bright part: the box holds darker pixels than the same place on a good variant.
  const d = defective[0]!.image;
  assert.ok(d.kind === 'raw');
  const cx = Math.floor(box.x + box.w / 2);
  const cy = Math.floor(box.y + box.h / 2);
  let darkest = 255;
  for (let y = box.y; y < box.y + box.h; y++) for (let x = box.x; x < box.x + box.w; x++) darkest = Math.min(darkest, d.data[(y * 64 + x) * 3]!);
  assert.ok(darkest <= 60, `defect pixels are dark (${darkest}) near ${cx},${cy}`);
});
