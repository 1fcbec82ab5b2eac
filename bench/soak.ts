/**
 * Memory soak: the full pipeline on the synthetic source for N frames (lossless, as fast as the
 * model takes them), resident memory sampled every fiftieth of the run. The target: flat within
 * 10 MiB over 100 000 frames once warmed up. Resident memory wanders by 10–20 MiB here with no
 * leak at all (malloc arenas of several threads grow and shrink), so two samples alone can say
 * either thing; the trend — a least-squares line through every sample after the first tenth —
 * is what a leak cannot hide from.
 *
 * With N cameras (`--cameras N`), N synthetic cameras share the frames and one model, batched
 * across cameras (the station as `bench --cameras` runs it), so the batch mux, per-camera queues
 * and counters are soaked too.
 *
 *   linewatch bench --soak --model DIR --frames 100000 [--cameras 4]
 */
import { parseConfig } from '../src/config/load.js';
import { Station } from '../src/pipeline/station.js';

export interface SoakSample {
  readonly frames: number;
  readonly seconds: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
}

/** Samples per run. */
const SAMPLES = 50;

export interface SoakTrend {
  /** Samples the line was fitted to (those after the first tenth of the run). */
  readonly samples: number;
  /** Growth of resident memory along the fitted line, per 100 000 frames. */
  readonly rssMiBPer100k: number;
  readonly heapMiBPer100k: number;
  /** Lowest and highest resident memory among those samples: how far it wanders. */
  readonly rssMinMiB: number;
  readonly rssMaxMiB: number;
}

function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]! / n;
    my += ys[i]! / n;
  }
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

/** The memory trend after warm-up (the first tenth of the run is left out). */
export function soakTrend(samples: readonly SoakSample[]): SoakTrend {
  const last = samples[samples.length - 1];
  const warm = samples.filter((s) => last !== undefined && s.frames > last.frames / 10);
  if (warm.length < 2) throw new Error(`soakTrend: ${warm.length} samples after warm-up; a trend needs at least 2`);
  const xs = warm.map((s) => s.frames);
  const rss = warm.map((s) => s.rssMiB);
  return {
    samples: warm.length,
    rssMiBPer100k: slope(xs, rss) * 100_000,
    heapMiBPer100k: slope(xs, warm.map((s) => s.heapMiB)) * 100_000,
    rssMinMiB: Math.min(...rss),
    rssMaxMiB: Math.max(...rss),
  };
}

export function formatSoakTrend(t: SoakTrend): string {
  const f = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
  return (
    `  trend after warm-up (${t.samples} samples): resident ${f(t.rssMiBPer100k)} MiB per 100 000 frames` +
    ` (target ≤ 10: ${Math.abs(t.rssMiBPer100k) <= 10 ? 'met' : 'NOT met'}), JS heap ${f(t.heapMiBPer100k)} MiB;` +
    ` resident wandered ${t.rssMinMiB.toFixed(1)}–${t.rssMaxMiB.toFixed(1)} MiB`
  );
}

export async function runSoak(
  modelDir: string,
  frames: number,
  intraOpThreads: number | undefined,
  onSample: (s: SoakSample) => void,
  cameras = 1,
  /** Called once at the end with the frames per model call (the batches across cameras). */
  onMeanBatch: (framesPerRun: number) => void = () => {},
): Promise<SoakSample[]> {
  const perCamera = Math.ceil(frames / cameras);
  const config = parseConfig(
    {
      version: 'soak',
      model: { bundle: modelDir, ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) },
      cameras:
        cameras === 1
          ? [{ id: 'soak', source: { type: 'synthetic', count: frames, seed: 11 } }]
          : Array.from({ length: cameras }, (_, i) => ({ id: `soak${i}`, source: { type: 'synthetic', count: perCamera, seed: 11 + i } })),
      // Batches as large as the cameras (not the probe's choice): the most frames held at once.
      ...(cameras > 1 ? { inference: { batchAcrossCameras: true, batchSize: cameras } } : {}),
    },
    'soak configuration',
  );
  const station = await Station.start(config, { logger: { info: () => {}, warn: () => {}, error: () => {} } });
  const every = Math.max(1, Math.floor(frames / SAMPLES));
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  let n = 0;
  const sub = station.verdicts$.subscribe(() => {
    n++;
    if (n % every === 0) {
      const m = process.memoryUsage();
      const s = { frames: n, seconds: (performance.now() - t0) / 1000, rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20 };
      samples.push(s);
      onSample(s);
    }
  });
  await station.ended();
  await station.stop();
  sub.unsubscribe();
  const b = station.batching();
  onMeanBatch(b.batches > 0 ? b.batchedFrames / b.batches : Number.NaN);
  return samples;
}

export function formatSoakSample(s: SoakSample): string {
  return `  ${String(s.frames).padStart(8)} frames  ${s.seconds.toFixed(1).padStart(7)} s  rss ${s.rssMiB.toFixed(1)} MiB  heap ${s.heapMiB.toFixed(1)} MiB`;
}
