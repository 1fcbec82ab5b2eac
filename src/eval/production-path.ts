/**
 * One evaluation image through the line's own code: the Inspector's map stage (preprocess per
 * manifest → the bundle's adapter → the InferenceEngine's session → the adapter's finish) and its
 * judge stage (regions → decide → the verdict builder). What eval and calibrate measure is
 * therefore what a station would do with the same bundle and rules. Only reading the file and the
 * ground-truth mask are eval's own.
 */
import { readFile } from 'node:fs/promises';
import { LinewatchError, errorMessage } from '../errors.js';
import { adapterFor, needsExtras } from '../models/adapters/index.js';
import type { Bundle } from '../models/bundle.js';
import { InferenceEngine, type EngineOptions } from '../models/engine.js';
import type { Manifest } from '../models/manifest.js';
import type { DecideConfig } from '../config/sections.js';
import { REASON } from '../pipeline/decide.js';
import { captureTimeNow, type Frame } from '../pipeline/frame.js';
import { Inspector, assertNeedsMet, createModelSlot, type FrameContext, type JudgedFrame, type ModelSlot } from '../pipeline/inspect/index.js';
import { PromptCache, promptServer } from '../pipeline/products/index.js';
import { DEFAULT_MAX_FRAME_PIXELS, preparePixels, type PreparedPixels } from '../pipeline/preprocess/index.js';
import type { Defect, Reason } from '../pipeline/verdict.js';
import type { EvalDataset, EvalSample } from './dataset.js';
import { DEFAULT_PROMPT_RULE, choosePrompts, ruleForBundle, type ChosenPrompt, type PromptRule } from './prompts.js';
import { EmbeddingEngine, type Embedder } from '../models/embedder.js';

/** A judged image: what the line would have decided, and the map it decided on. */
export interface ScoredSample {
  readonly kind: 'scored';
  readonly sample: EvalSample;
  readonly score: number;
  readonly normScore: number;
  readonly verdict: 'ok' | 'reject';
  readonly reasons: readonly Reason[];
  readonly defects: readonly Defect[];
  /** The finished anomaly map (a copy the caller may keep). */
  readonly map: Float32Array;
  readonly mapHeight: number;
  readonly mapWidth: number;
  /** Ground truth at map resolution (1 = defective), or null for good images and mask-less sets. */
  readonly mask: Uint8Array | null;
  /** The model-input pixels (crop size, RGB or GRAY interleaved), for overlays. */
  readonly pixels: Buffer;
  readonly pixelChannels: 1 | 3;
  readonly pixelHeight: number;
  readonly pixelWidth: number;
}

/** An image the line could not judge: an `error` verdict, judged by failSafe. */
export interface FailedSample {
  readonly kind: 'error';
  readonly sample: EvalSample;
  readonly reasons: readonly Reason[];
}

export type JudgedSample = ScoredSample | FailedSample;

/** Same geometry as the image, but nearest-neighbour and one channel: masks stay binary and aligned. */
function maskManifest(m: Manifest): Manifest {
  return {
    ...m,
    geometry: { ...m.geometry, resize: { ...m.geometry.resize, method: 'nearest', antialias: false } },
    input: { ...m.input, channels: 1, colorOrder: 'GRAY', normalize: null },
  };
}

/** Nearest-neighbour resample of a binary mask (pixel centres, half-pixel convention). */
function resampleNearest(src: Buffer, sh: number, sw: number, dh: number, dw: number): Uint8Array {
  const out = new Uint8Array(dh * dw);
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh));
    for (let x = 0; x < dw; x++) {
      const sx = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
      // Non-zero is defective: MVTec masks are 0/255, some converted sets use 0/1.
      out[y * dw + x] = (src[sy * sw + sx] as number) > 0 ? 1 : 0;
    }
  }
  return out;
}

/** An eval image as a frame: its category is its product (a prompted model is served that category's prompt). */
function fileFrame(seq: number, data: Buffer, sample: EvalSample): Frame {
  return {
    seq,
    cameraId: 'eval',
    capturedAt: captureTimeNow(),
    image: { kind: 'encoded', data, origin: sample.path },
    meta: { partId: sample.name, file: sample.path, product: sample.category },
  };
}

