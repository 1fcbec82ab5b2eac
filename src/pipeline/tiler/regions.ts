/**
 * Streaming 8-connected components over the rows of an endless strip: rows go in one at a time,
 * a region comes out once, when a row no longer touches it. A defect that straddles two camera
 * buffers or two tiles is one region here, because rows are read from the merged strip map.
 */

/** A finished region, in strip coordinates (pixels across, absolute lines along). */
export interface StripRegion {
  readonly x: number;
  readonly line: number;
  readonly w: number;
  readonly h: number;
  readonly area: number;
  readonly maxScore: number;
}

class Open {
  parent: Open = this;
  minX: number;
  maxX: number;
  minLine: number;
  maxLine: number;
  area = 0;
  maxScore = -Infinity;
  touched = false;

  constructor(x: number, line: number) {
    this.minX = x;
    this.maxX = x;
    this.minLine = line;
    this.maxLine = line;
  }

  root(): Open {
    let r: Open = this;
    while (r.parent !== r) r = r.parent;
    return r;
  }
}

/** What a row that closes no region returns (never written to). */
const NONE: StripRegion[] = [];
Object.freeze(NONE);

export class StreamingRegions {
  private threshold: number;
  /**
   * Runs of the previous row and of the current one: start, end (inclusive) and owner, sorted by
   * start; `prevRuns`/`curRuns` of them are in use. Kept between rows (two sets, swapped), so a
   * row allocates nothing unless it opens a region.
   */
  private prevStart = new Int32Array(0);
  private prevEnd = new Int32Array(0);
  private prevOwner: Open[] = [];
  private prevRuns = 0;
  private curStart = new Int32Array(0);
  private curEnd = new Int32Array(0);
  private curOwner: Open[] = [];
  private readonly open = new Set<Open>();

  /** Pixels with a value ≥ `threshold` are anomalous. */
  constructor(threshold: number) {
    this.threshold = threshold;
  }

  /** The threshold for the rows fed from now on (a hot rule change or a new model's calibration). */
  setThreshold(threshold: number): void {
    this.threshold = threshold;
  }

  /** Feeds row `line` (strictly increasing); returns the regions that ended before it. */
  push(row: Float32Array, line: number): StripRegion[] {
    const t = this.threshold;
    const width = row.length;
    // At most one run every two pixels.
    if (this.curStart.length < (width >> 1) + 1) {
      this.curStart = new Int32Array((width >> 1) + 1);
      this.curEnd = new Int32Array((width >> 1) + 1);
    }
    const curStart = this.curStart;
    const curEnd = this.curEnd;
    const curOwner = this.curOwner;
    const prevStart = this.prevStart;
    const prevEnd = this.prevEnd;
    const prevOwner = this.prevOwner;
    const prevRuns = this.prevRuns;
    let runs = 0;
    let p = 0;
    for (let x = 0; x < width; x++) {
      if (!(row[x]! >= t)) continue;
      const start = x;
      let max = row[x]!;
      while (x + 1 < width && row[x + 1]! >= t) {
        x++;
        if (row[x]! > max) max = row[x]!;
      }
      const end = x;
      // Previous runs that touch [start − 1, end + 1] (8-connectivity); both lists are sorted.
      while (p < prevRuns && prevEnd[p]! < start - 1) p++;
      let owner: Open | null = null;
      for (let q = p; q < prevRuns && prevStart[q]! <= end + 1; q++) {
        const r = prevOwner[q]!.root();
        if (owner === null) owner = r;
        else if (r !== owner) {
          r.parent = owner;
          if (r.minX < owner.minX) owner.minX = r.minX;
          if (r.maxX > owner.maxX) owner.maxX = r.maxX;
          if (r.minLine < owner.minLine) owner.minLine = r.minLine;
          owner.area += r.area;
          if (r.maxScore > owner.maxScore) owner.maxScore = r.maxScore;
          this.open.delete(r);
        }
      }
      if (owner === null) {
        owner = new Open(start, line);
        this.open.add(owner);
      }
      if (start < owner.minX) owner.minX = start;
      if (end > owner.maxX) owner.maxX = end;
      owner.maxLine = line;
      owner.area += end - start + 1;
      if (max > owner.maxScore) owner.maxScore = max;
      owner.touched = true;
      curStart[runs] = start;
      curEnd[runs] = end;
      curOwner[runs] = owner;
      runs++;
    }
    // The current row becomes the previous one; the old previous arrays are reused next row.
    this.curStart = prevStart;
    this.curEnd = prevEnd;
    this.curOwner = prevOwner;
    this.prevStart = curStart;
    this.prevEnd = curEnd;
    this.prevOwner = curOwner;
    this.prevRuns = runs;
    // Owners past `runs` are stale references; they are overwritten before being read.
    return this.open.size === 0 ? NONE : this.closeUntouched();
  }

  /**
   * Feeds row `line` known to hold no value ≥ the threshold (its upper bound is below it): the
   * same as push() of such a row, without reading it.
   */
  pushEmpty(line: number): StripRegion[] {
    void line;
    this.prevRuns = 0;
    return this.open.size === 0 ? NONE : this.closeUntouched();
  }

  /** Whether a row whose values are all at most `bound` can hold an anomalous pixel. */
  mayHold(bound: number): boolean {
    return bound >= this.threshold;
  }

  /** First line of the oldest region still open (null when none): nothing before it can still be reported. */
  oldestOpenLine(): number | null {
    let oldest: number | null = null;
    for (const r of this.open) if (oldest === null || r.minLine < oldest) oldest = r.minLine;
    return oldest;
  }

  /** Ends the strip: every open region comes out. */
  flush(): StripRegion[] {
    this.prevRuns = 0;
    this.prevOwner.length = 0;
    this.curOwner.length = 0;
    return this.closeUntouched();
  }

  private closeUntouched(): StripRegion[] {
    const done: StripRegion[] = [];
    for (const r of this.open) {
      if (r.touched) {
        r.touched = false;
        continue;
      }
      this.open.delete(r);
      done.push({ x: r.minX, line: r.minLine, w: r.maxX - r.minX + 1, h: r.maxLine - r.minLine + 1, area: r.area, maxScore: r.maxScore });
    }
    return done;
  }
}
