import type { Clock, TimerHandle } from '../../../../src/io/mqtt/clock.js';

/** A clock the test moves by hand (`clock.now += 5_000`); timers never fire on their own. */
export function manualClock(startMs: number): Clock & { now: number } {
  return {
    now: startMs,
    nowMs(): number {
      return this.now;
    },
    setTimeout: (): TimerHandle => setTimeout(() => {}, 0),
    clearTimeout: (): void => {},
  };
}
