/**
 * The line-scan tiler against an older revision of itself, side by side in one run (rounds
 * alternating): a 4096-px GRAY8 strip in 512-line buffers (2 MiB each), 256 × 256 tiles with 32 px
 * overlap both ways, the model left out (constant maps), so what is timed is stitching, cutting
 * the tiles, merging the maps by maximum and finding regions.
 *
 * The baseline is the tiler as it was at `--baseline REV` (default: the last revision before its
 * tiles became views of the strip), read from git and transpiled into dist/bench-baseline/ at
 * start: the very code that ran then, not a re-creation of it. Two webs:
 * - good: maps all 0 (a good web: nothing reaches the threshold);
 * - hot: one pixel over the threshold in every tile (every tile's maximum is over it);
 * - flood: every pixel over it (every row must be read, the worst case).
 * The current tiler is driven as the line-scan operator drives it (each map's maximum per row
 * given, as the operator measures it while making the map: on the hot web only the rows through
 * the hot pixels are read), with one maximum per map (as the operator gave it before), and, on
 * the good web, also without either (the tiler measures each map itself).
 *
 *   node dist/bench/tiler.js [--baseline REV] [--buffers N] [--rounds R] [--json]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import * as current from '../src/pipeline/tiler/index.js';
import { maxOf } from '../src/pipeline/tiler/merge.js';
import { median, percentile } from './stats.js';

/** The last revision of main before the tiler's tiles became views (the speed-up this bench measures). */
export const DEFAULT_BASELINE = '7b72523';

const WIDTH = 4096;
const BUFFER_LINES = 512;
const TILE = 256;
const OVERLAP = 32;

type TilerModule = typeof current;
type Web = 'good' | 'hot' | 'flood';

interface Variant {
  readonly name: string;
  readonly tiler: TilerModule;
  readonly web: Web;
  /** What addMaps is given beside the maps (the current tiler only): nothing, each map's maximum, or its maximum per row. */
  readonly bounds: 'none' | 'map' | 'rows';
}

export interface TilerVariantReport {
  readonly name: string;
  readonly web: Web;
  readonly linesPerS: number;
  readonly bufferMsMedian: number;
  readonly bufferMsP99: number;
  /** CPU ms per buffer, median over rounds, and the lines per CPU second it makes. */
  readonly cpuMsPerBuffer: number;
  readonly linesPerCpuS: number;
  /** Baseline's median ms per buffer over this one's, on the same web: wall and CPU. */
  readonly speedup: number;
  readonly cpuSpeedup: number;
}

export interface TilerBenchReport {
  readonly baseline: string;
  readonly width: number;
  readonly bufferLines: number;
  readonly tile: number;
  readonly overlap: number;
  readonly buffersPerRound: number;
  readonly rounds: number;
  readonly variants: readonly TilerVariantReport[];
}

/**
 * The tiler's sources at `rev` (src/pipeline/tiler and what it imports from src/), transpiled one
 * file at a time into dist/bench-baseline/<rev>/ and imported. Types are not checked: the code
 * compiled when it was committed.
 */
