/**
 * Many cameras on one model, in one process: the station with N cameras with batching across
 * cameras (one batch mux for all) and without it (each camera batches its own frames, batch 1),
 * side by side with the bare `session.run` loop at its best batch (the most the model alone does
 * here). Rounds alternate so that every side sees the same machine; figures are medians over rounds.
 *
 * Two runs per side and N: saturated (cameras that wait for room, so the station runs as fast as
 * it can: throughput, and each camera's share of it), and paced (each camera at a fixed rate, as
 * real cameras: latency p50/p99 and drops). The pace defaults to 80 % of the unbatched station's
 * saturated throughput, shared by the cameras: a load both sides can carry.
 *
 * And the peer: the same frames and bundle through the Python loop a user would write
 * (bench/peer/loop.py: Pillow, onnxruntime, scipy.ndimage.label; N cameras = their frames in turn
 * at batch 1), in its own process from trainer/.venv, in the same alternating rounds. Where
 * trainer/.venv lacks what it needs, or the peer loop does not cover the bundle, the bench says
 * why and leaves the peer out only.
 *
 * A prompted bundle (OneNIP, prompt.selection recipe) is judged with one prompt on every side, as
 * the single-camera bench does (bench/pipeline.ts benchPrompt: `--prompt FILE`, else the replayed
 * folder's first prompt* image): the bare loop gets the prompt batch beside the frames', the
 * station runs it as product "bench" on every camera, the peer prepares it once as a frame and
 * feeds it with every frame. Bundles it cannot bench like for like are refused up front, by name:
 * tiled ones (the bare loop would feed the model whole frames where the station feeds it tiles)
 * and prompts chosen from a pool (`bench --pool` measures that).
 *
 *   linewatch bench --model DIR --cameras 1,2,4,8 [--frames N] [--rounds R] [--threads T] [--fps F] [--prompt FILE] [--no-peer]
 */
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../src/config/load.js';
import { loadBundle } from '../src/models/bundle.js';
import { sourceConfigSchema } from '../src/pipeline/sources/schema.js';
import { Station } from '../src/pipeline/station.js';
import type { Verdict } from '../src/pipeline/verdict.js';
import { formatPeerRatio, missingPeer, peerRefusal, runPeer, type PeerReport } from './peer.js';
import { bareLoop, benchProduct, benchPrompt, benchRefusal, framesFolder, promptBatch, sampleBatch, type BenchOptions } from './pipeline.js';
import { median, percentile } from './stats.js';

export interface CamerasBenchOptions {
  readonly modelDir: string;
  /** Camera counts to measure, e.g. [1, 2, 4, 8]. */
  readonly cameras: readonly number[];
  /** Frames per station run, all cameras together. */
  readonly frames: number;
  /** Alternating rounds. Default 3. */
  readonly rounds?: number;
  /** Intra-op threads on every side. Default 1 (an industrial PC's model thread, as the issue measured). */
  readonly intraOpThreads?: number;
  /** Per-camera rate of the paced runs; default 80 % of the unbatched saturation, shared. */
  readonly fps?: number;
  /** Batch sizes the bare loop tries. Default 1, 2, 4, 8. */
  readonly bareBatches?: readonly number[];
  /** Images the cameras replay (decoded once, raw); default the bundle's samples/. */
  readonly framesFrom?: string;
  /** Run the Python peer loop too (needs trainer/.venv). Default true. */
  readonly peer?: boolean;
  /** A prompted model's prompt for every frame on every side; default as `bench` (benchPrompt). */
  readonly prompt?: string;
}

/** One station run's figures. */
export interface StationRun {
  /** Verdicts per second over the measured window, all cameras. */
  readonly fps: number;
  /** The slowest camera's verdicts over its fair share (total / N) in that window. */
  readonly minShare: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  /** Frames dropped (in a report's row: over all its rounds). */
  readonly dropped: number;
  /** Frames per batch in front of the model, and session.run calls per frame. */
  readonly meanBatch: number;
  /** The station's batch size at most, and where it came from (the batch probe: `measured`). */
  readonly batchSize: number;
  readonly batchSizeBy: string;
}

