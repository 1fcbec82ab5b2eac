/**
 * How many frames one model call should take when several cameras share the model: measured on
 * the engine itself when it starts. On a CPU with one or two threads a larger batch buys a
 * vision transformer almost nothing (measured here: batch 8 within ±7 % of batch 1), while every
 * frame of a batch waits for the whole batch; on a GPU a batch pays several times over. So the
 * station fills the smallest batch that runs within a tolerance of the best images per second
 * measured, not a batch as large as the number of cameras.
 */
import type { InferenceEngine } from './engine.js';
import type { Manifest } from './manifest.js';

/** One batch size's best run: the time inside `session.run`, and what that makes per image. */
export interface BatchTiming {
  readonly batch: number;
  readonly runMs: number;
  readonly imagesPerS: number;
}

export interface BatchProbe {
  /** Sizes measured, smallest first (a budget may stop before the largest candidate). */
  readonly timings: readonly BatchTiming[];
  /** The smallest measured size within `tolerance` of the best images/s. */
  readonly chosen: number;
  /** The largest size the probe was asked about (the number of cameras sharing the model). */
  readonly upTo: number;
  /** Wall time the probe took. */
  readonly ms: number;
}

/** A batch counts as fast as the best when its images/s are within this fraction of it. */
export const BATCH_TOLERANCE = 0.05;
/** The probe stops before a size whose predicted runs would take it past this. */
export const PROBE_BUDGET_MS = 5000;
/** Timed runs per size (the first run at a new size, untimed, lets the session plan that shape). */
const TIMED_RUNS = 2;

/**
 * 1, 2, 4, … below `upTo`, then `upTo` itself.
 *
 * @example
 * batchCandidates(6) // [1, 2, 4, 6]
 */
export function batchCandidates(upTo: number): number[] {
  if (!(Number.isInteger(upTo) && upTo >= 1)) throw new RangeError(`batch candidates: upTo must be an integer ≥ 1, got ${upTo}`);
  const out: number[] = [];
  for (let b = 1; b < upTo; b *= 2) out.push(b);
  out.push(upTo);
  return out;
}

/**
 * The smallest batch whose images/s reach (1 − tolerance) × the best: a larger one would make
 * every frame wait for more company without the model judging more frames per second.
 *
 * @example
 * chooseBatch([{ batch: 1, runMs: 25, imagesPerS: 40 }, { batch: 8, runMs: 190, imagesPerS: 42.1 }]) // 1
 */
export function chooseBatch(timings: readonly BatchTiming[], tolerance = BATCH_TOLERANCE): number {
  if (timings.length === 0) throw new RangeError('chooseBatch: no timings');
  let best = 0;
  for (const t of timings) if (t.imagesPerS > best) best = t.imagesPerS;
  let chosen = Number.POSITIVE_INFINITY;
  for (const t of timings) if (t.imagesPerS >= (1 - tolerance) * best && t.batch < chosen) chosen = t.batch;
  return chosen;
}

/**
 * Runs zero batches of each candidate size on `engine` (uncounted: they are not frames of the
 * line) and chooses. Sizes whose predicted runs would exceed `budgetMs` are not tried: a large
 * model on a CPU (a second per image) then stays at the sizes it could afford, which on a CPU are
 * the ones that matter.
 */
export async function probeBatch(engine: InferenceEngine, manifest: Pick<Manifest, 'input' | 'prompt'>, upTo: number, budgetMs = PROBE_BUDGET_MS): Promise<BatchProbe> {
  const t0 = performance.now();
  const inp = manifest.input;
  const perImage = inp.height * inp.width * inp.channels;
  const zeros = (n: number): Uint8Array | Float32Array => (inp.dtype === 'uint8' ? new Uint8Array(n * perImage) : new Float32Array(n * perImage));
  const timings: BatchTiming[] = [];
  for (const batch of batchCandidates(upTo)) {
    const last = timings[timings.length - 1];
    if (last !== undefined) {
      const predicted = (TIMED_RUNS + 1) * batch * (last.runMs / last.batch);
      if (performance.now() - t0 + predicted > budgetMs) break;
    }
    let runMs = Number.POSITIVE_INFINITY;
    for (let k = 0; k <= TIMED_RUNS; k++) {
      const out = await engine.run({ n: batch, data: zeros(batch), ...(manifest.prompt !== null ? { prompt: zeros(batch) } : {}) }, { counted: false });
      if (k > 0 && out.inferMs < runMs) runMs = out.inferMs;
    }
    timings.push({ batch, runMs, imagesPerS: (1000 * batch) / Math.max(runMs, 1e-3) });
  }
  return { timings, chosen: chooseBatch(timings), upTo, ms: performance.now() - t0 };
}
