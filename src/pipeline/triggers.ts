import { Observable, type OperatorFunction } from 'rxjs';
import type { CaptureTime, Frame, FrameMeta } from './frame.js';

/**
 * Pairs PLC triggers ("part P is under the camera now, encoder at E") with the frames they fired,
 * in order. Both streams are ordered; a frame takes the oldest pending trigger whose time fits
 * (`at` no later than the capture + `skewMs`, no earlier than the capture − `timeoutMs`). A frame
 * whose trigger does not come within `timeoutMs` goes on without one; a trigger no frame came for
 * within `timeoutMs` is an orphan. Both are reported and counted — never paired wrong: once a
 * later trigger has been seen, an earlier frame cannot take it.
 */

export interface Trigger {
  readonly partId: string;
  /** Encoder count when the trigger fired. */
  readonly encoderPos?: number;
  /** When the trigger fired (ms since epoch); the receive time when the PLC did not say. */
  readonly at: number;
  /** Optional id from the PLC (else partId is used as triggerId). */
  readonly triggerId?: string;
  /**
   * The product of this part, when the PLC says: it is that frame's product (overriding its
   * camera's), for this part only — the camera's running product is changed by config or
   * `<root>/<camera>/product`, not by one part's trigger.
   */
  readonly product?: string;
}

export interface MatcherOptions {
  /** Longest time between a trigger and its frame, either way, in ms. Default 500. */
  readonly timeoutMs?: number;
  /** How much later than the capture a trigger's `at` may be (clock skew PLC ↔ station), in ms. Default 20. */
  readonly skewMs?: number;
}

/**
 * What pairs with a trigger: a delivered frame, or a frame the camera is known to have taken and
 * lost (LostFrame) — which takes its trigger like any frame, so its part is judged once, by its
 * own `dropped` verdict, and the trigger is no orphan.
 */
export interface Pairable {
  readonly capturedAt: Pick<CaptureTime, 'wallMs'>;
  readonly meta: FrameMeta;
}

export type MatchOutput<F extends Pairable = Frame> =
  | { readonly kind: 'frame'; readonly frame: F; readonly trigger: Trigger | null }
  | { readonly kind: 'orphan'; readonly trigger: Trigger };

export interface TriggerCounts {
  matched: number;
  /** Frames that went on without a trigger. */
  unmatchedFrames: number;
  /** Triggers no frame came for. */
  orphanTriggers: number;
}

/** Pure state machine; time is passed in (`nowMs`, wall clock) so tests are exact. */
export class TriggerMatcher<F extends Pairable = Frame> {
  readonly counts: TriggerCounts = { matched: 0, unmatchedFrames: 0, orphanTriggers: 0 };
  private readonly timeoutMs: number;
  private readonly skewMs: number;
  private readonly frames: F[] = [];
  private readonly triggers: Trigger[] = [];

  constructor(options: MatcherOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 500;
    this.skewMs = options.skewMs ?? 20;
  }

  frame(frame: F, nowMs: number): MatchOutput<F>[] {
    this.frames.push(frame);
    return this.settle(nowMs);
  }

  trigger(trigger: Trigger, nowMs: number): MatchOutput<F>[] {
    this.triggers.push(trigger);
    return this.settle(nowMs);
  }

  /** Expires what waited too long. */
  tick(nowMs: number): MatchOutput<F>[] {
    return this.settle(nowMs);
  }

  /** Everything still waiting goes out unmatched / orphaned (end of stream). */
  flush(): MatchOutput<F>[] {
    return this.settle(Number.POSITIVE_INFINITY);
  }

  /** When the oldest waiting item expires (ms, wall clock), or null when nothing waits. */
  nextDeadline(): number | null {
    const f = this.frames[0];
    const t = this.triggers[0];
    const df = f === undefined ? Infinity : f.capturedAt.wallMs + this.timeoutMs;
    const dt = t === undefined ? Infinity : t.at + this.timeoutMs;
    const d = Math.min(df, dt);
    return d === Infinity ? null : d;
  }

