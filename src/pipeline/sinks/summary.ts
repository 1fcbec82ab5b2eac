import { formatIdentity, identityHolds, type CounterSnapshot } from '../counters.js';
import type { Verdict } from '../verdict.js';

/**
 * The exit summary: frames, outcomes, throughput, latency percentiles and the counter identity.
 * Latencies of judged frames (ok, reject) are kept in a fixed ring, so a daemon that runs for weeks
 * holds a bounded amount of memory; percentiles are over the most recent `capacity` frames.
 */
export class SummaryCollector {
  private readonly latencies: Float64Array;
  private count: number;
  private firstAt: number;
  private lastAt: number;
  private verdicts: number;

  /** @param capacity latencies kept for percentiles. Default 100 000. */
  constructor(capacity = 100_000) {
    this.latencies = new Float64Array(capacity);
    this.count = 0;
    this.firstAt = -1;
    this.lastAt = -1;
    this.verdicts = 0;
  }

  add(v: Verdict): void {
    const now = performance.now();
    if (this.firstAt < 0) this.firstAt = now - v.timings.totalMs;
    this.lastAt = now;
    this.verdicts++;
    if (v.verdict === 'ok' || v.verdict === 'reject') {
      this.latencies[this.count % this.latencies.length] = v.timings.totalMs;
      this.count++;
    }
  }

  /** Percentile (0–100) of the kept latencies, nearest rank; NaN when none. */
  latencyPercentile(p: number): number {
    const n = Math.min(this.count, this.latencies.length);
    if (n === 0) return Number.NaN;
    const sorted = this.latencies.slice(0, n).sort();
    const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
    return sorted[rank]!;
  }

  /** Verdicts per second between the first capture and the last verdict. */
  throughput(): number {
    const s = (this.lastAt - this.firstAt) / 1000;
    return s > 0 ? this.verdicts / s : 0;
  }

  report(c: CounterSnapshot): SummaryReport {
    return {
      frames: c.received,
      ok: c.ok,
      reject: c.reject,
      error: c.error,
      dropped: c.dropped,
      inFlight: c.inFlight,
      lost: c.lost,
      late: c.late,
      seconds: this.firstAt < 0 ? 0 : (this.lastAt - this.firstAt) / 1000,
      framesPerS: this.throughput(),
      latencyP50Ms: this.latencyPercentile(50),
      latencyP99Ms: this.latencyPercentile(99),
      identityHolds: identityHolds(c),
      identity: formatIdentity(c),
    };
  }
}

/** The counters (received shown as `frames`) plus throughput and latency. */
export interface SummaryReport extends Omit<CounterSnapshot, 'received'> {
  readonly frames: number;
  readonly seconds: number;
  readonly framesPerS: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly identityHolds: boolean;
  readonly identity: string;
}

const ms = (x: number): string => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(1)} ms`);

/** The summary for people, several lines. */
export function formatSummary(r: SummaryReport): string {
  return [
    `linewatch summary: ${r.frames} frames in ${r.seconds.toFixed(2)} s (${r.framesPerS.toFixed(1)} frames/s)`,
    `  ok ${r.ok}  reject ${r.reject}  error ${r.error}  dropped ${r.dropped}  inFlight ${r.inFlight}  lost ${r.lost}  late ${r.late}`,
    `  latency capture→verdict p50 ${ms(r.latencyP50Ms)}  p99 ${ms(r.latencyP99Ms)}`,
    `  ${r.identity}`,
  ].join('\n');
}
