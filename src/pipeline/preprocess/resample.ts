/**
 * PIL's separable resampling (Pillow's Resample.c), reproduced exactly for 8-bit images: the
 * filter's support widens by the shrink factor (antialiasing), coefficients are normalised, turned
 * into 22-bit fixed point, and the horizontal pass runs first into an 8-bit intermediate. INP-Former
 * and most anomaly-detection recipes resize with torchvision on PIL images, so the runtime must
 * resize the same way or the model sees different pixels than in training. libvips (sharp) does
 * not: its upsampling differs by up to 139 grey levels on the reference image.
 */

export type ResampleFilter = 'bilinear' | 'bicubic' | 'nearest';

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

function filterSupport(f: ResampleFilter): number {
  return f === 'bicubic' ? 2 : 1;
}

function filterWeight(f: ResampleFilter, x: number): number {
  const ax = x < 0 ? -x : x;
  if (f === 'bilinear') return ax < 1 ? 1 - ax : 0;
  // Keys' cubic with a = −0.5, as Pillow.
  const a = -0.5;
  if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
  return 0;
}

/** Fixed-point coefficients of one axis: for output i, `size[i]` taps from input `start[i]`. */
export interface AxisPlan {
  readonly outSize: number;
  readonly taps: number;
  readonly start: Int32Array;
  readonly size: Int32Array;
  /** outSize × taps integer weights (sum ≈ 2^22). Int32: every accumulation stays below 2^31. */
  readonly weights: Int32Array;
}

/**
 * @param antialias false keeps the filter at unit support when shrinking (plain bilinear, no
 *   low-pass), as torchvision's tensor resize with antialias=False.
 */
export function planAxis(inSize: number, outSize: number, filter: ResampleFilter, antialias = true): AxisPlan {
  const scale = inSize / outSize;
  if (filter === 'nearest') return planNearest(inSize, outSize, scale);
  const filterScale = antialias && scale > 1 ? scale : 1;
  const support = filterSupport(filter) * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const size = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const k = new Float64Array(taps);
  const ss = 1 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // C's (int) cast truncates toward zero; these values are ≥ −support, so truncation as Pillow.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filterWeight(filter, (x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[o * taps + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[o] = xmin;
    size[o] = xmax;
  }
  return { outSize, taps, start, size, weights };
}

/** PIL's NEAREST: the input pixel under the output pixel's centre, one tap of weight 1. */
function planNearest(inSize: number, outSize: number, scale: number): AxisPlan {
  const start = new Int32Array(outSize);
  const size = new Int32Array(outSize).fill(1);
  const weights = new Int32Array(outSize).fill(ONE);
  for (let o = 0; o < outSize; o++) start[o] = Math.min(inSize - 1, Math.floor((o + 0.5) * scale));
  return { outSize, taps: 1, start, size, weights };
}

function clip8(v: number): number {
  if (v <= 0) return 0;
  if (v >= ONE * 256) return 255;
  return v >> PRECISION_BITS;
}

/** A whole resize: both axes planned once, reused for every frame of that size. */
export interface ResamplePlan {
  readonly inWidth: number;
  readonly inHeight: number;
  readonly outWidth: number;
  readonly outHeight: number;
  readonly x: AxisPlan;
  readonly y: AxisPlan;
}

export function planResample(
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter,
  antialias = true,
): ResamplePlan {
  return {
    inWidth,
    inHeight,
    outWidth,
    outHeight,
    x: planAxis(inWidth, outWidth, filter, antialias),
    y: planAxis(inHeight, outHeight, filter, antialias),
  };
}

/**
 * The horizontal pass's intermediate, kept between frames (this runs synchronously, one frame at a
 * time per thread): a fresh one per frame was a second large buffer for the GC to find and free.
 */
let tmpScratch = new Uint8Array(0);
function scratch(bytes: number): Uint8Array {
  if (tmpScratch.length < bytes) tmpScratch = new Uint8Array(bytes);
  return tmpScratch.subarray(0, bytes);
}

/**
 * Resizes interleaved 8-bit pixels as PIL's `Image.resize` does and returns only the window
 * `[cropX, cropX+cropW) × [cropY, cropY+cropH)` of the resized image (the centre crop), so that
 * pixels outside it are never computed. `srcStride` is the bytes from one source row to the next
 * (default: tightly packed), so that a view of a wider image — a line-scan tile in its strip, a
 * camera buffer with padded rows — is read where it lies, without a copy first.
 *
 * @example
 * const plan = planResample(1280, 960, 448, 448, 'bilinear');
 * const input = resampleCrop(plan, rgb, 3, 28, 28, 392, 392); // 392×392×3
 */
