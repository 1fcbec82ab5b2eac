import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { LinewatchError, errorMessage } from '../errors.js';
import { formatInspectReport, inspectBundle, INSPECT_DEFAULT_PROVIDERS } from './inspect.js';
import { executionProvidersSchema, type ProviderConfig } from './providers.js';

function parseProviders(list: string): ProviderConfig[] {
  const parsed = executionProvidersSchema.safeParse(list.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  if (!parsed.success) {
    throw new LinewatchError('LW_ERR_CONFIG_INVALID', `--providers "${list}": each must be one of tensorrt, cuda, cpu`);
  }
  return parsed.data;
}

/**
 * `linewatch model inspect [DIR] [--json] [--providers LIST | --config FILE]`. With --config the
 * bundle (when DIR is not given) and the provider list are the configuration's, so the report
 * says what `linewatch run` would use. Exit 1 when the bundle is refused or no session opens.
 */
export function registerModelCommands(program: Command): Command {
  const model = program.commands.find((c) => c.name() === 'model') ?? program.command('model').description('model bundles');
  model
    .command('inspect')
    .description('what a bundle is: inputs, outputs, geometry, calibration, training, and the execution provider it runs on here')
    .argument('[dir]', 'bundle folder (model.json + model.onnx); default: the --config file\'s model.bundle')
    .option('--json', 'print the report as JSON')
    .option('--providers <list>', `execution providers to try, best first (default ${INSPECT_DEFAULT_PROVIDERS.join(',')})`)
    .option('--config <file>', "take the bundle and model.executionProviders from this configuration")
    .action(async (dir: string | undefined, opts: { json?: boolean; providers?: string; config?: string }) => {
      try {
        let providers: readonly ProviderConfig[] = INSPECT_DEFAULT_PROVIDERS;
        let bundleDir = dir;
        if (opts.config !== undefined) {
          const config = await loadConfig(opts.config);
          providers = config.model.executionProviders;
          bundleDir ??= config.model.bundle;
        }
        if (opts.providers !== undefined) providers = parseProviders(opts.providers);
        if (bundleDir === undefined) throw new LinewatchError('LW_ERR_CONFIG_INVALID', 'model inspect: give a bundle folder or --config FILE');
        const report = await inspectBundle(bundleDir, providers);
        process.stdout.write(opts.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatInspectReport(report));
        if (!report.session.ok) process.exitCode = 1;
      } catch (err) {
        const code = err instanceof LinewatchError ? `${err.code}: ` : '';
        process.stderr.write(`${code}${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
  return model;
}
