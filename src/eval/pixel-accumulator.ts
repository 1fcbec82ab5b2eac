/**
 * Pixel-level metrics over any number of anomaly maps in bounded memory.
 *
 * Holding every pixel of thousands of 256×256 maps as numbers to sort them (as sklearn does) costs
 * gigabytes. Instead each pixel score goes into a histogram keyed by its float32 bit pattern, made
 * order-preserving (negatives flipped): the 9 sign+exponent bits pick a binade (a factor-2 range
 * of values), the top `MANTISSA_BITS` mantissa bits pick the bin inside it. Bins are therefore
 * scale-free — whatever range a model's maps use, a bin spans 2^-18 ≈ 3.8e-6 of its value — and a
 * binade's bins are allocated only when a value first lands in it (4 MiB each; maps in [1e-3, 2]
 * touch about 11). Magnitudes below 2^-24 share one bin per binade, so denormal noise cannot
 * allocate hundreds of binades.
 *
 * Thresholding at a bin's lower edge is exact for the quantised scores, so every curve is that of
 * scores rounded down to their bin; the only error is that distinct scores inside one bin tie.
 * docs/evaluation.md states the measured effect; test/eval/pixel-accumulator.test.ts and
 * test/eval/evaluate.test.ts measure it against the exact computation.
 */
import { LinewatchError } from '../errors.js';
import { labelRegions } from './regions.js';
import type { RankedCounts } from './metrics.js';

