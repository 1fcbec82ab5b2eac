/**
 * The one outcome of every frame. `received = ok + reject + error + dropped + inFlight` holds at
 * every instant (see counters.ts); tests and the exit summary check it.
 */

export type VerdictKind = 'ok' | 'reject' | 'error' | 'dropped';

/** A connected anomalous region, in camera pixels (or strip coordinates for line-scan). */
export interface Defect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  /** Area in camera pixels. */
  readonly area: number;
  /** Highest raw map value inside the region. */
  readonly maxScore: number;
}

/** Machine-readable why. `code` is stable (PLCs and dashboards match on it); `message` is for people. */
export interface Reason {
  readonly code: string;
  readonly message: string;
}

export interface VerdictTimings {
  /** Capture to the start of inference (queueing, decode, preprocess, batching). */
  readonly captureToInferMs: number;
  readonly inferMs: number;
  readonly postMs: number;
  /** Capture to verdict. */
  readonly totalMs: number;
}

export interface Verdict {
  readonly seq: number;
  readonly cameraId: string;
  readonly partId?: string;
  /** The product the frame was of (camera's product when received, or its trigger's); absent when none runs. */
  readonly product?: string;
  /** The good image the frame was judged against (its file name: the recipe, or the pool member nearest to the frame); absent for models without prompts and unjudged frames. */
  readonly prompt?: string;
  readonly verdict: VerdictKind;
  /** Raw image score from the model; null when the frame was never scored (error, dropped). */
  readonly score: number | null;
  /** Score normalised by the bundle's calibration: 0.5 is the calibrated boundary. */
  readonly normScore: number | null;
  readonly defects: readonly Defect[];
  readonly reasons: readonly Reason[];
  readonly timings: VerdictTimings;
  readonly modelVersion: string;
  readonly configVersion: string;
  /** Wall-clock capture time (ms since epoch). */
  readonly capturedAtMs: number;
  readonly meta?: Readonly<Record<string, unknown>>;
}
