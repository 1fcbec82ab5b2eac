/**
 * Image scores from a finished anomaly map: the rules a manifest may name (score.rule).
 * Each scorer owns its scratch buffers, sized once for the map.
 */
import type { z } from 'zod';
import type { scoreRule } from '../../models/manifest.js';

export type ScoreRule = z.infer<typeof scoreRule>;

export interface Scorer {
  readonly rule: ScoreRule;
  /** Score of the H×W plane at `offset`. */
  score(map: Float32Array, offset: number): number;
}

/** k = floor(H·W·fraction), at least 1 (torch.topk needs k ≥ 1). */
export function topkCount(height: number, width: number, fraction: number): number {
  return Math.max(1, Math.floor(height * width * fraction));
}

function medianOf3(x: number, y: number, z: number): number {
  if (x < y) {
    if (y < z) return y;
    return x < z ? z : x;
  }
  if (x < z) return x;
  return y < z ? z : y;
}

/**
 * Rearranges `a[0…n)` so that `a[k]` holds the value it would have if sorted descending, larger
 * values before it (quickselect, Hoare partition with median-of-three; O(n) expected).
 */
export function selectDescending(a: Float32Array, n: number, k: number): void {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot keeps sorted or constant maps from going quadratic.
    const pivot = medianOf3(a[lo] as number, a[mid] as number, a[hi] as number);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) > pivot) i++;
      while ((a[j] as number) < pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

class TopkMeanScorer implements Scorer {
  readonly rule: ScoreRule;
  private readonly n: number;
  private readonly k: number;
  private readonly scratch: Float32Array;

  constructor(rule: ScoreRule & { op: 'topk-mean' }, height: number, width: number) {
    this.rule = rule;
    this.n = height * width;
    this.k = topkCount(height, width, rule.fraction);
    this.scratch = new Float32Array(this.n);
  }

  score(map: Float32Array, offset: number): number {
    const s = this.scratch;
    const n = this.n;
    const k = this.k;
    s.set(map.subarray(offset, offset + n));
    if (k < n) selectDescending(s, n, k - 1);
    let sum = 0;
    for (let i = 0; i < k; i++) sum += s[i] as number;
    return sum / k;
  }
}

class MaxScorer implements Scorer {
  readonly rule: ScoreRule;
  private readonly n: number;

  constructor(rule: ScoreRule, height: number, width: number) {
    this.rule = rule;
    this.n = height * width;
  }

  score(map: Float32Array, offset: number): number {
    let m = -Infinity;
    const end = offset + this.n;
    for (let i = offset; i < end; i++) {
      const v = map[i] as number;
      if (v > m) m = v;
    }
    return m;
  }
}

/** Max of F.avg_pool2d(map, kernel, stride=1) without padding, via a summed-area table. */
class AvgPoolMaxScorer implements Scorer {
  readonly rule: ScoreRule;
  private readonly h: number;
  private readonly w: number;
  private readonly kernel: number;
  private readonly sat: Float64Array;

  constructor(rule: ScoreRule & { op: 'avgpool-max' }, height: number, width: number) {
    if (rule.kernel > height || rule.kernel > width) {
      throw new RangeError(`avgpool-max kernel ${rule.kernel} is larger than the ${width}x${height} map`);
    }
    this.rule = rule;
    this.h = height;
    this.w = width;
    this.kernel = rule.kernel;
    this.sat = new Float64Array((height + 1) * (width + 1));
  }

  score(map: Float32Array, offset: number): number {
    const h = this.h;
    const w = this.w;
    const k = this.kernel;
    const sat = this.sat;
    const sw = w + 1;
    for (let y = 0; y < h; y++) {
      let rowSum = 0;
      const src = offset + y * w;
      const up = y * sw;
      const here = (y + 1) * sw;
      for (let x = 0; x < w; x++) {
        rowSum += map[src + x] as number;
        sat[here + x + 1] = (sat[up + x + 1] as number) + rowSum;
      }
    }
    let best = -Infinity;
    const area = k * k;
    for (let y = 0; y + k <= h; y++) {
      const top = y * sw;
      const bottom = (y + k) * sw;
      for (let x = 0; x + k <= w; x++) {
        const s = (sat[bottom + x + k] as number) - (sat[top + x + k] as number) - (sat[bottom + x] as number) + (sat[top + x] as number);
        if (s > best) best = s;
      }
    }
    return best / area;
  }
}

/**
 * A scorer for maps of one size.
 *
 * @example
 * const s = createScorer({ op: 'topk-mean', fraction: 0.01 }, 392, 392);
 * const score = s.score(map, 0);
 */
export function createScorer(rule: ScoreRule, height: number, width: number): Scorer {
  switch (rule.op) {
    case 'topk-mean':
      return new TopkMeanScorer(rule, height, width);
    case 'max':
      return new MaxScorer(rule, height, width);
    case 'avgpool-max':
      return new AvgPoolMaxScorer(rule, height, width);
  }
}
