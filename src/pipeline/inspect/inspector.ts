/**
 * The Inspector: how every frame is judged — area-scan batches, line-scan tiles, eval and
 * calibrate images, bench — in two stages that can be used apart:
 *
 *   map:   prepare (decode, ROI, resize, crop) + the frame's extras → adapter.inputs → engine →
 *          adapter.finish → one final map and raw score per frame   (line-scan stops here: its
 *          tiles' maps are merged along the strip before anything is decided)
 *   judge: regions → camera pixels → decide → the verdict builder   (per frame)
 *
 * Everything about a frame that is not the model's is looked up per frame (FrameContext: its
 * camera's ROI, its extra inputs), so one batch may hold frames of several cameras and products.
 * Failures are values: a frame that cannot be prepared or served becomes an `error` verdict and
 * its batch-mates go on; a failed model call makes the frames it held `error`.
 */
import { LinewatchError, errorMessage } from '../../errors.js';
import { describeNeeds, needsExtras, type FrameExtras } from '../../models/adapters/index.js';
import type { Manifest } from '../../models/manifest.js';
import type { ModelOutput } from '../../models/types.js';
import { decide, rawPixelThreshold } from '../decide.js';
import type { Frame } from '../frame.js';
import type { FrameGeometry, Rect } from '../geometry.js';
import { normalizeScore, regionToCamera, type FinishedMaps } from '../postprocess/index.js';
import type { AreaTiling } from '../tiler/area.js';
import type { PreparedPixels } from '../preprocess/index.js';
import type { Defect, Verdict } from '../verdict.js';
import type { JudgedFrame } from './judged.js';
import type { ModelSlot } from './model-slot.js';
import { errorVerdict, judgedVerdict, type RuleSet, type RunTimes } from './verdicts.js';

/** Decode + ROI + resize + crop of one frame, as its context says (a worker pool, or preparePixels on this thread). */
export type PrepareFn = (frame: Frame, manifest: Manifest, context: FrameContext) => Promise<PreparedPixels>;

/**
 * Serves what a frame needs besides its pixels (OneNIP: the prompt of the frame's product, or the
 * pool member nearest to the frame's prepared pixels), prepared for `model`. Rejects when it
 * cannot (unknown product, no prompt): that frame is `error`.
 */
export type ExtrasServer = (frame: Frame, model: ModelSlot, prepared: PreparedPixels) => Promise<FrameExtras>;

/** Per frame: what its camera (and product) contribute to judging it. */
export interface FrameContext {
  /** Region of the camera image the model sees; undefined = all of it. */
  readonly roi: Rect | undefined;
  /** Larger frames are refused before they are decoded (`cameras[].maxFramePixels`). */
  readonly maxFramePixels: number;
  /** null: nothing can be served for these frames (a model that needs extras is refused beforehand). */
  readonly extras: ExtrasServer | null;
}

export interface InspectorDeps {
  /** Read once per batch: the batch runs on the model in force when it started. */
  model(): ModelSlot;
  /** Read after inference: a rule change applies from the next frame judged. */
  rules(): RuleSet;
  readonly prepare: PrepareFn;
  /** Looked up per frame (a cheap lookup: it runs for every frame). */
  frameContext(frame: Frame): FrameContext;
  /** Called for judged frames when someone wants maps (null = nobody, no copies made). */
  judged(): ((j: JudgedFrame) => void) | null;
}

/** Why a frame has no map, and at which stage: eval stops on `model` failures, the line judges them. */
export class MapFailure {
  constructor(
    readonly error: unknown,
    readonly stage: 'prepare' | 'extras' | 'model',
  ) {}
}

/** The map stage's result for one batch. */
export interface MappedBatch extends RunTimes {
  readonly model: ModelSlot;
  /** Per frame: null when it has a map, else why not. */
  readonly failures: readonly (MapFailure | null)[];
  /** Frames that have a map, in map order: map k belongs to frame mapped[k]. */
  readonly mapped: readonly number[];
  /** Their geometries (how the camera image became the model input), in map order. */
  readonly geometry: readonly FrameGeometry[];
  /** The prompt each mapped frame was judged against (its file name), in map order; null when the model takes none. */
  readonly prompts: readonly (string | undefined)[] | null;
  /** n = mapped.length final maps and raw scores; null when no frame reached the model. */
  readonly maps: FinishedMaps | null;
}

// Module-level, not per-frame closures: these run for every frame.
function prepareFailed(err: unknown): MapFailure {
  return new MapFailure(err, 'prepare');
}

function extrasFailed(err: unknown): MapFailure {
  return new MapFailure(err, 'extras');
}

