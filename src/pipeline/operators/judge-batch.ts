import type { DecideConfig } from '../../config/sections.js';
import { LinewatchError, errorMessage } from '../../errors.js';
import type { Bundle } from '../../models/bundle.js';
import type { InferenceEngine } from '../../models/engine.js';
import type { ModelOutput } from '../../models/types.js';
import { REASON, decide, failSafeReasons, rawPixelThreshold } from '../decide.js';
import type { Frame } from '../frame.js';
import type { FrameGeometry, Rect } from '../geometry.js';
import { MapFinisher, RegionFinder, normalizeScore, regionToCamera } from '../postprocess/index.js';
import type { Manifest } from '../../models/manifest.js';
import { batchTensor, type PreparedPixels } from '../preprocess/index.js';
import type { CropWindow, LineDefect } from '../tiler/index.js';
import type { Defect, Reason, Verdict, VerdictKind } from '../verdict.js';

/**
 * One batch of frames → one verdict each: preprocess (in parallel, sharp's thread pool), one model
 * call, post-process, decide. Failures are values: a frame that cannot be decoded becomes an
 * `error` verdict and its batch-mates go on; a failed model call makes its frames `error`.
 */

/** A loaded model with its reusable post-processing buffers. Swapped whole on a warm reload. */
export interface EngineSlot {
  readonly bundle: Bundle;
  readonly engine: InferenceEngine;
  readonly finisher: MapFinisher;
  readonly finder: RegionFinder;
  /** Batches that started on this engine and have not finished (the old engine closes at 0). */
  inFlight: number;
}

export function createEngineSlot(bundle: Bundle, engine: InferenceEngine): EngineSlot {
  const finisher = new MapFinisher(bundle.manifest);
  return { bundle, engine, finisher, finder: new RegionFinder(finisher.height, finisher.width), inFlight: 0 };
}

/** The rules in force, swapped whole on a hot reload. */
export interface RuleSet {
  readonly decide: DecideConfig;
  readonly configVersion: string;
}

/** What the NG-image sink (and the MQTT heatmap) get for a judged frame: the frame and its own map. */
export interface JudgedFrame {
  readonly frame: Frame;
  readonly verdict: Verdict;
  /** height × width map of this frame (a copy). */
  readonly map: Float32Array;
  readonly mapHeight: number;
  readonly mapWidth: number;
  readonly geometry: FrameGeometry;
  /**
   * Line-scan: this is the NG crop of one defect of a rejected segment (frame = the crop's pixels,
   * map = its merged map, geometry = the crop itself); see src/pipeline/operators/line-scan.ts.
   */
  readonly lineScan?: LineScanCropInfo;
}

/**
 * Where a line-scan NG crop lies: its segment, its defect (the tiler's LineDefect, with the box's
 * y/h named line/lines as in the file names) and the crop window.
 */
export type LineScanCropInfo = Pick<LineDefect, 'x' | 'w' | 'area' | 'maxScore' | 'alongMm' | 'acrossMm' | 'lengthMm' | 'widthMm'> & {
  readonly segment: number;
  readonly startMm: number;
  readonly endMm: number;
  /** Index of this defect among the segment's crops, and how many there are. */
  readonly defect: number;
  readonly defects: number;
  /** The defect box along the web: first absolute line, and lines. */
  readonly line: number;
  readonly lines: number;
  readonly crop: CropWindow;
};

export interface JudgeContext {
  /** Read once per batch: the batch runs on the engine in force when it started. */
  engine(): EngineSlot;
  /** Read after inference: a rule change applies from the next frame judged. */
  rules(): RuleSet;
  readonly roi: Rect | undefined;
  /** Decode + resize + crop of one frame (a worker pool, or preparePixels on this thread). */
  readonly prepare: (frame: Frame, manifest: Manifest, roi: Rect | undefined) => Promise<PreparedPixels>;
  /** Called for judged frames when someone wants maps (null = nobody, no copies made). */
  judged(): ((j: JudgedFrame) => void) | null;
}

/** Reported defects per verdict at most (the largest); the decision still sees all of them. */
const MAX_REPORTED_DEFECTS = 32;

function msSince(monoNs: bigint, now: bigint): number {
  return Number(now - monoNs) / 1e6;
}

function partIdOf(frame: Frame): string | undefined {
  const p = frame.meta.partId;
  return typeof p === 'string' ? p : undefined;
}

/** A frame no PLC trigger claimed says so in its reasons (informative: the verdict is unchanged). */
function withTriggerNote(reasons: readonly Reason[], frame: Frame): Reason[] {
  if (frame.meta.triggerMissing !== true) return reasons as Reason[];
  return [...reasons, { code: REASON.NO_TRIGGER, message: `frame ${frame.seq} of ${frame.cameraId}: no PLC trigger claimed it, so its partId is not the PLC's` }];
}

function unjudged(
  frame: Frame,
  kind: Extract<VerdictKind, 'error' | 'dropped'>,
  cause: Reason,
  rules: RuleSet,
  modelVersion: string,
): Verdict {
  const total = msSince(frame.capturedAt.monoNs, process.hrtime.bigint());
  const partId = partIdOf(frame);
  return {
    seq: frame.seq,
    cameraId: frame.cameraId,
    ...(partId !== undefined ? { partId } : {}),
    verdict: kind,
    score: null,
    normScore: null,
    defects: [],
    reasons: withTriggerNote(failSafeReasons(kind, rules.decide.failSafe, cause), frame),
    timings: { captureToInferMs: 0, inferMs: 0, postMs: 0, totalMs: total },
    modelVersion,
    configVersion: rules.configVersion,
    capturedAtMs: frame.capturedAt.wallMs,
    meta: frame.meta,
  };
}

