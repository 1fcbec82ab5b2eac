import type { LineDefect } from './index.js';

/**
 * NG crops of a line-scan strip: for each defect, its box plus a margin (clamped to the strip and to
 * the lines still held), cut out of the strip pixels and the merged anomaly map, so that a
 * rejected segment can be shown without keeping the whole segment in memory. Only cut while
 * someone wants them (see LineScanTiler.keepCrops): otherwise the tiler keeps no extra lines.
 */
/** A window of the strip: top-left pixel across (x) and absolute line along (line), and its size. */
export interface CropWindow {
  readonly x: number;
  readonly line: number;
  readonly width: number;
  readonly height: number;
}

export interface DefectCrop extends CropWindow {
  readonly defect: LineDefect;
  /** height × width × channels bytes, row-major (the strip's pixel format). */
  readonly pixels: Uint8Array;
  /** height × width merged map values (raw, as the model gave them). */
  readonly map: Float32Array;
}

/** The crop window of a defect: its box grown by `margin` on each side, clamped to [0, width) × [fromLine, toLine). */
export function cropWindow(d: LineDefect, margin: number, width: number, fromLine: number, toLine: number): CropWindow | null {
  const x0 = Math.max(0, d.x - margin);
  const x1 = Math.min(width, d.x + d.w + margin);
  const l0 = Math.max(fromLine, d.y - margin);
  const l1 = Math.min(toLine, d.y + d.h + margin);
  if (x1 <= x0 || l1 <= l0) return null;
  return { x: x0, line: l0, width: x1 - x0, height: l1 - l0 };
}
