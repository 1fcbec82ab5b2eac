import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LinewatchError, errorMessage } from '../../errors.js';

/** One configuration accepted over MQTT. */
export interface AcceptedRecord {
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

/**
 * The configuration last accepted over MQTT, as kept on disk, with the last known good one before
 * it. `probation`: accepted, not yet run for `remoteConfig.probationMs` without failing (a station
 * found still on probation at start has died running it: see src/config/remote/last-good.ts).
 */
export interface AcceptedConfig extends AcceptedRecord {
  readonly state: 'probation' | 'good';
  /** Starts of linewatch while this one was on probation. */
  readonly starts: number;
  /** The configuration in force before this one (null: the file's), to roll back to. */
  readonly previous: AcceptedRecord | null;
  /** Highest version ever accepted, rolled back ones included: updates must be above it. */
  readonly versionFloor: number;
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
    const main = readRecord(rec);
    const prev = rec.previous === null || rec.previous === undefined ? null : readRecord(rec.previous);
    return {
      ...main,
      // Files written before probation existed held configurations that had run: good.
      state: rec.state === 'probation' ? 'probation' : 'good',
      starts: typeof rec.starts === 'number' ? rec.starts : 0,
      previous: prev,
      versionFloor: typeof rec.versionFloor === 'number' ? Math.max(rec.versionFloor, main.version) : main.version,
    };
  } catch (err) {
    throw new LinewatchError('LW_ERR_CONFIG_READ', `${path} is damaged: ${errorMessage(err)}`, { cause: err });
  }
}

function readRecord(rec: Partial<AcceptedRecord>): AcceptedRecord {
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
}

/**
 * Moves the accepted configuration aside (kept, renamed `accepted-config.set-aside-<ms>.json`) so
 * that the next start does not try it again; returns the new file's path.
 */
export function setAsideAcceptedConfig(stateDir: string, atMs: number): string {
  const from = acceptedConfigPath(stateDir);
  const to = join(stateDir, `accepted-config.set-aside-${atMs}.json`);
  try {
    renameSync(from, to);
  } catch (err) {
    throw new LinewatchError('LW_ERR_CONFIG_PERSIST', `cannot set ${from} aside: ${errorMessage(err)}`, { cause: err });
  }
  return to;
}

const FLOOR_FILE = 'version-floor.json';

/**
 * The highest version ever accepted, kept apart from the accepted configuration: when a station
 * falls back to its file (the remote one rolled back or set aside), replays of the failed version
 * must stay refused, yet the file must stay what runs at the next start.
 */
export function persistVersionFloor(stateDir: string, versionFloor: number): void {
  const path = join(stateDir, FLOOR_FILE);
  try {
    writeFileDurably(path, `${JSON.stringify({ versionFloor })}\n`);
  } catch (err) {
    throw new LinewatchError('LW_ERR_CONFIG_PERSIST', `cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The persisted version floor, 0 when none (or unreadable: the accepted configuration still carries its own). */
export function readVersionFloor(stateDir: string): number {
  try {
    const v = (JSON.parse(readFileSync(join(stateDir, FLOOR_FILE), 'utf8')) as { versionFloor?: unknown }).versionFloor;
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : 0;
  } catch {
    return 0;
  }
}
