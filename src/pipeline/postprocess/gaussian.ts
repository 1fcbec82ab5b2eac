/**
 * Separable gaussian blur of one plane, equal to a 2-D conv2d with the outer-product kernel
 * (INP-Former's get_gaussian_kernel with zero padding; anomalib's GaussianBlur2d with reflect).
 */

export type GaussianPadding = 'zero' | 'reflect';

export interface GaussianPlan {
  readonly height: number;
  readonly width: number;
  readonly kernel: Float64Array;
  readonly radius: number;
  readonly padding: GaussianPadding;
  /** Row pass result; reused every call. */
  readonly scratch: Float32Array;
  /** Source-row offsets and weights of the taps of one output row in the column pass. */
  readonly tapOffsets: Int32Array;
  readonly tapWeights: Float64Array;
}

/**
 * The normalised 1-D kernel: exp(−(i − (k−1)/2)² / 2σ²) / Σ. Its outer product with itself is the
 * normalised 2-D kernel the references build.
 */
export function gaussianKernel1d(size: number, sigma: number): Float64Array {
  if (!Number.isInteger(size) || size <= 0 || size % 2 === 0) throw new RangeError(`gaussian kernel size must be a positive odd integer, got ${size}`);
  if (!(sigma > 0)) throw new RangeError(`gaussian sigma must be positive, got ${sigma}`);
  const k = new Float64Array(size);
  const mean = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const d = i - mean;
    const v = Math.exp(-(d * d) / (2 * sigma * sigma));
    k[i] = v;
    sum += v;
  }
  for (let i = 0; i < size; i++) k[i] = (k[i] as number) / sum;
  return k;
}

/** Reflection without repeating the edge (PyTorch 'reflect'), folded as often as needed. */
function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

export function createGaussianPlan(height: number, width: number, sigma: number, kernelSize: number, padding: GaussianPadding): GaussianPlan {
  return {
    height,
    width,
    kernel: gaussianKernel1d(kernelSize, sigma),
    radius: (kernelSize - 1) / 2,
    padding,
    scratch: new Float32Array(height * width),
    tapOffsets: new Int32Array(kernelSize),
    tapWeights: new Float64Array(kernelSize),
  };
}

/** One output pixel of the row pass near an edge, where taps fall outside the row. */
function edgeTap(k: Float64Array, r: number, src: Float32Array, row: number, x: number, w: number, reflect: boolean): number {
  let acc = 0;
  for (let t = 0; t < k.length; t++) {
    let xx = x + t - r;
    if (xx < 0 || xx >= w) {
      if (!reflect) continue;
      xx = reflectIndex(xx, w);
    }
    acc += (k[t] as number) * (src[row + xx] as number);
  }
  return acc;
}

/**
 * Blurs `src[srcOffset … + H·W)` into `dst[dstOffset …]`; src and dst may be the same plane.
 * Rows first (branch-free in the interior), then columns with each output row's taps resolved
 * once, so both passes walk memory in order.
 */
export function gaussianBlur(plan: GaussianPlan, src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number): void {
  const h = plan.height;
  const w = plan.width;
  const k = plan.kernel;
  const r = plan.radius;
  const ks = k.length;
  const tmp = plan.scratch;
  const reflect = plan.padding === 'reflect';
  const interiorEnd = w - r;
  for (let y = 0; y < h; y++) {
    const row = srcOffset + y * w;
    const out = y * w;
    const left = r < w ? r : w;
    for (let x = 0; x < left; x++) tmp[out + x] = edgeTap(k, r, src, row, x, w, reflect);
    for (let x = r; x < interiorEnd; x++) {
      let a = 0;
      const base = row + x - r;
      for (let t = 0; t < ks; t++) a += (k[t] as number) * (src[base + t] as number);
      tmp[out + x] = a;
    }
    for (let x = interiorEnd > left ? interiorEnd : left; x < w; x++) tmp[out + x] = edgeTap(k, r, src, row, x, w, reflect);
  }
  const offs = plan.tapOffsets;
  const wts = plan.tapWeights;
  for (let y = 0; y < h; y++) {
    // The taps of this output row: source rows inside the plane (reflected, or dropped for zero padding).
    let m = 0;
    for (let t = 0; t < ks; t++) {
      let yy = y + t - r;
      if (yy < 0 || yy >= h) {
        if (!reflect) continue;
        yy = reflectIndex(yy, h);
      }
      offs[m] = yy * w;
      wts[m] = k[t] as number;
      m++;
    }
    const out = dstOffset + y * w;
    for (let x = 0; x < w; x++) {
      let a = 0;
      for (let j = 0; j < m; j++) a += (wts[j] as number) * (tmp[(offs[j] as number) + x] as number);
      dst[out + x] = a;
    }
  }
}
