/**
 * `linewatch eval`: every test image through the production path, aggregated per category into
 * the authors' metrics and into what the line cares about at the bundle's current thresholds.
 *
 * Image metrics are exact (scores are few). Pixel metrics stream through one PixelAccumulator,
 * reset between categories, so memory does not grow with the set. The mean row is the mean over
 * categories, as the papers report it.
 */
import type { DecideConfig } from '../config/sections.js';
import { decideConfigSchema } from '../config/sections.js';
import type { Bundle } from '../models/bundle.js';
import type { EngineOptions } from '../models/engine.js';
import { ejects, normalizedToRaw, rawPixelThreshold } from '../pipeline/decide.js';
import type { EvalCategory, EvalDataset, EvalSample } from './dataset.js';
import { renderCase, whyShown, WorstCases, type GalleryCase } from './gallery.js';
import { aupro, auroc, averagePrecision, f1Max, precisionRecallCurve, proCurve, rankScores, rocCurve, type Curve, type RankedCounts } from './metrics.js';
import { PixelAccumulator } from './pixel-accumulator.js';
import { labelRegions } from './regions.js';
import { judgeDataset, type JudgedSample } from './production-path.js';
import { measureCoverage, type Coverage } from './coverage.js';
import type { ChosenPrompt, PromptRule } from './prompts.js';

export interface MetricSet {
  readonly iAuroc: number | null;
  readonly iAp: number | null;
  readonly iF1max: number | null;
  readonly pAuroc: number | null;
  readonly pAp: number | null;
  readonly pF1max: number | null;
  readonly aupro: number | null;
}
export const METRIC_KEYS = ['iAuroc', 'iAp', 'iF1max', 'pAuroc', 'pAp', 'pF1max', 'aupro'] as const;
export const METRIC_LABELS: Record<(typeof METRIC_KEYS)[number], string> = {
  iAuroc: 'I-AUROC',
  iAp: 'I-AP',
  iF1max: 'I-F1max',
  pAuroc: 'P-AUROC',
  pAp: 'P-AP',
  pF1max: 'P-F1max',
  aupro: 'AUPRO',
};

/** What the line would have done: rows = truth, columns = ejected or passed (failSafe applied). */
export interface Confusion {
  /** Defective parts rejected. */
  readonly caught: number;
  /** Defective parts accepted. */
  readonly escapes: number;
  /** Good parts rejected. */
  readonly falseRejects: number;
  /** Good parts accepted. */
  readonly passed: number;
  /** Images the line could not judge (counted above as failSafe says). */
  readonly errors: number;
  readonly escapeRate: number | null;
  readonly falseRejectRate: number | null;
}

export interface CurvePoints {
  readonly x: number[];
  readonly y: number[];
}

export interface SampleRow {
  readonly name: string;
  readonly category: string;
  readonly defectType: string;
  readonly label: 0 | 1;
  readonly score: number | null;
  readonly normScore: number | null;
  readonly verdict: 'ok' | 'reject' | 'error';
  readonly reasons: string[];
}

export interface CategoryResult {
  readonly name: string;
  readonly good: number;
  readonly defective: number;
  readonly hasMasks: boolean;
  readonly metrics: MetricSet;
  readonly confusion: Confusion;
  /** Raw image scores by truth (for histograms). */
  readonly scores: { readonly good: number[]; readonly defective: number[] };
  readonly curves: {
    readonly imageRoc: CurvePoints | null;
    readonly imagePr: CurvePoints | null;
    readonly pixelRoc: CurvePoints | null;
    readonly pro: CurvePoints | null;
  };
  /** Gallery entries without their images (the images are in EvalResult.gallery). */
  readonly worst: Omit<GalleryCase, 'image' | 'overlay' | 'truth'>[];
  /**
   * Only with `exactPixels`: the pixel metrics computed exactly (all pixels sorted, as sklearn
   * does), to measure what the streamed histogram changes.
   */
  readonly pixelExact?: Pick<MetricSet, 'pAuroc' | 'pAp' | 'pF1max' | 'aupro'>;
}

export interface EvalReport {
  readonly tool: 'linewatch eval';
  readonly createdAt: string;
  /** `map`: the graph output judged as the anomaly map (an extra output with `eval --map-output`). */
  readonly model: { dir: string; version: string; architecture: string; sha256: string; provider: string; map: string };
  readonly data: string;
  /** The thresholds the line uses with these rules, in raw model units. */
  readonly thresholds: { image: number; pixel: number; rejectOn: DecideConfig['rejectOn'] };
  readonly categories: CategoryResult[];
  readonly mean: MetricSet;
  readonly total: Confusion;
  readonly samples: SampleRow[];
  /** How pixel metrics were computed (the histogram's resolution). */
  readonly pixelMethod: string;
  /** What the model's view leaves out of the defects (coverage.ts). */
  readonly view: Coverage;
  /** The prompt each category was judged with (a prompted model, e.g. OneNIP); null: the model needs none. */
  readonly prompts: readonly ChosenPrompt[] | null;
}