/** The Python peer loop for N cameras, medians over rounds. */
export interface PeerRun {
  readonly fps: number;
  /** Per-frame time, preprocess to regions, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median ms per frame in Pillow + numpy, session.run, and scipy + the verdict. */
  readonly preprocessMs: number;
  readonly runMs: number;
  readonly postMs: number;
}

export interface CamerasRow {
  readonly cameras: number;
  readonly paceFps: number;
  readonly batched: { saturated: StationRun; paced: StationRun };
  /** The batch size the station started with in each saturated batched round (the probe may choose differently when sizes run alike). */
  readonly batchSizes: readonly number[];
  readonly unbatched: { saturated: StationRun; paced: StationRun };
  /** Null when the peer did not run. */
  readonly peer: PeerRun | null;
}

export interface CamerasReport {
  readonly model: string;
  readonly threads: number;
  readonly frames: number;
  readonly rounds: number;
  readonly camera: string;
  /** The prompt every frame was judged with on every side (a prompted model); null: the model takes none. */
  readonly prompt: string | null;
  /** Bare loop frames/s per batch size (medians over rounds), and the best. */
  readonly bare: readonly { batch: number; fps: number }[];
  readonly bestBatch: number;
  readonly bestBareFps: number;
  readonly rows: readonly CamerasRow[];
  /** How the peer ran (its loop and versions), or why it did not. */
  readonly peer: { readonly loop: string; readonly versions: Readonly<Record<string, string>> } | { readonly skipped: string };
}

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * N cameras replaying the same folder into one station; `across` batches across cameras, else each
 * camera alone at batch 1. fps 0: the cameras wait for room (saturation, lossless).
 */
