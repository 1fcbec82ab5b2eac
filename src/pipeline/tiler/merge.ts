/**
 * Anomaly maps of overlapping tiles, merged back into strip coordinates by MAXIMUM: a defect that
 * one tile sees near its border (little context, weaker response) must not be diluted by the
 * neighbour that does not see it, which a mean would do; a false positive is cheaper on a line
 * than a missed defect. Rows are kept in a window that slides along the web.
 *
 * Most of a tile lands where no tile wrote before (only the overlaps are shared), and there the
 * maximum with −∞ is the tile's own value: each row remembers how far across it was written
 * (`filledTo`, columns at and past it are still −∞) and those columns are copied in one move
 * instead of compared value by value. A map's NaN (no value) can so land in a row; a later tile's
 * value replaces it, and readers treat NaN as they treat −∞: not anomalous, 0 in a crop's map.
 *
 * Each row also keeps the highest value any tile over it holds (`rowMax`, from the tile's maximum
 * as the caller measured it, or better its maximum per row): a row whose bound is under the
 * threshold cannot hold an anomalous pixel, so the region finder is spared reading it — on a good
 * web nearly every row, and with bounds per row also the rows of a bad web that no defect crosses.
 */
/**
 * An upper bound of a tile map's values (NaN ignored): one for the whole map, or one per map row
 * (tileH values), which spares the region finder the rows of an anomalous tile that hold no
 * anomaly.
 */
export type TileBound = number | Float32Array;

export class MapWindow {
  readonly width: number;
  /** Absolute line of the first row held. */
  private firstLine = 0;
  private rows: Float32Array;
  /** Per held row: columns from here on were never written since the row was taken (still −∞). */
  private filledTo: Int32Array;
  /** Per held row: the highest value of any tile merged into it (−∞ before any), an upper bound of the row. */
  private rowMax: Float32Array;
  private heldLines = 0;

  constructor(width: number, capacityLines: number) {
    this.width = width;
    this.rows = new Float32Array(width * capacityLines).fill(-Infinity);
    this.filledTo = new Int32Array(capacityLines);
    this.rowMax = new Float32Array(capacityLines).fill(-Infinity);
  }

  /**
   * Merges a tile's map (tileH × tileW, row-major, at tile resolution) placed at (x0, line0).
   * `bound` is its highest value (NaN ignored), or its highest value in each of its tileH rows,
   * when the caller knows it (measured where the map was made); otherwise it is measured here.
   */
  addTile(map: Float32Array, x0: number, line0: number, tileW: number, tileH: number, bound: TileBound = maxOf(map)): void {
    this.ensure(line0 + tileH);
    const width = this.width;
    const rows = this.rows;
    const filledTo = this.filledTo;
    const rowMax = this.rowMax;
    const base = line0 - this.firstLine;
    const x1 = x0 + tileW;
    for (let y = 0; y < tileH; y++) {
      const r = base + y;
      const b = typeof bound === 'number' ? bound : bound[y]!;
      if (b > rowMax[r]!) rowMax[r] = b;
      const o = r * width;
      const m = y * tileW;
      const filled = filledTo[r]!;
      // Columns [x0, shared) were written before: maximum; [shared, x1) were not: copied.
      const shared = filled < x0 ? x0 : filled > x1 ? x1 : filled;
      for (let x = x0; x < shared; x++) {
        const v = map[m + x - x0]!;
        const c = rows[o + x]!;
        // A NaN copied in earlier is no value: any later value replaces it.
        if (v > c || c !== c) rows[o + x] = v;
      }
      if (shared < x1) {
        // Columns between an earlier tile's right edge and x0 (tiles with a gap) stay −∞.
        rows.set(map.subarray(m + shared - x0, m + tileW), o + shared);
        filledTo[r] = x1;
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

  /** An upper bound of the values in row `line` (−∞ when no tile covers it). */
  rowBound(line: number): number {
    return this.rowMax[line - this.firstLine]!;
  }

  /** Forgets lines before `line` (their rows are final and were read). */
  release(line: number): void {
    const drop = line - this.firstLine;
    if (drop <= 0) return;
    const held = this.heldLines;
    const keep = held - drop;
    if (keep > 0) {
      this.rows.copyWithin(0, drop * this.width, held * this.width);
      this.filledTo.copyWithin(0, drop, held);
      this.rowMax.copyWithin(0, drop, held);
    }
    this.heldLines = keep > 0 ? keep : 0;
    // Only the rows vacated now need resetting: those past the old end were never written.
    this.rows.fill(-Infinity, this.heldLines * this.width, held * this.width);
    this.filledTo.fill(0, this.heldLines, held);
    this.rowMax.fill(-Infinity, this.heldLines, held);
    this.firstLine = line;
  }

  private ensure(endLine: number): void {
    const need = endLine - this.firstLine;
    if (need * this.width > this.rows.length) {
      const grown = new Float32Array(need * this.width * 2).fill(-Infinity);
      grown.set(this.rows.subarray(0, this.heldLines * this.width));
      this.rows = grown;
      const filled = new Int32Array(need * 2);
      filled.set(this.filledTo.subarray(0, this.heldLines));
      this.filledTo = filled;
      const bound = new Float32Array(need * 2).fill(-Infinity);
      bound.set(this.rowMax.subarray(0, this.heldLines));
      this.rowMax = bound;
    }
    if (need > this.heldLines) this.heldLines = need;
  }
}

/** The highest value of `map`, NaN ignored (−∞ for an empty or all-NaN map). */
export function maxOf(map: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < map.length; i++) if (map[i]! > max) max = map[i]!;
  return max;
}
