import { Observable } from 'rxjs';
import { captureTimeNow, type Frame } from '../frame.js';
import type { FrameSource } from '../source.js';
import { createPacer } from './pacing.js';
import type { SyntheticSourceConfig } from './schema.js';

/**
 * Procedural parts: a bright round part on a textured background, a few fixed variants (slightly
 * shifted), and at `defectRate` a defect (dark scratch or blob) drawn inside the part. The defect's
 * bounding box travels in `meta.defect` (null for a good part) so soak tests and benchmarks know
 * the truth. Deterministic for a seed.
 */

/** Small fast seeded PRNG (mulberry32): same seed, same parts, on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DefectBox {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

const VARIANTS = 4;

/** One good part image, `channels` interleaved. */
function drawBase(width: number, height: number, channels: number, rand: () => number): Buffer {
  const buf = Buffer.allocUnsafe(width * height * channels);
  const cx = width / 2 + (rand() - 0.5) * width * 0.04;
  const cy = height / 2 + (rand() - 0.5) * height * 0.04;
  const r = Math.min(width, height) * 0.36;
  const r2 = r * r;
  const fx = 2 + rand() * 3;
  const fy = 2 + rand() * 3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const inside = dx * dx + dy * dy <= r2;
      const texture = Math.sin((x / width) * fx * Math.PI * 2) * Math.cos((y / height) * fy * Math.PI * 2);
      const noise = (rand() - 0.5) * 10;
      const v = inside ? 190 + texture * 6 + noise : 70 + texture * 12 + noise;
      const o = (y * width + x) * channels;
      const g = v < 0 ? 0 : v > 255 ? 255 : v;
      if (channels === 1) buf[o] = g;
      else {
        buf[o] = g;
        buf[o + 1] = g * 0.97;
        buf[o + 2] = g * 0.92;
      }
    }
  }
  return buf;
}

/** Draws a defect in place and returns its bounding box. */
function drawDefect(buf: Buffer, width: number, height: number, channels: number, rand: () => number): DefectBox {
  const side = Math.min(width, height);
  const cx = width / 2 + (rand() - 0.5) * side * 0.4;
  const cy = height / 2 + (rand() - 0.5) * side * 0.4;
  let x0: number, y0: number, x1: number, y1: number;
  if (rand() < 0.5) {
    // Blob: a dark ellipse.
    const rx = side * (0.03 + rand() * 0.05);
    const ry = side * (0.03 + rand() * 0.05);
    x0 = Math.max(0, Math.floor(cx - rx));
    x1 = Math.min(width - 1, Math.ceil(cx + rx));
    y0 = Math.max(0, Math.floor(cy - ry));
    y1 = Math.min(height - 1, Math.ceil(cy + ry));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const ex = (x - cx) / rx;
        const ey = (y - cy) / ry;
        if (ex * ex + ey * ey > 1) continue;
        const o = (y * width + x) * channels;
        for (let c = 0; c < channels; c++) buf[o + c] = 40;
      }
    }
  } else {
    // Scratch: a dark line a few pixels thick.
    const len = side * (0.15 + rand() * 0.2);
    const ang = rand() * Math.PI;
    const ux = Math.cos(ang);
    const uy = Math.sin(ang);
    const half = Math.max(1, side * 0.006);
    x0 = width;
    y0 = height;
    x1 = 0;
    y1 = 0;
    const steps = Math.ceil(len);
    for (let s = 0; s <= steps; s++) {
      const px = cx + (s - steps / 2) * ux;
      const py = cy + (s - steps / 2) * uy;
      for (let ty = Math.floor(py - half); ty <= Math.ceil(py + half); ty++) {
        for (let tx = Math.floor(px - half); tx <= Math.ceil(px + half); tx++) {
          if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
          const o = (ty * width + tx) * channels;
          for (let c = 0; c < channels; c++) buf[o + c] = 55;
          if (tx < x0) x0 = tx;
          if (ty < y0) y0 = ty;
          if (tx > x1) x1 = tx;
          if (ty > y1) y1 = ty;
        }
      }
    }
  }
  return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

export class SyntheticSource implements FrameSource {
  readonly kind = 'synthetic';
  readonly cameraId: string;
  private readonly config: SyntheticSourceConfig;
  private readonly ready: (() => Promise<void>) | undefined;

  constructor(cameraId: string, config: SyntheticSourceConfig, ready?: () => Promise<void>) {
    this.cameraId = cameraId;
    this.config = config;
    this.ready = ready;
  }

  frames(): Observable<Frame> {
    return new Observable<Frame>((sub) => {
      let stopped = false;
      const { width, height, defectRate, seed, fps, count, format } = this.config;
      const channels = format === 'GRAY8' ? 1 : 3;
      const rand = prng(seed);
      const bases: Buffer[] = [];
      for (let i = 0; i < VARIANTS; i++) bases.push(drawBase(width, height, channels, rand));
      const pacer = createPacer(fps, this.ready);
      const run = async (): Promise<void> => {
        for (let seq = 0; count === undefined || seq < count; seq++) {
          await pacer.next();
          if (stopped) return;
          const base = bases[Math.floor(rand() * VARIANTS) % VARIANTS]!;
          const data = Buffer.allocUnsafe(base.length);
          base.copy(data);
          const defect = rand() < defectRate ? drawDefect(data, width, height, channels, rand) : null;
          sub.next({
            seq,
            cameraId: this.cameraId,
            capturedAt: captureTimeNow(),
            image: { kind: 'raw', format, width, height, data },
            meta: { partId: `syn-${seq}`, defect },
          });
        }
        sub.complete();
      };
      run().catch((err: unknown) => sub.error(err));
      return () => {
        stopped = true;
      };
    });
  }
}
