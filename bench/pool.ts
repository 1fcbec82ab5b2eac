/**
 * What the cosine-pool rule costs per frame: the same bundle, the same camera, the full pipeline,
 * once with product `bench` as a pool (each frame embedded by embed.onnx and given the nearest
 * member) and once as a recipe (the pool's first image: no embedding), in alternating rounds so a
 * disturbance of a shared machine moves both sides. Saturated throughput, then capture → verdict
 * latency with both paced at the same rate (80 % of the pool side's saturation).
 */
import { join } from 'node:path';
import { LinewatchError } from '../src/errors.js';
import { listImages } from '../src/util/image-files.js';
import { adapterFor } from '../src/models/adapters/index.js';
import { loadBundle } from '../src/models/bundle.js';
import { framesFolder, pipelineRun, type BenchOptions, type PipelineResult } from './pipeline.js';
import { median, percentile } from './stats.js';

export interface PoolBenchOptions extends BenchOptions {
  /** The pool's images, in pool order; default: the replayed folder's prompt* and pool* images. */
  readonly pool?: readonly string[];
}

interface Side {
  readonly fps: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  readonly inferMsP50: number;
}

export interface PoolBenchReport {
  readonly model: string;
  readonly frames: number;
  readonly rounds: number;
  readonly pool: readonly string[];
  readonly recipe: string;
  readonly pacedFps: number;
  readonly poolSide: Side;
  readonly recipeSide: Side;
  /** pool / recipe. */
  readonly fpsRatio: number;
  readonly latencyP50Ratio: number;
  readonly latencyP99Ratio: number;
  /** 1000/poolFps − 1000/recipeFps: what choosing from the pool adds per frame at saturation. */
  readonly costMsPerFrame: number;
}

/** The pool the bench uses: given, or the replayed folder's prompt* and pool* images (a bundle's samples/ ship them). */
async function benchPool(opts: PoolBenchOptions): Promise<string[]> {
  if (opts.pool !== undefined && opts.pool.length > 0) return [...opts.pool];
  const folder = framesFolder(opts);
  const images = folder === null ? [] : await listImages(folder);
  const pool = images.filter((f) => f.startsWith('prompt') || f.startsWith('pool')).map((f) => join(folder!, f));
  if (pool.length < 2) {
    throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `bench --pool: ${folder ?? 'the synthetic camera'} holds ${pool.length} prompt*/pool* image(s); a pool needs two or more: give them with --pool A,B,…`);
  }
  return pool;
}

function side(runs: readonly PipelineResult[], lat: readonly PipelineResult[]): Side {
  return {
    fps: median(runs.map((r) => r.fps)),
    latencyMsP50: median(lat.map((r) => percentile(r.latencies, 50))),
    latencyMsP99: median(lat.map((r) => percentile(r.latencies, 99))),
    inferMsP50: median(lat.map((r) => percentile(r.inferMs, 50))),
  };
}

/**
 * @throws LinewatchError LW_ERR_MODEL_NEEDS_UNMET when the bundle does not choose prompts from a pool
 * @example
 * formatPoolBenchReport(await runPoolBench({ modelDir: 'test/fixtures/models/tiny-onenip-pool', frames: 500, batch: 1 }));
 */
export async function runPoolBench(opts: PoolBenchOptions): Promise<PoolBenchReport> {
  const bundle = await loadBundle(opts.modelDir);
  if (adapterFor(bundle).needs.prompt?.selection !== 'cosine-pool') {
    throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `bench --pool: model bundle ${bundle.dir} does not choose prompts from a pool (prompt.selection is not cosine-pool)`);
  }
  const pool = await benchPool(opts);
  const recipe = pool[0]!;
  const rounds = opts.rounds ?? 3;
  const sat = { pool: [] as PipelineResult[], recipe: [] as PipelineResult[] };
  for (let r = 0; r < rounds; r++) {
    sat.pool.push(await pipelineRun(opts, opts.frames, 0, null, { pool: [...pool] }));
    sat.recipe.push(await pipelineRun(opts, opts.frames, 0, null, { prompt: recipe }));
  }
  const pacedFps = Math.max(1, Math.round(median(sat.pool.map((x) => x.fps)) * 0.8));
  const latFrames = Math.max(100, Math.min(opts.frames, pacedFps * 20));
  const lat = { pool: [] as PipelineResult[], recipe: [] as PipelineResult[] };
  for (let r = 0; r < rounds; r++) {
    lat.pool.push(await pipelineRun(opts, latFrames, pacedFps, null, { pool: [...pool] }));
    lat.recipe.push(await pipelineRun(opts, latFrames, pacedFps, null, { prompt: recipe }));
  }
  const poolSide = side(sat.pool, lat.pool);
  const recipeSide = side(sat.recipe, lat.recipe);
  return {
    model: `${bundle.manifest.architecture} ${bundle.manifest.version} (${bundle.dir})`,
    frames: opts.frames,
    rounds,
    pool,
    recipe,
    pacedFps,
    poolSide,
    recipeSide,
    fpsRatio: poolSide.fps / recipeSide.fps,
    latencyP50Ratio: poolSide.latencyMsP50 / recipeSide.latencyMsP50,
    latencyP99Ratio: poolSide.latencyMsP99 / recipeSide.latencyMsP99,
    costMsPerFrame: 1000 / poolSide.fps - 1000 / recipeSide.fps,
  };
}

export function formatPoolBenchReport(r: PoolBenchReport): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  const row = (name: string, s: Side): string =>
    `  ${name.padEnd(28)} ${f(s.fps).padStart(8)} frames/s   latency p50 ${f(s.latencyMsP50, 2).padStart(7)} ms   p99 ${f(s.latencyMsP99, 2).padStart(7)} ms   (model ${f(s.inferMsP50, 2)} ms p50)`;
  return [
    `linewatch bench --pool: ${r.model}`,
    `  the full pipeline, ${r.frames} frames × ${r.rounds} alternating rounds per side; latency paced at ${r.pacedFps} frames/s on both sides (medians of the rounds)`,
    `  pool (${r.pool.length}): ${r.pool.map((p) => p.split('/').pop()).join(', ')}; recipe: ${r.recipe.split('/').pop()}`,
    row(`cosine-pool (${r.pool.length} images)`, r.poolSide),
    row('recipe (one image)', r.recipeSide),
    `  ratio pool/recipe           throughput ${f(r.fpsRatio, 3)}   latency p50 ${f(r.latencyP50Ratio, 3)}   p99 ${f(r.latencyP99Ratio, 3)}`,
    `  cost of choosing from the pool: ${f(r.costMsPerFrame, 2)} ms per frame at saturation (embed.onnx on the frame + the nearest of ${r.pool.length})`,
  ].join('\n');
}
