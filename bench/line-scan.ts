/**
 * Line-scan through the whole Station (camera buffers → tiler → model batches → merged maps →
 * segment verdicts), beside the tiler alone on the same strip and tile geometry (the model left
 * out: zero maps) in the same run, rounds alternating. Two readings:
 * - lossless: a file camera delivering 4096-px buffers as fast as the Station takes them — the
 *   line rate the Station sustains here, against the tiler's;
 * - paced (`--line-rate L`): the same buffers delivered live at L lines/s (dropped in the appsink
 *   when the Station falls behind, each lost buffer counted) until as many as the file holds were
 *   judged: buffers lost meanwhile, and capture→segment verdict latency (from the buffer that
 *   completed the segment).
 *
 *   node dist/bench/line-scan.js [--model DIR] [--buffers N] [--rounds R] [--line-rate L] [--json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { loadBundle } from '../src/models/bundle.js';
import { Station } from '../src/pipeline/station.js';
import { LineScanTiler } from '../src/pipeline/tiler/index.js';
import type { Verdict } from '../src/pipeline/verdict.js';
import { median, percentile } from './stats.js';

const WIDTH = 4096;
const BUFFER_LINES = 512;
const OVERLAP = 16;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

interface Options {
  readonly modelDir: string;
  readonly buffers: number;
  readonly rounds: number;
  /** Paced run, lines/s; 0 = none. */
  readonly lineRate: number;
}

export interface LineScanReport {
  readonly width: number;
  readonly bufferLines: number;
  readonly tile: { readonly width: number; readonly height: number; readonly overlapPx: number };
  readonly model: string;
  /** Lossless, medians over rounds. */
  readonly stationLinesPerS: number;
  readonly tilerLinesPerS: number;
  readonly paced: null | {
    readonly lineRate: number;
    readonly buffersSent: number;
    readonly buffersLost: number;
    readonly segments: number;
    readonly latencyP50Ms: number;
    readonly latencyP99Ms: number;
  };
}

/** A web of `buffers` × BUFFER_LINES lines, RGB, the plain colour of the tiny model's good parts with a few bright spots. */
function web(buffers: number): Buffer {
  const lines = buffers * BUFFER_LINES;
  const out = Buffer.alloc(WIDTH * lines * 3);
  for (let i = 0; i < out.length; i += 3) {
    out[i] = 118;
    out[i + 1] = 110;
    out[i + 2] = 102;
  }
  for (let k = 0; k < buffers; k++) {
    const cx = (k * 977) % (WIDTH - 20);
    const cy = k * BUFFER_LINES + 100;
    for (let y = cy - 5; y <= cy + 5; y++) for (let x = cx; x < cx + 10; x++) out.fill(250, (y * WIDTH + x) * 3, (y * WIDTH + x) * 3 + 3);
  }
  return out;
}

function camera(file: string, live: boolean, lineRate: number) {
  const fps = live ? `${lineRate}/${BUFFER_LINES}` : '100/1';
  const pace = live ? ' ! clocksync' : '';
  return {
    id: 'web',
    maxFramePixels: WIDTH * BUFFER_LINES,
    source: {
      type: 'gstreamer',
      format: 'RGB',
      maxBuffers: 2,
      input: {
        preset: 'launch',
        live,
        pipeline: `filesrc location=${file} blocksize=${WIDTH * BUFFER_LINES * 3} ! rawvideoparse width=${WIDTH} height=${BUFFER_LINES} format=rgb framerate=${fps}${pace} ! appsink name=sink`,
      },
    },
    lineScan: {
      bufferLines: BUFFER_LINES,
      overlapAcrossPx: OVERLAP,
      overlapAlongLines: OVERLAP,
      mmPerPixel: 0.1,
      resolution: { kind: 'fixed', mmPerLine: 0.1 },
      segmentLengthMm: 100,
      minDefectAreaPx: 4,
    },
  };
}

