/**
 * The one verdict builder: every Verdict the station emits is assembled here — a judged frame, a
 * judged line-scan segment, a frame that could not be judged (error, dropped) and a part of which
 * no frame exists (lost, orphan trigger). Callers say what happened; this module says how that
 * reads on the line (failSafe reasons, the trigger note, the reported defects, the versions).
 */
import { LinewatchError, errorMessage } from '../../errors.js';
import { REASON, failSafeReasons, type Decision } from '../decide.js';
import type { Frame } from '../frame.js';
import { normalizeScore, type CalibrationRange } from '../postprocess/index.js';
import type { LineDefect, SegmentDecision } from '../tiler/index.js';
import type { Defect, Reason, Verdict, VerdictKind, VerdictTimings } from '../verdict.js';
import type { DecideConfig } from '../../config/sections.js';

/** The rules in force, swapped whole on a hot reload. */
export interface RuleSet {
  readonly decide: DecideConfig;
  readonly configVersion: string;
}

/** When a batch ran: monotonic start of inference and of post-processing, and the model's own time. */
export interface RunTimes {
  readonly inferAt: bigint;
  readonly inferMs: number;
  readonly postAt: bigint;
}

type Meta = NonNullable<Verdict['meta']>;

/** Reported defects per verdict at most (the largest); the decision still sees all of them. */
const MAX_REPORTED_DEFECTS = 32;

const NO_DEFECTS: readonly Defect[] = [];

function msSince(monoNs: bigint, now: bigint): number {
  return Number(now - monoNs) / 1e6;
}

function partIdOf(frame: Pick<Frame, 'meta'>): string | undefined {
  const p = frame.meta.partId;
  return typeof p === 'string' ? p : undefined;
}

function productOf(meta: Meta): string | undefined {
  const p = meta['product'];
  return typeof p === 'string' ? p : undefined;
}

/** A frame no PLC trigger claimed says so in its reasons (informative: the verdict is unchanged). */
function withTriggerNote(reasons: readonly Reason[], frame: Frame): Reason[] {
  if (frame.meta.triggerMissing !== true) return reasons as Reason[];
  return [...reasons, { code: REASON.NO_TRIGGER, message: `frame ${frame.seq} of ${frame.cameraId}: no PLC trigger claimed it, so its partId is not the PLC's` }];
}

/** The only place a Verdict object is written (one shape, one key order for every kind). */
function assemble(
  seq: number,
  cameraId: string,
  partId: string | undefined,
  verdict: VerdictKind,
  score: number | null,
  normScore: number | null,
  defects: readonly Defect[],
  reasons: readonly Reason[],
  timings: VerdictTimings,
  modelVersion: string,
  rules: RuleSet,
  capturedAtMs: number,
  meta: Meta,
  prompt?: string,
): Verdict {
  // The product rides on the frame's meta from the moment it is received (products/changeover.ts).
  const product = productOf(meta);
  return {
    seq,
    cameraId,
    ...(partId !== undefined ? { partId } : {}),
    ...(product !== undefined ? { product } : {}),
    ...(prompt !== undefined ? { prompt } : {}),
    verdict,
    score,
    normScore,
    defects,
    reasons,
    timings,
    modelVersion,
    configVersion: rules.configVersion,
    capturedAtMs,
    meta,
  };
}

/**
 * A frame the model judged: its decision, with the largest defects reported (all of them
 * decided), and its timings from capture through inference and post-processing to now.
 */
export function judgedVerdict(frame: Frame, run: RunTimes, score: number, normScore: number, decision: Decision, rules: RuleSet, modelVersion: string, prompt?: string): Verdict {
  let reported = decision.defects;
  if (reported.length > MAX_REPORTED_DEFECTS) reported = reported.sort((a, b) => b.area - a.area).slice(0, MAX_REPORTED_DEFECTS);
  const now = process.hrtime.bigint();
  const captured = frame.capturedAt.monoNs;
  const timings: VerdictTimings = {
    captureToInferMs: msSince(captured, run.inferAt),
    inferMs: run.inferMs,
    postMs: Number(now - run.postAt) / 1e6,
    totalMs: msSince(captured, now),
  };
  const reasons = withTriggerNote(decision.reasons, frame);
  return assemble(frame.seq, frame.cameraId, partIdOf(frame), decision.verdict, score, normScore, reported, reasons, timings, modelVersion, rules, frame.capturedAt.wallMs, frame.meta, prompt);
}

