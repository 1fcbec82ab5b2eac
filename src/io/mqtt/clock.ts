/**
 * Time as the MQTT link sees it. Injected so that reconnect, heartbeat and expiry are testable
 * without waiting; production uses `systemClock`.
 */
export interface Clock {
  /** Wall clock, ms since epoch: deadlines are wall times because they come from capture times. */
  nowMs(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type TimerHandle = { readonly __timer: unique symbol } | ReturnType<typeof setTimeout>;

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    // A pending retry must not keep a finished process alive.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
