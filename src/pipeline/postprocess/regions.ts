/**
 * 8-connected components of the pixels at or above a threshold: the defects of one map.
 */
import type { Defect } from '../verdict.js';
import { cameraPixelsPerMapPixel, mapRectToCamera, type FrameGeometry } from '../geometry.js';

/** A connected region in map pixels. */
export interface Region {
  /** Bounding box, map pixels (x, y top-left; w, h in pixels). */
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  /** Number of map pixels in the region. */
  readonly area: number;
  /** Highest map value inside the region. */
  readonly max: number;
}

/**
 * Reusable labelling buffers for maps of one size; findRegions keeps one per size so a
 * station's steady state allocates only the Region objects it returns.
 */
export class RegionFinder {
  readonly height: number;
  readonly width: number;
  private readonly seen: Uint8Array;
  private readonly stack: Int32Array;

  constructor(height: number, width: number) {
    this.height = height;
    this.width = width;
    this.seen = new Uint8Array(height * width);
    this.stack = new Int32Array(height * width);
  }

  /** Regions of `map[offset … + H·W)` with value ≥ threshold, in raster order of their first pixel. */
  find(map: Float32Array, offset: number, threshold: number): Region[] {
    const h = this.height;
    const w = this.width;
    const n = h * w;
    const seen = this.seen;
    const stack = this.stack;
    seen.fill(0);
    const out: Region[] = [];
    for (let start = 0; start < n; start++) {
      if (seen[start] !== 0 || !((map[offset + start] as number) >= threshold)) continue;
      seen[start] = 1;
      let top = 0;
      stack[top++] = start;
      let minX = w;
      let minY = h;
      let maxX = -1;
      let maxY = -1;
      let area = 0;
      let best = -Infinity;
      while (top > 0) {
        const p = stack[--top] as number;
        const py = (p / w) | 0;
        const px = p - py * w;
        const v = map[offset + p] as number;
        area++;
        if (v > best) best = v;
        if (px < minX) minX = px;
        if (px > maxX) maxX = px;
        if (py < minY) minY = py;
        if (py > maxY) maxY = py;
        const y0 = py > 0 ? py - 1 : 0;
        const y1 = py < h - 1 ? py + 1 : py;
        const x0 = px > 0 ? px - 1 : 0;
        const x1 = px < w - 1 ? px + 1 : px;
        for (let yy = y0; yy <= y1; yy++) {
          const row = yy * w;
          for (let xx = x0; xx <= x1; xx++) {
            const q = row + xx;
            if (seen[q] === 0 && (map[offset + q] as number) >= threshold) {
              seen[q] = 1;
              stack[top++] = q;
            }
          }
        }
      }
      out.push({ x: minX, y: minY, w: maxX - minX + 1, h: maxY - minY + 1, area, max: best });
    }
    return out;
  }
}

let cached: RegionFinder | null = null;

/**
 * 8-connected regions of an H×W map (row-major) at or above `threshold`.
 *
 * @example
 * findRegions(map, 392, 392, 0.42) // [{ x: 10, y: 20, w: 5, h: 3, area: 12, max: 0.9 }]
 */
export function findRegions(map: Float32Array, height: number, width: number, threshold: number): Region[] {
  if (map.length < height * width) {
    throw new RangeError(`findRegions: map has ${map.length} values, a ${width}x${height} map needs ${height * width}`);
  }
  if (cached === null || cached.height !== height || cached.width !== width) cached = new RegionFinder(height, width);
  return cached.find(map, 0, threshold);
}

/**
 * A region in map pixels → a defect in camera pixels: bbox grown to whole camera pixels and
 * clipped to the ROI; area = map pixels × camera pixels per map pixel, rounded.
 */
export function regionToCamera(region: Region, geometry: FrameGeometry, mapHeight: number, mapWidth: number): Defect {
  const r = mapRectToCamera(geometry, mapWidth, mapHeight, { x: region.x, y: region.y, width: region.w, height: region.h });
  return {
    x: r.x,
    y: r.y,
    w: r.width,
    h: r.height,
    area: Math.max(1, Math.round(region.area * cameraPixelsPerMapPixel(geometry, mapWidth, mapHeight))),
    maxScore: region.max,
  };
}
