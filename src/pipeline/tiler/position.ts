/**
 * Lines → millimetres along the web: a fixed resolution (a line every `mmPerLine`), or the
 * encoder (each buffer's first line carries the encoder count; lines between two anchors are
 * interpolated, lines after the last one extrapolated at the last known speed).
 */
export type WebResolution =
  | { readonly kind: 'fixed'; readonly mmPerLine: number }
  | { readonly kind: 'encoder'; readonly countsPerMm: number };

export class LinePositions {
  private readonly resolution: WebResolution;
  private readonly lines: number[] = [];
  private readonly counts: number[] = [];

  constructor(resolution: WebResolution) {
    this.resolution = resolution;
  }

  /** Records that absolute `line` was captured at encoder count `count`. */
  anchor(line: number, count: number): void {
    this.lines.push(line);
    this.counts.push(count);
    // Only recent anchors matter: positions are asked for lines just behind the newest buffer.
    if (this.lines.length > 64) {
      this.lines.splice(0, 32);
      this.counts.splice(0, 32);
    }
  }

  /** Position of `line` (may be fractional) along the web, in mm from the strip's start (or encoder zero). */
  mm(line: number): number {
    const res = this.resolution;
    if (res.kind === 'fixed') return line * res.mmPerLine;
    const n = this.lines.length;
    if (n === 0) return Number.NaN;
    if (n === 1) return this.counts[0]! / res.countsPerMm;
    let i = n - 2;
    while (i > 0 && this.lines[i]! > line) i--;
    const l0 = this.lines[i]!;
    const l1 = this.lines[i + 1]!;
    const c0 = this.counts[i]!;
    const c1 = this.counts[i + 1]!;
    const count = l1 === l0 ? c0 : c0 + ((line - l0) * (c1 - c0)) / (l1 - l0);
    return count / res.countsPerMm;
  }
}
