import type { Command } from 'commander';
import { LinewatchError, errorMessage } from '../../errors.js';
import { loadConfig } from '../load.js';
import { formatHistory, readHistory } from './history.js';

/**
 * `linewatch config history [--config FILE | --state-dir DIR] [--json]`: the remote configuration
 * updates applied (and refused), when and by whom.
 */
export function registerConfigRemoteCommands(program: Command): Command {
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('configuration files');
  config
    .command('history')
    .description('remote configuration updates received over MQTT: when, version, by whom, applied or refused (and why)')
    .option('-c, --config <file>', 'take the state directory from this configuration (mqtt.remoteConfig.stateDir)')
    .option('--state-dir <dir>', 'state directory (default ./state)')
    .option('--json', 'one JSON entry per line')
    .action(async (opts: { config?: string; stateDir?: string; json?: boolean }) => {
      try {
        const dir = opts.stateDir ?? (opts.config !== undefined ? (await loadConfig(opts.config)).mqtt.remoteConfig.stateDir : './state');
        const entries = readHistory(dir);
        if (opts.json === true) for (const e of entries) process.stdout.write(`${JSON.stringify(e)}\n`);
        else process.stdout.write(`${formatHistory(entries)}\n`);
      } catch (err) {
        const code = err instanceof LinewatchError ? `${err.code}: ` : '';
        process.stderr.write(`${code}${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
  return config;
}
