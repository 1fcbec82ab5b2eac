/**
 * Writes a tiny MVTec-layout set with sharp: textured good images, and images with a bright blob
 * plus its mask. Deterministic for a given seed.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { prng as rng } from '../../../src/pipeline/sources/synthetic.js';

export interface MadeSet {
  readonly root: string;
  readonly categoryDir: string;
  readonly good: number;
  readonly bad: number;
}

/** Creates `<tmp>/<category>/{train/good,test/good,test/blob,ground_truth/blob}`. */
export async function makeMvtecSet(opts: {
  category?: string;
  good?: number;
  bad?: number;
  size?: number;
  seed?: number;
  root?: string;
  /** Blob brightness range (added grey levels at its centre). Default [60, 200]: the faint ones are hard. */
  blobAmplitude?: readonly [number, number];
}): Promise<MadeSet> {
  const category = opts.category ?? 'widget';
  const good = opts.good ?? 6;
  const bad = opts.bad ?? 6;
  const size = opts.size ?? 64;
  const r = rng(opts.seed ?? 1);
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'lw-eval-')));
  const dir = join(root, category);
  for (const sub of ['train/good', 'test/good', 'test/blob', 'ground_truth/blob']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  // Smooth two-sinusoid coloured surfaces with light noise: the domain the tiny fixture bundles
  // (test/fixtures/models) were trained on, so their scores mean something here.
  const field = (): Float64Array => {
    const f = new Float64Array(size * size * 3);
    const shift = (r() - 0.5) * 12;
    const p1 = r() * 2 * Math.PI;
    const p2 = r() * 2 * Math.PI;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const u = x / size;
        const v = y / size;
        const wave = 14 * Math.sin(2 * Math.PI * (1.5 * u + 0.5 * v) + p1) + 9 * Math.sin(2 * Math.PI * (0.4 * u - 1.2 * v) + p2);
        const o = (y * size + x) * 3;
        f[o] = 118 + shift + wave + (r() - 0.5) * 6;
        f[o + 1] = 104 + shift + wave + (r() - 0.5) * 6;
        f[o + 2] = 92 + shift + wave + (r() - 0.5) * 6;
      }
    }
    return f;
  };
  const toBytes = (f: Float64Array): Buffer => {
    const px = Buffer.alloc(f.length);
    for (let i = 0; i < f.length; i++) px[i] = Math.max(0, Math.min(255, Math.round(f[i] as number)));
    return px;
  };
  const texture = (): Buffer => toBytes(field());
  const save = (px: Buffer, channels: 1 | 3, path: string) =>
    sharp(px, { raw: { width: size, height: size, channels } }).png().toFile(path);
  for (let i = 0; i < 3; i++) await save(texture(), 3, join(dir, 'train/good', `${String(i).padStart(3, '0')}.png`));
  for (let i = 0; i < good; i++) await save(texture(), 3, join(dir, 'test/good', `${String(i).padStart(3, '0')}.png`));
  for (let i = 0; i < bad; i++) {
    // A bright gaussian blob; the mask is where it adds more than half its peak.
    const f = field();
    const mask = Buffer.alloc(size * size);
    const cx = size * (0.25 + 0.5 * r());
    const cy = size * (0.25 + 0.5 * r());
    const sigma = size * (0.06 + 0.03 * r());
    const [lo, hi] = opts.blobAmplitude ?? [60, 200];
    const amplitude = lo + (hi - lo) * r();
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const g = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma));
        const p = y * size + x;
        if (g > 0.5) mask[p] = 255;
        for (let c = 0; c < 3; c++) f[p * 3 + c] = (f[p * 3 + c] as number) + amplitude * g;
      }
    }
    const px = toBytes(f);
    const name = String(i).padStart(3, '0');
    await save(px, 3, join(dir, 'test/blob', `${name}.png`));
    await save(mask, 1, join(dir, 'ground_truth/blob', `${name}_mask.png`));
  }
  return { root, categoryDir: dir, good, bad };
}
