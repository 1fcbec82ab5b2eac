/**
 * Writes a tiny MVTec-layout set with sharp: textured good images, and images with a bright blob
 * plus its mask. Deterministic for a given seed.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

export interface MadeSet {
  readonly root: string;
  readonly categoryDir: string;
  readonly good: number;
  readonly bad: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Creates `<tmp>/<category>/{train/good,test/good,test/blob,ground_truth/blob}`. */
export async function makeMvtecSet(opts: {
  category?: string;
  good?: number;
  bad?: number;
  size?: number;
  seed?: number;
  root?: string;
}): Promise<MadeSet> {
  const category = opts.category ?? 'widget';
  const good = opts.good ?? 6;
  const bad = opts.bad ?? 6;
  const size = opts.size ?? 96;
  const r = rng(opts.seed ?? 1);
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'lw-eval-')));
  const dir = join(root, category);
  for (const sub of ['train/good', 'test/good', 'test/blob', 'ground_truth/blob']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  const texture = (): Buffer => {
    const px = Buffer.alloc(size * size * 3);
    for (let i = 0; i < size * size; i++) {
      const v = 110 + Math.floor(r() * 30);
      px[i * 3] = v;
      px[i * 3 + 1] = v;
      px[i * 3 + 2] = v;
    }
    return px;
  };
  const save = (px: Buffer, channels: 1 | 3, path: string) =>
    sharp(px, { raw: { width: size, height: size, channels } }).png().toFile(path);
  for (let i = 0; i < 3; i++) await save(texture(), 3, join(dir, 'train/good', `${String(i).padStart(3, '0')}.png`));
  for (let i = 0; i < good; i++) await save(texture(), 3, join(dir, 'test/good', `${String(i).padStart(3, '0')}.png`));
  for (let i = 0; i < bad; i++) {
    const px = texture();
    const mask = Buffer.alloc(size * size);
    const cx = size * (0.3 + 0.4 * r());
    const cy = size * (0.3 + 0.4 * r());
    const rad = size * (0.06 + 0.08 * r());
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= rad * rad) {
          const p = y * size + x;
          mask[p] = 255;
          px[p * 3] = 250;
          px[p * 3 + 1] = 250;
          px[p * 3 + 2] = 250;
        }
      }
    }
    const name = String(i).padStart(3, '0');
    await save(px, 3, join(dir, 'test/blob', `${name}.png`));
    await save(mask, 1, join(dir, 'ground_truth/blob', `${name}_mask.png`));
  }
  return { root, categoryDir: dir, good, bad };
}
