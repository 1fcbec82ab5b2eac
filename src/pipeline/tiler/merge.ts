/**
 * Anomaly maps of overlapping tiles, merged back into strip coordinates by MAXIMUM: a defect that
 * one tile sees near its border (little context, weaker response) must not be diluted by the
 * neighbour that does not see it, which a mean would do; a false positive is cheaper on a line
 * than a missed defect. Rows are kept in a window that slides along the web.
 */
export class MapWindow {
  readonly width: number;
  /** Absolute line of the first row held. */
  private firstLine = 0;
  private rows: Float32Array;
  private heldLines = 0;

  constructor(width: number, capacityLines: number) {
    this.width = width;
    this.rows = new Float32Array(width * capacityLines).fill(-Infinity);
  }

  /** Merges a tile's map (tileH × tileW, row-major, at tile resolution) placed at (x0, line0). */
  addTile(map: Float32Array, x0: number, line0: number, tileW: number, tileH: number): void {
    this.ensure(line0 + tileH);
    const width = this.width;
    const rows = this.rows;
    const base = line0 - this.firstLine;
    for (let y = 0; y < tileH; y++) {
      const o = (base + y) * width + x0;
      const m = y * tileW;
      for (let x = 0; x < tileW; x++) {
        const v = map[m + x]!;
        if (v > rows[o + x]!) rows[o + x] = v;
      }
    }
  }

  /** Absolute line of the first row still held. */
  get first(): number {
    return this.firstLine;
  }

  /** The merged row of absolute line `line` (a view; valid until the next call). */
  row(line: number): Float32Array {
    const i = line - this.firstLine;
    return this.rows.subarray(i * this.width, (i + 1) * this.width);
  }

  /** Forgets lines before `line` (their rows are final and were read). */
  release(line: number): void {
    const drop = line - this.firstLine;
    if (drop <= 0) return;
    const keep = this.heldLines - drop;
    if (keep > 0) this.rows.copyWithin(0, drop * this.width, this.heldLines * this.width);
    this.heldLines = keep > 0 ? keep : 0;
    this.rows.fill(-Infinity, this.heldLines * this.width);
    this.firstLine = line;
  }

  private ensure(endLine: number): void {
    const need = endLine - this.firstLine;
    if (need * this.width > this.rows.length) {
      const grown = new Float32Array(need * this.width * 2).fill(-Infinity);
      grown.set(this.rows.subarray(0, this.heldLines * this.width));
      this.rows = grown;
    }
    if (need > this.heldLines) this.heldLines = need;
  }
}