function prepareSettled(prepare: PrepareFn, frame: Frame, manifest: Manifest, fc: FrameContext): Promise<PreparedPixels | MapFailure> {
  try {
    return prepare(frame, manifest, fc).then(undefined, prepareFailed);
  } catch (err) {
    return Promise.resolve(new MapFailure(err, 'prepare'));
  }
}

function extrasSettled(fc: FrameContext, frame: Frame, slot: ModelSlot, prepared: PreparedPixels): Promise<FrameExtras | MapFailure> {
  const serve = fc.extras;
  if (serve === null) {
    const a = slot.adapter;
    const err = new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `frame ${frame.seq} of ${frame.cameraId}: the model (${a.architecture}) needs ${describeNeeds(a.needs)}, and nothing serves this camera's frames`);
    return Promise.resolve(new MapFailure(err, 'extras'));
  }
  try {
    return serve(frame, slot, prepared).then(undefined, extrasFailed);
  } catch (err) {
    return Promise.resolve(new MapFailure(err, 'extras'));
  }
}

export class Inspector {
  /** Line-scan reads the model, rules and judged hook through these too. */
  readonly deps: InspectorDeps;
  private readonly contextOf: (frame: Frame) => FrameContext;

  constructor(deps: InspectorDeps) {
    this.deps = deps;
    this.contextOf = (frame) => deps.frameContext(frame);
  }

  /**
   * Area-scan: one verdict per frame, in order, on the model in force when the batch started.
   *
   * @example
   * const verdicts = await inspector.judge(frames);
   */
  async judge(frames: readonly Frame[]): Promise<Verdict[]> {
    const slot = this.deps.model();
    slot.inFlight++;
    try {
      return this.verdicts(await this.map(slot, frames), frames);
    } finally {
      slot.inFlight--;
    }
  }

  /**
   * The map stage on `slot` (the caller holds it: inFlight). `contextOf` defaults to the
   * deps' frameContext; line-scan passes its tiles' own. Never throws: failures are per frame.
   */
  async map(slot: ModelSlot, frames: readonly Frame[], contextOf: (frame: Frame) => FrameContext = this.contextOf): Promise<MappedBatch> {
    const manifest = slot.bundle.manifest;
    const adapter = slot.adapter;
    const n = frames.length;
    const pending: Promise<PreparedPixels | MapFailure>[] = [];
    const pendingExtras: Promise<FrameExtras | MapFailure>[] | null = needsExtras(adapter.needs) ? [] : null;
    for (let i = 0; i < n; i++) {
      const frame = frames[i]!;
      const fc = contextOf(frame);
      const p = prepareSettled(this.deps.prepare, frame, manifest, fc);
      pending.push(p);
      // Served once the frame is prepared: a pool's choice is made on the frame's model-input pixels.
      if (pendingExtras !== null) pendingExtras.push(p.then((px) => (px instanceof MapFailure ? px : extrasSettled(fc, frame, slot, px))));
    }
    const prepared = await Promise.all(pending);
    const extras = pendingExtras === null ? null : await Promise.all(pendingExtras);
    const failures = new Array<MapFailure | null>(n).fill(null);
    const mapped: number[] = [];
    const geometry: FrameGeometry[] = [];
    const ready: PreparedPixels[] = [];
    const readyExtras: FrameExtras[] | null = extras === null ? null : [];
    for (let i = 0; i < n; i++) {
      const p = prepared[i]!;
      const e = extras === null ? null : extras[i]!;
      if (p instanceof MapFailure) failures[i] = p;
      else if (e instanceof MapFailure) failures[i] = e;
      else {
        mapped.push(i);
        ready.push(p);
        geometry.push(p.geometry);
        if (readyExtras !== null) readyExtras.push(e!);
      }
    }
    const prompts = readyExtras === null ? null : readyExtras.map((e) => e.promptName);
    if (mapped.length === 0) return { model: slot, failures, mapped, geometry, prompts, maps: null, inferAt: 0n, inferMs: 0, postAt: 0n };
    if (slot.tiling !== null) return mapTiles(slot, slot.tiling, ready, readyExtras, failures, mapped, geometry, prompts);
    const inferAt = process.hrtime.bigint();
    let out: ModelOutput;
    try {
      out = await slot.engine.run(adapter.inputs(ready, readyExtras));
    } catch (err) {
      return failAll(slot, failures, mapped, new MapFailure(err, 'model'), inferAt);
    }
    const postAt = process.hrtime.bigint();
    let maps: FinishedMaps;
    try {
      maps = adapter.finish(out);
    } catch (err) {
      return failAll(slot, failures, mapped, new MapFailure(new LinewatchError('LW_ERR_SESSION_RUN', errorMessage(err)), 'model'), inferAt);
    }
    return { model: slot, failures, mapped, geometry, prompts, maps, inferAt, inferMs: out.inferMs, postAt };
  }

