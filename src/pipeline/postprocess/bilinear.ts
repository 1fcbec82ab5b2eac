/**
 * Bilinear resize with PyTorch's F.interpolate(mode='bilinear', antialias=False) semantics, for
 * both corner conventions. The per-axis source indices and weights depend only on the sizes, so
 * they are computed once into a plan and each frame is two indexed loops.
 */

/** Source indices and weights along one axis. */
interface AxisTable {
  readonly i0: Int32Array;
  readonly i1: Int32Array;
  /** Weight of i1; i0 gets 1 − w. */
  readonly w: Float32Array;
}

export interface BilinearPlan {
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly alignCorners: boolean;
  readonly ys: AxisTable;
  readonly xs: AxisTable;
}

function axisTable(inSize: number, outSize: number, alignCorners: boolean): AxisTable {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w = new Float32Array(outSize);
  // PyTorch computes the scale and source index in the tensor's precision (float32); Math.fround keeps us on the same grid.
  const scale = alignCorners
    ? outSize > 1
      ? Math.fround((inSize - 1) / (outSize - 1))
      : 0
    : Math.fround(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    let src = alignCorners ? Math.fround(scale * o) : Math.fround(Math.fround(scale * (o + 0.5)) - 0.5);
    if (src < 0) src = 0;
    let lo = Math.floor(src);
    if (lo > inSize - 1) lo = inSize - 1;
    const hi = lo < inSize - 1 ? lo + 1 : lo;
    i0[o] = lo;
    i1[o] = hi;
    w[o] = Math.fround(src - lo);
  }
  return { i0, i1, w };
}

/**
 * Plans a resize of one H×W plane.
 *
 * @example
 * const plan = createBilinearPlan(28, 28, 392, 392, false);
 * resizeBilinear(plan, map28, 0, map392, 0);
 */
export function createBilinearPlan(
  inHeight: number,
  inWidth: number,
  outHeight: number,
  outWidth: number,
  alignCorners: boolean,
): BilinearPlan {
  for (const [what, v] of [['inHeight', inHeight], ['inWidth', inWidth], ['outHeight', outHeight], ['outWidth', outWidth]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`bilinear resize: ${what} must be a positive integer, got ${v}`);
  }
  return {
    inHeight,
    inWidth,
    outHeight,
    outWidth,
    alignCorners,
    ys: axisTable(inHeight, outHeight, alignCorners),
    xs: axisTable(inWidth, outWidth, alignCorners),
  };
}

/**
 * Resizes one plane: `src[srcOffset … + inH·inW)` → `dst[dstOffset … + outH·outW)`, row-major.
 */
export function resizeBilinear(plan: BilinearPlan, src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number): void {
  const inW = plan.inWidth;
  const outW = plan.outWidth;
  const outH = plan.outHeight;
  const y0 = plan.ys.i0;
  const y1 = plan.ys.i1;
  const wy = plan.ys.w;
  const x0 = plan.xs.i0;
  const x1 = plan.xs.i1;
  const wx = plan.xs.w;
  for (let oy = 0; oy < outH; oy++) {
    const r0 = srcOffset + (y0[oy] as number) * inW;
    const r1 = srcOffset + (y1[oy] as number) * inW;
    const b = wy[oy] as number;
    const a = 1 - b;
    const d = dstOffset + oy * outW;
    for (let ox = 0; ox < outW; ox++) {
      const c0 = x0[ox] as number;
      const c1 = x1[ox] as number;
      const q = wx[ox] as number;
      const p = 1 - q;
      dst[d + ox] =
        a * (p * (src[r0 + c0] as number) + q * (src[r0 + c1] as number)) +
        b * (p * (src[r1 + c0] as number) + q * (src[r1 + c1] as number));
    }
  }
}