/** Mantissa bits kept per binade (of float32's 23). */
export const MANTISSA_BITS = 18;
const FINE_SHIFT = 23 - MANTISSA_BITS;
/** Binades with a biased exponent below this (|v| < 2^-24) get a single bin. */
const FINE_MIN_EXPONENT = 127 - 24;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Order-preserving 32-bit key of a float32 pattern: larger value, larger key. */
function orderedKey(bits: number): number {
  return (bits & 0x80000000) !== 0 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** Bits dropped from the key inside binade `b` (0..511). */
function shiftOf(b: number): number {
  const exponent = b >= 256 ? b - 256 : 255 - b;
  return exponent >= FINE_MIN_EXPONENT ? FINE_SHIFT : 23;
}

/** The key of a score's bin (a score's ordered key with the dropped bits cleared); for tests. */
export function binOf(score: number): number {
  f32[0] = score;
  const key = orderedKey(u32[0] as number);
  const shift = shiftOf(key >>> 23);
  return ((key >>> shift) << shift) >>> 0;
}

/** The next bin's key above `bin`; for tests. */
export function nextBin(bin: number): number {
  return bin + (1 << shiftOf(bin >>> 23));
}

/** Lowest float value whose key falls in the bin (the threshold the bin stands for). */
export function binLowerEdge(bin: number): number {
  const key = bin >>> 0;
  u32[0] = (key & 0x80000000) !== 0 ? (key & 0x7fffffff) >>> 0 : ~key >>> 0;
  return f32[0] as number;
}

interface Binade {
  readonly shift: number;
  readonly neg: Uint32Array;
  readonly pos: Uint32Array;
  /** Σ 1/area of the ground-truth region of each defective pixel in the bin. */
  readonly pro: Float64Array;
}

/**
 * Streams (map, mask) pairs into histograms of normal pixels, defective pixels and PRO weights.
 *
 * @example
 * const acc = new PixelAccumulator();
 * acc.add(map, mask, 256, 256); // per image; mask null for a good image
 * const ranked = acc.ranked();  // then auroc(ranked), averagePrecision(ranked), aupro(ranked)
 */
export class PixelAccumulator {
  private readonly binades: (Binade | null)[];
  private regions: number;
  private pixels: number;
  private stack: Int32Array;

  constructor() {
    this.binades = new Array<Binade | null>(512).fill(null);
    this.regions = 0;
    this.pixels = 0;
    this.stack = new Int32Array(0);
  }

  /** Pixels seen so far. */
  get pixelCount(): number {
    return this.pixels;
  }

  /** Ground-truth regions seen so far. */
  get regionCount(): number {
    return this.regions;
  }

  /** Bytes held by the histograms. */
  get bytes(): number {
    let n = 0;
    for (const b of this.binades) if (b !== null) n += b.neg.byteLength + b.pos.byteLength + b.pro.byteLength;
    return n;
  }

  private binade(b: number): Binade {
    const shift = shiftOf(b);
    const size = 1 << (23 - shift);
    const made: Binade = { shift, neg: new Uint32Array(size), pos: new Uint32Array(size), pro: new Float64Array(size) };
    this.binades[b] = made;
    return made;
  }

  /**
   * Adds one map and its ground truth (non-zero = defective; null = all good), same size.
   * @param origin names the image in errors
   */
  add(map: Float32Array, mask: Uint8Array | null, height: number, width: number, origin = 'map'): void {
    const n = height * width;
    if (map.length !== n || (mask !== null && mask.length !== n)) {
      throw new LinewatchError(
        'LW_ERR_EVAL_INPUT',
        `${origin}: map has ${map.length} values, mask ${mask?.length ?? 'none'}, expected ${height}×${width} = ${n}`,
      );
    }
    const bits = new Uint32Array(map.buffer, map.byteOffset, n);
    let labels: Int32Array | null = null;
    let areas: Float64Array | null = null;
    if (mask !== null) {
      if (this.stack.length < n) this.stack = new Int32Array(n);
      const lab = labelRegions(mask, height, width, this.stack);
      labels = lab.labels;
      areas = lab.areas;
      this.regions += lab.count;
    }
    const binades = this.binades;
    for (let i = 0; i < n; i++) {
      const raw = bits[i] as number;
      if ((raw & 0x7f800000) === 0x7f800000 && (raw & 0x007fffff) !== 0) {
        throw new LinewatchError('LW_ERR_EVAL_INPUT', `${origin}: anomaly map value ${i} is NaN`);
      }
      const key = orderedKey(raw);
      const b = key >>> 23;
      const bin = binades[b] ?? this.binade(b);
      const k = (key & 0x7fffff) >>> bin.shift;
      const label = labels === null ? 0 : (labels[i] as number);
      if (label === 0) {
        bin.neg[k] = (bin.neg[k] as number) + 1;
      } else {
        bin.pos[k] = (bin.pos[k] as number) + 1;
        bin.pro[k] = (bin.pro[k] as number) + 1 / ((areas as Float64Array)[label] as number);
      }
    }
    this.pixels += n;
  }

  /** Forgets everything (next category); touched binades stay allocated and are zeroed. */
  reset(): void {
    for (const b of this.binades) {
      if (b === null) continue;
      b.neg.fill(0);
      b.pos.fill(0);
      b.pro.fill(0);
    }
    this.regions = 0;
    this.pixels = 0;
  }

  /** The non-empty bins, highest first, as the input of every curve in metrics.ts. */
  ranked(): RankedCounts {
    let m = 0;
    for (const b of this.binades) {
      if (b === null) continue;
      for (let k = 0; k < b.neg.length; k++) if ((b.neg[k] as number) + (b.pos[k] as number) > 0) m++;
    }
    const thresholds = new Float64Array(m);
    const pos = new Float64Array(m);
    const neg = new Float64Array(m);
    const pro = new Float64Array(m);
    let j = 0;
    for (let bi = 511; bi >= 0; bi--) {
      const b = this.binades[bi];
      if (b === null || b === undefined) continue;
      for (let k = b.neg.length - 1; k >= 0; k--) {
        const a = b.neg[k] as number;
        const p = b.pos[k] as number;
        if (a + p === 0) continue;
        thresholds[j] = binLowerEdge(((bi << 23) | (k << b.shift)) >>> 0);
        pos[j] = p;
        neg[j] = a;
        pro[j] = b.pro[k] as number;
        j++;
      }
    }
    return { thresholds, pos, neg, proWeight: pro, regions: this.regions };
  }
}
