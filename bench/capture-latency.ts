/**
 * Capture-to-verdict latency of live GStreamer cameras through the whole Station, counted from
 * the capture time the buffers' own timestamps give (docs/cameras.md "Capture time"), beside two
 * references measured in the same run:
 * - the camera alone (the source, no model): how long after capture a frame reaches Node — what
 *   an arrival-time stamp used to leave out of every latency;
 * - the model's own run time inside those rounds (`timings.inferMs`): the pipeline adds
 *   `capture→verdict − model` (DESIGN target: p99 ≤ model + 5 ms at a sustainable rate).
 *
 * Cameras: videotestsrc (live) and the fake GigE camera (arv-fake-gv-camera-0.8 through the
 * aravis element this machine runs — lwaravissrc where built, else aravissrc —; run in a child
 * without CAP_NET_RAW when we are root, as the tests do). Rounds
 * alternate between the camera alone and the Station.
 *
 *   node dist/bench/capture-latency.js [--model DIR] [--frames N] [--rounds R] [--fps F] [--round-seconds S] [--json]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { REASON } from '../src/pipeline/decide.js';
import { createGstreamerSource, gstreamerSourceSchema } from '../src/pipeline/sources/gstreamer/index.js';
import { localAravisElement } from '../src/pipeline/sources/gstreamer/own-elements.js';
import { Station } from '../src/pipeline/station.js';
import type { Verdict } from '../src/pipeline/verdict.js';

interface Options {
  readonly modelDir: string;
  readonly frames: number;
  readonly rounds: number;
  readonly fps: number;
  /** Each round stops after this long even when fewer frames came (the fake GigE camera drops many on a busy machine). */
  readonly roundSeconds: number;
}

export interface LatencyCase {
  readonly camera: string;
  /** Frames judged per round after warm-up, summed over rounds. */
  readonly frames: number;
  /** Capture → arrival in Node (camera alone), ms. */
  readonly arrivalP50: number;
  readonly arrivalP99: number;
  /** Capture → verdict through the Station, ms. */
  readonly verdictP50: number;
  readonly verdictP99: number;
  /** The model's run time inside the Station rounds, ms. */
  readonly modelP50: number;
  readonly modelP99: number;
  /** Frames the source lost in the Station rounds (judged as FRAME_LOST). */
  readonly lost: number;
}

const WARMUP = 5;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

function testCamera(fps: number): unknown {
  return { type: 'gstreamer', format: 'RGB', maxBuffers: 2, input: { preset: 'test', pattern: 'ball', width: 320, height: 240, fps, live: true } };
}

function gigeCamera(fps: number): unknown {
  return { type: 'gstreamer', format: 'RGB', maxBuffers: 2, width: 256, height: 256, input: { preset: 'aravis', camera: 'Aravis-Fake-GV01', pixelFormat: 'BayerBG8', fps } };
}

/** Capture → arrival in Node of `n` frames of the camera alone (or those within `seconds`), ms. */
async function arrivalLags(source: unknown, n: number, seconds: number): Promise<number[]> {
  const src = createGstreamerSource(gstreamerSourceSchema.parse(source), 'bench');
  const lags: number[] = [];
  await new Promise<void>((resolve, reject) => {
    let seen = 0;
    // Stopped before resolving: a process that exits while its pipeline plays can hang in GStreamer's teardown.
    const done = (): void => {
      clearTimeout(timer);
      setImmediate(() => {
        sub.unsubscribe();
        resolve();
      });
    };
    const timer = setTimeout(done, seconds * 1000);
    const sub = src.frames().subscribe({
      next: (f) => {
        if (++seen > WARMUP) lags.push(Number(process.hrtime.bigint() - f.capturedAt.monoNs) / 1e6);
        if (seen >= n + WARMUP) done();
      },
      error: reject,
    });
  });
  return lags;
}

/** The Station judging `n` frames of the camera: capture→verdict and model times (ms), lost frames. */
async function stationRound(modelDir: string, source: unknown, n: number, seconds: number): Promise<{ total: number[]; infer: number[]; lost: number }> {
  const config = parseConfig(
    { model: { bundle: modelDir, intraOpThreads: 1 }, inference: { batchSize: 1, maxQueuedFrames: 2 }, cameras: [{ id: 'bench', source }] },
    'bench config',
  );
  const station = await Station.start(config, { logger: quiet, maxFramesPerCamera: n + WARMUP, deferCameras: true });
  const verdicts: Verdict[] = [];
  station.verdicts$.subscribe((v) => verdicts.push(v));
  station.begin();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([station.ended(), new Promise<void>((resolve) => (timer = setTimeout(resolve, seconds * 1000)))]);
  clearTimeout(timer);
  await station.stop();
  const judged = verdicts.filter((v) => v.verdict === 'ok' || v.verdict === 'reject').slice(WARMUP);
  return {
    total: judged.map((v) => v.timings.totalMs),
    infer: judged.map((v) => v.timings.inferMs),
    lost: verdicts.filter((v) => v.reasons[0]?.code === REASON.LOST).length,
  };
}

