/**
 * End-to-end benchmark, in one process: a bare `session.run` loop (the baseline: what the model
 * alone can do here) against the full pipeline (camera → bounded queue → preprocess → engine
 * worker → post-process → decide) with the same model, batch and threads. Rounds alternate so that
 * both sides see the same machine; figures are medians over rounds.
 *
 * The camera replays images from the model's own distribution when it has any (`--frames-from`,
 * default the bundle's `samples/`), decoded once and sent raw as a camera sends them: frames the
 * model has never seen the like of light up the whole map, and the post-processing then measures
 * a flood fill no line would pay. Without such a folder it falls back to the synthetic source.
 *
 *   linewatch bench --model DIR [--frames N] [--batch B] [--threads T] [--rounds R] [--frames-from DIR]
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { firstValueFrom, take, toArray } from 'rxjs';
import { parseConfig } from '../src/config/load.js';
import { LinewatchError } from '../src/errors.js';
import { listImages } from '../src/util/image-files.js';
import { adapterFor } from '../src/models/adapters/index.js';
import { loadBundle, type Bundle } from '../src/models/bundle.js';
import { createSessionWithFallback, normalizeProvider, type ProviderConfig } from '../src/models/providers.js';
import { allocateBatch, preparePixels, writeTensor } from '../src/pipeline/preprocess/index.js';
import { createSource } from '../src/pipeline/sources/index.js';
import { sourceConfigSchema, type SourceConfig } from '../src/pipeline/sources/schema.js';
import { preparePrompt, type ProductConfig } from '../src/pipeline/products/index.js';
import { Station } from '../src/pipeline/station.js';
import { idealLatencies, zeroCostLatencies, type ServedFrame } from './queue.js';
import { median, percentile } from './stats.js';
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
  /**
   * Folder of images the camera replays (decoded once, sent raw, looped). Default: the bundle's
   * `samples/` when it has one; null forces the synthetic camera.
   */
  readonly framesFrom?: string | null;
  /** Synthetic camera image size (when no folder is replayed). Default 256 × 256. */
  readonly cameraWidth?: number;
  readonly cameraHeight?: number;
  /** Pipeline preprocessing threads. Default 1. */
  readonly preprocessWorkers?: number;
  /** Default ['cpu']. */
  readonly executionProviders?: readonly ProviderConfig[];
  /**
   * A prompted model's prompt (OneNIP: one good image of the product), the same for every frame on
   * both sides. Default: the replayed folder's first image named prompt*, else its first image.
   */
  readonly prompt?: string;
}