/** Never: fileFrame stamps every frame with its category. Still an error verdict, not another category's prompt. */
const noCategory = (frame: Frame): Error => new LinewatchError('LW_ERR_PRODUCT_UNKNOWN', `eval image ${String(frame.meta.file)} has no category`);

/** Runs images through one bundle's production path; keeps per-model state between images. */
export class ProductionPath {
  private readonly slot: ModelSlot;
  private readonly masks: Manifest;
  private readonly inspector: Inspector;
  /** The image being judged: its model-input pixels (kept: the engine may take the prepared ones) and the judged hook's result. */
  private pixels: PreparedPixels | null;
  private judgedFrame: JudgedFrame | null;
  private seq: number;

  /** `prompts`: each category's prompt, for a model that needs one (null for single-image models). */
  constructor(bundle: Bundle, engine: InferenceEngine, rules: DecideConfig, prompts: PromptCache | null = null, embedder: Embedder | null = null) {
    this.slot = createModelSlot(bundle, engine, undefined, embedder);
    // Eval images are whole files: no ROI.
    const context: FrameContext = { roi: undefined, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, extras: prompts === null ? null : promptServer(() => prompts, noCategory) };
    this.masks = maskManifest(bundle.manifest);
    const ruleSet = { decide: rules, configVersion: 'eval' };
    this.pixels = null;
    this.judgedFrame = null;
    this.seq = 0;
    const keep = (j: JudgedFrame): void => {
      this.judgedFrame = j;
    };
    this.inspector = new Inspector({
      model: () => this.slot,
      rules: () => ruleSet,
      prepare: (frame: Frame, manifest: Manifest, context: FrameContext) => this.prepare(frame, manifest, context),
      frameContext: () => context,
      judged: () => keep,
    });
  }

  /** On this thread, keeping a copy of the pixels for the report's overlays. */
  private async prepare(frame: Frame, manifest: Manifest, context: FrameContext): Promise<PreparedPixels> {
    const p = await preparePixels(frame, manifest, context.roi, context.maxFramePixels);
    this.pixels = { ...p, pixels: Buffer.from(p.pixels) };
    return p;
  }

  /**
   * Judges one image; a file that cannot be read or decoded becomes a FailedSample (with the
   * reasons the line would give), not a throw. A failed model call is not the image's fault: it
   * stops the evaluation (thrown).
   */
  async judge(sample: EvalSample): Promise<JudgedSample> {
    const seq = this.seq++;
    let frame: Frame;
    try {
      frame = fileFrame(seq, await readFile(sample.path), sample);
    } catch (err) {
      return { kind: 'error', sample, reasons: [{ code: REASON.ERROR, message: errorMessage(err) }] };
    }
    this.pixels = null;
    this.judgedFrame = null;
    const frames = [frame];
    const batch = await this.inspector.map(this.slot, frames);
    const failure = batch.failures[0];
    if (failure?.stage === 'model') throw failure.error;
    const verdict = this.inspector.verdicts(batch, frames)[0]!;
    const j = this.judgedFrame as JudgedFrame | null;
    const pixels = this.pixels as PreparedPixels | null;
    if (verdict.verdict === 'error' || verdict.verdict === 'dropped' || j === null || pixels === null) return { kind: 'error', sample, reasons: verdict.reasons };
    const mask = sample.maskPath === null ? null : await this.loadMask(sample.maskPath, seq, j.mapHeight, j.mapWidth);
    return {
      kind: 'scored',
      sample,
      score: verdict.score!,
      normScore: verdict.normScore!,
      verdict: verdict.verdict,
      reasons: verdict.reasons,
      defects: verdict.defects,
      map: j.map,
      mapHeight: j.mapHeight,
      mapWidth: j.mapWidth,
      mask,
      pixels: pixels.pixels,
      pixelChannels: pixels.channels,
      pixelHeight: pixels.geometry.crop.height,
      pixelWidth: pixels.geometry.crop.width,
    };
  }

