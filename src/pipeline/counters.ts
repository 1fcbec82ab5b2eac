/**
 * Frame accounting for one station. Every frame that reaches the pipeline is `received` once and
 * ends as exactly one verdict, so at every instant
 *   received = ok + reject + error + dropped + inFlight.
 * inFlight is tracked on its own (not derived) so that the identity checks the code paths.
 * `lost` counts frames that never reached us (gaps in a camera's seq); `late` counts verdicts whose
 * capture→verdict time exceeded the deadline. The same counts are kept per camera (the identity
 * holds for each), so that a camera whose frames are dropped is named, not averaged away.
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

interface Counts {
  received: number;
  ok: number;
  reject: number;
  error: number;
  dropped: number;
  inFlight: number;
  lost: number;
  late: number;
}

const zero = (): Counts => ({ received: 0, ok: 0, reject: 0, error: 0, dropped: 0, inFlight: 0, lost: 0, late: 0 });

export class Counters {
  private readonly all: Counts;
  /** Per camera, in the order cameras were first seen. */
  private readonly byCamera: Map<string, Counts>;
  /** Last seq seen per camera, for gap detection. */
  private readonly lastSeq: Map<string, number>;

  constructor() {
    this.all = zero();
    this.byCamera = new Map();
    this.lastSeq = new Map();
  }

  private camera(cameraId: string): Counts {
    let c = this.byCamera.get(cameraId);
    if (c === undefined) {
      c = zero();
      this.byCamera.set(cameraId, c);
    }
    return c;
  }

  /** A frame entered the pipeline. Gaps in its camera's seq are counted as lost. */
  receive(cameraId: string, seq: number): void {
    const cam = this.camera(cameraId);
    const last = this.lastSeq.get(cameraId);
    if (last !== undefined && seq > last + 1) {
      this.all.lost += seq - last - 1;
      cam.lost += seq - last - 1;
    }
    if (last === undefined || seq > last) this.lastSeq.set(cameraId, seq);
    this.all.received++;
    this.all.inFlight++;
    cam.received++;
    cam.inFlight++;
  }

  /**
   * A part that must be judged although no frame of it reached us (a PLC trigger whose frame was
   * lost): received and in flight like a frame, without a seq.
   */
  receiveUnseen(cameraId: string): void {
    const cam = this.camera(cameraId);
    this.all.received++;
    this.all.inFlight++;
    cam.received++;
    cam.inFlight++;
  }

  /** A frame of `cameraId` ended as a verdict. `late` when its capture→verdict time passed the deadline. */
  settle(cameraId: string, kind: VerdictKind, late = false): void {
    tally(this.all, kind, late);
    tally(this.camera(cameraId), kind, late);
  }

  /** A camera's source restarted (cold reload): its seq starts again. */
  resetSeq(cameraId: string): void {
    this.lastSeq.delete(cameraId);
  }

  /** Frames a source reports lost on its own (appsink drops) that seq gaps cannot show. */
  addLost(cameraId: string, n: number): void {
    this.all.lost += n;
    this.camera(cameraId).lost += n;
  }

  snapshot(): CounterSnapshot {
    return { ...this.all };
  }

  /** The counts of each camera seen so far (a camera that was removed keeps its counts). */
  perCamera(): Record<string, CounterSnapshot> {
    const out: Record<string, CounterSnapshot> = {};
    for (const [id, c] of this.byCamera) out[id] = { ...c };
    return out;
  }
}

function tally(c: Counts, kind: VerdictKind, late: boolean): void {
  c.inFlight--;
  switch (kind) {
    case 'ok':
      c.ok++;
      break;
    case 'reject':
      c.reject++;
      break;
    case 'error':
      c.error++;
      break;
    case 'dropped':
      c.dropped++;
      break;
  }
  if (late) c.late++;
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
