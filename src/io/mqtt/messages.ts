import type { Verdict } from '../../pipeline/verdict.js';

/**
 * Payloads on the wire, one versioned schema each (docs/mqtt.md holds their JSON Schemas). Pure
 * functions: a verdict and a clock reading in, a JSON string out.
 */

export const REJECT_SCHEMA = 'linewatch.reject/1';
export const RESULT_SCHEMA = 'linewatch.result/1';
export const STATUS_SCHEMA = 'linewatch.status/1';

/** When the ejector passes this part: the frame's own deadline if the source set one, else capture + deadlineMs. */
export function deadlineOf(v: Verdict, defaultDeadlineMs: number): number {
  const own = v.meta?.['deadlineMs'];
  return typeof own === 'number' && Number.isFinite(own) ? own : v.capturedAtMs + defaultDeadlineMs;
}

function encoderPosOf(v: Verdict): number | undefined {
  const pos = v.meta?.['encoderPos'];
  return typeof pos === 'number' ? pos : undefined;
}

/**
 * The source's own number of the frame (`meta.sourceOffset`): a GigE Vision camera's frame (block)
 * id through lwaravissrc, a V4L2 driver's sequence, …; null where the source numbers none.
 */
function frameIdOf(v: Verdict): number | null {
  const id = v.meta?.['sourceOffset'];
  return typeof id === 'number' ? id : null;
}

/** The reject signal: small, one per rejected part. */
export function rejectPayload(v: Verdict, deadlineMs: number): string {
  const encoderPos = encoderPosOf(v);
  return JSON.stringify({
    schema: REJECT_SCHEMA,
    seq: v.seq,
    cameraId: v.cameraId,
    partId: v.partId ?? null,
    product: v.product ?? null,
    encoderPos: encoderPos ?? null,
    score: v.score,
    normScore: v.normScore,
    reasons: v.reasons,
    defectCount: v.defects.length,
    capturedAtMs: v.capturedAtMs,
    deadlineMs,
    modelVersion: v.modelVersion,
    configVersion: v.configVersion,
  });
}

/** The full verdict. `late`: a reject that missed its deadline and was therefore not sent on …/reject. */
export function resultPayload(v: Verdict, deadlineMs: number, late: boolean): string {
  const encoderPos = encoderPosOf(v);
  return JSON.stringify({
    schema: RESULT_SCHEMA,
    seq: v.seq,
    cameraId: v.cameraId,
    partId: v.partId ?? null,
    product: v.product ?? null,
    prompt: v.prompt ?? null,
    encoderPos: encoderPos ?? null,
    frameId: frameIdOf(v),
    verdict: v.verdict,
    late,
    score: v.score,
    normScore: v.normScore,
    defects: v.defects,
    reasons: v.reasons,
    timings: v.timings,
    capturedAtMs: v.capturedAtMs,
    deadlineMs,
    modelVersion: v.modelVersion,
    configVersion: v.configVersion,
  });
}

export type HealthState = 'ok' | 'degraded';

/** The configuration in force, as …/status reports it (docs/mqtt.md). */
export interface ConfigStatus {
  readonly version: number;
  readonly hash: string | null;
  /** Accepted remotely and not yet run probationMs without failing. */
  readonly onProbation?: boolean;
  /** Accepted changes that take effect at the next start (`mqtt.url`, …), by path. */
  readonly restartNeeded?: readonly string[];
  /** The last remote configuration undone because it failed on probation. */
  readonly rolledBack?: { readonly version: number; readonly reasons: readonly string[]; readonly atMs: number } | null;
  /** A persisted remote configuration that could not start, kept under this file name. */
  readonly setAside?: { readonly file: string; readonly version: number; readonly reason: string } | null;
}

export interface StatusReport {
  readonly state: 'online' | 'offline';
  readonly atMs: number;
  readonly health: { readonly state: HealthState; readonly reasons: readonly string[] };
  readonly model: {
    readonly version: string | null;
    readonly sha256: string | null;
    readonly provider: string | null;
    readonly fallbacks: readonly { readonly provider: string; readonly reason: string }[];
    readonly tensorrtEngine: string | null;
    /** Frames per model call at most (area-scan cameras) and where that came from (config, fixed-batch model, measured, …). */
    readonly batchSize: number | null;
    readonly batchSizeBy: string | null;
  };
  readonly config: ConfigStatus;
  /** Each camera's state and what its source can tell about lost frames (null: a source that loses none). */
  readonly cameras: readonly {
    readonly id: string;
    readonly state: string;
    readonly losses: { readonly dropped: string; readonly upstream: string } | null;
    /** The product it runs now; null: none. */
    readonly product: { readonly name: string; readonly by: 'config' | 'mqtt'; readonly sinceMs: number; readonly known: boolean } | null;
  }[];
  readonly rates: { readonly framesPerS: number; readonly rejectsPerS: number };
  readonly counters: Readonly<Record<string, number>>;
  readonly mqtt: Readonly<Record<string, number | string>>;
}

export function statusPayload(s: StatusReport): string {
  return JSON.stringify({ schema: STATUS_SCHEMA, ...s });
}

/** The last will: what the broker says for us when we vanish. */
export function offlineWillPayload(): string {
  return JSON.stringify({ schema: STATUS_SCHEMA, state: 'offline', reason: 'connection lost' });
}
