/**
 * Frame accounting for one station. Every frame that reaches the pipeline is `received` once and
 * ends as exactly one verdict, so at every instant
 *   received = ok + reject + error + dropped + inFlight.
 * inFlight is tracked on its own (not derived) so that the identity checks the code paths.
 * `lost` counts frames that never reached us (gaps in a camera's seq); `late` counts verdicts whose
 * capture→verdict time exceeded the deadline.
 */
import type { VerdictKind } from './verdict.js';

export interface CounterSnapshot {
  readonly received: number;
  readonly ok: number;
  readonly reject: number;
  readonly error: number;
  readonly dropped: number;
  readonly inFlight: number;
  readonly lost: number;
  readonly late: number;
}

export class Counters {
  private received = 0;
  private ok = 0;
  private reject = 0;
  private error = 0;
  private dropped = 0;
  private inFlight = 0;
  private lost = 0;
  private late = 0;
  /** Last seq seen per camera, for gap detection. */
  private readonly lastSeq = new Map<string, number>();

  /** A frame entered the pipeline. Gaps in its camera's seq are counted as lost. */
  receive(cameraId: string, seq: number): void {
    const last = this.lastSeq.get(cameraId);
    if (last !== undefined && seq > last + 1) this.lost += seq - last - 1;
    if (last === undefined || seq > last) this.lastSeq.set(cameraId, seq);
    this.received++;
    this.inFlight++;
  }

  /**
   * A part that must be judged although no frame of it reached us (a PLC trigger whose frame was
   * lost): received and in flight like a frame, without a seq.
   */
  receiveUnseen(): void {
    this.received++;
    this.inFlight++;
  }

  /** A frame ended as a verdict. `late` when its capture→verdict time passed the deadline. */
  settle(kind: VerdictKind, late = false): void {
    this.inFlight--;
    switch (kind) {
      case 'ok':
        this.ok++;
        break;
      case 'reject':
        this.reject++;
        break;
      case 'error':
        this.error++;
        break;
      case 'dropped':
        this.dropped++;
        break;
    }
    if (late) this.late++;
  }

  /** A camera's source restarted (cold reload): its seq starts again. */
  resetSeq(cameraId: string): void {
    this.lastSeq.delete(cameraId);
  }

  /** Frames a source reports lost on its own (appsink drops) that seq gaps cannot show. */
  addLost(n: number): void {
    this.lost += n;
  }

  snapshot(): CounterSnapshot {
    return {
      received: this.received,
      ok: this.ok,
      reject: this.reject,
      error: this.error,
      dropped: this.dropped,
      inFlight: this.inFlight,
      lost: this.lost,
      late: this.late,
    };
  }
}

/** Whether received = ok + reject + error + dropped + inFlight holds for a snapshot. */
export function identityHolds(c: CounterSnapshot): boolean {
  return c.received === c.ok + c.reject + c.error + c.dropped + c.inFlight && c.inFlight >= 0;
}

/** The identity as a human-readable line, with the numbers, for the exit summary. */
export function formatIdentity(c: CounterSnapshot): string {
  const sum = c.ok + c.reject + c.error + c.dropped + c.inFlight;
  return (
    `received ${c.received} = ok ${c.ok} + reject ${c.reject} + error ${c.error} + dropped ${c.dropped}` +
    ` + inFlight ${c.inFlight} (${sum}) ${identityHolds(c) ? 'holds' : 'BROKEN'}`
  );
}
