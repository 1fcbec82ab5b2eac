import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LinewatchError, errorMessage } from '../../errors.js';

/** The configuration last accepted over MQTT, as kept on disk. */
export interface AcceptedConfig {
  /** Monotonic: a later update must carry a higher one. */
  readonly version: number;
  /** configHash() of the validated configuration. */
  readonly hash: string;
  readonly appliedAtMs: number;
  /** Who sent it (the update's `by`, or the signing key id). */
  readonly by: string;
  /** The configuration as validated (defaults filled). */
  readonly config: unknown;
}

const ACCEPTED_FILE = 'accepted-config.json';

/** Where the accepted configuration lives in `stateDir`. */
export function acceptedConfigPath(stateDir: string): string {
  return join(stateDir, ACCEPTED_FILE);
}

/**
 * Writes `data` to `path` so that a crash leaves either the old file or the new one, never half:
 * temporary file in the same folder, fsync, rename over, fsync the folder.
 */
export function writeFileDurably(path: string, data: string): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Persists the accepted configuration. Throws LW_ERR_CONFIG_PERSIST naming the file. */
export function persistAcceptedConfig(stateDir: string, accepted: AcceptedConfig): void {
  const path = acceptedConfigPath(stateDir);
  try {
    writeFileDurably(path, `${JSON.stringify(accepted, null, 2)}\n`);
  } catch (err) {
    throw new LinewatchError('LW_ERR_CONFIG_PERSIST', `cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The persisted configuration, or null when none was ever accepted. Throws LW_ERR_CONFIG_READ when the file is damaged. */
export function readAcceptedConfig(stateDir: string): AcceptedConfig | null {
  const path = acceptedConfigPath(stateDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new LinewatchError('LW_ERR_CONFIG_READ', `cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const rec = JSON.parse(text) as Partial<AcceptedConfig>;
    if (typeof rec.version !== 'number' || typeof rec.hash !== 'string' || rec.config === undefined) {
      throw new Error('missing version, hash or config');
    }
    return {
      version: rec.version,
      hash: rec.hash,
      appliedAtMs: typeof rec.appliedAtMs === 'number' ? rec.appliedAtMs : 0,
      by: typeof rec.by === 'string' ? rec.by : 'unknown',
      config: rec.config,
    };
  } catch (err) {
    throw new LinewatchError('LW_ERR_CONFIG_READ', `${path} is damaged: ${errorMessage(err)}`, { cause: err });
  }
}