/** A frame that was not judged: its cause first, then what failSafe tells the line. */
export function unjudgedVerdict(
  frame: Frame,
  kind: Extract<VerdictKind, 'error' | 'dropped'>,
  cause: Reason,
  rules: RuleSet,
  modelVersion: string,
  /** Line-scan: the verdict is the segment's (its own seq), the frame the buffer that failed. */
  as?: { readonly seq: number; readonly meta: Meta },
): Verdict {
  const total = msSince(frame.capturedAt.monoNs, process.hrtime.bigint());
  const reasons = withTriggerNote(failSafeReasons(kind, rules.decide.failSafe, cause), frame);
  const timings: VerdictTimings = { captureToInferMs: 0, inferMs: 0, postMs: 0, totalMs: total };
  return assemble(as?.seq ?? frame.seq, frame.cameraId, partIdOf(frame), kind, null, null, NO_DEFECTS, reasons, timings, modelVersion, rules, frame.capturedAt.wallMs, as?.meta ?? frame.meta);
}

/** The verdict of a frame the bounded queue dropped. */
export function droppedVerdict(frame: Frame, rules: RuleSet, modelVersion: string, capacity: number): Verdict {
  return unjudgedVerdict(frame, 'dropped', { code: REASON.DROPPED, message: `inference queue full (${capacity} frames waiting)` }, rules, modelVersion);
}

/** The verdict of a frame that could not be judged. The reason code is the error's LW_ERR code when it has one. */
export function errorVerdict(frame: Frame, err: unknown, rules: RuleSet, modelVersion: string, as?: { readonly seq: number; readonly meta: Meta }): Verdict {
  const code = err instanceof LinewatchError ? err.code : REASON.ERROR;
  return unjudgedVerdict(frame, 'error', { code, message: errorMessage(err) }, rules, modelVersion, as);
}

/**
 * A judged line-scan segment: numbered by the camera's own gap-free `seq`, named by the part it
 * belongs to when parts are configured, stamped with the capture time of the newest buffer used
 * (the one that completed it), its score the highest map value in it (normalised with the pixel
 * calibration), its defects in strip coordinates.
 */
export function segmentVerdict(
  cameraId: string,
  seq: number,
  partId: string | undefined,
  s: SegmentDecision,
  last: Frame,
  pixelCal: CalibrationRange,
  rules: RuleSet,
  modelVersion: string,
  lost?: SegmentLoss,
  unjudged?: string,
): Verdict {
  const total = Number(process.hrtime.bigint() - last.capturedAt.monoNs) / 1e6;
  const defects: Defect[] = [];
  for (const d of s.defects) defects.push({ x: d.x, y: d.y, w: d.w, h: d.h, area: d.area, maxScore: d.maxScore });
  let reasons: Reason[] =
    s.verdict === 'reject' ? [{ code: REASON.DEFECT, message: `segment ${s.index} (${s.startMm}–${s.endMm} mm): ${s.defects.length} defect(s)` }] : [];
  const meta: Record<string, unknown> = {
    segment: s.index,
    startMm: s.startMm,
    endMm: s.endMm,
    lineDefects: s.defects.map(lineDefectMeta),
  };
  // The product of the buffer that ended the segment (stamped when received), as for a frame.
  const product = productOf(last.meta);
  if (product !== undefined) meta['product'] = product;
  let kind: VerdictKind = s.verdict;
  if (lost !== undefined && lost.runs.length > 0) {
    // Web under this segment was never seen: its `ok` would be a claim nobody checked.
    const l = linesLost(`segment ${s.index} (${s.startMm}–${s.endMm} mm)`, lost);
    if (kind === 'reject') reasons.push(l.reason);
    else {
      kind = 'dropped';
      reasons = failSafeReasons('dropped', rules.decide.failSafe, l.reason);
    }
    Object.assign(meta, l.meta);
  }
  if (unjudged !== undefined) {
    // Lines under this segment went through no model (their band failed; its own `error` verdict
    // says why): an `ok` would pass web nobody judged, so the segment is an error, by failSafe.
    const cause: Reason = { code: REASON.ERROR, message: `segment ${s.index} (${s.startMm}–${s.endMm} mm): ${unjudged}` };
    if (kind === 'reject') reasons.push(cause);
    else if (kind === 'ok') {
      kind = 'error';
      reasons = failSafeReasons('error', rules.decide.failSafe, cause);
    }
    meta['unjudged'] = true;
  }
  const normScore = s.maxScore === null ? null : normalizeScore(s.maxScore, pixelCal);
  const timings: VerdictTimings = { captureToInferMs: 0, inferMs: 0, postMs: 0, totalMs: total };
  return assemble(seq, cameraId, partId, kind, s.maxScore, normScore, defects, reasons, timings, modelVersion, rules, last.capturedAt.wallMs, meta);
}

