import { BUFFER_FLAG_DISCONT, type SampleMeta } from './binding.js';

/**
 * Which frames a pipeline run lost, from what each delivered sample says about itself. Pure.
 *
 * - The appsink: the patch numbers every buffer that reaches it, so a jump in those numbers
 *   between two delivered samples is exactly the buffers it dropped (drop=true, linewatch behind).
 * - Before the appsink (camera, network, elements): the source's own numbering when it has one —
 *   buffer offsets that are frame numbers (offset_end = offset + 1: videotestsrc, v4l2src, appsrc
 *   that sets them) —, else the gap between timestamps at a known frame period (a free-running
 *   camera at a fixed rate), else a DISCONT flag with the timestamp gap over the buffer's duration.
 *   A jump there counts everything missing between the two, of which the appsink's part is known,
 *   so the rest was lost before it. A source that gives none of these cannot tell such losses.
 */

/**
 * What tells a run's losses before the appsink: frame-number offsets (seen on its samples), gaps
 * between timestamps at a set frame period, DISCONT flags the source sets where data went missing
 * (only an rtsp depayloader or the like does), or nothing at all.
 */
export type UpstreamEvidence = 'offsets' | 'timestamps' | 'discont' | 'none';

/** How a source's losses before the appsink can show, decided from its configuration (LaunchPlan). */
export interface UpstreamLossPlan {
  /** The source numbers its frames in buffer offsets (videotestsrc, v4l2src): what to report before a sample shows it. */
  readonly numbersFrames: boolean;
  /** Frame period of a free-running camera at a set rate, in ns; null where timestamps are irregular. */
  readonly timestampPeriodNs: bigint | null;
  /** The source marks lost data with DISCONT (rtsp, a custom launch line); aravissrc, for one, does not. */
  readonly flagsDiscont: boolean;
  /**
   * The source's frame numbers start again at 1 after this one (GigE Vision 1.x block ids: 16 bits,
   * 0 never used, so 65535 → 1); null where they never wrap. A smaller offset within a run is then
   * a wrap, not a source that started counting again.
   */
  readonly offsetsWrapAfter?: number | null;
}

/** Frames missing right before a delivered sample. */
export interface Gap {
  /** Dropped by the appsink. */
  readonly appsink: number;
  /** Lost before the appsink. */
  readonly upstream: number;
  /**
   * Source offset (frame number) of the first missing frame when all of them were lost before the
   * appsink; the next ones follow it ({@link lostOffsets}: across a wrap, from 1 again).
   */
  readonly firstOffset: number | null;
}

/**
 * The source offsets of a gap's frames lost before the appsink, or null when they are not known.
 *
 * @example
 * lostOffsets({ appsink: 0, upstream: 3, firstOffset: 65534 }, 65535) // [65534, 65535, 1]
 */
export function lostOffsets(gap: Gap, wrapAfter: number | null | undefined): number[] | null {
  if (gap.firstOffset === null) return null;
  const out: number[] = [];
  for (let i = 0; i < gap.upstream; i++) {
    const o = gap.firstOffset + i;
    out.push(wrapAfter !== null && wrapAfter !== undefined && o > wrapAfter ? o - wrapAfter : o);
  }
  return out;
}

const NO_GAP: Gap = Object.freeze({ appsink: 0, upstream: 0, firstOffset: null });

/** `(to − from) / period − 1` frames fit strictly between two timestamps one period apart each. */
function framesBetween(from: bigint, to: bigint, periodNs: bigint): number {
  if (periodNs <= 0n || to <= from) return 0;
  // Rounded: timestamps jitter by a fraction of a period.
  const n = Number((to - from + periodNs / 2n) / periodNs) - 1;
  return n > 0 ? n : 0;
}

export class RunLosses {
  /** Arrival number of the last delivered sample (the appsink's count when the run started, at first). */
  private lastArrival: number;
  private lastOffset: number | null = null;
  private lastPts: bigint | null = null;
  private readonly periodNs: bigint | null;
  private readonly flagsDiscont: boolean;
  /** Whether the run's samples carried frame numbers; null before the first sample. */
  private offsetsSeen: boolean | null = null;
  private readonly numbersFrames: boolean;
  private readonly wrapAfter: number | null;

