/**
 * linewatch's command line. `run` is the daemon; the other modules add their commands through
 * register functions so that this file stays the assembly.
 */
import { Command, InvalidArgumentError } from 'commander';
import { dirname, resolve } from 'node:path';
import { pino } from 'pino';
import type { BenchOptions } from '../bench/pipeline.js';
import { registerConfigCommands } from './config/commands.js';
import { registerConfigRemoteCommands } from './config/remote/commands.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { Daemon } from './daemon.js';
import { LinewatchError, errorMessage } from './errors.js';
import { registerEvalCommands } from './eval/commands.js';
import { registerModelCommands } from './models/commands.js';
import { formatSummary } from './pipeline/sinks/summary.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer ≥ 0');
  return n;
}

function cameraCounts(value: string): number[] {
  const counts = value.split(',').map((x) => Number(x.trim()));
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new InvalidArgumentError('expected camera counts from 1 to 64, e.g. 4 or 1,2,4,8');
  return counts;
}

function cameraSize(value: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(value);
  if (m === null || Number(m[1]) < 1 || Number(m[2]) < 1) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 1280x960');
  return { width: Number(m[1]), height: Number(m[2]) };
}

interface RunOptions {
  config: string;
  maxFrames?: number;
  json?: boolean;
  mqtt: boolean;
  logLevel: string;
}

function fail(err: unknown): never {
  const code = err instanceof LinewatchError ? `${err.code}: ` : '';
  process.stderr.write(`linewatch: ${code}${errorMessage(err)}\n`);
  process.exit(1);
}

