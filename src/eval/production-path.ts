/**
 * One evaluation image through the line's own code: preprocess (sharp, per manifest) → the
 * InferenceEngine's session → finishMaps → normalizeScore → findRegions/regionToCamera → decide.
 * What eval and calibrate measure is therefore what a station would do with the same bundle and
 * rules. Only reading the file and the ground-truth mask are eval's own.
 */
import { readFile } from 'node:fs/promises';
import { LinewatchError, errorMessage } from '../errors.js';
import type { Bundle } from '../models/bundle.js';
import { InferenceEngine, type EngineOptions } from '../models/engine.js';
import type { Manifest } from '../models/manifest.js';
import type { DecideConfig } from '../config/sections.js';
import { decide, rawPixelThreshold, REASON } from '../pipeline/decide.js';
import { captureTimeNow, type Frame } from '../pipeline/frame.js';
import { finishMaps, findRegions, normalizeScore, regionToCamera } from '../pipeline/postprocess/index.js';
import { allocateBatch, preparePixels, writeTensor } from '../pipeline/preprocess/index.js';
import type { Defect, Reason } from '../pipeline/verdict.js';
import type { EvalDataset, EvalSample } from './dataset.js';

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
    geometry: { resize: { ...m.geometry.resize, method: 'nearest', antialias: false }, crop: m.geometry.crop },
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

function fileFrame(seq: number, data: Buffer, sample: EvalSample): Frame {
  return {
    seq,
    cameraId: 'eval',
    capturedAt: captureTimeNow(),
    image: { kind: 'encoded', data, origin: sample.path },
    meta: { partId: sample.name, file: sample.path },
  };
}

/** Runs images through one bundle's production path; keeps per-manifest state between images. */
export class ProductionPath {
  private readonly manifest: Manifest;
  private readonly masks: Manifest;
  private readonly rules: DecideConfig;
  private readonly pixelThreshold: number;
  private seq: number;

  constructor(
    private readonly bundle: Bundle,
    private readonly engine: InferenceEngine,
    rules: DecideConfig,
  ) {
    this.manifest = bundle.manifest;
    this.masks = maskManifest(bundle.manifest);
    this.rules = rules;
    this.pixelThreshold = rawPixelThreshold(rules, bundle.manifest.calibration.pixel);
    this.seq = 0;
  }

  /** Judges one image; a file that cannot be read or decoded becomes a FailedSample, not a throw. */
  async judge(sample: EvalSample): Promise<JudgedSample> {
    const seq = this.seq++;
    let prepared;
    try {
      const frame = fileFrame(seq, await readFile(sample.path), sample);
      prepared = await preparePixels(frame, this.manifest);
    } catch (err) {
      return { kind: 'error', sample, reasons: [{ code: REASON.ERROR, message: errorMessage(err) }] };
    }
    const tensor = allocateBatch(this.manifest, 1);
    writeTensor(prepared, this.manifest, tensor, 0);
    // Session failures are not the image's fault: they stop the evaluation (thrown).
    const out = await this.engine.run({ n: 1, data: tensor });
    const finished = finishMaps(this.manifest, out);
    const h = finished.height;
    const w = finished.width;
    // finishMaps may hand back the engine's own buffer; keep a copy of image 0 only.
    const map = finished.maps.slice(0, h * w);
    const score = finished.scores[0] as number;
    const cal = this.manifest.calibration;
    const normScore = normalizeScore(score, cal.image);
    const regions = findRegions(map, h, w, this.pixelThreshold);
    const defects: Defect[] = [];
    for (let i = 0; i < regions.length; i++) defects.push(regionToCamera(regions[i]!, prepared.geometry, h, w));
    const decision = decide(this.rules, { score, normScore, defects });
    const mask = sample.maskPath === null ? null : await this.loadMask(sample.maskPath, seq, h, w);
    return {
      kind: 'scored',
      sample,
      score,
      normScore,
      verdict: decision.verdict,
      reasons: decision.reasons,
      defects: decision.defects,
      map,
      mapHeight: h,
      mapWidth: w,
      mask,
      pixels: prepared.pixels,
      pixelChannels: prepared.channels,
      pixelHeight: prepared.geometry.crop.height,
      pixelWidth: prepared.geometry.crop.width,
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
): Promise<{ provider: string }> {
  const engine = await InferenceEngine.create(bundle, { workers: 1, ...opts.engine });
  try {
    const path = new ProductionPath(bundle, engine, opts.rules);
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
    return { provider: engine.provider };
  } finally {
    await engine.close();
  }
}
