/**
 * Pixel-level metrics over any number of anomaly maps in fixed memory.
 *
 * Holding every pixel of thousands of 256×256 maps as numbers to sort them (as sklearn does) costs
 * gigabytes. Instead each pixel score goes into a histogram whose bins are the top `BIN_BITS` bits of
 * its float32 pattern, made order-preserving (negatives flipped). The bins are scale-free: whatever
 * range the model's maps use, a bin spans a relative width of 2^-(BIN_BITS-9) ≈ 0.012 % of its value
 * (13 of the 23 mantissa bits kept). Thresholding at a bin's lower edge is exact for the quantised
 * scores, so the curves are those of scores rounded down to their bin; the only error is that pixels
 * of distinct scores inside one bin tie. docs/evaluation.md states the measured effect
 * (test/eval/pixel-accumulator.test.ts measures it against the exact computation).
 *
 * Memory: 2^22 bins × (two Uint32 counts + one Float64 PRO weight) = 64 MiB, whatever the number of
 * maps; a count overflows only past 4·10⁹ pixels in one bin.
 */
import { LinewatchError } from '../errors.js';
import { labelRegions } from './regions.js';
import type { RankedCounts } from './metrics.js';

/** Bits of the float32 pattern kept: sign + 8 exponent + 13 mantissa. */
export const BIN_BITS = 22;
const SHIFT = 32 - BIN_BITS;
const BINS = 1 << BIN_BITS;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Order-preserving 32-bit key of a float32 pattern: larger value, larger key. */
function orderedKey(bits: number): number {
  return (bits & 0x80000000) !== 0 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** Lowest float value whose key falls in bin `bin` (the threshold the bin stands for). */
export function binLowerEdge(bin: number): number {
  const key = (bin << SHIFT) >>> 0;
  // Invert orderedKey on the smallest key of the bin.
  u32[0] = (key & 0x80000000) !== 0 ? (key & 0x7fffffff) >>> 0 : ~key >>> 0;
  return f32[0] as number;
}

/** Bin of a score (exposed for tests). */
export function binOf(score: number): number {
  f32[0] = score;
  return orderedKey(u32[0] as number) >>> SHIFT;
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
  private readonly neg: Uint32Array;
  private readonly pos: Uint32Array;
  private readonly pro: Float64Array;
  private regions: number;
  private pixels: number;
  private stack: Int32Array;

  constructor() {
    this.neg = new Uint32Array(BINS);
    this.pos = new Uint32Array(BINS);
    this.pro = new Float64Array(BINS);
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
    const neg = this.neg;
    if (mask === null) {
      for (let i = 0; i < n; i++) {
        const b = bits[i] as number;
        if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) {
          throw new LinewatchError('LW_ERR_EVAL_INPUT', `${origin}: anomaly map value ${i} is NaN`);
        }
        const k = orderedKey(b) >>> SHIFT;
        neg[k] = (neg[k] as number) + 1;
      }
    } else {
      if (this.stack.length < n) this.stack = new Int32Array(n);
      const { labels, areas, count } = labelRegions(mask, height, width, this.stack);
      const pos = this.pos;
      const pro = this.pro;
      for (let i = 0; i < n; i++) {
        const b = bits[i] as number;
        if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) {
          throw new LinewatchError('LW_ERR_EVAL_INPUT', `${origin}: anomaly map value ${i} is NaN`);
        }
        const k = orderedKey(b) >>> SHIFT;
        const label = labels[i] as number;
        if (label === 0) {
          neg[k] = (neg[k] as number) + 1;
        } else {
          pos[k] = (pos[k] as number) + 1;
          pro[k] = (pro[k] as number) + 1 / (areas[label] as number);
        }
      }
      this.regions += count;
    }
    this.pixels += n;
  }

  /** Forgets everything (next category), keeping the allocated bins. */
  reset(): void {
    this.neg.fill(0);
    this.pos.fill(0);
    this.pro.fill(0);
    this.regions = 0;
    this.pixels = 0;
  }

  /** The non-empty bins, highest first, as the input of every curve in metrics.ts. */
  ranked(): RankedCounts {
    const { neg, pos, pro } = this;
    let m = 0;
    for (let k = 0; k < BINS; k++) if ((neg[k] as number) + (pos[k] as number) > 0) m++;
    const thresholds = new Float64Array(m);
    const p = new Float64Array(m);
    const q = new Float64Array(m);
    const w = new Float64Array(m);
    let j = 0;
    for (let k = BINS - 1; k >= 0; k--) {
      const a = neg[k] as number;
      const b = pos[k] as number;
      if (a + b === 0) continue;
      thresholds[j] = binLowerEdge(k);
      p[j] = b;
      q[j] = a;
      w[j] = pro[k] as number;
      j++;
    }
    return { thresholds, pos: p, neg: q, proWeight: w, regions: this.regions };
  }

  /**
   * The value below which a fraction `q` of the normal pixels lie (bin lower edge; for
   * good-image pixel calibration).
   */
  normalQuantile(q: number): number | null {
    let total = 0;
    const neg = this.neg;
    for (let k = 0; k < BINS; k++) total += neg[k] as number;
    if (total === 0) return null;
    const target = q * total;
    let seen = 0;
    for (let k = 0; k < BINS; k++) {
      seen += neg[k] as number;
      if (seen >= target && (neg[k] as number) > 0) return binLowerEdge(k);
    }
    return null;
  }
}