async function baselineTiler(rev: string): Promise<TilerModule> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const sha = execFileSync('git', ['rev-parse', '--short', `${rev}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const out = join(root, 'dist', 'bench-baseline', sha);
  rmSync(out, { recursive: true, force: true });
  const files = execFileSync('git', ['ls-tree', '-r', '--name-only', sha, 'src/pipeline/tiler', 'src/errors.ts'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const source = execFileSync('git', ['show', `${sha}:${file}`], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 }, fileName: file }).outputText;
    const dest = join(out, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  return (await import(pathToFileURL(join(out, 'src/pipeline/tiler/index.js')).href)) as TilerModule;
}

/**
 * One web of `buffers` buffers through `v`: wall ms per buffer (push plus addMaps of the bands it
 * completed), and the process's CPU ms per buffer over the web (less moved by a busy machine).
 */
function runOnce(v: Variant, strip: Uint8Array, buffers: number, maps: Readonly<Record<Web, Float32Array>>): { times: number[]; cpuMs: number } {
  const map = maps[v.web];
  const bound = v.bounds === 'rows' ? rowMaxima(map) : maxOf(map);
  const tiler = new v.tiler.LineScanTiler({
    width: WIDTH,
    channels: 1,
    tileWidth: TILE,
    tileHeight: TILE,
    overlapAcrossPx: OVERLAP,
    overlapAlongLines: OVERLAP,
    threshold: 0.5,
    mmPerPixel: 0.1,
    resolution: { kind: 'fixed', mmPerLine: 0.1 },
    segmentLengthMm: 500,
  });
  const times: number[] = [];
  const c0 = process.cpuUsage();
  for (let b = 0; b < buffers; b++) {
    const t0 = performance.now();
    for (const band of tiler.push(strip, BUFFER_LINES)) {
      const ms: Float32Array[] = [];
      const bs: Array<number | Float32Array> = [];
      for (let i = 0; i < band.tiles.length; i++) {
        ms.push(map);
        bs.push(bound);
      }
      if (v.bounds === 'none') tiler.addMaps(band, ms);
      else (tiler as current.LineScanTiler).addMaps(band, ms, bs);
    }
    times.push(performance.now() - t0);
  }
  const c = process.cpuUsage(c0);
  return { times, cpuMs: (c.user + c.system) / 1000 / buffers };
}

/** The highest value in each TILE-wide row of a map, as the line-scan operator measures it. */
function rowMaxima(map: Float32Array): Float32Array {
  const out = new Float32Array(TILE);
  for (let y = 0; y < TILE; y++) out[y] = maxOf(map.subarray(y * TILE, (y + 1) * TILE));
  return out;
}

export async function runTilerBench(opts: { baseline: string; buffers: number; rounds: number }): Promise<TilerBenchReport> {
  const old = await baselineTiler(opts.baseline);
  const strip = new Uint8Array(WIDTH * BUFFER_LINES);
  for (let i = 0; i < strip.length; i++) strip[i] = (i * 7) & 0xff;
  const good = new Float32Array(TILE * TILE);
  const hot = new Float32Array(TILE * TILE);
  hot[TILE * 100 + 100] = 1;
  const flood = new Float32Array(TILE * TILE).fill(1);
  const maps = { good, hot, flood };
  const variants: Variant[] = [
    { name: `baseline ${opts.baseline}`, tiler: old, web: 'good', bounds: 'none' },
    { name: 'current, row maxima given', tiler: current, web: 'good', bounds: 'rows' },
    { name: 'current, map maxima given', tiler: current, web: 'good', bounds: 'map' },
    { name: 'current, maxima measured', tiler: current, web: 'good', bounds: 'none' },
    { name: `baseline ${opts.baseline}`, tiler: old, web: 'hot', bounds: 'none' },
    { name: 'current, row maxima given', tiler: current, web: 'hot', bounds: 'rows' },
    { name: 'current, map maxima given', tiler: current, web: 'hot', bounds: 'map' },
    { name: `baseline ${opts.baseline}`, tiler: old, web: 'flood', bounds: 'none' },
    { name: 'current, row maxima given', tiler: current, web: 'flood', bounds: 'rows' },
  ];
  // One warm-up web each, then rounds alternating between the variants.
  for (const v of variants) runOnce(v, strip, 4, maps);
  const times = variants.map((): number[] => []);
  const cpu = variants.map((): number[] => []);
  for (let r = 0; r < opts.rounds; r++) {
    variants.forEach((v, i) => {
      const o = runOnce(v, strip, opts.buffers, maps);
      times[i]!.push(...o.times);
      cpu[i]!.push(o.cpuMs);
    });
  }
  const medians = times.map(median);
  const cpuMedians = cpu.map(median);
  const reports = variants.map((v, i): TilerVariantReport => {
    const base = variants.findIndex((b) => b.tiler === old && b.web === v.web);
    return {
      name: v.name,
      web: v.web,
      linesPerS: (BUFFER_LINES / medians[i]!) * 1000,
      bufferMsMedian: medians[i]!,
      bufferMsP99: percentile(times[i]!, 99),
      cpuMsPerBuffer: cpuMedians[i]!,
      linesPerCpuS: (BUFFER_LINES / cpuMedians[i]!) * 1000,
      speedup: medians[base]! / medians[i]!,
      cpuSpeedup: cpuMedians[base]! / cpuMedians[i]!,
    };
  });
  return { baseline: opts.baseline, width: WIDTH, bufferLines: BUFFER_LINES, tile: TILE, overlap: OVERLAP, buffersPerRound: opts.buffers, rounds: opts.rounds, variants: reports };
}

export function formatTilerBench(r: TilerBenchReport): string {
  const lines = [
    `line-scan tiler, ${r.width} px GRAY8, ${r.bufferLines}-line buffers, ${r.tile}² tiles, ${r.overlap} px overlap, model excluded; ${r.rounds} rounds × ${r.buffersPerRound} buffers, alternating`,
    'web   variant                      wall: lines/s  ms/buffer median    p99  ×baseline | CPU: ms/buffer  lines/CPU-s  ×baseline',
  ];
  for (const v of r.variants) {
    lines.push(
      `${v.web.padEnd(5)} ${v.name.padEnd(28)} ${Math.round(v.linesPerS).toString().padStart(13)} ${v.bufferMsMedian.toFixed(2).padStart(17)} ${v.bufferMsP99.toFixed(2).padStart(6)} ${v.speedup.toFixed(2).padStart(10)} | ${v.cpuMsPerBuffer.toFixed(2).padStart(14)} ${Math.round(v.linesPerCpuS).toString().padStart(12)} ${v.cpuSpeedup.toFixed(2).padStart(10)}`,
    );
  }
  return lines.join('\n');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const report = await runTilerBench({
    baseline: arg('--baseline') ?? DEFAULT_BASELINE,
    buffers: Number(arg('--buffers') ?? 24),
    rounds: Number(arg('--rounds') ?? 5),
  });
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(report)}\n` : `${formatTilerBench(report)}\n`);
}
