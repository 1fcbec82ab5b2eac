/**
 * End-to-end benchmark, in one process: a bare `session.run` loop (the baseline: what the model
 * alone can do here) against the full pipeline (synthetic camera → bounded queue → preprocess →
 * engine worker → post-process → decide) with the same model, batch and threads. Rounds alternate
 * so that both sides see the same machine; figures are medians over rounds.
 *
 *   linewatch bench --model DIR [--frames N] [--batch B] [--threads T] [--rounds R]
 */
import * as ort from 'onnxruntime-node';
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../src/config/load.js';
import { loadBundle, type Bundle } from '../src/models/bundle.js';
import { createSessionWithFallback, normalizeProvider, type ProviderConfig } from '../src/models/providers.js';
import { allocateBatch, preparePixels, writeTensor } from '../src/pipeline/preprocess/index.js';
import { SyntheticSource } from '../src/pipeline/sources/synthetic.js';
import { syntheticSourceSchema } from '../src/pipeline/sources/schema.js';
import { Station } from '../src/pipeline/station.js';
import type { Verdict } from '../src/pipeline/verdict.js';

export interface BenchOptions {
  readonly modelDir: string;
  /** Frames per measurement. */
  readonly frames: number;
  readonly batch: number;
  /** Intra-op threads on both sides. Default: the engine's default (cores / workers). */
  readonly intraOpThreads?: number;
  /** Alternating bare/pipeline rounds. Default 3. */
  readonly rounds?: number;
  /** Synthetic camera image size. Default 256 × 256. */
  readonly cameraWidth?: number;
  readonly cameraHeight?: number;
  /** Pipeline preprocessing threads. Default 1. */
  readonly preprocessWorkers?: number;
  /** Default ['cpu']. */
  readonly executionProviders?: readonly ProviderConfig[];
}

export interface BenchReport {
  readonly model: string;
  readonly provider: string;
  readonly batch: number;
  readonly threads: number | 'default';
  readonly frames: number;
  readonly rounds: number;
  readonly camera: string;
  readonly preprocessWorkers: number;
  /** Frames per second, median over rounds. */
  readonly bareFps: number;
  readonly pipelineFps: number;
  /** pipelineFps / bareFps (target ≥ 0.95). */
  readonly ratio: number;
  /** session.run time per batch in the bare loop. */
  readonly modelMsP50: number;
  readonly modelMsP99: number;
  /** Capture → verdict at 80 % of the pipeline's saturation rate. */
  readonly latencyAtFps: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  readonly latencyDropped: number;
  /** Resident memory (MiB) a quarter of the way into the last pipeline round, and at its end. */
  readonly rssAfterWarmupMiB: number;
  readonly rssAfterMiB: number;
}

function percentile(values: ArrayLike<number>, p: number): number {
  const a = Float64Array.from(values).sort();
  if (a.length === 0) return Number.NaN;
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))]!;
}

const median = (xs: number[]): number => percentile(xs, 50);
const mib = (): number => process.memoryUsage.rss() / 2 ** 20;

/** One real batch made by the runtime's own preprocess from synthetic frames. */
async function sampleBatch(bundle: Bundle, batch: number, width: number, height: number): Promise<Uint8Array | Float32Array> {
  const src = new SyntheticSource('bench', syntheticSourceSchema.parse({ type: 'synthetic', width, height, count: batch, seed: 3 }));
  const frames = await firstValueFrom(src.frames().pipe(toArray()));
  const t = allocateBatch(bundle.manifest, batch);
  for (let i = 0; i < frames.length; i++) writeTensor(await preparePixels(frames[i]!, bundle.manifest), bundle.manifest, t, i);
  return t;
}

interface BareResult {
  readonly fps: number;
  readonly runMs: number[];
  readonly provider: string;
}