export function resampleCrop(
  plan: ResamplePlan,
  src: Uint8Array,
  channels: number,
  cropX: number,
  cropY: number,
  cropW: number,
  cropH: number,
  srcStride: number = plan.inWidth * channels,
): Buffer {
  const inW = plan.inWidth;
  const px = plan.x;
  const py = plan.y;
  if (srcStride < inW * channels || src.length < srcStride * (plan.inHeight - 1) + inW * channels) {
    throw new RangeError(`resample: ${src.length} bytes (rows ${srcStride} apart) for a ${inW}x${plan.inHeight}x${channels} image`);
  }
  // Input rows that the crop's output rows read (exactly the crop's rows when heights match).
  const keepRows = plan.inHeight === py.outSize;
  let rowFirst = keepRows ? cropY : plan.inHeight;
  let rowLast = keepRows ? cropY + cropH : 0;
  if (!keepRows) {
    for (let o = cropY; o < cropY + cropH; o++) {
      const s = py.start[o]!;
      if (s < rowFirst) rowFirst = s;
      if (s + py.size[o]! > rowLast) rowLast = s + py.size[o]!;
    }
  }
  const rows = rowLast - rowFirst;
  // Horizontal pass first (as Pillow), into an 8-bit intermediate of the needed rows × crop columns.
  const tmp = scratch(rows * cropW * channels);
  const xt = px.taps;
  const xw = px.weights;
  // An axis that keeps its size is not resampled at all (Pillow skips that pass too), so a frame
  // that already has the resize size is only cropped.
  if (inW === px.outSize) {
    const rowBytes = cropW * channels;
    for (let r = 0; r < rows; r++) {
      const from = (r + rowFirst) * srcStride + cropX * channels;
      tmp.set(src.subarray(from, from + rowBytes), r * rowBytes);
    }
  } else for (let r = 0; r < rows; r++) {
    const rowBase = (r + rowFirst) * srcStride;
    for (let c = 0; c < cropW; c++) {
      const o = c + cropX;
      const n = px.size[o]!;
      const kb = o * xt;
      const ob = (r * cropW + c) * channels;
      let p = rowBase + px.start[o]! * channels;
      if (channels === 3) {
        // Three accumulators per tap: one pass over the interleaved pixels.
        let a0 = HALF;
        let a1 = HALF;
        let a2 = HALF;
        for (let t = 0; t < n; t++) {
          const w = xw[kb + t]!;
          a0 += src[p]! * w;
          a1 += src[p + 1]! * w;
          a2 += src[p + 2]! * w;
          p += 3;
        }
        tmp[ob] = clip8(a0);
        tmp[ob + 1] = clip8(a1);
        tmp[ob + 2] = clip8(a2);
      } else {
        for (let ch = 0; ch < channels; ch++) {
          let acc = HALF;
          let q = p + ch;
          for (let t = 0; t < n; t++) {
            acc += src[q]! * xw[kb + t]!;
            q += channels;
          }
          tmp[ob + ch] = clip8(acc);
        }
      }
    }
  }
  // Never from Node's shared pool (64 KiB since Node 24, 8 KiB before): pixels that own their
  // whole buffer are handed to the engine as the tensor itself (batchTensor), a pool slice is copied.
  const out = Buffer.allocUnsafeSlow(cropW * cropH * channels);
  const yt = py.taps;
  const yw = py.weights;
  const rowStride = cropW * channels;
  if (keepRows) {
    // Rows kept: the intermediate rows are the crop's rows, already the output.
    out.set(tmp.subarray(0, cropH * rowStride));
    return out;
  }
  // Row-wise accumulation: each tap adds a whole intermediate row (sequential memory).
  const acc = new Int32Array(rowStride);
  for (let r = 0; r < cropH; r++) {
    const o = r + cropY;
    const s = py.start[o]! - rowFirst;
    const n = py.size[o]!;
    const kb = o * yt;
    acc.fill(HALF);
    for (let t = 0; t < n; t++) {
      const w = yw[kb + t]!;
      const base = (s + t) * rowStride;
      for (let i = 0; i < rowStride; i++) acc[i] = acc[i]! + tmp[base + i]! * w;
    }
    const ob = r * rowStride;
    for (let i = 0; i < rowStride; i++) out[ob + i] = clip8(acc[i]!);
  }
  return out;
}