  /** @param arrivalsAtStart the appsink's arrival count before the run played (its numbers go on across runs) */
  constructor(arrivalsAtStart: number, plan: UpstreamLossPlan) {
    this.lastArrival = arrivalsAtStart;
    this.periodNs = plan.timestampPeriodNs;
    this.flagsDiscont = plan.flagsDiscont;
    this.numbersFrames = plan.numbersFrames;
    this.wrapAfter = plan.offsetsWrapAfter ?? null;
  }

  /** What can tell this run's losses before the appsink, as far as its samples showed so far. */
  get evidence(): UpstreamEvidence {
    if (this.offsetsSeen ?? this.numbersFrames) return 'offsets';
    if (this.periodNs !== null) return 'timestamps';
    return this.flagsDiscont ? 'discont' : 'none';
  }

  /** The sample delivered now: how many frames went missing since the previous one. */
  next(meta: SampleMeta): Gap {
    let appsink = 0;
    if (meta.arrival !== null) {
      if (meta.arrival > this.lastArrival + 1) appsink = meta.arrival - this.lastArrival - 1;
      this.lastArrival = meta.arrival;
    }
    const total = this.missingBefore(meta);
    const upstream = total > appsink ? total - appsink : 0;
    if (meta.offset !== null && meta.offsetEnd === meta.offset + 1) this.lastOffset = meta.offset;
    else this.lastOffset = null;
    if (meta.pts !== null) this.lastPts = meta.pts;
    if (appsink === 0 && upstream === 0) return NO_GAP;
    const firstOffset = appsink === 0 && this.evidence === 'offsets' && meta.offset !== null ? this.unwrapBack(meta.offset, upstream) : null;
    return { appsink, upstream, firstOffset };
  }

  /** The offset `n` frames before `offset`, counted back across a wrap (`offset - n` when there is none). */
  private unwrapBack(offset: number, n: number): number {
    const o = offset - n;
    return this.wrapAfter !== null && o < 1 && offset <= this.wrapAfter ? o + this.wrapAfter : o;
  }

  /** Buffers that reached the appsink after the last delivered sample, given its count now (end of the run). */
  trailing(arrivalsNow: number): number {
    return arrivalsNow > this.lastArrival ? arrivalsNow - this.lastArrival : 0;
  }

  /** Frames missing between the previous sample and `meta` by the source's evidence (appsink drops included). */
  private missingBefore(meta: SampleMeta): number {
    const pts = meta.pts;
    const offset = meta.offset;
    this.offsetsSeen = offset !== null && meta.offsetEnd === offset + 1;
    if (offset !== null && this.offsetsSeen) {
      const last = this.lastOffset;
      if (last === null) return 0;
      if (offset > last + 1) return offset - last - 1;
      // Past the wrap: the frames after `last` up to the wrap, and those from 1 before `offset`.
      const w = this.wrapAfter;
      if (w !== null && offset < last && last <= w) {
        const n = w - last + offset - 1;
        // A short way round (under 1/16 of the range: 4096 GigE frames) is a wrap; further, a
        // source that started counting again, whose "gap" would be thousands of dropped verdicts.
        if (n < w / 16) return n;
      }
      // A smaller offset is a source that started counting again (reconnect): nothing to compare.
      return 0;
    }
    if (this.periodNs !== null) {
      return pts !== null && this.lastPts !== null ? framesBetween(this.lastPts, pts, this.periodNs) : 0;
    }
    if (this.flagsDiscont && (meta.flags & BUFFER_FLAG_DISCONT) !== 0 && pts !== null && this.lastPts !== null && meta.duration !== null) {
      return framesBetween(this.lastPts, pts, meta.duration);
    }
    return 0;
  }
}

/** What a plan lets a source tell before its first sample (status). */
export function plannedEvidence(plan: UpstreamLossPlan): UpstreamEvidence {
  if (plan.numbersFrames) return 'offsets';
  if (plan.timestampPeriodNs !== null) return 'timestamps';
  return plan.flagsDiscont ? 'discont' : 'none';
}