  private settle(nowMs: number): MatchOutput<F>[] {
    const out: MatchOutput<F>[] = [];
    for (;;) {
      const f = this.frames[0];
      const t = this.triggers[0];
      if (f !== undefined && t !== undefined) {
        const captured = f.capturedAt.wallMs;
        if (t.at < captured - this.timeoutMs) {
          // Too old for this frame, hence for every later one.
          this.triggers.shift();
          this.counts.orphanTriggers++;
          out.push({ kind: 'orphan', trigger: t });
        } else if (t.at > captured + this.skewMs) {
          // Fired after this frame was taken: this frame's own trigger never came.
          this.frames.shift();
          this.counts.unmatchedFrames++;
          out.push({ kind: 'frame', frame: withoutTrigger(f), trigger: null });
        } else {
          this.frames.shift();
          this.triggers.shift();
          this.counts.matched++;
          out.push({ kind: 'frame', frame: withTrigger(f, t), trigger: t });
        }
        continue;
      }
      if (f !== undefined && nowMs >= f.capturedAt.wallMs + this.timeoutMs) {
        this.frames.shift();
        this.counts.unmatchedFrames++;
        out.push({ kind: 'frame', frame: withoutTrigger(f), trigger: null });
        continue;
      }
      if (t !== undefined && nowMs >= t.at + this.timeoutMs) {
        this.triggers.shift();
        this.counts.orphanTriggers++;
        out.push({ kind: 'orphan', trigger: t });
        continue;
      }
      return out;
    }
  }
}

/** Marks a frame no trigger claimed (`meta.triggerMissing`), so its verdict can say so. */
function withoutTrigger<F extends Pairable>(frame: F): F {
  return { ...frame, meta: { ...frame.meta, triggerMissing: true } };
}

function withTrigger<F extends Pairable>(frame: F, t: Trigger): F {
  const meta: Record<string, unknown> =
    t.encoderPos === undefined
      ? { ...frame.meta, partId: t.partId, triggerId: t.triggerId ?? t.partId }
      : { ...frame.meta, partId: t.partId, triggerId: t.triggerId ?? t.partId, encoderPos: t.encoderPos };
  if (t.product !== undefined) meta['product'] = t.product;
  return { ...frame, meta };
}

export interface AttachTriggersOptions<F extends Pairable = Frame> extends MatcherOptions {
  /** Told about each frame that went on without its trigger. */
  readonly onUnmatchedFrame?: (frame: F) => void;
  /** Told about each trigger no frame came for. */
  readonly onOrphanTrigger?: (trigger: Trigger) => void;
  /** Wall clock, in ms. Default Date.now. */
  readonly now?: () => number;
  /** Receives the live counts (the same object, updated in place). */
  readonly counts?: (counts: Readonly<TriggerCounts>) => void;
}

/**
 * RxJS operator: frames out in order, each with `meta.partId`/`triggerId`/`encoderPos` from its
 * trigger, or untouched when none came in time (reported through `onUnmatchedFrame`). A frame
 * waits at most `timeoutMs` for a late trigger.
 *
 * @example
 * frames$.pipe(attachTriggers(triggers$, { timeoutMs: 300, onOrphanTrigger: (t) => log.warn(t) }))
 */
export function attachTriggers<F extends Pairable = Frame>(triggers$: Observable<Trigger>, options: AttachTriggersOptions<F> = {}): OperatorFunction<F, F> {
  return (frames$) =>
    new Observable<F>((sub) => {
      const matcher = new TriggerMatcher<F>(options);
      options.counts?.(matcher.counts);
      const now = options.now ?? Date.now;
      let timer: NodeJS.Timeout | null = null;
      const emit = (outs: MatchOutput<F>[]): void => {
        for (let i = 0; i < outs.length; i++) {
          const o = outs[i]!;
          if (o.kind === 'orphan') options.onOrphanTrigger?.(o.trigger);
          else {
            if (o.trigger === null) options.onUnmatchedFrame?.(o.frame);
            sub.next(o.frame);
          }
        }
        arm();
      };
      const onTimer = (): void => {
        timer = null;
        emit(matcher.tick(now()));
      };
      const arm = (): void => {
        if (timer !== null) clearTimeout(timer);
        timer = null;
        const d = matcher.nextDeadline();
        if (d !== null) timer = setTimeout(onTimer, Math.max(0, d - now()));
      };
      const tsub = triggers$.subscribe({
        next: (t) => emit(matcher.trigger(t, now())),
        error: (err: unknown) => sub.error(err),
      });
      const fsub = frames$.subscribe({
        next: (f) => emit(matcher.frame(f, now())),
        error: (err: unknown) => sub.error(err),
        complete: () => {
          emit(matcher.flush());
          sub.complete();
        },
      });
      return () => {
        if (timer !== null) clearTimeout(timer);
        tsub.unsubscribe();
        fsub.unsubscribe();
      };
    });
}
