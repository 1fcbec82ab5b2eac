import type { Config } from '../../config/schema.js';
import type { Verdict } from '../verdict.js';
import type { SectionReport, Sink } from './sink.js';

/**
 * One line per verdict for a person watching the console, or (json) one JSON verdict per line for
 * a program reading stdout.
 */

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function clock(wallMs: number): string {
  return new Date(wallMs).toISOString().slice(11, 23);
}

/**
 * @example
 * formatVerdictLine(v)
 * // '16:02:11.204 cam1     #42     part-0042     REJECT   norm 0.712 raw 3.104  2 defects, largest 120 px at (34,50)  12.3 ms  SCORE_OVER_THRESHOLD'
 */
export function formatVerdictLine(v: Verdict): string {
  // The product in brackets after the part, only where one runs (lines without products stay as they were).
  const part = v.product === undefined ? (v.partId ?? '-') : `${v.partId ?? '-'} [${v.product}]`;
  const head = `${clock(v.capturedAtMs)} ${pad(v.cameraId, 8)} ${pad(`#${v.seq}`, 7)} ${pad(part, 18)} ${pad(v.verdict.toUpperCase(), 8)}`;
  const ms = `${v.timings.totalMs.toFixed(1)} ms`;
  const codes = v.reasons.map((r) => r.code).join(',');
  if (v.verdict === 'error' || v.verdict === 'dropped') {
    const cause = v.reasons[0];
    return `${head} ${cause !== undefined ? cause.message : ''}  ${ms}  ${codes}`;
  }
  const score = `norm ${(v.normScore ?? 0).toFixed(3)} raw ${(v.score ?? 0).toPrecision(4)}`;
  let defects = '';
  if (v.defects.length > 0) {
    let largest = v.defects[0]!;
    for (let i = 1; i < v.defects.length; i++) if (v.defects[i]!.area > largest.area) largest = v.defects[i]!;
    defects = `  ${v.defects.length} defect${v.defects.length > 1 ? 's' : ''}, largest ${largest.area} px at (${largest.x},${largest.y})`;
  }
  return `${head} ${score}${defects}  ${ms}${codes.length > 0 ? `  ${codes}` : ''}`;
}

/** JSON line of a verdict (meta's bigints, if a source put any there, become strings). */
export function formatVerdictJson(v: Verdict): string {
  return JSON.stringify(v, (_k, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

export interface ConsoleSinkOptions {
  /** One JSON verdict per line instead of a human line. Default false. */
  readonly json?: boolean;
  /** Default process.stdout. */
  readonly out?: NodeJS.WritableStream;
}

/** A verdict consumer that writes to the console; pick the format once, not per verdict. */
export function consoleSink(opts: ConsoleSinkOptions = {}): (v: Verdict) => void {
  const out = opts.out ?? process.stdout;
  const format = opts.json === true ? formatVerdictJson : formatVerdictLine;
  // A reader that went away (`linewatch run --json | head`) must not bring inspection down.
  let closed = false;
  out.on('error', () => {
    closed = true;
  });
  return (v) => {
    if (!closed) out.write(`${format(v)}\n`);
  };
}

/**
 * The console as a {@link Sink}: `sinks.console` is applied from the next verdict (format, on/off).
 * `--json` on the command line wins over the configuration.
 */
export class ConsoleSink implements Sink {
  readonly section = 'sinks.console';
  private write: ((v: Verdict) => void) | null;
  private readonly forceJson: boolean;
  private readonly out: NodeJS.WritableStream | undefined;

  constructor(cfg: Config['sinks']['console'], opts: { forceJson?: boolean; out?: NodeJS.WritableStream } = {}) {
    this.forceJson = opts.forceJson === true;
    this.out = opts.out;
    this.write = this.build(cfg);
  }

  /** Whether verdicts go out as JSON lines (then the summary goes to stderr). */
  get json(): boolean {
    return this.forceJson;
  }

  offer(v: Verdict): void {
    this.write?.(v);
  }

  async reconfigure(next: Config, paths: readonly string[]): Promise<SectionReport[]> {
    this.write = this.build(next.sinks.console);
    return [{ section: this.section, outcome: 'applied', paths }];
  }

  async close(): Promise<void> {
    this.write = null;
  }

  private build(cfg: Config['sinks']['console']): ((v: Verdict) => void) | null {
    if (!cfg.enabled && !this.forceJson) return null;
    return consoleSink({ json: this.forceJson || cfg.json, ...(this.out !== undefined ? { out: this.out } : {}) });
  }
}