  /**
   * The judge stage: a verdict per frame of a mapped batch, in order — an `error` verdict for
   * each failure, and regions → decide → verdict for each map. Offers each judged frame with
   * its map to the judged() hook.
   */
  verdicts(batch: MappedBatch, frames: readonly Frame[]): Verdict[] {
    const slot = batch.model;
    const manifest = slot.bundle.manifest;
    const modelVersion = manifest.version;
    const rules = this.deps.rules();
    const n = frames.length;
    const out = new Array<Verdict>(n);
    const failures = batch.failures;
    for (let i = 0; i < n; i++) {
      const f = failures[i];
      if (f !== null && f !== undefined) out[i] = errorVerdict(frames[i]!, f.error, rules, modelVersion);
    }
    const finished = batch.maps;
    if (finished === null) return out;
    const { maps, height, width, scores } = finished;
    const plane = height * width;
    const cal = manifest.calibration;
    const pixelThreshold = rawPixelThreshold(rules.decide, cal.pixel);
    const hook = this.deps.judged();
    const mapped = batch.mapped;
    for (let k = 0; k < mapped.length; k++) {
      const i = mapped[k]!;
      const frame = frames[i]!;
      const geometry = batch.geometry[k]!;
      const score = scores[k]!;
      const normScore = normalizeScore(score, cal.image);
      const regions = slot.finder.find(maps, k * plane, pixelThreshold);
      const defects: Defect[] = [];
      for (let r = 0; r < regions.length; r++) defects.push(regionToCamera(regions[r]!, geometry, height, width));
      const decision = decide(rules.decide, { score, normScore, defects });
      const verdict = judgedVerdict(frame, batch, score, normScore, decision, rules, modelVersion, batch.prompts?.[k]);
      out[i] = verdict;
      if (hook !== null) hook({ frame, verdict, map: maps.slice(k * plane, (k + 1) * plane), mapHeight: height, mapWidth: width, geometry });
    }
    return out;
  }
}

/**
 * The model runs on each frame's tiles (manifest geometry.tiles): as many runs as a fixed batch
 * needs, each finished and merged into the frames' maps before the next (an adapter's finished
 * maps may be its scratch). The frames' maps are at the resized frame's resolution.
 */
async function mapTiles(
  slot: ModelSlot,
  tiling: AreaTiling,
  ready: readonly PreparedPixels[],
  readyExtras: readonly FrameExtras[] | null,
  failures: (MapFailure | null)[],
  mapped: readonly number[],
  geometry: readonly FrameGeometry[],
  prompts: readonly (string | undefined)[] | null,
): Promise<MappedBatch> {
  const tiles: PreparedPixels[] = [];
  const tileExtras: FrameExtras[] | null = readyExtras === null ? null : [];
  for (let i = 0; i < ready.length; i++) {
    for (const t of tiling.cut(ready[i]!)) {
      tiles.push(t);
      tileExtras?.push(readyExtras![i]!);
    }
  }
  const batch = slot.bundle.manifest.input.batch;
  const perRun = batch === 'dynamic' ? tiles.length : batch;
  const merged = tiling.frames(ready.length);
  const inferAt = process.hrtime.bigint();
  let inferMs = 0;
  for (let s = 0; s < tiles.length; s += perRun) {
    const n = Math.min(perRun, tiles.length - s);
    let out: ModelOutput;
    try {
      out = await slot.engine.run(slot.adapter.inputs(tiles.slice(s, s + n), tileExtras === null ? null : tileExtras.slice(s, s + n)));
      inferMs += out.inferMs;
      tiling.merge(slot.adapter.finish(out), n, s, merged);
    } catch (err) {
      const e = err instanceof LinewatchError ? err : new LinewatchError('LW_ERR_SESSION_RUN', errorMessage(err));
      return failAll(slot, failures, mapped, new MapFailure(e, 'model'), inferAt);
    }
  }
  return { model: slot, failures, mapped, geometry, prompts, maps: merged, inferAt, inferMs, postAt: process.hrtime.bigint() };
}

/** The model call (or its finishing) failed: every frame that went in has that failure. */
function failAll(
  slot: ModelSlot,
  failures: (MapFailure | null)[],
  mapped: readonly number[],
  failure: MapFailure,
  inferAt: bigint,
): MappedBatch {
  for (let k = 0; k < mapped.length; k++) failures[mapped[k]!] = failure;
  return { model: slot, failures, mapped: [], geometry: [], prompts: null, maps: null, inferAt, inferMs: 0, postAt: inferAt };
}