export interface EvalResult {
  readonly report: EvalReport;
  readonly gallery: GalleryCase[];
}

export interface EvaluateOptions {
  /** Decision rules; default the config defaults (normalised image score ≥ 0.5 rejects). */
  readonly rules?: DecideConfig;
  readonly engine?: EngineOptions;
  /** Worst cases kept per kind (defective, good) and category. Default 4. */
  readonly galleryPerKind?: number;
  /**
   * Also compute pixel metrics exactly, holding every map of a category in memory (for measuring
   * the histogram's error; not for large sets). Default false.
   */
  readonly exactPixels?: boolean;
  readonly onProgress?: (done: number, total: number, sample: EvalSample) => void;
  /** For a model that needs a prompt image (OneNIP): how each category's is chosen. Default: seed 0. */
  readonly prompts?: PromptRule;
}

/** At most `max` points of a curve, evenly by index, first and last kept (for plotting only). */
export function thinCurve(c: Curve | null, max = 400): CurvePoints | null {
  if (c === null) return null;
  const n = c.x.length;
  const step = Math.max(1, Math.ceil(n / max));
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i += step) {
    x.push(c.x[i] as number);
    y.push(c.y[i] as number);
  }
  if ((n - 1) % step !== 0) {
    x.push(c.x[n - 1] as number);
    y.push(c.y[n - 1] as number);
  }
  return { x, y };
}

function prPoints(r: RankedCounts): CurvePoints | null {
  const pr = precisionRecallCurve(r);
  if (pr === null) return null;
  return thinCurve({ x: pr.recall, y: pr.precision, thresholds: new Float64Array(0) });
}

function confusionOf(rows: readonly SampleRow[], failSafe: DecideConfig['failSafe']): Confusion {
  let caught = 0;
  let escapes = 0;
  let falseRejects = 0;
  let passed = 0;
  let errors = 0;
  for (const r of rows) {
    if (r.verdict === 'error') errors++;
    const out = r.verdict === 'error' ? failSafe === 'reject' : ejects({ verdict: r.verdict, reasons: [] });
    if (r.label === 1) {
      if (out) caught++;
      else escapes++;
    } else if (out) falseRejects++;
    else passed++;
  }
  const bad = caught + escapes;
  const good = falseRejects + passed;
  return {
    caught,
    escapes,
    falseRejects,
    passed,
    errors,
    escapeRate: bad > 0 ? escapes / bad : null,
    falseRejectRate: good > 0 ? falseRejects / good : null,
  };
}

function meanOf(results: readonly CategoryResult[]): MetricSet {
  const out: Record<string, number | null> = {};
  for (const k of METRIC_KEYS) {
    let sum = 0;
    let n = 0;
    for (const r of results) {
      const v = r.metrics[k];
      if (v !== null) {
        sum += v;
        n++;
      }
    }
    out[k] = n > 0 ? sum / n : null;
  }
  return out as unknown as MetricSet;
}

/**
 * Evaluates a bundle on an MVTec-layout data set.
 * @example const { report, gallery } = await evaluate(await loadBundle('models/demo'), await discoverDataset('data/synth'));
 */