async function measure(camera: string, source: unknown, o: Options): Promise<LatencyCase> {
  const arrival: number[] = [];
  const total: number[] = [];
  const infer: number[] = [];
  let lost = 0;
  for (let r = 0; r < o.rounds; r++) {
    arrival.push(...(await arrivalLags(source, o.frames, o.roundSeconds)));
    const s = await stationRound(o.modelDir, source, o.frames, o.roundSeconds);
    total.push(...s.total);
    infer.push(...s.infer);
    lost += s.lost;
  }
  return summary(camera, arrival, total, infer, lost);
}

function summary(camera: string, arrival: number[], total: number[], infer: number[], lost: number): LatencyCase {
  return {
    camera,
    frames: total.length,
    arrivalP50: percentile(arrival, 50),
    arrivalP99: percentile(arrival, 99),
    verdictP50: percentile(total, 50),
    verdictP99: percentile(total, 99),
    modelP50: percentile(infer, 50),
    modelP99: percentile(infer, 99),
    lost,
  };
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** One measurement of the fake GigE camera in a child process without CAP_NET_RAW: its JSON output. */
function gigeChild(o: Options, what: 'arrival' | 'station'): Promise<string> {
  const self = fileURLToPath(import.meta.url);
  const args = `--child-gige ${what} --model '${o.modelDir}' --frames ${o.frames} --fps ${o.fps} --round-seconds ${o.roundSeconds}`;
  return new Promise<string>((resolve, reject) => {
    const child = spawn('capsh', ['--drop=cap_net_raw', '--', '-c', `exec node ${self} ${args}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(text.trim().split('\n').at(-1)!) : reject(new Error(`fake GigE child exited ${code}`))));
  });
}

/**
 * The fake GigE camera case. Each measurement runs in a process of its own: the binding never
 * frees a pipeline, and an aravissrc left alive keeps the camera's control channel, so a second
 * pipeline in the same process could not take the camera over.
 */
async function gigeCase(o: Options): Promise<LatencyCase | string> {
  const element = localAravisElement();
  if (!has('arv-fake-gv-camera-0.8') || !has('capsh') || spawnSync('gst-inspect-1.0', [element]).status !== 0) {
    return `skipped: ${element}, arv-fake-gv-camera-0.8 or capsh missing`;
  }
  const camera: ChildProcess = spawn('arv-fake-gv-camera-0.8', ['-i', '127.0.0.1'], { stdio: 'ignore' });
  try {
    const arrival: number[] = [];
    const total: number[] = [];
    const infer: number[] = [];
    let lost = 0;
    for (let r = 0; r < o.rounds; r++) {
      arrival.push(...(JSON.parse(await gigeChild(o, 'arrival')) as number[]));
      const s = JSON.parse(await gigeChild(o, 'station')) as { total: number[]; infer: number[]; lost: number };
      total.push(...s.total);
      infer.push(...s.infer);
      lost += s.lost;
    }
    return summary(`fake GigE (${element}) ${o.fps} fps 256×256 RGB`, arrival, total, infer, lost);
  } finally {
    camera.kill('SIGKILL');
  }
}

export async function runCaptureLatencyBench(o: Options): Promise<{ options: Options; cases: (LatencyCase | string)[] }> {
  const cases: (LatencyCase | string)[] = [await measure(`videotestsrc live ${o.fps} fps 320×240 RGB`, testCamera(o.fps), o)];
  cases.push(await gigeCase(o));
  return { options: o, cases };
}

export function formatCaptureLatency(r: { options: Options; cases: (LatencyCase | string)[] }): string {
  // NaN (no frame came) travels through JSON as null.
  const f = (x: number | null): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(1)).padStart(6);
  const lines = [
    `capture→verdict from the buffers' timestamps (${r.options.rounds} rounds × ${r.options.frames} frames, model ${r.options.modelDir})`,
    'camera                              capture→Node p50/p99   capture→verdict p50/p99   model p50/p99   verdict−model p99   lost',
  ];
  for (const c of r.cases) {
    if (typeof c === 'string') {
      lines.push(`fake GigE camera: ${c}`);
      continue;
    }
    lines.push(
      `${c.camera.padEnd(36)} ${f(c.arrivalP50)} / ${f(c.arrivalP99)}       ${f(c.verdictP50)} / ${f(c.verdictP99)}          ${f(c.modelP50)} / ${f(c.modelP99)}   ${f(c.verdictP99 - c.modelP99)}          ${c.lost}   (${c.frames} frames)`,
    );
  }
  return lines.join('\n');
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o: Options = {
    modelDir: arg('--model', fileURLToPath(new URL('../../models/demo', import.meta.url))),
    frames: Number(arg('--frames', '100')),
    rounds: Number(arg('--rounds', '3')),
    fps: Number(arg('--fps', '10')),
    roundSeconds: Number(arg('--round-seconds', '30')),
  };
  const child = process.argv.indexOf('--child-gige');
  if (child >= 0) {
    const out =
      process.argv[child + 1] === 'arrival'
        ? await arrivalLags(gigeCamera(o.fps), o.frames, o.roundSeconds)
        : await stationRound(o.modelDir, gigeCamera(o.fps), o.frames, o.roundSeconds);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  }
  const report = await runCaptureLatencyBench(o);
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(report)}\n` : `${formatCaptureLatency(report)}\n`);
}