/** LINES_LOST for the web at `where` (a segment, or the end of the web) and its verdict meta. */
export function linesLost(where: string, lost: SegmentLoss): { reason: Reason; meta: { buffersLost: number; lostBufferSeqs: number[][] } } {
  let n = 0;
  for (const [a, b] of lost.runs) n += b - a + 1;
  const seqs = lost.runs.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ');
  return {
    reason: { code: REASON.LINES_LOST, message: `${where}: ${n} camera buffer(s) of ${lost.bufferLines} lines lost (${lost.why}; buffer seq ${seqs}), not inspected` },
    meta: { buffersLost: n, lostBufferSeqs: lost.runs.map(([a, b]) => [a, b]) },
  };
}

/** Camera buffers lost inside one line-scan segment: their seqs as [first, last] runs, and why (for the reason's message). */
export interface SegmentLoss {
  readonly runs: ReadonlyArray<readonly [number, number]>;
  readonly bufferLines: number;
  readonly why: string;
}

function lineDefectMeta(d: LineDefect): Record<string, number> {
  return { alongMm: d.alongMm, acrossMm: d.acrossMm, lengthMm: d.lengthMm, widthMm: d.widthMm, line: d.y, x: d.x };
}

/**
 * A `dropped` verdict for a frame the camera took and the source lost (FRAME_LOST): its own seq
 * and capture time, its partId when a PLC trigger claimed it, judged by failSafe.
 */
export function lostFrameVerdict(lost: Pick<Frame, 'seq' | 'cameraId' | 'capturedAt' | 'meta'>, cause: Reason, rules: RuleSet, modelVersion: string): Verdict {
  const total = msSince(lost.capturedAt.monoNs, process.hrtime.bigint());
  const timings: VerdictTimings = { captureToInferMs: 0, inferMs: 0, postMs: 0, totalMs: total };
  const reasons = failSafeReasons('dropped', rules.decide.failSafe, cause);
  return assemble(lost.seq, lost.cameraId, partIdOf(lost), 'dropped', null, null, NO_DEFECTS, reasons, timings, modelVersion, rules, lost.capturedAt.wallMs, lost.meta);
}

/**
 * A `dropped` verdict for a part of which no frame exists: seq -1 (seq stays gap-free over
 * delivered frames), judged by failSafe, captured `atMs` (when the part or its loss became known).
 */
export function framelessVerdict(
  cameraId: string,
  cause: Reason,
  atMs: number,
  rules: RuleSet,
  modelVersion: string,
  part: { readonly partId?: string; readonly meta: Meta },
): Verdict {
  const timings: VerdictTimings = { captureToInferMs: 0, inferMs: 0, postMs: 0, totalMs: Math.max(0, Date.now() - atMs) };
  return assemble(-1, cameraId, part.partId, 'dropped', null, null, NO_DEFECTS, failSafeReasons('dropped', rules.decide.failSafe, cause), timings, modelVersion, rules, atMs, part.meta);
}
