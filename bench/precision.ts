/**
 * The same model at two precisions (an fp32 bundle and its `trainer export --int8` twin), side by
 * side in one run: bare `session.run` loops on the same preprocessed frame, rounds alternating
 * (and which goes first alternating, so neither always runs on a warmer or cooler CPU), one
 * intra-op thread unless told. The model is most of a station's cost, so its frames/s ratio is
 * what int8 buys; the pipeline around it is measured by `linewatch bench`.
 *
 *   node dist/bench/precision.js --baseline DIR --candidate DIR [--frames N] [--rounds R] [--threads T] [--json]
 */
import { pathToFileURL } from 'node:url';
import { loadBundle } from '../src/models/bundle.js';
import { bareLoop, sampleBatch, type BenchOptions } from './pipeline.js';
import { median, percentile } from './stats.js';

export interface PrecisionSide {
  readonly model: string;
  /** Frames per second, median over rounds. */
  readonly fps: number;
  /** One run's time over every round: median and 99th percentile, ms. */
  readonly runP50Ms: number;
  readonly runP99Ms: number;
}

export interface PrecisionReport {
  readonly frames: number;
  readonly rounds: number;
  readonly threads: number;
  readonly baseline: PrecisionSide;
  readonly candidate: PrecisionSide;
  /** candidate fps / baseline fps (medians). */
  readonly speedRatio: number;
}

export interface PrecisionOptions {
  readonly baseline: string;
  readonly candidate: string;
  readonly frames: number;
  readonly rounds: number;
  readonly threads: number;
}

export async function runPrecisionBench(o: PrecisionOptions): Promise<PrecisionReport> {
  const dirs = [o.baseline, o.candidate] as const;
  const bundles = await Promise.all(dirs.map((d) => loadBundle(d)));
  const [a, b] = bundles.map((x) => x.manifest.input);
  if (a!.height !== b!.height || a!.width !== b!.width || a!.dtype !== b!.dtype || a!.layout !== b!.layout) {
    throw new Error(`bench precision: ${o.candidate} takes ${b!.height}x${b!.width} ${b!.dtype} ${b!.layout}, ${o.baseline} ${a!.height}x${a!.width} ${a!.dtype} ${a!.layout}: not the same model at two precisions`);
  }
  const opts = (modelDir: string): BenchOptions => ({ modelDir, frames: o.frames, batch: 1, intraOpThreads: o.threads });
  // One frame, prepared by the runtime's own preprocess from the baseline's samples, for both.
  const data = await sampleBatch(bundles[0]!, opts(o.baseline));
  const fps: number[][] = [[], []];
  const runs: number[][] = [[], []];
  for (let r = 0; r < o.rounds; r++) {
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const res = await bareLoop(bundles[k]!, opts(dirs[k]!), data);
      fps[k]!.push(res.fps);
      runs[k]!.push(...res.runMs);
    }
  }
  const side = (k: number): PrecisionSide => ({
    model: `${bundles[k]!.manifest.architecture}/${bundles[k]!.manifest.version} (${dirs[k]})`,
    fps: median(fps[k]!),
    runP50Ms: percentile(runs[k]!, 50),
    runP99Ms: percentile(runs[k]!, 99),
  });
  const baseline = side(0);
  const candidate = side(1);
  return { frames: o.frames, rounds: o.rounds, threads: o.threads, baseline, candidate, speedRatio: candidate.fps / baseline.fps };
}

export function formatPrecisionReport(r: PrecisionReport): string {
  const row = (name: string, s: PrecisionSide): string =>
    `  ${name.padEnd(9)} ${s.fps.toFixed(1).padStart(7)} frames/s  run p50 ${s.runP50Ms.toFixed(2)} ms  p99 ${s.runP99Ms.toFixed(2)} ms  ${s.model}`;
  return [
    `bare session.run, batch 1, ${r.threads} intra-op thread(s), ${r.rounds} alternating rounds of ${r.frames} frames`,
    row('baseline', r.baseline),
    row('candidate', r.candidate),
    `  candidate / baseline: ${r.speedRatio.toFixed(2)} x frames/s (p50 run time ${(r.baseline.runP50Ms / r.candidate.runP50Ms).toFixed(2)} x shorter)`,
  ].join('\n');
}

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(name);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  if (fallback === undefined) throw new Error(`bench precision: ${name} DIR is required`);
  return fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const report = await runPrecisionBench({
    baseline: arg('--baseline'),
    candidate: arg('--candidate'),
    frames: Number(arg('--frames', '200')),
    rounds: Number(arg('--rounds', '4')),
    threads: Number(arg('--threads', '1')),
  });
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(report)}\n` : `${formatPrecisionReport(report)}\n`);
}
