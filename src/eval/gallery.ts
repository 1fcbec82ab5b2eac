/**
 * The worst cases of a category, kept in bounded memory while images stream past, and rendered as
 * self-contained JPEG data URIs: the model-input image, the anomaly map over it, the ground truth.
 */
import sharp from 'sharp';
import type { CalibrationBounds } from '../pipeline/decide.js';
import { normalizeScore } from '../pipeline/postprocess/index.js';
import type { ScoredSample } from './production-path.js';

export type GalleryWhy = 'missed defect' | 'false reject' | 'lowest-scoring defective' | 'highest-scoring good';

export interface GalleryCase {
  readonly category: string;
  readonly name: string;
  readonly defectType: string;
  readonly label: 0 | 1;
  readonly score: number;
  readonly normScore: number;
  readonly verdict: 'ok' | 'reject';
  readonly why: GalleryWhy;
  /** JPEG data URIs. */
  readonly image: string;
  readonly overlay: string;
  /** null for good images and mask-less sets. */
  readonly truth: string | null;
}

/**
 * Keeps the `perKind` lowest-scoring defective and highest-scoring good images of one category
 * (misses and false rejects first, because they are the lowest/highest by construction when any
 * exist at a score threshold).
 */
export class WorstCases {
  private readonly defective: ScoredSample[];
  private readonly good: ScoredSample[];

  constructor(private readonly perKind: number) {
    this.defective = [];
    this.good = [];
  }

  offer(s: ScoredSample): void {
    const list = s.sample.label === 1 ? this.defective : this.good;
    // Worse = lower score for a defective part, higher for a good one; misjudged ones first.
    const worse = (a: ScoredSample, b: ScoredSample): boolean => {
      const aw = a.sample.label === 1 ? a.verdict === 'ok' : a.verdict === 'reject';
      const bw = b.sample.label === 1 ? b.verdict === 'ok' : b.verdict === 'reject';
      if (aw !== bw) return aw;
      return a.sample.label === 1 ? a.score < b.score : a.score > b.score;
    };
    let i = list.length;
    while (i > 0 && worse(s, list[i - 1]!)) i--;
    if (i >= this.perKind) return;
    list.splice(i, 0, s);
    if (list.length > this.perKind) list.pop();
  }

  /** Kept cases, defective first, worst first. */
  cases(): ScoredSample[] {
    return [...this.defective, ...this.good];
  }
}

/** Jet-like colour map of t ∈ [0, 1] (blue → cyan → yellow → red), 0.5 = the calibrated boundary. */
function jet(t: number, out: Uint8Array, o: number): void {
  const r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 3)));
  const g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 2)));
  const b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 1)));
  out[o] = Math.round(r * 255);
  out[o + 1] = Math.round(g * 255);
  out[o + 2] = Math.round(b * 255);
}

async function jpegUri(rgb: Buffer | Uint8Array, width: number, height: number): Promise<string> {
  const buf = await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
  return `data:image/jpeg;base64,${buf.toString('base64')}`;
}

/** Per-pixel layer at map resolution, resized to image size (bilinear for the map, nearest for masks). */
async function toImageSize(rgb: Uint8Array, mw: number, mh: number, w: number, h: number, nearest: boolean): Promise<Buffer> {
  if (mw === w && mh === h) return Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: mw, height: mh, channels: 3 } })
    .resize(w, h, { fit: 'fill', kernel: nearest ? 'nearest' : 'linear' })
    .raw()
    .toBuffer();
}

/** Renders one kept case; the map is coloured on the pixel calibration scale (0.5 = boundary). */
export async function renderCase(s: ScoredSample, why: GalleryWhy, pixelCal: CalibrationBounds): Promise<GalleryCase> {
  const w = s.pixelWidth;
  const h = s.pixelHeight;
  const n = w * h;
  const base = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    if (s.pixelChannels === 1) {
      const v = s.pixels[i] as number;
      base[i * 3] = v;
      base[i * 3 + 1] = v;
      base[i * 3 + 2] = v;
    } else {
      base[i * 3] = s.pixels[i * 3] as number;
      base[i * 3 + 1] = s.pixels[i * 3 + 1] as number;
      base[i * 3 + 2] = s.pixels[i * 3 + 2] as number;
    }
  }
  const mw = s.mapWidth;
  const mh = s.mapHeight;
  const heat = new Uint8Array(mw * mh * 3);
  for (let i = 0; i < mw * mh; i++) jet(normalizeScore(s.map[i] as number, pixelCal), heat, i * 3);
  const heatBig = await toImageSize(heat, mw, mh, w, h, false);
  const overlay = Buffer.alloc(n * 3);
  for (let i = 0; i < n * 3; i++) overlay[i] = Math.round(0.5 * (base[i] as number) + 0.5 * (heatBig[i] as number));
  let truth: string | null = null;
  if (s.mask !== null) {
    const m = new Uint8Array(mw * mh * 3);
    for (let i = 0; i < mw * mh; i++) m[i * 3] = s.mask[i] === 1 ? 255 : 0;
    const big = await toImageSize(m, mw, mh, w, h, true);
    const t = Buffer.alloc(n * 3);
    for (let i = 0; i < n; i++) {
      const on = (big[i * 3] as number) > 127;
      t[i * 3] = on ? Math.round(0.4 * (base[i * 3] as number) + 153) : (base[i * 3] as number);
      t[i * 3 + 1] = on ? Math.round(0.4 * (base[i * 3 + 1] as number)) : (base[i * 3 + 1] as number);
      t[i * 3 + 2] = on ? Math.round(0.4 * (base[i * 3 + 2] as number)) : (base[i * 3 + 2] as number);
    }
    truth = await jpegUri(t, w, h);
  }
  return {
    category: s.sample.category,
    name: s.sample.name,
    defectType: s.sample.defectType,
    label: s.sample.label,
    score: s.score,
    normScore: s.normScore,
    verdict: s.verdict,
    why,
    image: await jpegUri(base, w, h),
    overlay: await jpegUri(overlay, w, h),
    truth,
  };
}

/** Why a kept case is shown. */
export function whyShown(s: ScoredSample): GalleryWhy {
  if (s.sample.label === 1) return s.verdict === 'ok' ? 'missed defect' : 'lowest-scoring defective';
  return s.verdict === 'reject' ? 'false reject' : 'highest-scoring good';
}