async function stationRun(opts: CamerasBenchOptions, folder: string, n: number, across: boolean, fps: number, prompt: string | null): Promise<StationRun> {
  const perCamera = Math.max(4, Math.ceil(opts.frames / n));
  // A prompted model: every camera runs product "bench", whose recipe is the prompt (as `bench`'s station).
  const { products, cameraProduct } = benchProduct(prompt);
  const cameras = Array.from({ length: n }, (_, i) => ({
    id: `c${i}`,
    source: sourceConfigSchema.parse({ type: 'folder', path: folder, loop: true, preload: true, fps }),
    ...(cameraProduct !== undefined ? { product: cameraProduct } : {}),
  }));
  const config = parseConfig(
    {
      version: 'bench',
      model: { bundle: opts.modelDir, intraOpThreads: opts.intraOpThreads ?? 1, executionProviders: ['cpu'] },
      ...(products !== undefined ? { products } : {}),
      cameras,
      inference: across ? { batchAcrossCameras: true } : { batchAcrossCameras: false, batchSize: 1 },
    },
    'bench configuration',
  );
  const station = await Station.start(config, { logger: quiet, maxFramesPerCamera: perCamera });
  const batch = station.health().model.batch;
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  const at: number[] = [];
  const sub = station.verdicts$.subscribe(() => at.push(performance.now()));
  await station.ended();
  await station.stop();
  sub.unsubscribe();
  const verdicts: Verdict[] = await all;
  // Figures count only frames judged as on the line: a frame the station could not judge (no
  // prompt, a model error) would be counted as throughput it did not deliver.
  const errors = verdicts.filter((v) => v.verdict === 'error');
  if (errors.length > 0) {
    const why = errors[0]!.reasons.map((x) => `${x.code}: ${x.message}`).join('; ');
    throw new Error(`bench --cameras: the station judged ${errors.length} of ${verdicts.length} frames of ${n} camera(s) as errors (first: ${why}); figures would count frames it did not judge`);
  }
  // The window: from when every camera runs (each has delivered two verdicts: cameras decode their
  // replay folder first and so start at different times) and the warm-up is over, until the first
  // camera has sent all its frames (after that fewer cameras compete, and shares mean nothing).
  const warm = Math.max(2 * n, Math.floor(verdicts.length / 10));
  const seen = new Map<string, number>();
  let running = -1;
  let end = verdicts.length;
  for (let i = 0; i < verdicts.length; i++) {
    const id = verdicts[i]!.cameraId;
    const k = (seen.get(id) ?? 0) + 1;
    seen.set(id, k);
    if (running < 0 && k === 2 && [...seen.values()].filter((x) => x >= 2).length === n) running = i + 1;
    if (k === perCamera) {
      end = i + 1;
      break;
    }
  }
  // A model call's verdicts arrive together: a window edge inside such a burst would count part
  // of a call against the whole call's time (eight cameras at batch 8 read ~5 % slow over 20
  // calls). Both edges are moved to the end of their burst.
  const start = running < 0 ? -1 : burstEnd(at, Math.max(warm, running) - 1, batch.size) + 1;
  end = burstEnd(at, end - 1, batch.size) + 1;
  if (running < 0 || end - start < 2 * n) {
    throw new Error(`bench --cameras: ${n} cameras of ${perCamera} frames each overlapped for ${Math.max(0, end - start)} verdicts only (cameras start as they finish decoding their folder); give more --frames`);
  }
  const window = verdicts.slice(start, end);
  const perCam = new Map<string, number>(cameras.map((c) => [c.id, 0]));
  const latencies: number[] = [];
  let dropped = 0;
  for (const v of window) {
    perCam.set(v.cameraId, perCam.get(v.cameraId)! + 1);
    if (v.verdict === 'dropped') dropped++;
    else if (v.verdict !== 'error') latencies.push(v.timings.totalMs);
  }
  const seconds = (at[end - 1]! - at[start - 1]!) / 1000;
  const b = station.batching();
  return {
    batchSize: batch.size,
    batchSizeBy: batch.by,
    fps: window.length / seconds,
    minShare: Math.min(...perCam.values()) / (window.length / n),
    latencyMsP50: percentile(latencies, 50),
    latencyMsP99: percentile(latencies, 99),
    dropped,
    meanBatch: b.batches > 0 ? b.batchedFrames / b.batches : Number.NaN,
  };
}

/** Verdicts closer than this came out of one model call. */
const BURST_GAP_MS = 1;

/**
 * The last index of the burst of arrivals that index `i` belongs to: at most `batch` − 1 further,
 * since one model call gives at most a batch of verdicts (a model fast enough to judge frame after
 * frame under BURST_GAP_MS would otherwise read as one burst, and the window as empty).
 */
function burstEnd(at: readonly number[], i: number, batch: number): number {
  const last = Math.min(at.length - 1, i + batch - 1);
  while (i < last && at[i + 1]! - at[i]! < BURST_GAP_MS) i++;
  return i;
}

/** Each figure of a side's rounds, median over rounds; drops summed over them. */
function medianRun(runs: readonly StationRun[]): StationRun {
  const m = (f: (r: StationRun) => number): number => median(runs.map(f));
  return {
    fps: m((r) => r.fps),
    minShare: m((r) => r.minShare),
    latencyMsP50: m((r) => r.latencyMsP50),
    latencyMsP99: m((r) => r.latencyMsP99),
    // Every drop counts (a median of two rounds' counts would print half a frame): all rounds together.
    dropped: runs.reduce((sum, r) => sum + r.dropped, 0),
    meanBatch: m((r) => r.meanBatch),
    // The probe may choose differently round to round (CamerasRow.batchSizes has each): the largest.
    batchSize: Math.max(...runs.map((r) => r.batchSize)),
    batchSizeBy: runs[0]!.batchSizeBy,
  };
}

