import type { Command } from 'commander';
import { LinewatchError, errorMessage } from '../errors.js';
import { configJsonSchema } from './json-schema.js';
import { loadConfig } from './load.js';

/**
 * `linewatch config validate FILE` and `linewatch config schema`. Other `config` subcommands
 * (history, …) are added by their owners through the returned command.
 */
export function registerConfigCommands(program: Command): Command {
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('configuration files');
  config
    .command('validate')
    .description('check a configuration file against the schema; exit 1 with every problem, path by path')
    .argument('<file>', 'YAML configuration')
    .action(async (file: string) => {
      try {
        const c = await loadConfig(file);
        const cams = c.cameras.map((cam) => `${cam.id} (${cam.source.type})`).join(', ');
        process.stdout.write(`${file}: valid — version ${c.version}, model ${c.model.bundle}, cameras ${cams}\n`);
      } catch (err) {
        const code = err instanceof LinewatchError ? `${err.code}: ` : '';
        process.stderr.write(`${code}${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
  config
    .command('schema')
    .description('print the configuration JSON Schema (for editors)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
  return config;
}
