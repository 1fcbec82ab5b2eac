/**
 * `linewatch calibrate`'s pass over a data set: scores every test image through the production
 * path and turns the scores into the manifest's `calibration` section (rules in calibrate.ts).
 *
 * - Image threshold: the chosen rule (good quantile + margin, target escape or false-reject rate,
 *   or F1-max when defective images exist and no target is given).
 * - Pixel threshold: F1-max over all pixels when every category has masks (streamed histogram, so
 *   the threshold is a bin edge, within 2^-18 relative of the exact one); otherwise the same good
 *   quantile + margin rule applied to each good image's highest map value, i.e. a defect region
 *   appears on about 1 − q of good parts.
 * - min/max (for normalisation): the lowest and highest image score, and map value, over all the
 *   test images, as anomalib does on its validation set.
 */
import type { Bundle } from '../models/bundle.js';
import type { EngineOptions } from '../models/engine.js';
import type { Manifest } from '../models/manifest.js';
import { decideConfigSchema } from '../config/sections.js';
import {
  chooseThreshold,
  DEFAULT_GOOD_QUANTILE,
  DEFAULT_MARGIN,
  describe,
  expectedFalseRejects,
  operatingPoint,
  type ExpectedFalseRejects,
  tradeoffTable,
  type OperatingPoint,
  type ThresholdRule,
} from './calibrate.js';
import type { EvalDataset, EvalSample } from './dataset.js';
import { f1Max } from './metrics.js';
import { PixelAccumulator } from './pixel-accumulator.js';
import { judgeDataset } from './production-path.js';
import { describePrompts, type ChosenPrompt, type PromptRule } from './prompts.js';

export type Calibration = Manifest['calibration'];

export interface CalibrateOptions {
  /** Image rule; default F1-max with defective images, else good quantile + margin. */
  readonly rule?: ThresholdRule;
  /** Quantile of good values for good-only rules. Default 0.99. */
  readonly goodQuantile?: number;
  /** Margin past the quantile, fraction of Q(q) − Q(0.5). Default 0.1. */
  readonly margin?: number;
  readonly engine?: EngineOptions;
  readonly onProgress?: (done: number, total: number, sample: EvalSample) => void;
  /** For a model that needs a prompt image (OneNIP): how each category's is chosen. Default: seed 0. */
  readonly prompts?: PromptRule;
}

export interface CalibrationResult {
  readonly calibration: Calibration;
  readonly previous: Calibration;
  readonly image: { readonly rule: string; readonly threshold: number; readonly point: OperatingPoint; readonly table: OperatingPoint[] };
  readonly pixel: { readonly rule: string; readonly threshold: number };
  readonly counts: { readonly good: number; readonly defective: number; readonly errors: number };
  /** What the image threshold promises for new good parts (calibrate.ts expectedFalseRejects). */
  readonly expected: ExpectedFalseRejects;
  /** The prompt each category was judged with; null: the model needs none. */
  readonly prompts: readonly ChosenPrompt[] | null;
}

function describeRule(rule: ThresholdRule): string {
  switch (rule.kind) {
    case 'good-quantile':
      return `good quantile ${rule.quantile} + ${rule.margin} × (Q${rule.quantile} − Q0.5)`;
    case 'target-escape-rate':
      return `target escape rate ≤ ${rule.rate}`;
    case 'target-false-reject':
      return `target false-reject rate ≤ ${rule.rate}`;
    case 'f1-max':
      return 'F1-max';
  }
}

/**
 * Calibrates a bundle on a data set; nothing is written (see writeCalibration).
 * @example const r = await calibrateBundle(bundle, dataset, { rule: { kind: 'target-escape-rate', rate: 0.01 } });
 */
