import type { DefectCrop } from './crops.js';
import type { LineDefect } from './index.js';

/** The decision for one length of web, fired when the strip is final past its end. */
export interface SegmentDecision {
  readonly index: number;
  readonly startMm: number;
  readonly endMm: number;
  readonly verdict: 'ok' | 'reject';
  readonly defects: readonly LineDefect[];
  readonly maxScore: number | null;
  /** Rejected segments while NG crops are kept (LineScanTiler.keepCrops): one crop per defect. */
  readonly crops?: readonly DefectCrop[];
}

/**
 * Groups defects into consecutive segments of `lengthMm` along the web (a cut length, a part
 * pitch) and decides each once: reject if it holds a defect of at least `minAreaPx`. A defect
 * belongs to the segment where it starts, so it is never counted twice.
 */
export class SegmentJudge {
  private readonly lengthMm: number;
  private readonly minAreaPx: number;
  private current = 0;
  private pending: LineDefect[] = [];

  constructor(lengthMm: number, minAreaPx: number) {
    this.lengthMm = lengthMm;
    this.minAreaPx = minAreaPx;
  }

  add(defect: LineDefect): void {
    this.pending.push(defect);
  }

  /** Decides every segment that ends at or before `finalMm` (nothing after it can change them). */
  advance(finalMm: number): SegmentDecision[] {
    const out: SegmentDecision[] = [];
    while ((this.current + 1) * this.lengthMm <= finalMm) out.push(this.close());
    return out;
  }

  /** End of web: decides the segment in progress. */
  flush(): SegmentDecision[] {
    return this.pending.length > 0 ? [this.close()] : [];
  }

  private close(): SegmentDecision {
    const index = this.current++;
    const startMm = index * this.lengthMm;
    const endMm = startMm + this.lengthMm;
    const mine: LineDefect[] = [];
    const rest: LineDefect[] = [];
    for (const d of this.pending) (d.alongMm < endMm ? mine : rest).push(d);
    this.pending = rest;
    let maxScore: number | null = null;
    let reject = false;
    for (const d of mine) {
      if (maxScore === null || d.maxScore > maxScore) maxScore = d.maxScore;
      if (d.area >= this.minAreaPx) reject = true;
    }
    return { index, startMm, endMm, verdict: reject ? 'reject' : 'ok', defects: mine, maxScore };
  }
}