export async function evaluate(bundle: Bundle, dataset: EvalDataset, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const rules = opts.rules ?? decideConfigSchema.parse(undefined);
  const pixelCal = bundle.manifest.calibration.pixel;
  const acc = new PixelAccumulator();
  const categories: CategoryResult[] = [];
  const gallery: GalleryCase[] = [];
  const samples: SampleRow[] = [];
  let current: { cat: EvalCategory; rows: SampleRow[]; worst: WorstCases; exact: ExactPixels | null } | null = null;

  const finishCategory = async (): Promise<void> => {
    if (current === null) return;
    const { cat, rows, worst, exact } = current;
    const scored = rows.filter((r) => r.score !== null);
    const ranked = rankScores({ labels: scored.map((r) => r.label), scores: scored.map((r) => r.score as number) });
    const pixels = cat.hasMasks && acc.pixelCount > 0 ? acc.ranked() : null;
    const kept = worst.cases();
    const rendered: GalleryCase[] = [];
    for (const s of kept) rendered.push(await renderCase(s, whyShown(s), pixelCal));
    gallery.push(...rendered);
    categories.push({
      name: cat.name,
      good: rows.filter((r) => r.label === 0).length,
      defective: rows.filter((r) => r.label === 1).length,
      hasMasks: cat.hasMasks,
      metrics: {
        iAuroc: auroc(ranked),
        iAp: averagePrecision(ranked),
        iF1max: f1Max(ranked)?.f1 ?? null,
        pAuroc: pixels ? auroc(pixels) : null,
        pAp: pixels ? averagePrecision(pixels) : null,
        pF1max: pixels ? (f1Max(pixels)?.f1 ?? null) : null,
        aupro: pixels ? aupro(pixels) : null,
      },
      confusion: confusionOf(rows, rules.failSafe),
      scores: {
        good: scored.filter((r) => r.label === 0).map((r) => r.score as number),
        defective: scored.filter((r) => r.label === 1).map((r) => r.score as number),
      },
      curves: {
        imageRoc: thinCurve(rocCurve(ranked)),
        imagePr: prPoints(ranked),
        pixelRoc: pixels ? thinCurve(rocCurve(pixels)) : null,
        pro: pixels ? thinCurve(proCurve(pixels)) : null,
      },
      worst: rendered.map(({ image: _i, overlay: _o, truth: _t, ...rest }) => rest),
      ...(exact !== null && cat.hasMasks ? { pixelExact: exactPixelMetrics(exact) } : {}),
    });
    acc.reset();
    current = null;
  };

  const { provider, prompts } = await judgeDataset(
    bundle,
    dataset,
    {
      rules,
      ...(opts.engine ? { engine: opts.engine } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.prompts ? { prompts: opts.prompts } : {}),
    },
    {
      image: async (j: JudgedSample) => {
        // Categories arrive one after the other: a new name closes the previous one.
        if (current !== null && current.cat.name !== j.sample.category) await finishCategory();
        if (current === null) {
          const cat = dataset.categories.find((c) => c.name === j.sample.category) as EvalCategory;
          current = { cat, rows: [], worst: new WorstCases(opts.galleryPerKind ?? 4), exact: opts.exactPixels === true ? new ExactPixels() : null };
        }
        const row = rowOf(j);
        current.rows.push(row);
        samples.push(row);
        if (j.kind === 'scored') {
          if (current.cat.hasMasks) {
            acc.add(j.map, j.mask, j.mapHeight, j.mapWidth, j.sample.name);
            current.exact?.add(j.map, j.mask, j.mapHeight, j.mapWidth);
          }
          current.worst.offer(j);
        }
      },
    },
  );
  await finishCategory();

  const m = bundle.manifest;
  const view = await measureCoverage(dataset, m);
  return {
    report: {
      tool: 'linewatch eval',
      createdAt: new Date().toISOString(),
      model: { dir: bundle.dir, version: m.version, architecture: m.architecture, sha256: m.sha256, provider, map: m.outputs.anomalyMap.name },
      data: dataset.root,
      thresholds: {
        image: rules.image.scale === 'raw' ? rules.image.value : normalizedToRaw(rules.image.value, m.calibration.image),
        pixel: rawPixelThreshold(rules, m.calibration.pixel),
        rejectOn: rules.rejectOn,
      },
      categories,
      mean: meanOf(categories),
      total: confusionOf(samples, rules.failSafe),
      samples,
      pixelMethod: 'streamed histogram of float32 scores: order-preserving bins of 2^-18 relative width (18 mantissa bits)',
      view,
      prompts,
    },
    gallery,
  };
}

/** Every pixel of a category kept, for the exact computation (measurement only). */
class ExactPixels {
  readonly scores: Float32Array[] = [];
  readonly labels: Uint8Array[] = [];
  readonly weights: Float64Array[] = [];
  regions = 0;

  add(map: Float32Array, mask: Uint8Array | null, h: number, w: number): void {
    const n = h * w;
    const labels = new Uint8Array(n);
    const weights = new Float64Array(n);
    if (mask !== null) {
      const lab = labelRegions(mask, h, w);
      this.regions += lab.count;
      for (let i = 0; i < n; i++) {
        const l = lab.labels[i] as number;
        if (l > 0) {
          labels[i] = 1;
          weights[i] = 1 / (lab.areas[l] as number);
        }
      }
    }
    this.scores.push(map.slice(0, n));
    this.labels.push(labels);
    this.weights.push(weights);
  }
}

function concat<T extends Float32Array | Uint8Array | Float64Array>(parts: T[], make: (n: number) => T): T {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = make(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function exactPixelMetrics(e: ExactPixels): Pick<MetricSet, 'pAuroc' | 'pAp' | 'pF1max' | 'aupro'> {
  const r = rankScores(
    { labels: concat(e.labels, (n) => new Uint8Array(n)), scores: concat(e.scores, (n) => new Float32Array(n)) },
    concat(e.weights, (n) => new Float64Array(n)),
    e.regions,
  );
  return { pAuroc: auroc(r), pAp: averagePrecision(r), pF1max: f1Max(r)?.f1 ?? null, aupro: aupro(r) };
}

function rowOf(j: JudgedSample): SampleRow {
  const s = j.sample;
  const base = { name: s.name, category: s.category, defectType: s.defectType, label: s.label };
  if (j.kind === 'error') return { ...base, score: null, normScore: null, verdict: 'error', reasons: j.reasons.map((r) => `${r.code}: ${r.message}`) };
  return { ...base, score: j.score, normScore: j.normScore, verdict: j.verdict, reasons: j.reasons.map((r) => `${r.code}: ${r.message}`) };
}