function medianPeer(runs: readonly PeerReport[]): PeerRun {
  const m = (f: (p: PeerReport) => number | undefined): number => median(runs.map((p) => f(p) ?? Number.NaN));
  return {
    fps: m((p) => p.fps),
    p50Ms: m((p) => p.p50Ms),
    p99Ms: m((p) => p.p99Ms),
    preprocessMs: m((p) => p.stagesMsP50?.preprocess),
    runMs: m((p) => p.stagesMsP50?.run),
    postMs: m((p) => p.stagesMsP50?.post),
  };
}

/**
 * @throws Error (before anything runs) when the bundle cannot be benched like for like: {@link benchRefusal}
 * @example
 * console.log(formatCamerasReport(await runCamerasBench({ modelDir: 'models/demo', cameras: [1, 2, 4], frames: 400 })));
 */
export async function runCamerasBench(opts: CamerasBenchOptions, progress: (line: string) => void = () => {}): Promise<CamerasReport> {
  const bundle = await loadBundle(opts.modelDir);
  const refused = benchRefusal(bundle, 'bench --cameras');
  if (refused !== null) throw new Error(refused);
  const rounds = opts.rounds ?? 3;
  const threads = opts.intraOpThreads ?? 1;
  const batches = opts.bareBatches ?? [1, 2, 4, 8];
  const benchOpts = (batch: number): BenchOptions => ({
    modelDir: opts.modelDir,
    frames: opts.frames,
    batch,
    intraOpThreads: threads,
    ...(opts.framesFrom !== undefined ? { framesFrom: opts.framesFrom } : {}),
    ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}),
  });
  const folder = framesFolder(benchOpts(1));
  if (folder === null) throw new Error(`bench --cameras: ${opts.modelDir} has no samples/ to replay; give --frames-from DIR`);
  // A prompted model's prompt, found as `bench` finds it; the bare loop's prompt batch for each size.
  const prompt = await benchPrompt(bundle, benchOpts(1));
  const fixed = bundle.manifest.input.batch;
  const bareSizes = fixed === 'dynamic' ? batches : [fixed];
  const data = new Map<number, Uint8Array | Float32Array>();
  const promptData = new Map<number, Uint8Array | Float32Array>();
  for (const b of bareSizes) {
    data.set(b, await sampleBatch(bundle, benchOpts(b)));
    if (prompt !== null) promptData.set(b, await promptBatch(bundle, b, prompt));
  }
  const bare = new Map<number, number[]>(bareSizes.map((b) => [b, []]));
  const sides = new Map<number, { b: StationRun[]; u: StationRun[]; bp: StationRun[]; up: StationRun[] }>(opts.cameras.map((n) => [n, { b: [], u: [], bp: [], up: [] }]));
  const pace = new Map<number, number>();
  // Why the peer is left out: not asked for, trainer/.venv lacks what it needs, the loop does not
  // cover the bundle (its own refusal, naming it), or it failed in a round; the rest runs.
  let peerMissing = opts.peer === false ? 'not asked for (--no-peer)' : (missingPeer() ?? peerRefusal(opts.modelDir, prompt));
  if (peerMissing !== null && opts.peer !== false) progress(`the Python peer is left out: ${peerMissing}`);
  const peers = new Map<number, PeerReport[]>(opts.cameras.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const b of bareSizes) {
      const fps = (await bareLoop(bundle, benchOpts(b), data.get(b)!, 0, opts.frames, promptData.get(b) ?? null)).fps;
      bare.get(b)!.push(fps);
      progress(`round ${r + 1}: bare batch ${b}: ${fps.toFixed(1)} frames/s`);
    }
    for (const n of opts.cameras) {
      const s = sides.get(n)!;
      s.u.push(await stationRun(opts, folder, n, false, 0, prompt));
      s.b.push(await stationRun(opts, folder, n, true, 0, prompt));
      // The pace is fixed by the first round, so that every round offers the same load.
      if (!pace.has(n)) pace.set(n, opts.fps ?? Math.max(1, Math.round((0.8 * s.u[0]!.fps) / n)));
      s.up.push(await stationRun(opts, folder, n, false, pace.get(n)!, prompt));
      s.bp.push(await stationRun(opts, folder, n, true, pace.get(n)!, prompt));
      progress(`round ${r + 1}: ${n} camera(s): batched ${s.b[r]!.fps.toFixed(1)}, unbatched ${s.u[r]!.fps.toFixed(1)} frames/s`);
      if (peerMissing === null) {
        try {
          const p = await runPeer({ modelDir: opts.modelDir, framesFrom: folder, frames: opts.frames, cameras: n, intraOpThreads: threads, prompt });
          peers.get(n)!.push(p);
          progress(`round ${r + 1}: ${n} camera(s): Python peer ${p.fps.toFixed(1)} frames/s`);
        } catch (err) {
          peerMissing = `it failed in round ${r + 1} on ${n} camera(s): ${err instanceof Error ? err.message : String(err)}`;
          progress(`the Python peer is left out: ${peerMissing}`);
        }
      }
    }
  }
  const bareMedians = bareSizes.map((b) => ({ batch: b, fps: median(bare.get(b)!) }));
  const best = bareMedians.reduce((a, x) => (x.fps > a.fps ? x : a));
  const anyPeer = peerMissing === null ? peers.get(opts.cameras[0]!)?.[0] : undefined;
  return {
    model: `${bundle.manifest.architecture} ${bundle.manifest.version} (${bundle.dir})`,
    threads,
    frames: opts.frames,
    rounds,
    camera: `replay of ${folder} (decoded once, raw)`,
    prompt,
    bare: bareMedians,
    bestBatch: best.batch,
    bestBareFps: best.fps,
    rows: opts.cameras.map((n) => {
      const s = sides.get(n)!;
      return {
        cameras: n,
        paceFps: pace.get(n)!,
        batched: { saturated: medianRun(s.b), paced: medianRun(s.bp) },
        batchSizes: s.b.map((x) => x.batchSize),
        unbatched: { saturated: medianRun(s.u), paced: medianRun(s.up) },
        peer: peerMissing === null ? medianPeer(peers.get(n)!) : null,
      };
    }),
    peer: anyPeer !== undefined ? { loop: anyPeer.loop.replace(/^\d+ camera\(s\)/, 'N cameras'), versions: anyPeer.versions } : { skipped: peerMissing ?? 'no rounds' },
  };
}

