/**
 * `linewatch eval` and `linewatch calibrate`. Results go to stdout (a table, or JSON with --json),
 * progress and errors to stderr; exit code 1 on any error.
 */
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { LinewatchError, errorMessage } from '../errors.js';
import { loadBundle, withMapOutput } from '../models/bundle.js';
import type { EngineOptions } from '../models/engine.js';
import type { PromptRule } from './prompts.js';
import { executionProvidersSchema, type ProviderConfig } from '../models/providers.js';
import { DEFAULT_GOOD_QUANTILE, DEFAULT_MARGIN, type ThresholdRule } from './calibrate.js';
import { calibrateBundle } from './calibrate-dataset.js';
import { discoverDataset, type EvalSample } from './dataset.js';
import { datasetFromFolders } from './folders.js';
import { evaluate } from './evaluate.js';
import { formatCalibration, formatEval } from './format.js';
import { writeCalibration } from './manifest-write.js';
import { renderReport } from './report.js';

/** Where the commands write; tests pass collectors. */
export interface CommandIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
}

const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

function rate(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a rate between 0 and 1 (0.01 = 1 %)');
  return n;
}

function threads(value: string): number {
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1 && n <= 256)) throw new InvalidArgumentError('expected a whole number of threads, 1 to 256');
  return n;
}

function parseProviders(list: string): ProviderConfig[] {
  const parsed = executionProvidersSchema.safeParse(list.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  if (!parsed.success) throw new LinewatchError('LW_ERR_CONFIG_INVALID', `--providers "${list}": each must be one of tensorrt, cuda, cpu`);
  return parsed.data;
}

function engineOptions(opts: { providers: string; threads?: number }): EngineOptions {
  return { executionProviders: parseProviders(opts.providers), ...(opts.threads !== undefined ? { intraOpThreads: opts.threads } : {}) };
}

/** A progress bar on a terminal; on a pipe, a line every 10 %. */
function progress(io: CommandIo, what: string): (done: number, total: number, s: EvalSample) => void {
  let lastDecile = -1;
  return (done, total, s) => {
    if (io.stderr.isTTY === true) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      io.stderr.write(`\r${what} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${s.name.slice(-40).padEnd(40)}`);
      if (done === total) io.stderr.write('\n');
      return;
    }
    const decile = Math.floor((done / total) * 10);
    if (decile !== lastDecile || done === total) {
      lastDecile = decile;
      io.stderr.write(`${what}: ${done}/${total} images\n`);
    }
  };
}

function seedArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected a whole number from 0 to 4294967295');
  return n;
}

/**
 * --prompt wins over --pool-size and --prompt-seed (a given recipe is what the line would run);
 * --pool-size asks for pools (a cosine-pool bundle draws them anyway, of its RUN's pool size).
 */
function promptRule(opts: { prompt?: string; promptSeed?: number; poolSize?: number }): PromptRule {
  if (opts.prompt !== undefined) return { kind: 'file', path: opts.prompt };
  if (opts.poolSize !== undefined) return { kind: 'pool', size: opts.poolSize };
  return { kind: 'seed', seed: opts.promptSeed ?? 0 };
}

function poolSizeArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new InvalidArgumentError('expected a whole number from 1 to 4096');
  return n;
}

const POOL_SIZE_HELP = "a cosine-pool model: each category's pool is the first N images of its train/good in file-name order (default: the model's RUN pool_size, else 8)";

function report(io: CommandIo, err: unknown): void {
  const code = err instanceof LinewatchError ? `${err.code}: ` : '';
  io.stderr.write(`linewatch: ${code}${errorMessage(err)}\n`);
  process.exitCode = 1;
}

interface EvalOpts {
  prompt?: string;
  poolSize?: number;
  promptSeed?: number;
  model: string;
  data: string;
  report?: string;
  json?: boolean;
  providers: string;
  exactPixels?: boolean;
  config?: string;
  threads?: number;
  mapOutput?: string;
}

interface CalibrateOpts {
  prompt?: string;
  poolSize?: number;
  promptSeed?: number;
  model: string;
  data?: string;
  good?: string;
  defective?: string;
  targetEscapeRate?: number;
  targetFalseReject?: number;
  goodQuantile: number;
  margin: number;
  write?: boolean;
  json?: boolean;
  providers: string;
  threads?: number;
}

/**
 * Adds `eval` and `calibrate` to the program.
 * @example registerEvalCommands(program); // in src/cli.ts
 */
