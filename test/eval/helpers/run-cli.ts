/** Runs `linewatch eval|calibrate` in-process through commander, capturing stdout and stderr. */
import { Command } from 'commander';
import { registerEvalCommands } from '../../../src/eval/commands.js';

export interface CliRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export async function runEvalCli(args: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const program = new Command('linewatch').exitOverride();
  registerEvalCommands(program, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
  });
  const before = process.exitCode;
  process.exitCode = 0;
  await program.parseAsync(['node', 'linewatch', ...args]);
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { stdout, stderr, exitCode };
}