export async function calibrateBundle(bundle: Bundle, dataset: EvalDataset, opts: CalibrateOptions = {}): Promise<CalibrationResult> {
  const goodQuantile = opts.goodQuantile ?? DEFAULT_GOOD_QUANTILE;
  const margin = opts.margin ?? DEFAULT_MARGIN;
  const withMasks = dataset.categories.every((c) => c.hasMasks);
  const acc = withMasks ? new PixelAccumulator() : null;
  const good: number[] = [];
  const bad: number[] = [];
  const goodMapMax: number[] = [];
  let errors = 0;
  let pixMin = Number.POSITIVE_INFINITY;
  let pixMax = Number.NEGATIVE_INFINITY;
  let gN = 0;
  let gSum = 0;
  let gSq = 0;
  let gMin = Number.POSITIVE_INFINITY;
  let gMax = Number.NEGATIVE_INFINITY;
  const { prompts } = await judgeDataset(
    bundle,
    dataset,
    {
      rules: decideConfigSchema.parse(undefined),
      ...(opts.engine ? { engine: opts.engine } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.prompts ? { prompts: opts.prompts } : {}),
    },
    {
      image: (j) => {
        if (j.kind === 'error') {
          errors++;
          return;
        }
        const map = j.map;
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (let i = 0; i < map.length; i++) {
          const v = map[i] as number;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (lo < pixMin) pixMin = lo;
        if (hi > pixMax) pixMax = hi;
        if (j.sample.label === 0) {
          good.push(j.score);
          goodMapMax.push(hi);
          for (let i = 0; i < map.length; i++) {
            const v = map[i] as number;
            gSum += v;
            gSq += v * v;
          }
          gN += map.length;
          if (lo < gMin) gMin = lo;
          if (hi > gMax) gMax = hi;
        } else {
          bad.push(j.score);
        }
        acc?.add(map, j.mask, j.mapHeight, j.mapWidth, j.sample.name);
      },
    },
  );
  const rule: ThresholdRule =
    opts.rule ?? (bad.length > 0 ? { kind: 'f1-max' } : { kind: 'good-quantile', quantile: goodQuantile, margin });
  const imageThreshold = chooseThreshold(good, bad, rule);
  let pixelThreshold: number;
  let pixelRule: string;
  const bestPixel = acc !== null && acc.regionCount > 0 ? f1Max(acc.ranked()) : null;
  if (bestPixel !== null) {
    pixelThreshold = bestPixel.threshold;
    pixelRule = `pixel F1-max ${bestPixel.f1.toFixed(4)} over ${acc?.pixelCount} pixels with masks`;
  } else {
    pixelThreshold = chooseThreshold(goodMapMax, [], { kind: 'good-quantile', quantile: goodQuantile, margin });
    pixelRule = `good quantile ${goodQuantile} + ${margin} × (Q${goodQuantile} − Q0.5) of each good image's highest map value`;
  }
  let imgMin = Number.POSITIVE_INFINITY;
  let imgMax = Number.NEGATIVE_INFINITY;
  for (const s of [...good, ...bad]) {
    if (s < imgMin) imgMin = s;
    if (s > imgMax) imgMax = s;
  }
  const gMean = gSum / gN;
  const calibration: Calibration = {
    method:
      `linewatch calibrate on ${dataset.root} (${good.length} good, ${bad.length} defective test images): ` +
      `image threshold by ${describeRule(rule)}, boundary mid-gap; pixel threshold by ${pixelRule}; ` +
      'min/max = lowest/highest image score and map value over these images' +
      (prompts === null ? '' : `; prompts: ${describePrompts(prompts)}`),
    image: { threshold: imageThreshold, min: imgMin, max: imgMax },
    pixel: { threshold: pixelThreshold, min: pixMin, max: pixMax },
    goodImageScores: describe(good),
    goodPixelValues: { n: gN, min: gMin, max: gMax, mean: gMean, std: Math.sqrt(Math.max(0, gSq / gN - gMean * gMean)), quantiles: {} },
  };
  return {
    calibration,
    previous: bundle.manifest.calibration,
    image: { rule: describeRule(rule), threshold: imageThreshold, point: operatingPoint(good, bad, imageThreshold), table: tradeoffTable(good, bad, imageThreshold) },
    pixel: { rule: pixelRule, threshold: pixelThreshold },
    counts: { good: good.length, defective: bad.length, errors },
    expected: expectedFalseRejects(good, imageThreshold),
    prompts,
  };
}
