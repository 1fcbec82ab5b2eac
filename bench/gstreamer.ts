/**
 * GStreamer into Node, and the line-scan tiler. Not a test: figures, each against a baseline in
 * the same run.
 *
 * 1. Frames/s through the appsink into the gstreamer source (a Frame per sample) for 1 MP and
 *    5 MP, GRAY8 and RGB, against `gst-launch-1.0 … ! fakesink` on the same videotestsrc source
 *    (its own PLAYING→EOS time): the ratio, and the ms per frame, are what Node adds. Node's side
 *    is timed from the first frame to the last (start-up excluded). Rounds alternate; medians,
 *    p99 of the frame-to-frame interval in Node. Each row says how the binding handed the frames
 *    over (patch 3: wrapped, or copied off the main thread; before it, copied on the main thread).
 * 2. Tiler throughput in lines/s for a 4096-pixel strip (stitch, cut 256×256 tiles with 32 px
 *    overlap both ways, merge maps, stream regions), the model left out; per-buffer p99.
 * 3. With `--latency`: capture→verdict through the Station from the buffers' own timestamps, on
 *    videotestsrc and the fake GigE camera (bench/capture-latency.ts, which also runs alone).
 *
 *   node dist/bench/gstreamer.js [--frames N] [--rounds R] [--only TEXT] [--json] [--latency [--model DIR] [--fps F]]
 *
 * `--only TEXT` keeps the cases whose name contains TEXT (e.g. `--only "5 MP"`).
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { gstreamer } from '../src/pipeline/sources/gstreamer/binding.js';
import { createGstreamerSource, gstreamerSourceSchema, type GstreamerSource } from '../src/pipeline/sources/gstreamer/index.js';
import { LineScanTiler } from '../src/pipeline/tiler/index.js';
import { formatCaptureLatency, runCaptureLatencyBench } from './capture-latency.js';
import { median, percentile } from './stats.js';

interface Case {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly format: 'GRAY8' | 'RGB';
}

const CASES: readonly Case[] = [
  { name: '1 MP GRAY8', width: 1024, height: 1024, format: 'GRAY8' },
  { name: '1 MP RGB', width: 1024, height: 1024, format: 'RGB' },
  { name: '5 MP GRAY8', width: 2592, height: 1944, format: 'GRAY8' },
  { name: '5 MP RGB', width: 2592, height: 1944, format: 'RGB' },
];

function sourceFor(c: Case, frames: number): GstreamerSource {
  return createGstreamerSource(
    gstreamerSourceSchema.parse({
      type: 'gstreamer',
      format: c.format,
      input: { preset: 'test', pattern: 'black', width: c.width, height: c.height, numBuffers: frames, live: false, fps: 1000 },
    }),
    'bench',
  );
}

/**
 * The source's own description with its appsink swapped for a fakesink, run by gst-launch; its
 * "Execution ended after" (PLAYING to EOS, without process start-up), in ms.
 */
function gstLaunchMs(c: Case, frames: number): number {
  // The test preset's description has no quoted values, so it splits on spaces.
  const description = sourceFor(c, frames).describe().replace(/ ! appsink .*$/, ' ! fakesink sync=false');
  const out = execFileSync('gst-launch-1.0', description.split(' '), { encoding: 'utf8' });
  const m = /Execution ended after (\d+):(\d+):(\d+)\.(\d+)/.exec(out);
  if (m === null) throw new Error(`gst-launch printed no execution time:\n${out}`);
  return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number(`0.${m[4]}`) * 1000;
}

/** Frames through the gstreamer source into Node: intervals between consecutive frames, in ms (start-up excluded). */
async function nodeIntervals(c: Case, frames: number): Promise<number[]> {
  const source = sourceFor(c, frames);
  const out: number[] = [];
  let prev = -1;
  await new Promise<void>((resolve, reject) => {
    source.frames().subscribe({
      next: () => {
        const now = performance.now();
        if (prev >= 0) out.push(now - prev);
        prev = now;
      },
      error: reject,
      complete: resolve,
    });
  });
  if (out.length !== frames - 1) throw new Error(`${c.name}: ${out.length + 1} frames of ${frames}`);
  return out;
}

function sum(xs: readonly number[]): number {
  let t = 0;
  for (const x of xs) t += x;
  return t;
}

export interface GstCaseReport {
  readonly name: string;
  readonly gstFps: number;
  readonly nodeFps: number;
  /** nodeFps / gstFps: 1 = Node adds nothing. */
  readonly ratio: number;
  /** Time Node adds to each frame (copy out of GStreamer, thread hand-off, Frame), in ms. */
  readonly addedMsPerFrame: number;
  readonly frameMsMedian: number;
  readonly frameMsP99: number;
  /** How the binding handed this case's frames to Node: 'wrapped', 'copied' (off the main thread), or both. */
  readonly handover: string;
}

/** Frames the binding has wrapped and copied so far (patch 3). */
function handedOver(): { wrapped: number; copied: number } {
  const h = gstreamer().linewatchHeld?.();
  return { wrapped: h?.wrapped ?? 0, copied: h?.copied ?? 0 };
}

