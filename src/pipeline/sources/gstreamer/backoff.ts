/** When to try again after the n-th consecutive fault. */
export interface BackoffPolicy {
  /** First wait, in ms. */
  readonly initialDelayMs: number;
  /** Longest wait, in ms. */
  readonly maxDelayMs: number;
  /** Each wait is drawn uniformly in delay × [1 − jitter, 1 + jitter], then capped at maxDelayMs. */
  readonly jitter: number;
}

/**
 * Pure: exponential backoff with jitter. `attempt` counts consecutive faults from 0; `random`
 * returns [0, 1) (injected so that tests are exact).
 *
 * @example
 * backoffDelayMs(3, { initialDelayMs: 500, maxDelayMs: 30000, jitter: 0 }, Math.random) // 4000
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  // Cap the exponent first: 2 ** 1100 is Infinity, and Infinity × 0 jitter is NaN.
  const exp = Math.min(Math.max(attempt, 0), 30);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exp);
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxDelayMs, Math.max(0, base * factor)));
}