/** `linewatch run`: the daemon (src/daemon.ts) until its sources end or a signal stops it, then the summary. */
async function run(opts: RunOptions): Promise<void> {
  let config: Config;
  try {
    config = await loadConfig(opts.config);
  } catch (err) {
    fail(err);
  }
  // Logs go to stderr: stdout carries the verdicts (one JSON per line with --json).
  const logger = pino({ name: 'linewatch', level: opts.logLevel }, pino.destination(2));
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, {
      baseDir: dirname(resolve(opts.config)),
      logger,
      mqtt: opts.mqtt,
      ...(opts.json === true ? { json: true } : {}),
      ...(opts.maxFrames !== undefined ? { maxFrames: opts.maxFrames } : {}),
    });
  } catch (err) {
    fail(err);
  }
  const mqtt = daemon.mqtt;
  if (mqtt !== null) {
    logger.info({ broker: mqtt.brokerUrl, topics: mqtt.topics }, 'mqtt started');
    // Where to listen, for the person at the console (stderr: stdout stays verdicts only).
    const where = config.mqtt.url === undefined ? 'embedded demo broker' : 'broker';
    process.stderr.write(`linewatch: MQTT ${where} ${mqtt.brokerUrl}; watch it with: mosquitto_sub -L '${mqtt.brokerUrl}/${mqtt.topics.root}/#' -v\n`);
  }
  if (daemon.setAside !== null) process.stderr.write(`linewatch: the remote configuration version ${daemon.setAside.version} was set aside (${daemon.setAside.file}): ${daemon.setAside.reason}\n`);

  let stopping: Promise<void> | null = null;
  let markFinished!: () => void;
  const finished = new Promise<void>((r) => {
    markFinished = r;
  });
  const shutdown = (why: string): Promise<void> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      logger.info({ why }, 'stopping: sources stopped, finishing frames in flight');
      const { report, failed } = await daemon.stop();
      const text = formatSummary(report);
      // With --json stdout is a pure verdict stream: the summary goes to stderr.
      if (daemon.console.json) process.stderr.write(`${text}\n`);
      else process.stdout.write(`${text}\n`);
      // A camera that failed for good (missing folder, refused pipeline) fails the run.
      for (const r of failed) process.stderr.write(`linewatch: ${r}\n`);
      process.exitCode = !report.identityHolds ? 3 : failed.length > 0 ? 1 : 0;
      markFinished();
    })();
    return stopping;
  };
  let firstSignalAt = -1;
  const onSignal = (sig: NodeJS.Signals): void => {
    const now = Date.now();
    if (firstSignalAt < 0) firstSignalAt = now;
    // `timeout` and process-group kills deliver the same signal twice at once: only a later one forces.
    else if (now - firstSignalAt < 1000) return;
    else {
      process.stderr.write(`linewatch: second ${sig}, exiting without finishing\n`);
      process.exit(130);
    }
    void shutdown(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void daemon.ended().then(() => shutdown('all sources ended'));
  await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

/** `bench`'s options as commander parses them. */
interface BenchCliOptions {
  model: string;
  frames: number;
  batch: number;
  threads?: number;
  rounds: number;
  camera: { width: number; height: number };
  preprocessWorkers: number;
  framesFrom?: string;
  synthetic?: boolean;
  prompt?: string;
  pool?: string[] | true;
  soak?: boolean;
  json?: boolean;
  cameras?: number[];
  fps?: number;
  peer: boolean;
}

/**
 * What `bench` and `bench --pool` both take from the command line: the bundle, the counts, the
 * threads and the camera's frames (--synthetic wins over --frames-from: framesFrom null).
 */
function benchRunOptions(opts: BenchCliOptions): BenchOptions {
  return {
    modelDir: opts.model,
    frames: opts.frames,
    batch: opts.batch,
    rounds: opts.rounds,
    preprocessWorkers: opts.preprocessWorkers,
    ...(opts.synthetic === true ? { framesFrom: null } : opts.framesFrom !== undefined ? { framesFrom: opts.framesFrom } : {}),
    ...(opts.threads !== undefined ? { intraOpThreads: opts.threads } : {}),
  };
}

export function buildProgram(): Command {
  const program = new Command('linewatch')
    .description('anomaly-detection inspection daemon: cameras → ONNX models → verdicts → MQTT')
    .showHelpAfterError();
  program
    .command('run')
    .description('inspect frames from the configured cameras until they end or SIGINT/SIGTERM')
    .requiredOption('-c, --config <file>', 'YAML configuration')
    .option('--max-frames <n>', 'stop each camera after N frames', positiveInt)
    .option('--json', 'one JSON verdict per line on stdout (summary on stderr)')
    .option('--no-mqtt', 'do not connect to MQTT (no embedded broker either)')
    .option('--log-level <level>', 'pino log level on stderr', 'warn')
    .action((opts: RunOptions) => run(opts));
  program
    .command('bench')
    .description('bare session.run loop vs the full pipeline on the same frames: throughput ratio, latency, memory')
    .requiredOption('-m, --model <dir>', 'model bundle folder')
    .option('--frames <n>', 'frames per measurement', positiveInt, 2000)
    .option('--batch <b>', 'batch size', positiveInt, 1)
    .option('--threads <t>', 'ONNX Runtime intra-op threads (both sides)', positiveInt)
    .option('--rounds <r>', 'alternating bare/pipeline rounds (medians reported)', positiveInt, 3)
    .option('--camera <WxH>', 'synthetic camera image size', cameraSize, { width: 256, height: 256 })
    .option('--frames-from <dir>', "images the camera replays (decoded once, sent raw); default the bundle's samples/, else the synthetic camera")
    .option('--synthetic', 'use the synthetic camera even when the bundle has samples/')
    .option('--preprocess-workers <n>', 'pipeline preprocessing threads (0 = main thread)', nonNegativeInt, 1)
    .option('--prompt <file>', "a prompted model (OneNIP): its prompt for every frame, on every side, with --cameras too (default: the replayed folder's first prompt* image)")
    .option('--pool [files]', "a cosine-pool model (OneNIP): the pipeline with a pool (comma-separated files; default the replayed folder's prompt* and pool* images) beside the same bundle with a recipe (the pool's first image): throughput, latency p50/p99, their ratios", (v: string) => v.split(',').filter((x) => x.length > 0))
    .option('--cameras <list>', 'many cameras instead: N cameras (e.g. 1,2,4,8) with and without batching across cameras, beside the bare loop at its best batch', cameraCounts)
    .option('--fps <f>', 'with --cameras: each camera\'s rate in the paced runs (default 80 % of the unbatched saturation, shared)', positiveInt)
    .option('--no-peer', 'with --cameras: leave out the Python peer loop (trainer/.venv: onnxruntime, Pillow, scipy)')
    .option('--soak', 'memory soak instead: the pipeline alone for --frames frames, resident memory every fiftieth and its trend; with --cameras N, N synthetic cameras batched across cameras')
    .option('--json', 'print the figures as one JSON object')
    .action(async (opts: BenchCliOptions) => {
      if (opts.cameras !== undefined && opts.soak !== true) {
        const { runCamerasBench, formatCamerasReport } = await import('../bench/cameras.js');
        try {
          const report = await runCamerasBench(
            {
              modelDir: opts.model,
              cameras: opts.cameras,
              frames: opts.frames,
              rounds: opts.rounds,
              ...(opts.threads !== undefined ? { intraOpThreads: opts.threads } : {}),
              ...(opts.fps !== undefined ? { fps: opts.fps } : {}),
              ...(opts.framesFrom !== undefined ? { framesFrom: opts.framesFrom } : {}),
              ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}),
              peer: opts.peer,
            },
            (line) => process.stderr.write(`  ${line}\n`),
          );
          process.stdout.write(opts.json === true ? `${JSON.stringify(report)}\n` : `${formatCamerasReport(report)}\n`);
        } catch (err) {
          fail(err);
        }
        return;
      }
      if (opts.soak === true) {
        const { runSoak, formatSoakSample, formatSoakTrend, soakTrend } = await import('../bench/soak.js');
        try {
          const cams = opts.cameras ?? [1];
          if (cams.length !== 1) throw new Error(`bench --soak --cameras takes one camera count, got ${cams.join(',')}`);
          const n = cams[0]!;
          const how = n > 1 ? `, ${n} synthetic cameras batched across cameras` : '';
          process.stdout.write(`linewatch soak: ${opts.frames} frames of ${opts.model}${how}\n`);
          const samples = await runSoak(opts.model, opts.frames, opts.threads, (s) => process.stdout.write(`${formatSoakSample(s)}\n`), n, (b) => {
            process.stdout.write(`  frames per model call: ${b.toFixed(2)} (mean)\n`);
          });
          const first = samples[0];
          const last = samples[samples.length - 1];
          if (first !== undefined && last !== undefined) {
            process.stdout.write(`  resident memory from ${first.frames} to ${last.frames} frames: Δ ${(last.rssMiB - first.rssMiB).toFixed(1)} MiB\n`);
          }
          if (samples.length >= 10) process.stdout.write(`${formatSoakTrend(soakTrend(samples))}\n`);
        } catch (err) {
          fail(err);
        }
        return;
      }
      if (opts.pool !== undefined) {
        const { runPoolBench, formatPoolBenchReport } = await import('../bench/pool.js');
        try {
          // The pool bench takes neither --camera nor --prompt (its pool is the prompt), as before.
          const report = await runPoolBench({ ...benchRunOptions(opts), ...(opts.pool !== true ? { pool: opts.pool } : {}) });
          process.stdout.write(opts.json === true ? `${JSON.stringify(report)}\n` : `${formatPoolBenchReport(report)}\n`);
        } catch (err) {
          fail(err);
        }
        return;
      }
      const { runPipelineBench, formatBenchReport } = await import('../bench/pipeline.js');
      try {
        const report = await runPipelineBench({
          ...benchRunOptions(opts),
          cameraWidth: opts.camera.width,
          cameraHeight: opts.camera.height,
          ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}),
        });
        process.stdout.write(opts.json === true ? `${JSON.stringify(report)}\n` : `${formatBenchReport(report)}\n`);
      } catch (err) {
        fail(err);
      }
    });
  registerConfigCommands(program);
  registerConfigRemoteCommands(program);
  registerModelCommands(program);
  registerEvalCommands(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
