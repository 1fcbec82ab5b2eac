import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OutboxMessage, OutboxStore } from './outbox.js';

/** One line of the log: a message added, or one gone (acknowledged, expired, evicted). */
type LogRecord =
  | { readonly op: 'add'; readonly id: number; readonly topic: string; readonly s?: string; readonly b?: string; readonly retain: boolean; readonly exp: number | null }
  | { readonly op: 'del'; readonly id: number };

/**
 * An outbox that survives a restart of linewatch: an append-only log (one JSON line per add or
 * delete), replayed at open and compacted when mostly garbage. Writes go to the OS without fsync
 * per message: a process crash loses nothing, a power cut may lose the last moments, which is the
 * price of not waiting on the disk for every reject.
 */
export class FileOutboxStore implements OutboxStore {
  private readonly path: string;
  private readonly byId = new Map<number, OutboxMessage>();
  private fd: number;
  /** Lines in the log that no longer describe a waiting message. */
  private garbage = 0;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    this.replay();
    // Start from a compact log: replay may have skipped a torn last line.
    this.fd = -1;
    this.compact();
  }

  get size(): number {
    return this.byId.size;
  }

  add(msg: OutboxMessage): void {
    this.byId.set(msg.id, msg);
    this.append(toRecord(msg));
  }

  delete(id: number): boolean {
    if (!this.byId.delete(id)) return false;
    this.append({ op: 'del', id });
    this.garbage += 2;
    if (this.garbage > 1024 && this.garbage > 4 * this.byId.size) this.compact();
    return true;
  }

  oldest(): OutboxMessage | undefined {
    return this.byId.values().next().value;
  }

  values(): IterableIterator<OutboxMessage> {
    return this.byId.values();
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private append(rec: LogRecord): void {
    writeSync(this.fd, `${JSON.stringify(rec)}\n`);
  }

  private replay(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let rec: LogRecord;
      try {
        rec = JSON.parse(line) as LogRecord;
      } catch {
        continue; // torn write at a crash
      }
      if (rec.op === 'add') this.byId.set(rec.id, fromRecord(rec));
      else this.byId.delete(rec.id);
    }
  }

  /** Rewrites the log with only the waiting messages: temporary file, fsync, rename. */
  private compact(): void {
    if (this.fd >= 0) closeSync(this.fd);
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      let chunk = '';
      for (const m of this.byId.values()) chunk += `${JSON.stringify(toRecord(m))}\n`;
      writeSync(fd, chunk);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, 'a', 0o600);
    this.garbage = 0;
  }
}

function toRecord(m: OutboxMessage): LogRecord {
  const body = typeof m.payload === 'string' ? { s: m.payload } : { b: m.payload.toString('base64') };
  return { op: 'add', id: m.id, topic: m.topic, ...body, retain: m.retain, exp: m.expiresAtMs };
}

function fromRecord(r: Extract<LogRecord, { op: 'add' }>): OutboxMessage {
  return { id: r.id, topic: r.topic, payload: r.s ?? Buffer.from(r.b ?? '', 'base64'), retain: r.retain, expiresAtMs: r.exp };
}
