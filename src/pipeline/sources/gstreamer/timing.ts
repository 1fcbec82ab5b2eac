import type { CaptureTime } from '../../frame.js';
import type { SampleMeta } from './binding.js';

/**
 * Capture time from the pipeline. A buffer's PTS, taken through the sample's segment, is a running
 * time; running time + the element's base time is the pipeline clock's reading when the buffer was
 * captured (a live source stamps it when it took the frame: exposure for aravis, arrival at the
 * source element with `do-timestamp`). One reading of the pipeline clock beside the host's clocks
 * maps that onto process.hrtime (CLOCK_MONOTONIC) and Date.now (CLOCK_REALTIME). Pure.
 */

/** Pipeline clock → host clocks, from one paired reading (taken once per pipeline run). */
export interface ClockMap {
  /** host CLOCK_MONOTONIC − pipeline clock, in ns. */
  readonly monoOffsetNs: bigint;
  /** host CLOCK_REALTIME − pipeline clock, in ns. */
  readonly realOffsetNs: bigint;
}

/** The mapping a sample's paired clock reading gives, or null when the pipeline had no clock. */
export function clockMapOf(meta: SampleMeta): ClockMap | null {
  const clock = meta.clockTime;
  const mono = meta.hostMonoTime;
  const real = meta.hostRealTime;
  if (clock === undefined || clock === null || mono === undefined || mono === null || real === undefined || real === null) return null;
  return { monoOffsetNs: mono - clock, realOffsetNs: real - clock };
}

/** The pipeline clock's reading when the buffer was captured, or null when it carries no timestamp. */
export function captureClockNs(meta: SampleMeta): bigint | null {
  if (meta.runningTime === null || meta.baseTime === null) return null;
  return meta.runningTime + meta.baseTime;
}

/**
 * When the sample was captured, in host clocks; `arrival` (when it reached Node) when the buffer
 * has no timestamp or no mapping exists, and never later than `arrival` (a timestamp after its own
 * arrival cannot be a capture time: the clock that stamped it is not the pipeline's).
 *
 * @example
 * captureTimeOf({ runningTime: 5_000_000n, baseTime: 1_000_000_000n, … }, { monoOffsetNs: 0n, realOffsetNs: 1_700_000_000_000_000_000n }, now)
 * // { monoNs: 1_005_000_000n, wallMs: 1_700_000_001_005 }
 */
export function captureTimeOf(meta: SampleMeta, map: ClockMap | null, arrival: CaptureTime): CaptureTime {
  const clock = captureClockNs(meta);
  if (clock === null || map === null) return arrival;
  const monoNs = clock + map.monoOffsetNs;
  if (monoNs >= arrival.monoNs) return arrival;
  return { monoNs, wallMs: Number((clock + map.realOffsetNs) / 1000n) / 1000 };
}

/**
 * Capture times of `n` frames lost between two captured ones (`prev` → `next`), spread evenly:
 * the best estimate of when a frame nobody saw was taken (for pairing it with its PLC trigger).
 */
export function between(prev: CaptureTime, next: CaptureTime, n: number): CaptureTime[] {
  const out: CaptureTime[] = [];
  const dMono = next.monoNs - prev.monoNs;
  const dWall = next.wallMs - prev.wallMs;
  for (let i = 1; i <= n; i++) {
    out.push({ monoNs: prev.monoNs + (dMono * BigInt(i)) / BigInt(n + 1), wallMs: prev.wallMs + (dWall * i) / (n + 1) });
  }
  return out;
}

/** Capture times of `n` frames lost after `prev`, one `periodNs` apart (or all at `fallback` when the period is unknown). */
export function after(prev: CaptureTime, n: number, periodNs: bigint | null, fallback: CaptureTime): CaptureTime[] {
  const out: CaptureTime[] = [];
  for (let i = 1; i <= n; i++) {
    if (periodNs === null) out.push(fallback);
    else {
      const d = periodNs * BigInt(i);
      const t = { monoNs: prev.monoNs + d, wallMs: prev.wallMs + Number(d) / 1e6 };
      // Never after the moment the loss became known.
      out.push(t.monoNs > fallback.monoNs ? fallback : t);
    }
  }
  return out;
}
