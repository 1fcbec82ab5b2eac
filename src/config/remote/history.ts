import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** One remote configuration update, applied or refused. */
export interface HistoryEntry {
  readonly atMs: number;
  readonly version: number | null;
  readonly by: string;
  /** `rolled-back`: accepted, then undone by itself when it failed on probation. */
  readonly outcome: 'applied' | 'refused' | 'rolled-back';
  readonly hash: string | null;
  readonly reasons: readonly string[];
  readonly requestId: string | null;
}

const HISTORY_FILE = 'config-history.jsonl';

export function historyPath(stateDir: string): string {
  return join(stateDir, HISTORY_FILE);
}

/** Appends one line and fsyncs: the history is an audit trail. */
export function appendHistory(stateDir: string, entry: HistoryEntry): void {
  mkdirSync(stateDir, { recursive: true });
  const fd = openSync(historyPath(stateDir), 'a', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Oldest first; a torn last line (crash mid-append) is skipped. */
export function readHistory(stateDir: string): HistoryEntry[] {
  let text: string;
  try {
    text = readFileSync(historyPath(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // torn write: ignore
    }
  }
  return out;
}

/** One human line per entry, for `linewatch config history`. */
export function formatHistory(entries: readonly HistoryEntry[]): string {
  if (entries.length === 0) return 'no remote configuration updates recorded';
  const lines: string[] = [];
  for (const e of entries) {
    const when = new Date(e.atMs).toISOString();
    const v = e.version === null ? '-' : `v${e.version}`;
    const detail = e.outcome === 'applied' ? `hash ${(e.hash ?? '').slice(0, 12)}` : e.reasons.join('; ');
    lines.push(`${when}  ${v.padEnd(6)} ${e.outcome.padEnd(11)} by ${e.by}  ${detail}`);
  }
  return lines.join('\n');
}