function handoverOf(before: { wrapped: number; copied: number }): string {
  const now = handedOver();
  const w = now.wrapped - before.wrapped;
  const c = now.copied - before.copied;
  if (w > 0 && c > 0) return `wrapped ${w}, copied ${c}`;
  return w > 0 ? 'wrapped' : c > 0 ? 'copied' : 'not counted';
}

export interface TilerReport {
  readonly width: number;
  readonly bufferLines: number;
  readonly linesPerSecond: number;
  readonly bufferMsMedian: number;
  readonly bufferMsP99: number;
}

export async function runGstreamerBench(frames: number, rounds: number, only = ''): Promise<{ cases: GstCaseReport[]; tiler: TilerReport }> {
  const cases: GstCaseReport[] = [];
  for (const c of CASES.filter((x) => x.name.includes(only))) {
    const n = c.width * c.height > 2_000_000 ? Math.max(20, Math.round(frames / 3)) : frames;
    const gst: number[] = [];
    const node: number[] = [];
    const intervals: number[] = [];
    const before = handedOver();
    for (let r = 0; r < rounds; r++) {
      gst.push(n / (gstLaunchMs(c, n) / 1000));
      const iv = await nodeIntervals(c, n);
      node.push(iv.length / (sum(iv) / 1000));
      for (const x of iv) intervals.push(x);
    }
    const gstFps = median(gst);
    const nodeFps = median(node);
    cases.push({
      name: c.name,
      gstFps,
      nodeFps,
      ratio: nodeFps / gstFps,
      addedMsPerFrame: 1000 / nodeFps - 1000 / gstFps,
      frameMsMedian: median(intervals),
      frameMsP99: percentile(intervals, 99),
      handover: handoverOf(before),
    });
  }
  return { cases, tiler: tilerBench(rounds) };
}

function tilerBench(rounds: number): TilerReport {
  const width = 4096;
  const bufferLines = 512;
  const buffers = 24;
  const tile = 256;
  const strip = new Uint8Array(width * bufferLines);
  for (let i = 0; i < strip.length; i++) strip[i] = (i * 7) & 0xff;
  const zeroMap = new Float32Array(tile * tile);
  const times: number[] = [];
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const tiler = new LineScanTiler({
      width,
      channels: 1,
      tileWidth: tile,
      tileHeight: tile,
      overlapAcrossPx: 32,
      overlapAlongLines: 32,
      threshold: 0.5,
      mmPerPixel: 0.1,
      resolution: { kind: 'fixed', mmPerLine: 0.1 },
      segmentLengthMm: 500,
    });
    const t0 = performance.now();
    for (let b = 0; b < buffers; b++) {
      const tb = performance.now();
      for (const band of tiler.push(strip, bufferLines)) {
        const maps: Float32Array[] = [];
        for (let i = 0; i < band.tiles.length; i++) maps.push(zeroMap);
        tiler.addMaps(band, maps);
      }
      times.push(performance.now() - tb);
    }
    rates.push((buffers * bufferLines) / ((performance.now() - t0) / 1000));
  }
  return { width, bufferLines, linesPerSecond: median(rates), bufferMsMedian: median(times), bufferMsP99: percentile(times, 99) };
}

export function formatGstreamerBench(r: { cases: GstCaseReport[]; tiler: TilerReport }): string {
  const lines = [
    `gstreamer-superficial with linewatch patch ${gstreamer().linewatchPatch ?? 'none'}`,
    'videotestsrc → appsink → Node   gst-launch fps   Node fps   ratio   +ms/frame   frame ms median / p99   hand-over',
  ];
  for (const c of r.cases) {
    const interval = `${c.frameMsMedian.toFixed(2)} / ${c.frameMsP99.toFixed(2)}`;
    lines.push(
      `${c.name.padEnd(30)} ${c.gstFps.toFixed(0).padStart(14)} ${c.nodeFps.toFixed(0).padStart(10)} ${c.ratio.toFixed(3).padStart(7)} ${c.addedMsPerFrame.toFixed(2).padStart(11)}   ${interval.padEnd(21)}   ${c.handover}`,
    );
  }
  const t = r.tiler;
  lines.push(
    `tiler ${t.width} px strip, ${t.bufferLines}-line buffers: ${Math.round(t.linesPerSecond)} lines/s; per buffer ${t.bufferMsMedian.toFixed(2)} ms median, ${t.bufferMsP99.toFixed(2)} ms p99`,
  );
  return lines.join('\n');
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--latency')) {
    const i = process.argv.indexOf('--model');
    const modelDir = i >= 0 ? process.argv[i + 1]! : new URL('../../models/demo', import.meta.url).pathname;
    const latency = await runCaptureLatencyBench({ modelDir, frames: arg('--frames', 100), rounds: arg('--rounds', 3), fps: arg('--fps', 10), roundSeconds: arg('--round-seconds', 30) });
    process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(latency)}\n` : `${formatCaptureLatency(latency)}\n`);
  } else {
    const i = process.argv.indexOf('--only');
    const report = await runGstreamerBench(arg('--frames', 200), arg('--rounds', 3), i >= 0 ? (process.argv[i + 1] ?? '') : '');
    process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(report)}\n` : `${formatGstreamerBench(report)}\n`);
  }
}