  /** The mask through the image's geometry (nearest), then to map resolution. */
  private async loadMask(path: string, seq: number, h: number, w: number): Promise<Uint8Array> {
    try {
      const data = await readFile(path);
      const frame: Frame = {
        seq,
        cameraId: 'eval-mask',
        capturedAt: captureTimeNow(),
        image: { kind: 'encoded', data, origin: path },
        meta: {},
      };
      const p = await preparePixels(frame, this.masks);
      return resampleNearest(p.pixels, p.geometry.crop.height, p.geometry.crop.width, h, w);
    } catch (err) {
      throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `ground-truth mask ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

/** Options of a pass over a data set. */
export interface JudgeOptions {
  /** Decision rules; default: the config defaults (reject when the normalised score ≥ 0.5). */
  readonly rules: DecideConfig;
  /** Engine options (providers, threads); default CPU, one worker. */
  readonly engine?: EngineOptions;
  /** Called after each image (progress bars). */
  readonly onProgress?: (done: number, total: number, sample: EvalSample) => void;
  /** For a model that needs a prompt image (OneNIP): how each category's is chosen. Default: seed 0. */
  readonly prompts?: PromptRule;
}

/** What a pass over a data set ran on: the provider, and the prompt each category was judged with (null: the model needs none). */
export interface JudgeRun {
  readonly provider: string;
  readonly prompts: readonly ChosenPrompt[] | null;
}

/**
 * Judges every test image of every category, in order (all of one category, then the next), and
 * hands each to `visit`, so callers can aggregate per category in bounded memory.
 */
export async function judgeDataset(
  bundle: Bundle,
  dataset: EvalDataset,
  opts: JudgeOptions,
  visit: { image(judged: JudgedSample): void | Promise<void> },
): Promise<JudgeRun> {
  // Refused before any session starts: an unknown architecture (loadBundle already did), a
  // manifest that does not fit its architecture, or a model that needs what eval cannot give.
  const adapter = adapterFor(bundle);
  const selection = adapter.needs.prompt?.selection ?? 'recipe';
  const rule = ruleForBundle(opts.prompts ?? DEFAULT_PROMPT_RULE, selection, (bundle.manifest.training['recipe'] as { pool_size?: unknown } | undefined)?.pool_size);
  assertNeedsMet(bundle, adapter, [
    {
      name: 'the eval data set',
      // As on the line (station.ts promptSuppliers): a recipe bundle was calibrated with one prompt per product.
      cannotServe: selection === 'recipe' && rule.kind === 'pool' ? "pools are for bundles whose prompt.selection is cosine-pool; this one's is recipe" : null,
    },
  ]);
  let prompts: PromptCache | null = null;
  let chosen: ChosenPrompt[] | null = null;
  let embedder: EmbeddingEngine | null = null;
  const engineOpts = { workers: 1, ...opts.engine };
  if (needsExtras(adapter.needs)) {
    const made = await choosePrompts(dataset, rule);
    prompts = new PromptCache(made.recipes);
    chosen = made.chosen;
    if (prompts.needsEmbedding()) embedder = await EmbeddingEngine.create(bundle, engineOpts.executionProviders !== undefined ? { executionProviders: engineOpts.executionProviders } : {});
    // A prompt that cannot be decoded stops here, before any image is judged.
    try {
      await prompts.prepareAll({ manifest: bundle.manifest, embedder });
    } catch (err) {
      await embedder?.close();
      throw err;
    }
  }
  let engine: InferenceEngine;
  try {
    engine = await InferenceEngine.create(bundle, engineOpts);
  } catch (err) {
    await embedder?.close();
    throw err;
  }
  try {
    const path = new ProductionPath(bundle, engine, opts.rules, prompts, embedder);
    let total = 0;
    for (const c of dataset.categories) total += c.samples.length;
    let done = 0;
    for (const c of dataset.categories) {
      for (const s of c.samples) {
        await visit.image(await path.judge(s));
        done++;
        opts.onProgress?.(done, total, s);
      }
    }
    return { provider: engine.provider, prompts: chosen };
  } finally {
    await engine.close();
    await embedder?.close();
  }
}