export function registerEvalCommands(program: Command, io: CommandIo = processIo): Command {
  program
    .command('eval')
    .description('run an MVTec-layout test set through the production path: detection metrics, and escapes / false rejects at the current thresholds')
    .requiredOption('--model <dir>', 'model bundle folder (model.json + model.onnx)')
    .requiredOption('--data <dir>', 'one MVTec-layout category (test/, ground_truth/) or a folder of categories')
    .option('--report <file>', 'write a self-contained HTML report (curves, histograms, worst cases)')
    .option('--json', 'print the results as JSON instead of tables')
    .option('--providers <list>', 'execution providers to try, best first', 'cpu')
    .option('--config <file>', "judge with this station configuration's decide rules (default: reject when the normalised image score ≥ 0.5)")
    .option('--exact-pixels', 'also compute pixel metrics exactly (all maps in memory) to measure the histogram error; small sets only')
    .option('--threads <n>', "ONNX Runtime's threads for the model (default: the machine's cores)", threads)
    .option('--prompt <file>', 'a prompted model (OneNIP): judge every category against this good image (default: one of each category\'s train/good, drawn by --prompt-seed)')
    .option('--prompt-seed <n>', 'a prompted model: the seed that draws each category\'s prompt from its train/good', seedArg, 0)
    .option('--pool-size <n>', POOL_SIZE_HELP, poolSizeArg)
    .option('--map-output <name>', "judge one of the bundle's extra outputs as its map (e.g. recon_map of an inp-former++ bundle); the thresholds stay the main map's")
    .action(async (opts: EvalOpts) => {
      try {
        const loaded = await loadBundle(opts.model);
        const bundle = opts.mapOutput === undefined ? loaded : withMapOutput(loaded, opts.mapOutput);
        const dataset = await discoverDataset(opts.data);
        const rules = opts.config === undefined ? undefined : (await loadConfig(opts.config)).decide;
        const result = await evaluate(bundle, dataset, {
          ...(rules ? { rules } : {}),
          engine: engineOptions(opts),
          onProgress: progress(io, 'eval'),
          exactPixels: opts.exactPixels === true,
          prompts: promptRule(opts),
        });
        if (opts.report !== undefined) {
          await writeFile(opts.report, renderReport(result), 'utf8');
          io.stderr.write(`report written to ${opts.report}\n`);
        }
        io.stdout.write(opts.json === true ? `${JSON.stringify(result.report, null, 2)}\n` : formatEval(result.report));
      } catch (err) {
        report(io, err);
      }
    });

  program
    .command('calibrate')
    .description('choose image and pixel thresholds on a test set, or on folders of good (and a few defective) parts, and show the trade-off; --write puts them into model.json')
    .requiredOption('--model <dir>', 'model bundle folder')
    .option('--data <dir>', 'one MVTec-layout category or a folder of categories (test/ is used)')
    .option('--good <dir>', 'instead of --data: a folder of good parts from the line, not used for training (sub-folders read too)')
    .option('--defective <dir>', 'with --good: a folder of defective parts (sub-folders = defect types; no masks needed)')
    .option('--target-escape-rate <r>', 'highest threshold whose share of defective parts accepted is ≤ r', rate)
    .option('--target-false-reject <f>', 'lowest threshold whose share of good parts rejected is ≤ f', rate)
    .option('--good-quantile <q>', 'quantile of good scores for good-only calibration', rate, DEFAULT_GOOD_QUANTILE)
    .option('--margin <m>', 'margin past the quantile, as a fraction of Q(q) − Q(0.5)', (v) => {
      const n = Number(v);
      if (!(n >= 0)) throw new InvalidArgumentError('expected a number ≥ 0');
      return n;
    }, DEFAULT_MARGIN)
    .option('--prompt <file>', 'a prompted model (OneNIP): judge every category against this good image (default: one of each category\'s train/good, drawn by --prompt-seed)')
    .option('--prompt-seed <n>', 'a prompted model: the seed that draws each category\'s prompt from its train/good', seedArg, 0)
    .option('--pool-size <n>', POOL_SIZE_HELP, poolSizeArg)
    .option('--write', 'write the calibration into model.json (atomically, old file kept as model.json.<time>.bak)')
    .option('--json', 'print the result as JSON')
    .option('--providers <list>', 'execution providers to try, best first', 'cpu')
    .option('--threads <n>', "ONNX Runtime's threads for the model (default: the machine's cores)", threads)
    .action(async (opts: CalibrateOpts) => {
      try {
        if (opts.targetEscapeRate !== undefined && opts.targetFalseReject !== undefined) {
          throw new LinewatchError('LW_ERR_CALIBRATION_TARGET', 'give --target-escape-rate or --target-false-reject, not both');
        }
        let rule: ThresholdRule | undefined;
        if (opts.targetEscapeRate !== undefined) rule = { kind: 'target-escape-rate', rate: opts.targetEscapeRate };
        if (opts.targetFalseReject !== undefined) rule = { kind: 'target-false-reject', rate: opts.targetFalseReject };
        if ((opts.data === undefined) === (opts.good === undefined)) {
          throw new LinewatchError('LW_ERR_CALIBRATION_TARGET', 'give --data DIR (MVTec layout) or --good DIR [--defective DIR], one of them');
        }
        if (opts.defective !== undefined && opts.good === undefined) {
          throw new LinewatchError('LW_ERR_CALIBRATION_TARGET', '--defective goes with --good');
        }
        const bundle = await loadBundle(opts.model);
        const dataset = opts.data !== undefined ? await discoverDataset(opts.data) : await datasetFromFolders(opts.good as string, opts.defective);
        const result = await calibrateBundle(bundle, dataset, {
          ...(rule ? { rule } : {}),
          goodQuantile: opts.goodQuantile,
          margin: opts.margin,
          engine: engineOptions(opts),
          onProgress: progress(io, 'calibrate'),
          prompts: promptRule(opts),
        });
        let backup: string | null = null;
        if (opts.write === true) backup = await writeCalibration(bundle.dir, result.calibration);
        io.stdout.write(
          opts.json === true
            ? `${JSON.stringify({ ...result, written: opts.write === true, backup }, null, 2)}\n`
            : formatCalibration(result, bundle.dir, backup),
        );
      } catch (err) {
        report(io, err);
      }
    });
  return program;
}