/** The verdict of a frame the bounded queue dropped. */
export function droppedVerdict(frame: Frame, rules: RuleSet, modelVersion: string, capacity: number): Verdict {
  return unjudged(frame, 'dropped', { code: REASON.DROPPED, message: `inference queue full (${capacity} frames waiting)` }, rules, modelVersion);
}

/** The verdict of a frame that could not be judged. The reason code is the error's LW_ERR code when it has one. */
export function errorVerdict(frame: Frame, err: unknown, rules: RuleSet, modelVersion: string): Verdict {
  const code = err instanceof LinewatchError ? err.code : REASON.ERROR;
  return unjudged(frame, 'error', { code, message: errorMessage(err) }, rules, modelVersion);
}

function settle<T>(p: Promise<T>): Promise<T | { failed: unknown }> {
  return p.then(
    (v) => v,
    (failed: unknown) => ({ failed }),
  );
}

export async function judgeBatch(ctx: JudgeContext, frames: readonly Frame[]): Promise<Verdict[]> {
  const slot = ctx.engine();
  slot.inFlight++;
  try {
    return await judgeOn(ctx, slot, frames);
  } finally {
    slot.inFlight--;
  }
}

async function judgeOn(ctx: JudgeContext, slot: EngineSlot, frames: readonly Frame[]): Promise<Verdict[]> {
  const manifest = slot.bundle.manifest;
  const modelVersion = manifest.version;
  const n = frames.length;
  const out: (Verdict | null)[] = new Array<Verdict | null>(n).fill(null);
  const pending: Promise<PreparedPixels | { failed: unknown }>[] = [];
  for (let i = 0; i < n; i++) pending.push(settle(ctx.prepare(frames[i]!, manifest, ctx.roi)));
  const prepared = await Promise.all(pending);
  const good: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!;
    if ('failed' in p) out[i] = errorVerdict(frames[i]!, p.failed, ctx.rules(), modelVersion);
    else good.push(i);
  }
  if (good.length > 0) {
    const tensor = batchTensor(
      good.map((i) => prepared[i] as PreparedPixels),
      manifest,
    );
    const inferAt = process.hrtime.bigint();
    let result: ModelOutput | null = null;
    let failure: unknown = null;
    try {
      result = await slot.engine.run({ n: good.length, data: tensor });
    } catch (err) {
      failure = err;
    }
    if (result === null) {
      for (const i of good) out[i] = errorVerdict(frames[i]!, failure, ctx.rules(), modelVersion);
    } else {
      judgeResults(ctx, slot, frames, prepared, good, result, inferAt, out);
    }
  }
  return out as Verdict[];
}

function judgeResults(
  ctx: JudgeContext,
  slot: EngineSlot,
  frames: readonly Frame[],
  prepared: readonly (PreparedPixels | { failed: unknown })[],
  good: readonly number[],
  result: ModelOutput,
  inferAt: bigint,
  out: (Verdict | null)[],
): void {
  const postAt = process.hrtime.bigint();
  const manifest = slot.bundle.manifest;
  const rules = ctx.rules();
  const cal = manifest.calibration;
  let finished;
  try {
    finished = slot.finisher.finish(result);
  } catch (err) {
    for (const i of good) out[i] = errorVerdict(frames[i]!, new LinewatchError('LW_ERR_SESSION_RUN', errorMessage(err)), rules, manifest.version);
    return;
  }
  const { maps, height, width, scores } = finished;
  const plane = height * width;
  const pixelThreshold = rawPixelThreshold(rules.decide, cal.pixel);
  const hook = ctx.judged();
  for (let k = 0; k < good.length; k++) {
    const i = good[k]!;
    const frame = frames[i]!;
    const geometry = (prepared[i] as PreparedPixels).geometry;
    const score = scores[k]!;
    const normScore = normalizeScore(score, cal.image);
    const regions = slot.finder.find(maps, k * plane, pixelThreshold);
    const defects: Defect[] = [];
    for (let r = 0; r < regions.length; r++) defects.push(regionToCamera(regions[r]!, geometry, height, width));
    const decision = decide(rules.decide, { score, normScore, defects });
    let reported = decision.defects;
    if (reported.length > MAX_REPORTED_DEFECTS) reported = reported.sort((a, b) => b.area - a.area).slice(0, MAX_REPORTED_DEFECTS);
    const now = process.hrtime.bigint();
    const partId = partIdOf(frame);
    const verdict: Verdict = {
      seq: frame.seq,
      cameraId: frame.cameraId,
      ...(partId !== undefined ? { partId } : {}),
      verdict: decision.verdict,
      score,
      normScore,
      defects: reported,
      reasons: withTriggerNote(decision.reasons, frame),
      timings: {
        captureToInferMs: msSince(frame.capturedAt.monoNs, inferAt),
        inferMs: result.inferMs,
        postMs: Number(now - postAt) / 1e6,
        totalMs: msSince(frame.capturedAt.monoNs, now),
      },
      modelVersion: manifest.version,
      configVersion: rules.configVersion,
      capturedAtMs: frame.capturedAt.wallMs,
      meta: frame.meta,
    };
    out[i] = verdict;
    if (hook !== null) hook({ frame, verdict, map: maps.slice(k * plane, (k + 1) * plane), mapHeight: height, mapWidth: width, geometry });
  }
}
