/** Reconnect delays: exponential, capped, with jitter so that a fleet does not reconnect in step. */
export interface BackoffOptions {
  /** Delay of the first retry. */
  readonly initialDelayMs: number;
  /** Ceiling. */
  readonly maxDelayMs: number;
  /** Fraction of the delay drawn at random, 0..1. */
  readonly jitter: number;
}

/**
 * Delay before retry number `attempt` (0 = first retry). `random` is in [0, 1).
 *
 * @example
 * backoffDelayMs(3, { initialDelayMs: 500, maxDelayMs: 30_000, jitter: 0 }, Math.random) // 4000
 */
export function backoffDelayMs(attempt: number, opts: BackoffOptions, random: () => number): number {
  // 2^attempt overflows to Infinity long after the cap, and min() handles Infinity.
  const ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** Math.max(0, attempt));
  const fixed = ceiling * (1 - opts.jitter);
  return Math.round(fixed + ceiling * opts.jitter * random());
}
