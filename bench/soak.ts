/**
 * Memory soak: the full pipeline on the synthetic source for N frames (lossless, as fast as the
 * model takes them), resident memory sampled every tenth of the run. The target: flat within
 * 10 MiB over 100 000 frames once warmed up.
 *
 *   linewatch bench --soak --model DIR --frames 100000
 */
import { parseConfig } from '../src/config/load.js';
import { Station } from '../src/pipeline/station.js';

export interface SoakSample {
  readonly frames: number;
  readonly seconds: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
}

export async function runSoak(
  modelDir: string,
  frames: number,
  intraOpThreads: number | undefined,
  onSample: (s: SoakSample) => void,
): Promise<SoakSample[]> {
  const config = parseConfig(
    {
      version: 'soak',
      model: { bundle: modelDir, ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) },
      cameras: [{ id: 'soak', source: { type: 'synthetic', count: frames, seed: 11 } }],
    },
    'soak configuration',
  );
  const station = await Station.start(config, { logger: { info: () => {}, warn: () => {}, error: () => {} } });
  const every = Math.max(1, Math.floor(frames / 10));
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
  return samples;
}

export function formatSoakSample(s: SoakSample): string {
  return `  ${String(s.frames).padStart(8)} frames  ${s.seconds.toFixed(1).padStart(7)} s  rss ${s.rssMiB.toFixed(1)} MiB  heap ${s.heapMiB.toFixed(1)} MiB`;
}
