/**
 * 8-connected labelling of ground-truth masks, as the MVTec AD authors define a defect region for
 * PRO (scipy.ndimage.label with a 3×3 structuring element).
 */

/** Labels per pixel (0 = background, 1..count) and each region's area in pixels. */
export interface RegionLabels {
  readonly labels: Int32Array;
  /** areas[label] for label 1..count; areas[0] is unused. */
  readonly areas: Float64Array;
  readonly count: number;
}

/**
 * Labels the non-zero pixels of a mask into 8-connected regions.
 * @param stack optional scratch of at least height·width entries, reused across calls
 * @example labelRegions(Uint8Array.of(1, 0, 0, 1), 2, 2).count // 1: diagonal neighbours connect
 */
export function labelRegions(mask: Uint8Array, height: number, width: number, stack?: Int32Array): RegionLabels {
  const n = height * width;
  const labels = new Int32Array(n);
  const todo = stack && stack.length >= n ? stack : new Int32Array(n);
  const areaList: number[] = [0];
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (mask[start] === 0 || labels[start] !== 0) continue;
    count++;
    let area = 0;
    let top = 0;
    todo[top++] = start;
    labels[start] = count;
    while (top > 0) {
      const p = todo[--top] as number;
      area++;
      const y = (p / width) | 0;
      const x = p - y * width;
      const y0 = y > 0 ? y - 1 : 0;
      const y1 = y < height - 1 ? y + 1 : y;
      const x0 = x > 0 ? x - 1 : 0;
      const x1 = x < width - 1 ? x + 1 : x;
      for (let yy = y0; yy <= y1; yy++) {
        const row = yy * width;
        for (let xx = x0; xx <= x1; xx++) {
          const q = row + xx;
          if (mask[q] !== 0 && labels[q] === 0) {
            labels[q] = count;
            todo[top++] = q;
          }
        }
      }
    }
    areaList.push(area);
  }
  return { labels, areas: Float64Array.from(areaList), count };
}