export interface BenchReport {
  readonly model: string;
  readonly provider: string;
  readonly batch: number;
  readonly threads: number | 'default';
  readonly frames: number;
  readonly rounds: number;
  readonly camera: string;
  /** The prompt every frame was judged with (a prompted model); null: the model takes none. */
  readonly prompt: string | null;
  readonly preprocessWorkers: number;
  /** Frames per second, median over rounds. */
  readonly bareFps: number;
  readonly pipelineFps: number;
  /** pipelineFps / bareFps (target ≥ 0.95). */
  readonly ratio: number;
  /** session.run time per batch in the bare loop. */
  readonly modelMsP50: number;
  readonly modelMsP99: number;
  /** Capture → verdict at 80 % of the pipeline's saturation rate (medians over the latency rounds). */
  readonly latencyAtFps: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  /** Each latency round's p99, in order (the spread says how far to trust the median). */
  readonly latencyMsP99Rounds: readonly number[];
  /** Per verdict, capture → verdict minus its own inference time: what the pipeline adds. */
  readonly overheadMsP50: number;
  readonly overheadMsP99: number;
  /** Inference time inside the pipeline (worker's session.run) at that rate. */
  readonly inferMsP50: number;
  readonly inferMsP99: number;
  /** session.run time per batch when paced at the latency run's rate (bare, same process). */
  readonly pacedModelMsP50: number;
  readonly pacedModelMsP99: number;
  readonly pacedModelMsP99Rounds: readonly number[];
  /**
   * p99 of a pipeline that costs nothing, fed at the same rate with the bare loop's own run times
   * (bench/queue.ts): the queueing behind the model's slow runs that no pipeline can avoid.
   */
  readonly idealMsP99: number;
  /**
   * p99 of a zero-cost pipeline replaying the latency run itself: its arrivals, batches and model
   * run times (bench/queue.ts zeroCostLatencies). Immune to the machine slowing the model down
   * between the bare and the pipeline runs, since both sides see the very same runs.
   */
  readonly replayMsP99: number;
  /**
   * Per latency round, its p99 minus its replay's p99 (the same round on both sides, so a
   * disturbance of the machine moves both); the target reading is their median ≤ 5 ms.
   */
  readonly overReplayMsP99Rounds: readonly number[];
  /** Per frame, latency − its latency in that replay: what the pipeline itself adds. */
  readonly excessMsP50: number;
  readonly excessMsP99: number;
  readonly latencyDropped: number;
  /**
   * Share of each latency round the model was running: 0.8 when the machine ran the model as fast
   * as in the throughput rounds; higher when it had slowed down in between (then queues grow).
   */
  readonly modelBusyRounds: readonly number[];
  /** Resident memory (MiB) a quarter of the way into the last pipeline round, and at its end. */
  readonly rssAfterWarmupMiB: number;
  readonly rssAfterMiB: number;
}

/**
 * Time the model ran (each run once) over the time from the first frame to the last. Not bounded
 * by 1: a model the machine slowed down below the paced rate (or one stalled run) reads above it.
 */
export function busyShare(served: readonly ServedFrame[]): number {
  if (served.length < 2) return Number.NaN;
  let busy = 0;
  for (let i = 0; i < served.length; i++) if (i === 0 || served[i]!.run !== served[i - 1]!.run) busy += served[i]!.runMs;
  return busy / (served[served.length - 1]!.arrivalMs - served[0]!.arrivalMs);
}

const mib = (): number => process.memoryUsage.rss() / 2 ** 20;

/** The camera the pipeline side reads: the replayed folder, or the synthetic parts. */
function cameraSource(opts: BenchOptions, count: number, fps: number, seed: number): SourceConfig {
  const folder = framesFolder(opts);
  if (folder !== null) return sourceConfigSchema.parse({ type: 'folder', path: folder, loop: true, preload: true, fps });
  return sourceConfigSchema.parse({ type: 'synthetic', width: opts.cameraWidth ?? 256, height: opts.cameraHeight ?? 256, count, fps, seed });
}

export function framesFolder(opts: BenchOptions): string | null {
  if (opts.framesFrom === null) return null;
  if (opts.framesFrom !== undefined) return opts.framesFrom;
  const samples = join(opts.modelDir, 'samples');
  return existsSync(samples) ? samples : null;
}

/** One real batch made by the runtime's own preprocess from the bench camera's first frames. */
export async function sampleBatch(bundle: Bundle, opts: BenchOptions): Promise<Uint8Array | Float32Array> {
  const src = createSource('bench', cameraSource(opts, opts.batch, 0, 3));
  const frames = await firstValueFrom(src.frames().pipe(take(opts.batch), toArray()));
  const t = allocateBatch(bundle.manifest, opts.batch);
  for (let i = 0; i < opts.batch; i++) writeTensor(await preparePixels(frames[i % frames.length]!, bundle.manifest), bundle.manifest, t, i);
  return t;
}

/**
 * The prompt file for a prompted model (null for the others): `opts.prompt`, else the replayed
 * folder's first image named prompt* (a bundle's samples/ ship one per product), else its first image.
 *
 * @throws LinewatchError LW_ERR_MODEL_NEEDS_UNMET when the model needs one and none can be found
 */
