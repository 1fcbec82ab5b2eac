/**
 * The map steps the graph did not do (manifest.outputs.anomalyMap.runtimeSteps), then the image
 * score by the manifest's rule when the graph has no score output.
 */
import type { Manifest, MapStep } from '../../models/manifest.js';
import type { ModelOutput } from '../../models/types.js';
import { createBilinearPlan, resizeBilinear, type BilinearPlan } from './bilinear.js';
import { createGaussianPlan, gaussianBlur, type GaussianPlan } from './gaussian.js';
import { createScorer, type Scorer } from './score.js';

export interface FinishedMaps {
  /** n × height × width, the reference map for each image. */
  readonly maps: Float32Array;
  readonly height: number;
  readonly width: number;
  /** Raw image score per image. */
  readonly scores: Float32Array;
}

type PlannedStep = { readonly kind: 'resize'; readonly plan: BilinearPlan } | { readonly kind: 'gaussian'; readonly plan: GaussianPlan };

function planStep(step: MapStep, h: number, w: number): { planned: PlannedStep; h: number; w: number } {
  switch (step.op) {
    case 'resize':
      return { planned: { kind: 'resize', plan: createBilinearPlan(h, w, step.height, step.width, step.alignCorners) }, h: step.height, w: step.width };
    case 'gaussian':
      return { planned: { kind: 'gaussian', plan: createGaussianPlan(h, w, step.sigma, step.kernel, step.padding) }, h, w };
  }
}

/** Plans and scratch buffers for one manifest; reuse it for every batch. */
export class MapFinisher {
  readonly inHeight: number;
  readonly inWidth: number;
  readonly height: number;
  readonly width: number;
  private readonly steps: readonly PlannedStep[];
  private readonly scorer: Scorer | null;
  private readonly ping: Float32Array;
  private readonly pong: Float32Array;

  constructor(manifest: Manifest) {
    const am = manifest.outputs.anomalyMap;
    this.inHeight = am.height;
    this.inWidth = am.width;
    let h = am.height;
    let w = am.width;
    let largest = h * w;
    const steps: PlannedStep[] = [];
    for (const s of am.runtimeSteps) {
      const p = planStep(s, h, w);
      steps.push(p.planned);
      h = p.h;
      w = p.w;
      if (h * w > largest) largest = h * w;
    }
    this.steps = steps;
    this.height = h;
    this.width = w;
    this.scorer = manifest.outputs.score.name === null ? createScorer(manifest.outputs.score.rule, h, w) : null;
    this.ping = new Float32Array(steps.length > 0 ? largest : 0);
    this.pong = new Float32Array(steps.length > 0 ? largest : 0);
  }

  /**
   * Finishes a batch. With no runtime steps the returned maps are `out.map` itself (no copy);
   * otherwise `target` (n × height × width) is filled, or a new array when not given.
   */
  finish(out: ModelOutput, target?: Float32Array): FinishedMaps {
    if (out.mapHeight !== this.inHeight || out.mapWidth !== this.inWidth) {
      throw new RangeError(`finishMaps: the model gave a ${out.mapWidth}x${out.mapHeight} map, the manifest says ${this.inWidth}x${this.inHeight}`);
    }
    const n = out.n;
    const inPlane = this.inHeight * this.inWidth;
    const plane = this.height * this.width;
    if (out.map.length < n * inPlane) throw new RangeError(`finishMaps: ${out.map.length} map values for ${n} maps of ${inPlane}`);
    let maps: Float32Array;
    const steps = this.steps;
    if (steps.length === 0) {
      maps = out.map;
    } else {
      maps = target ?? new Float32Array(n * plane);
      if (maps.length < n * plane) throw new RangeError(`finishMaps: target holds ${maps.length} values, needs ${n * plane}`);
      for (let i = 0; i < n; i++) {
        let src = out.map;
        let srcOff = i * inPlane;
        for (let s = 0; s < steps.length; s++) {
          const last = s === steps.length - 1;
          const dst = last ? maps : s % 2 === 0 ? this.ping : this.pong;
          const dstOff = last ? i * plane : 0;
          const step = steps[s] as PlannedStep;
          if (step.kind === 'resize') resizeBilinear(step.plan, src, srcOff, dst, dstOff);
          else gaussianBlur(step.plan, src, srcOff, dst, dstOff);
          src = dst;
          srcOff = dstOff;
        }
      }
    }
    let scores: Float32Array;
    const scorer = this.scorer;
    if (scorer === null) {
      if (out.score === null) throw new RangeError('finishMaps: the manifest names a score output but the model gave none');
      scores = out.score;
    } else {
      scores = new Float32Array(n);
      for (let i = 0; i < n; i++) scores[i] = scorer.score(maps, i * plane);
    }
    return { maps, height: this.height, width: this.width, scores };
  }
}

const finishers = new WeakMap<Manifest, MapFinisher>();

/**
 * Reference maps and image scores for a batch, per the manifest. Keeps one MapFinisher per
 * manifest object, so steady-state calls reuse their plans and scratch.
 *
 * @example
 * const { maps, height, width, scores } = finishMaps(bundle.manifest, await engine.run(input));
 */
export function finishMaps(manifest: Manifest, out: ModelOutput): FinishedMaps {
  let f = finishers.get(manifest);
  if (f === undefined) {
    f = new MapFinisher(manifest);
    finishers.set(manifest, f);
  }
  return f.finish(out);
}