export function formatCamerasReport(r: CamerasReport): string {
  const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const lines = [
    `linewatch bench --cameras: ${r.model}`,
    `  provider cpu, ${r.threads} intra-op thread(s) on every side, ${r.frames} frames per station run, medians of ${r.rounds} alternating rounds, cameras ${r.camera}`,
    ...(r.prompt !== null
      ? [`  prompt ${r.prompt} for every frame, on every side (the bare loop's prompt batch beside the frames'; the station runs it as product "bench" on every camera; the peer prepares it once as a frame and feeds it with every frame)`]
      : []),
    `  bare session.run loop: ${r.bare.map((b) => `batch ${b.batch} ${f(b.fps)}`).join(', ')} frames/s; best: batch ${r.bestBatch}, ${f(r.bestBareFps)} frames/s`,
    `  saturated (cameras wait for room):`,
    `    cams | batched f/s  ×bare  batch mean  min share | unbatched f/s  ×bare  min share | batched/unbatched`,
  ];
  for (const row of r.rows) {
    const b = row.batched.saturated;
    const u = row.unbatched.saturated;
    lines.push(
      `    ${String(row.cameras).padStart(4)} | ${f(b.fps).padStart(11)}  ${f(b.fps / r.bestBareFps, 2).padStart(5)}  ${f(b.meanBatch, 2).padStart(10)}  ${f(b.minShare, 2).padStart(9)} |` +
        ` ${f(u.fps).padStart(13)}  ${f(u.fps / r.bestBareFps, 2).padStart(5)}  ${f(u.minShare, 2).padStart(9)} | ${f(b.fps / u.fps, 3).padStart(17)}`,
    );
  }
  const by = [...new Set(r.rows.filter((row) => row.cameras > 1).map((row) => row.batched.saturated.batchSizeBy))];
  if (by.length > 0) {
    const sizes = r.rows.filter((row) => row.cameras > 1).map((row) => `${row.cameras} cameras ${row.batchSizes.join(', ')}`);
    lines.push(`    batch at most, per round: ${sizes.join('; ')} (${by.join(', ')}: inference.batchSize unset, the engine's batch probe at start)`);
  }
  lines.push(`    targets with batching: ≥ 0.9 × the bare loop at its best batch, no camera below 0.8 × its fair share:`);
  for (const row of r.rows) {
    const b = row.batched.saturated;
    lines.push(`      ${row.cameras} camera(s): ${f(b.fps / r.bestBareFps, 2)} × bare (${met(b.fps / r.bestBareFps >= 0.9)}), slowest camera ${f(b.minShare, 2)} × fair (${met(b.minShare >= 0.8)})`);
  }
  lines.push(`  paced (each camera at a fixed rate, as real cameras; latency capture → verdict):`);
  lines.push(`    cams  f/s each | batched p50 / p99 ms  dropped | unbatched p50 / p99 ms  dropped | p99 batched/unbatched (dropped: all rounds)`);
  for (const row of r.rows) {
    const b = row.batched.paced;
    const u = row.unbatched.paced;
    lines.push(
      `    ${String(row.cameras).padStart(4)}  ${String(row.paceFps).padStart(8)} | ${f(b.latencyMsP50).padStart(11)} / ${f(b.latencyMsP99).padEnd(6)}  ${String(b.dropped).padStart(7)} |` +
        ` ${f(u.latencyMsP50).padStart(13)} / ${f(u.latencyMsP99).padEnd(6)}  ${String(u.dropped).padStart(7)} | ${f(b.latencyMsP99 / u.latencyMsP99, 3).padStart(21)}`,
    );
  }
  lines.push(...formatPeerRows(r));
  return lines.join('\n');
}