export async function benchPrompt(bundle: Bundle, opts: BenchOptions): Promise<string | null> {
  if (adapterFor(bundle).needs.prompt === null) return null;
  if (opts.prompt !== undefined) return opts.prompt;
  const folder = framesFolder(opts);
  const images = folder === null ? [] : await listImages(folder);
  const pick = images.find((f) => f.startsWith('prompt')) ?? images[0];
  if (pick === undefined) {
    throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `model bundle ${bundle.dir} needs a prompt image for each frame and ${folder ?? 'the synthetic camera'} has none: give one with --prompt FILE`);
  }
  return join(folder!, pick);
}

/** The prompt prepared by the runtime's own code, once, and written into every slot of a batch. */
export async function promptBatch(bundle: Bundle, batch: number, path: string): Promise<Uint8Array | Float32Array> {
  const prepared = await preparePrompt({ product: 'bench', path, bytes: await readFile(path) }, bundle.manifest);
  const t = allocateBatch(bundle.manifest, batch);
  for (let k = 0; k < batch; k++) writeTensor(prepared, bundle.manifest, t, k);
  return t;
}

export interface BareResult {
  readonly fps: number;
  readonly runMs: number[];
  readonly provider: string;
}

/**
 * `session.run` in a loop: back to back (saturation), or paced at `fps` batches' worth of frames
 * per second. Paced matters: a CPU that idles between runs runs the model slower (clocks and
 * caches cool down; here p50 21.5 → 25 ms with 5 ms gaps), so latency at 80 % of saturation is
 * compared with the model's own time at that pace.
 */
