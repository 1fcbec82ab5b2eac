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

export class StreamingRegions {
  private threshold: number;
  /** Runs of the previous row: start, end (inclusive) and owner, sorted by start. */
  private prevStart: number[] = [];
  private prevEnd: number[] = [];
  private prevOwner: Open[] = [];
  private open = new Set<Open>();

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
    const curStart: number[] = [];
    const curEnd: number[] = [];
    const curOwner: Open[] = [];
    const width = row.length;
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
      while (p < this.prevEnd.length && this.prevEnd[p]! < start - 1) p++;
      let owner: Open | null = null;
      for (let q = p; q < this.prevStart.length && this.prevStart[q]! <= end + 1; q++) {
        const r = this.prevOwner[q]!.root();
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
      curStart.push(start);
      curEnd.push(end);
      curOwner.push(owner);
    }
    this.prevStart = curStart;
    this.prevEnd = curEnd;
    this.prevOwner = curOwner;
    return this.closeUntouched();
  }

  /** First line of the oldest region still open (null when none): nothing before it can still be reported. */
  oldestOpenLine(): number | null {
    let oldest: number | null = null;
    for (const r of this.open) if (oldest === null || r.minLine < oldest) oldest = r.minLine;
    return oldest;
  }

  /** Ends the strip: every open region comes out. */
  flush(): StripRegion[] {
    this.prevStart = [];
    this.prevEnd = [];
    this.prevOwner = [];
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