/** The peer section: the Python loop's frames/s beside the station's, and the issue's targets. */
export function formatPeerRows(r: CamerasReport): string[] {
  const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
  if ('skipped' in r.peer) return [`  Python peer: left out: ${r.peer.skipped}`];
  const v = r.peer.versions;
  const lines = [
    `  Python peer (bench/peer/loop.py: Pillow ${v['pillow'] ?? '?'} resize/crop, onnxruntime ${v['onnxruntime'] ?? '?'} session.run, scipy ${v['scipy'] ?? '?'} ndimage.label; ${r.peer.loop}), same frames, bundle and threads:`,
    `    cams | peer f/s  per frame p50 / p99 ms  (Pillow + run + scipy, p50 ms) | batched ÷ peer | unbatched ÷ peer`,
  ];
  for (const row of r.rows) {
    const p = row.peer;
    if (p === null) continue;
    lines.push(
      `    ${String(row.cameras).padStart(4)} | ${f(p.fps).padStart(8)}  ${f(p.p50Ms).padStart(15)} / ${f(p.p99Ms).padEnd(6)}` +
        ` ${`(${f(p.preprocessMs)} + ${f(p.runMs)} + ${f(p.postMs)})`.padStart(35)} |` +
        ` ${f(row.batched.saturated.fps / p.fps, 3).padStart(13)} | ${f(row.unbatched.saturated.fps / p.fps, 3).padStart(16)}`,
    );
  }
  lines.push(`    targets: linewatch (batched across cameras) ≥ 1.0 × the peer on one camera, ahead of it with more:`);
  for (const row of r.rows) {
    if (row.peer === null) continue;
    lines.push(`      ${row.cameras} camera(s): ${formatPeerRatio(row.batched.saturated.fps, row.peer.fps, row.cameras > 1)}`);
  }
  return lines;
}