export async function bareLoop(
  bundle: Bundle,
  opts: BenchOptions,
  data: Uint8Array | Float32Array,
  fps = 0,
  frames = opts.frames,
  prompt: Uint8Array | Float32Array | null = null,
): Promise<BareResult> {
  const m = bundle.manifest;
  const created = await createSessionWithFallback(ort, bundle.onnxPath, m.sha256, (opts.executionProviders ?? ['cpu']).map(normalizeProvider), {
    ...(opts.intraOpThreads !== undefined ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const s = created.session;
  const i = m.input;
  const dims = i.layout === 'NHWC' ? [opts.batch, i.height, i.width, i.channels] : [opts.batch, i.channels, i.height, i.width];
  const tensor = (d: Uint8Array | Float32Array): ort.Tensor => new ort.Tensor(i.dtype === 'uint8' ? 'uint8' : 'float32', d, dims);
  // A prompted model's prompt batch rides beside the frames' (the same image for each, as the pipeline's product).
  const feed = (): Record<string, ort.Tensor> => ({ [i.name]: tensor(data), ...(prompt !== null && m.prompt !== null ? { [m.prompt.name]: tensor(prompt) } : {}) });
  for (let k = 0; k < 5; k++) await s.run(feed());
  const runs = Math.max(1, Math.ceil(frames / opts.batch));
  const runMs: number[] = [];
  let sink = 0;
  const t0 = performance.now();
  const intervalMs = fps > 0 ? (opts.batch * 1000) / fps : 0;
  for (let k = 0; k < runs; k++) {
    const due = t0 + k * intervalMs - performance.now();
    if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
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

export interface PipelineResult {
  readonly fps: number;
  readonly latencies: number[];
  readonly overheads: number[];
  readonly inferMs: number[];
  /** Per judged frame, in order: latency in a zero-cost pipeline fed this run's arrivals and run times. */
  readonly replay: number[];
  /** Per judged frame: its latency minus its replayed latency (what the pipeline itself added). */
  readonly excess: number[];
  /** Share of the run's time the model was running: the load the rate really put on it. */
  readonly modelBusy: number;
  readonly dropped: number;
  readonly rssWarm: number;
  readonly rssEnd: number;
}

/**
 * How the bench's station runs a prompted model, as a line configures it: one product `bench` whose
 * recipe is `prompt` (or `product` itself: a pool, bench/pool.ts), and every camera set to it.
 * Nothing for a model that takes no prompt (both null/undefined).
 */
export function benchProduct(prompt: string | null, product?: ProductConfig): { products?: Record<string, ProductConfig>; cameraProduct?: string } {
  if (product !== undefined) return { products: { bench: product }, cameraProduct: 'bench' };
  if (prompt !== null) return { products: { bench: { prompt } }, cameraProduct: 'bench' };
  return {};
}

/**
 * The full pipeline on the bench camera. `prompt`: a prompted model's product `bench` is that one
 * image (a recipe); `product`, when given, is the product entry itself (a pool: bench/pool.ts).
 */
export async function pipelineRun(opts: BenchOptions, frames: number, fps: number, prompt: string | null, product?: ProductConfig): Promise<PipelineResult> {
  const warm = Math.min(200, Math.max(opts.batch * 4, Math.floor(frames / 10)));
  const { products, cameraProduct } = benchProduct(prompt, product);
  const config = parseConfig(
    {
      version: 'bench',
      model: {
        bundle: opts.modelDir,
        ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
        executionProviders: opts.executionProviders ?? ['cpu'],
      },
      // A prompted model: one product whose recipe is the prompt, as a line configures it.
      ...(products !== undefined ? { products } : {}),
      cameras: [{ id: 'bench', source: cameraSource(opts, warm + frames, fps, 5), ...(cameraProduct !== undefined ? { product: cameraProduct } : {}) }],
      inference: { batchSize: opts.batch, batchWaitMs: 2, maxQueuedFrames: Math.max(8, 2 * opts.batch), preprocessWorkers: opts.preprocessWorkers ?? 1 },
    },
    'bench configuration',
  );
  const station = await Station.start(config, {
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    // A replayed folder loops: the run ends after the same number of frames as the synthetic one.
    maxFramesPerCamera: warm + frames,
  });
  const latencies: number[] = [];
  const overheads: number[] = [];
  const inferMs: number[] = [];
  const served: ServedFrame[] = [];
  let run = 0;
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
      else if (v.verdict !== 'error') {
        latencies.push(v.timings.totalMs);
        overheads.push(v.timings.totalMs - v.timings.inferMs);
        inferMs.push(v.timings.inferMs);
        // Verdicts leave in the tick that judged them, so now − totalMs is the frame's capture
        // time; the frames of one batch carry its one inferMs (two runs never time alike to the ns).
        const prev = served[served.length - 1];
        if (prev === undefined || prev.runMs !== v.timings.inferMs) run++;
        served.push({ arrivalMs: Number(process.hrtime.bigint()) / 1e6 - v.timings.totalMs, run, runMs: v.timings.inferMs });
      }
    }
  });
  await station.ended();
  const rssEnd = mib();
  await station.stop();
  sub.unsubscribe();
  const replay = zeroCostLatencies(served);
  const excess = latencies.map((l, i) => l - replay[i]!);
  return { fps: ((seen - warm) * 1000) / (tEnd - tWarm), latencies, overheads, inferMs, replay, excess, modelBusy: busyShare(served), dropped, rssWarm, rssEnd };
}

/**
 * Why a bench (`command`: `bench`, `bench --cameras`) cannot measure this bundle like for like on
 * every side, or null: a tiled bundle (the station runs the model on each of a frame's tiles, the
 * bare loop and the Python peer once on a whole frame), or prompts chosen from a pool (which
 * neither the bare loop nor the peer does; `bench --pool` measures that).
 *
 * @example
 * benchRefusal(await loadBundle('test/fixtures/models/tiny-inp-tiles'), 'bench') // 'bench: model bundle … is tiled (…)'
 */
export function benchRefusal(bundle: Bundle, command: string): string | null {
  const m = bundle.manifest;
  const what = `${command}: model bundle ${bundle.dir}`;
  const t = m.geometry.tiles;
  if (t !== null) {
    return `${what} is tiled (geometry.tiles ${t.width}x${t.height}, overlap ${t.overlap}: the station runs the model on each of a frame's tiles and merges their maps, while the bare loop and the Python peer run it once on a whole frame, so no two sides would measure the same work); ${command} covers untiled bundles (node dist/bench/tiler.js measures the tiler)`;
  }
  if (m.prompt !== null && m.prompt.selection !== 'recipe') {
    return `${what} chooses each frame's prompt from a pool (prompt.selection ${m.prompt.selection}: embed.onnx and the nearest pool image per frame, which neither the bare loop nor the Python peer does); measure what the pool costs with \`bench --pool\``;
  }
  return null;
}

/**
 * @example
 * const r = await runPipelineBench({ modelDir: 'models/demo', frames: 2000, batch: 1 });
 * console.log(formatBenchReport(r));
 */
export async function runPipelineBench(opts: BenchOptions): Promise<BenchReport> {
  const bundle = await loadBundle(opts.modelDir);
  const refused = benchRefusal(bundle, 'bench');
  if (refused !== null) throw new Error(refused);
  const rounds = opts.rounds ?? 3;
  const w = opts.cameraWidth ?? 256;
  const h = opts.cameraHeight ?? 256;
  const folder = framesFolder(opts);
  const data = await sampleBatch(bundle, opts);
  const prompt = await benchPrompt(bundle, opts);
  const promptData = prompt === null ? null : await promptBatch(bundle, opts.batch, prompt);
  const bare: number[] = [];
  const piped: number[] = [];
  let runMs: number[] = [];
  let provider = 'cpu';
  let last: PipelineResult | null = null;
  for (let r = 0; r < rounds; r++) {
    const b = await bareLoop(bundle, opts, data, 0, opts.frames, promptData);
    bare.push(b.fps);
    runMs = runMs.concat(b.runMs);
    provider = b.provider;
    last = await pipelineRun(opts, opts.frames, 0, prompt);
    piped.push(last.fps);
  }
  const pipelineFps = median(piped);
  const atFps = Math.max(1, Math.round(pipelineFps * 0.8));
  const latFrames = Math.max(100, Math.min(opts.frames, atFps * 20));
  // Latency rounds alternate too, and each figure is the median of the rounds' percentiles: one
  // disturbance of a shared machine (a stalled core) then moves one round, not the result.
  const latRounds: { paced: BareResult; lat: PipelineResult }[] = [];
  for (let r = 0; r < rounds; r++) {
    const paced = await bareLoop(bundle, opts, data, atFps, latFrames, promptData);
    latRounds.push({ paced, lat: await pipelineRun(opts, latFrames, atFps, prompt) });
  }
  const latMedian = (f: (x: { paced: BareResult; lat: PipelineResult }) => number): number => median(latRounds.map(f));
  // Batches as the units (a batch of B frames every B intervals); the wait to fill one is not counted.
  const ideal = (paced: BareResult): number => percentile(idealLatencies(paced.runMs, (opts.batch * 1000) / atFps, paced.runMs.length), 99);
  const latencyMsP99Rounds = latRounds.map((x) => percentile(x.lat.latencies, 99));
  const pacedModelMsP99Rounds = latRounds.map((x) => percentile(x.paced.runMs, 99));
  const replayMsP99Rounds = latRounds.map((x) => percentile(x.lat.replay, 99));
  return {
    model: `${bundle.manifest.architecture} ${bundle.manifest.version} (${bundle.dir})`,
    provider,
    batch: opts.batch,
    threads: opts.intraOpThreads ?? 'default',
    frames: opts.frames,
    rounds,
    camera: folder !== null ? `replay of ${folder} (decoded once, raw)` : `synthetic ${w}x${h}`,
    prompt,
    preprocessWorkers: opts.preprocessWorkers ?? 1,
    bareFps: median(bare),
    pipelineFps,
    ratio: pipelineFps / median(bare),
    modelMsP50: percentile(runMs, 50),
    modelMsP99: percentile(runMs, 99),
    latencyAtFps: atFps,
    latencyMsP50: latMedian((x) => percentile(x.lat.latencies, 50)),
    latencyMsP99: median(latencyMsP99Rounds),
    latencyMsP99Rounds,
    overheadMsP50: latMedian((x) => percentile(x.lat.overheads, 50)),
    overheadMsP99: latMedian((x) => percentile(x.lat.overheads, 99)),
    inferMsP50: latMedian((x) => percentile(x.lat.inferMs, 50)),
    inferMsP99: latMedian((x) => percentile(x.lat.inferMs, 99)),
    pacedModelMsP50: latMedian((x) => percentile(x.paced.runMs, 50)),
    pacedModelMsP99: median(pacedModelMsP99Rounds),
    pacedModelMsP99Rounds,
    idealMsP99: latMedian((x) => ideal(x.paced)),
    replayMsP99: median(replayMsP99Rounds),
    overReplayMsP99Rounds: latencyMsP99Rounds.map((l, i) => l - replayMsP99Rounds[i]!),
    excessMsP50: latMedian((x) => percentile(x.lat.excess, 50)),
    excessMsP99: latMedian((x) => percentile(x.lat.excess, 99)),
    latencyDropped: latRounds.reduce((n, x) => n + x.lat.dropped, 0),
    modelBusyRounds: latRounds.map((x) => x.lat.modelBusy),
    rssAfterWarmupMiB: last!.rssWarm,
    rssAfterMiB: last!.rssEnd,
  };
}

/**
 * The latency target, "p99 ≤ model time + 5 ms", read several ways, all printed. The main one:
 * against a zero-cost pipeline replaying the latency run itself (same arrivals, batches and model
 * run times, so the queueing the model's own slow runs cause counts as model time and a machine
 * that slows the model between runs moves both sides alike); beside it, per frame, what the
 * pipeline adds over that replay (p99 ≤ 5 ms), and whether the model ran slower inside the
 * pipeline than alone at the same pace. The others compare with separate bare runs: the paced
 * model, a zero-cost pipeline fed the paced run times, the back-to-back loop's p99 and, strictest,
 * its median; on a shared machine they also measure how the machine changed between runs.
 */
export function latencyTargets(r: BenchReport): {
  againstReplay: boolean;
  perFrameExcess: boolean;
  perFrame: boolean;
  againstPaced: boolean;
  againstIdeal: boolean;
  likeForLike: boolean;
  againstMedian: boolean;
} {
  return {
    againstReplay: median([...r.overReplayMsP99Rounds]) <= 5,
    perFrameExcess: r.excessMsP99 <= 5,
    perFrame: r.overheadMsP99 <= 5,
    againstPaced: r.latencyMsP99 <= r.pacedModelMsP99 + 5,
    againstIdeal: r.latencyMsP99 <= r.idealMsP99 + 5,
    likeForLike: r.latencyMsP99 <= r.modelMsP99 + 5,
    againstMedian: r.latencyMsP99 <= r.modelMsP50 + 5,
  };
}

export function formatBenchReport(r: BenchReport): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  // Figures ≥ 0 by construction (what the pipeline adds over a zero-cost replay of the same round,
  // latency minus its own inference) can come out of float arithmetic a hair below 0, which
  // toFixed prints as "-0.00" ("+-0.00" after a sign). Such a hair prints as 0; a real negative
  // (a bug) still shows.
  const g = (x: number, d = 1): string => f(x < 0 && x > -1e-6 ? 0 : x, d);
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const t = latencyTargets(r);
  return [
    `linewatch bench: ${r.model}`,
    `  provider ${r.provider}, batch ${r.batch}, threads ${r.threads}, ${r.frames} frames × ${r.rounds} rounds, camera ${r.camera}, ${r.preprocessWorkers} preprocess worker(s)`,
    ...(r.prompt !== null ? [`  prompt ${r.prompt} for every frame, on both sides (the pipeline runs it as product "bench")`] : []),
    `  bare session.run loop   ${f(r.bareFps)} frames/s (model ${f(r.modelMsP50, 2)} ms p50, ${f(r.modelMsP99, 2)} ms p99 per batch)`,
    `  full pipeline           ${f(r.pipelineFps)} frames/s`,
    `  ratio pipeline/bare     ${f(r.ratio, 3)} (target ≥ 0.95: ${met(r.ratio >= 0.95)});` +
      ` pipeline cost beyond the model ${f(1000 / r.pipelineFps - 1000 / r.bareFps, 2)} ms per frame`,
    `  latency at ${r.latencyAtFps} frames/s (80 % of saturation), medians of ${r.rounds} rounds: p50 ${f(r.latencyMsP50, 2)} ms, p99 ${f(r.latencyMsP99, 2)} ms` +
      ` (rounds: ${r.latencyMsP99Rounds.map((x) => f(x)).join(', ')}), dropped ${r.latencyDropped};` +
      ` the model was busy ${r.modelBusyRounds.map((x) => `${f(100 * x, 0)} %`).join(', ')} of each round (80 % unless the machine slowed it)`,
    `    p99 against a zero-cost pipeline replaying the same round (same arrivals, batches, model run times; replay p99 ${f(r.replayMsP99, 2)} ms):` +
      ` +${g(median([...r.overReplayMsP99Rounds]), 2)} ms (rounds ${r.overReplayMsP99Rounds.map((x) => `+${g(x)}`).join(', ')}; ≤ 5 ms: ${met(t.againstReplay)})`,
    `    added by the pipeline per frame over that replay: p50 ${g(r.excessMsP50, 2)} ms, p99 ${g(r.excessMsP99, 2)} ms (≤ 5 ms: ${met(t.perFrameExcess)});` +
      ` the model inside the pipeline ${f(r.inferMsP50, 2)} ms p50, ${f(r.inferMsP99, 2)} ms p99 vs alone at this pace ${f(r.pacedModelMsP50, 2)} / ${f(r.pacedModelMsP99, 2)} ms`,
    `    compared with separate bare runs (these also measure how the machine changed between runs):`,
    `    latency − its own inference per frame (queueing behind the previous frame included): p50 ${g(r.overheadMsP50, 2)} ms, p99 ${g(r.overheadMsP99, 2)} ms (target ≤ 5 ms: ${met(t.perFrame)})`,
    `    p99 against the bare model paced at the same rate (${f(r.pacedModelMsP50, 2)} ms p50, ${f(r.pacedModelMsP99, 2)} ms p99; rounds ${r.pacedModelMsP99Rounds.map((x) => f(x)).join(', ')}) + 5 ms = ${f(r.pacedModelMsP99 + 5, 2)} ms: ${met(t.againstPaced)}`,
    `    p99 against a zero-cost pipeline at that rate with the bare model's run times (queueing only, paced run times): p99 ${f(r.idealMsP99, 2)} + 5 ms: ${met(t.againstIdeal)}`,
    `    p99 against the bare model's p99 + 5 ms = ${f(r.modelMsP99 + 5, 2)} ms: ${met(t.likeForLike)};` +
      ` against its p50 + 5 ms = ${f(r.modelMsP50 + 5, 2)} ms: ${met(t.againstMedian)} (inference inside the pipeline p99 ${f(r.inferMsP99, 2)} ms)`,
    `  resident memory: ${f(r.rssAfterWarmupMiB)} MiB after warm-up (a quarter in), ${f(r.rssAfterMiB)} MiB after ${r.frames} frames (Δ ${f(r.rssAfterMiB - r.rssAfterWarmupMiB)} MiB)`,
  ].join('\n');
}