async function bareLoop(bundle: Bundle, opts: BenchOptions, data: Uint8Array | Float32Array): Promise<BareResult> {
  const m = bundle.manifest;
  const created = await createSessionWithFallback(ort, bundle.onnxPath, m.sha256, (opts.executionProviders ?? ['cpu']).map(normalizeProvider), {
    ...(opts.intraOpThreads !== undefined ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const s = created.session;
  const i = m.input;
  const dims = i.layout === 'NHWC' ? [opts.batch, i.height, i.width, i.channels] : [opts.batch, i.channels, i.height, i.width];
  const feed = (): Record<string, ort.Tensor> => ({ [i.name]: new ort.Tensor(i.dtype === 'uint8' ? 'uint8' : 'float32', data, dims) });
  for (let k = 0; k < 5; k++) await s.run(feed());
  const runs = Math.max(1, Math.ceil(opts.frames / opts.batch));
  const runMs: number[] = [];
  let sink = 0;
  const t0 = performance.now();
  for (let k = 0; k < runs; k++) {
    const a = performance.now();
    const out = await s.run(feed());
    runMs.push(performance.now() - a);
    // Touch the map as the pipeline does, so that lazy copies are paid on both sides.
    sink += (out[m.outputs.anomalyMap.name]!.data as Float32Array)[0]!;
  }
  const elapsed = performance.now() - t0;
  await s.release();
  if (Number.isNaN(sink)) process.stderr.write('');
  return { fps: (runs * opts.batch * 1000) / elapsed, runMs, provider: created.provider };
}

interface PipelineResult {
  readonly fps: number;
  readonly latencies: number[];
  readonly dropped: number;
  readonly rssWarm: number;
  readonly rssEnd: number;
}

async function pipelineRun(opts: BenchOptions, frames: number, fps: number): Promise<PipelineResult> {
  const warm = Math.min(200, Math.max(opts.batch * 4, Math.floor(frames / 10)));
  const config = parseConfig(
    {
      version: 'bench',
      model: {
        bundle: opts.modelDir,
        ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
        executionProviders: opts.executionProviders ?? ['cpu'],
      },
      cameras: [
        { id: 'bench', source: { type: 'synthetic', width: opts.cameraWidth ?? 256, height: opts.cameraHeight ?? 256, count: warm + frames, fps, seed: 5 } },
      ],
      inference: { batchSize: opts.batch, batchWaitMs: 2, maxQueuedFrames: Math.max(8, 2 * opts.batch), preprocessWorkers: opts.preprocessWorkers ?? 1 },
    },
    'bench configuration',
  );
  const station = await Station.start(config, { logger: { info: () => {}, warn: () => {}, error: () => {} } });
  const latencies: number[] = [];
  let seen = 0;
  let tWarm = 0;
  let tEnd = 0;
  let rssWarm = 0;
  let dropped = 0;
  // Resident memory settles (allocator arenas, JIT) over the first thousands of frames: the
  // baseline is taken a quarter of the way in.
  const rssAt = warm + Math.floor(frames / 4);
  const sub = station.verdicts$.subscribe((v: Verdict) => {
    seen++;
    if (seen === rssAt) rssWarm = mib();
    if (seen === warm) {
      tWarm = performance.now();
    } else if (seen > warm) {
      tEnd = performance.now();
      if (v.verdict === 'dropped') dropped++;
      else if (v.verdict !== 'error') latencies.push(v.timings.totalMs);
    }
  });
  await station.ended();
  const rssEnd = mib();
  await station.stop();
  sub.unsubscribe();
  return { fps: ((seen - warm) * 1000) / (tEnd - tWarm), latencies, dropped, rssWarm, rssEnd };
}

/**
 * @example
 * const r = await runPipelineBench({ modelDir: 'models/demo', frames: 2000, batch: 1 });
 * console.log(formatBenchReport(r));
 */
export async function runPipelineBench(opts: BenchOptions): Promise<BenchReport> {
  const bundle = await loadBundle(opts.modelDir);
  const rounds = opts.rounds ?? 3;
  const w = opts.cameraWidth ?? 256;
  const h = opts.cameraHeight ?? 256;
  const data = await sampleBatch(bundle, opts.batch, w, h);
  const bare: number[] = [];
  const piped: number[] = [];
  let runMs: number[] = [];
  let provider = 'cpu';
  let last: PipelineResult | null = null;
  for (let r = 0; r < rounds; r++) {
    const b = await bareLoop(bundle, opts, data);
    bare.push(b.fps);
    runMs = runMs.concat(b.runMs);
    provider = b.provider;
    last = await pipelineRun(opts, opts.frames, 0);
    piped.push(last.fps);
  }
  const pipelineFps = median(piped);
  const atFps = Math.max(1, Math.round(pipelineFps * 0.8));
  const latFrames = Math.max(100, Math.min(opts.frames, atFps * 20));
  const lat = await pipelineRun(opts, latFrames, atFps);
  return {
    model: `${bundle.manifest.architecture} ${bundle.manifest.version} (${bundle.dir})`,
    provider,
    batch: opts.batch,
    threads: opts.intraOpThreads ?? 'default',
    frames: opts.frames,
    rounds,
    camera: `synthetic ${w}x${h}`,
    preprocessWorkers: opts.preprocessWorkers ?? 1,
    bareFps: median(bare),
    pipelineFps,
    ratio: pipelineFps / median(bare),
    modelMsP50: percentile(runMs, 50),
    modelMsP99: percentile(runMs, 99),
    latencyAtFps: atFps,
    latencyMsP50: percentile(lat.latencies, 50),
    latencyMsP99: percentile(lat.latencies, 99),
    latencyDropped: lat.dropped,
    rssAfterWarmupMiB: last!.rssWarm,
    rssAfterMiB: last!.rssEnd,
  };
}

export function formatBenchReport(r: BenchReport): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  const latencyOk = r.latencyMsP99 <= r.modelMsP50 + 5;
  return [
    `linewatch bench: ${r.model}`,
    `  provider ${r.provider}, batch ${r.batch}, threads ${r.threads}, ${r.frames} frames × ${r.rounds} rounds, camera ${r.camera}, ${r.preprocessWorkers} preprocess worker(s)`,
    `  bare session.run loop   ${f(r.bareFps)} frames/s (model ${f(r.modelMsP50, 2)} ms p50, ${f(r.modelMsP99, 2)} ms p99 per batch)`,
    `  full pipeline           ${f(r.pipelineFps)} frames/s`,
    `  ratio pipeline/bare     ${f(r.ratio, 3)} (target ≥ 0.95: ${r.ratio >= 0.95 ? 'met' : 'NOT met'});` +
      ` pipeline cost beyond the model ${f(1000 / r.pipelineFps - 1000 / r.bareFps, 2)} ms per frame`,
    `  latency at ${r.latencyAtFps} frames/s (80 % of saturation): p50 ${f(r.latencyMsP50, 2)} ms, p99 ${f(r.latencyMsP99, 2)} ms, dropped ${r.latencyDropped}` +
      ` (target p99 ≤ model p50 + 5 ms = ${f(r.modelMsP50 + 5, 2)} ms: ${latencyOk ? 'met' : 'NOT met'})`,
    `  resident memory: ${f(r.rssAfterWarmupMiB)} MiB after warm-up (a quarter in), ${f(r.rssAfterMiB)} MiB after ${r.frames} frames (Δ ${f(r.rssAfterMiB - r.rssAfterWarmupMiB)} MiB)`,
  ].join('\n');
}
