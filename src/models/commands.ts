import type { Command } from 'commander';
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
 * `linewatch model inspect DIR [--json] [--providers LIST]`. Exit 1 when the bundle is refused
 * or no session can be opened on it.
 */
export function registerModelCommands(program: Command): Command {
  const model = program.commands.find((c) => c.name() === 'model') ?? program.command('model').description('model bundles');
  model
    .command('inspect')
    .description('what a bundle is: inputs, outputs, geometry, calibration, training, and the execution provider it runs on here')
    .argument('<dir>', 'bundle folder (model.json + model.onnx)')
    .option('--json', 'print the report as JSON')
    .option('--providers <list>', 'execution providers to try, best first', INSPECT_DEFAULT_PROVIDERS.join(','))
    .action(async (dir: string, opts: { json?: boolean; providers: string }) => {
      try {
        const report = await inspectBundle(dir, parseProviders(opts.providers));
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