async function stationRun(o: Options, file: string, live: boolean): Promise<{ seconds: number; verdicts: Verdict[]; lost: number }> {
  const config = parseConfig({ model: { bundle: o.modelDir }, inference: { maxQueuedFrames: 2 }, cameras: [camera(file, live, o.lineRate)] }, 'line-scan bench');
  // A live launch line restarts at the end of its file (the web goes on): stop after one pass's worth of buffers.
  const station = await Station.start(config, { logger: quiet, deferCameras: true, ...(live ? { maxFramesPerCamera: o.buffers } : {}) });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  const t0 = performance.now();
  station.begin();
  await station.ended();
  const seconds = (performance.now() - t0) / 1000;
  await station.stop();
  return { seconds, verdicts, lost: station.counters().lost };
}

function tilerRun(strip: Buffer, buffers: number, tile: { width: number; height: number }): number {
  const tiler = new LineScanTiler({
    width: WIDTH,
    channels: 3,
    tileWidth: tile.width,
    tileHeight: tile.height,
    overlapAcrossPx: OVERLAP,
    overlapAlongLines: OVERLAP,
    threshold: 0.5,
    mmPerPixel: 0.1,
    resolution: { kind: 'fixed', mmPerLine: 0.1 },
    segmentLengthMm: 100,
  });
  const zero = new Float32Array(tile.width * tile.height);
  const bytes = WIDTH * BUFFER_LINES * 3;
  const t0 = performance.now();
  for (let b = 0; b < buffers; b++) {
    for (const band of tiler.push(strip.subarray(b * bytes, (b + 1) * bytes), BUFFER_LINES)) {
      const maps: Float32Array[] = [];
      for (let i = 0; i < band.tiles.length; i++) maps.push(zero);
      tiler.addMaps(band, maps);
    }
  }
  return (buffers * BUFFER_LINES) / ((performance.now() - t0) / 1000);
}

export async function runLineScanBench(o: Options): Promise<LineScanReport> {
  const m = (await loadBundle(o.modelDir)).manifest;
  const tile = { width: m.input.width, height: m.input.height };
  const dir = mkdtempSync(join(tmpdir(), 'lw-bench-ls-'));
  try {
    const strip = web(o.buffers);
    const file = join(dir, 'web.rgb');
    writeFileSync(file, strip);
    const station: number[] = [];
    const tiler: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      tiler.push(tilerRun(strip, o.buffers, tile));
      const s = await stationRun(o, file, false);
      station.push((o.buffers * BUFFER_LINES) / s.seconds);
    }
    let paced: LineScanReport['paced'] = null;
    if (o.lineRate > 0) {
      const s = await stationRun(o, file, true);
      const lat = s.verdicts.map((v) => v.timings.totalMs);
      paced = { lineRate: o.lineRate, buffersSent: o.buffers + s.lost, buffersLost: s.lost, segments: s.verdicts.length, latencyP50Ms: percentile(lat, 50), latencyP99Ms: percentile(lat, 99) };
    }
    return {
      width: WIDTH,
      bufferLines: BUFFER_LINES,
      tile: { ...tile, overlapPx: OVERLAP },
      model: o.modelDir,
      stationLinesPerS: median(station),
      tilerLinesPerS: median(tiler),
      paced,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatLineScanBench(r: LineScanReport): string {
  const lines = [
    `line-scan ${r.width} px RGB, ${r.bufferLines}-line buffers, ${r.tile.width}×${r.tile.height} tiles, ${r.tile.overlapPx} px overlap both ways, model ${r.model}`,
    `  through the Station (lossless): ${Math.round(r.stationLinesPerS)} lines/s; tiler alone (no model): ${Math.round(r.tilerLinesPerS)} lines/s; ratio ${(r.stationLinesPerS / r.tilerLinesPerS).toFixed(3)}`,
  ];
  const p = r.paced;
  if (p !== null) {
    lines.push(
      `  paced at ${p.lineRate} lines/s: ${p.buffersLost} of ${p.buffersSent} buffers lost, ${p.segments} segment verdicts, capture→verdict p50 ${p.latencyP50Ms.toFixed(1)} ms, p99 ${p.latencyP99Ms.toFixed(1)} ms`,
    );
  }
  return lines.join('\n');
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const report = await runLineScanBench({
    modelDir: arg('--model', fileURLToPath(new URL('../../test/fixtures/models/tiny-inp', import.meta.url))),
    buffers: Number(arg('--buffers', '8')),
    rounds: Number(arg('--rounds', '3')),
    lineRate: Number(arg('--line-rate', '0')),
  });
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(report)}\n` : `${formatLineScanBench(report)}\n`);
}
