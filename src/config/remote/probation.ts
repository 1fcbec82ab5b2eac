import type { Observable, Subscription } from 'rxjs';
import type { Clock, TimerHandle } from '../../io/mqtt/clock.js';
import type { StationHealth } from '../../pipeline/station.js';
import type { Verdict } from '../../pipeline/verdict.js';

/**
 * The watch over a configuration just applied (or restored at start): for `probationMs` it must
 * run without failing, else it is rolled back to the last known good one. Failing is
 * (docs/configuration.md "Last known good"):
 * - `errorStreak` consecutive `error` verdicts on one camera (the engine died, the model cannot
 *   judge these frames, a camera sends garbage);
 * - when the change restarted the cameras: a camera whose source failed (degraded), or every
 *   camera's source ended (a folder emptied, a file that is not a camera).
 * Pure policy over the station's verdicts and health; the caller does the rollback.
 */

export interface ProbationRule {
  readonly probationMs: number;
  readonly errorStreak: number;
  /** The change restarted the cameras: their failing or ending counts against it. */
  readonly camerasChanged: boolean;
}

export interface ProbationStation {
  readonly verdicts$: Observable<Verdict>;
  health(): StationHealth;
}

export type ProbationResult = { readonly passed: true } | { readonly passed: false; readonly reasons: readonly string[] };

/** How often camera health is looked at while on probation. */
const POLL_MS = 100;

export class Probation {
  /** Resolves once, when the probation passed or failed. */
  readonly result: Promise<ProbationResult>;
  private settle!: (r: ProbationResult) => void;
  private readonly streaks = new Map<string, number>();
  private sub: Subscription | null = null;
  private poll: TimerHandle | null = null;
  private done = false;

  constructor(
    private readonly station: ProbationStation,
    private readonly rule: ProbationRule,
    private readonly clock: Clock,
  ) {
    this.result = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  start(): void {
    const until = this.clock.nowMs() + this.rule.probationMs;
    this.sub = this.station.verdicts$.subscribe((v) => {
      if (v.verdict !== 'error') {
        if (v.verdict === 'ok' || v.verdict === 'reject') this.streaks.set(v.cameraId, 0);
        return;
      }
      const n = (this.streaks.get(v.cameraId) ?? 0) + 1;
      this.streaks.set(v.cameraId, n);
      if (n >= this.rule.errorStreak) this.finish({ passed: false, reasons: [`camera ${v.cameraId}: ${n} error verdicts in a row (${v.reasons[0]?.message ?? 'error'})`] });
    });
    const tick = (): void => {
      this.poll = null;
      if (this.done) return;
      const failed = this.rule.camerasChanged ? cameraFailures(this.station.health()) : [];
      if (failed.length > 0) this.finish({ passed: false, reasons: failed });
      else if (this.clock.nowMs() >= until) this.finish({ passed: true });
      else this.poll = this.clock.setTimeout(tick, POLL_MS);
    };
    this.poll = this.clock.setTimeout(tick, Math.min(POLL_MS, this.rule.probationMs));
  }

  /** Ends the watch without a result (shutdown). */
  stop(): void {
    this.finish(null);
  }

  private finish(r: ProbationResult | null): void {
    if (this.done) return;
    this.done = true;
    this.sub?.unsubscribe();
    if (this.poll !== null) this.clock.clearTimeout(this.poll);
    if (r !== null) this.settle(r);
  }
}

/** Camera sources that failed, or all of them ended. */
export function cameraFailures(h: StationHealth): string[] {
  if (h.lifecycle !== 'running') return [];
  const out: string[] = [];
  for (const c of h.cameras) if (c.health.state === 'degraded') out.push(`camera ${c.id}: ${c.health.reason}`);
  if (out.length === 0 && h.cameras.length > 0 && h.cameras.every((c) => c.health.state === 'ended')) out.push('every camera source ended');
  return out;
}
