import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { didYouMeanErrorMap } from '../../config/did-you-mean.js';
import { formatIssues } from '../../config/load.js';
import { configHash } from '../../config/remote/canonical.js';
import { appendHistory, type HistoryEntry } from '../../config/remote/history.js';
import { applyMergePatch } from '../../config/remote/merge-patch.js';
import {
  persistAcceptedConfig,
  persistVersionFloor,
  readAcceptedConfig,
  setAsideAcceptedConfig,
  type AcceptedConfig,
  type AcceptedRecord,
} from '../../config/remote/persist.js';
import { readUpdate } from '../../config/remote/read-update.js';
import type { SectionReport } from '../../pipeline/sinks/sink.js';
import type { Clock } from './clock.js';

export const CONFIG_ACK_SCHEMA = 'linewatch.config-ack/1';
export const CONFIG_STATE_SCHEMA = 'linewatch.config-state/1';

/** What applying a configuration did, section by section (src/daemon.ts assembles it from the owners). */
export interface ApplyReport {
  /** True when every touched section applied it or needs a restart for it; false = refused, nothing changed. */
  readonly ok: boolean;
  readonly reasons: readonly string[];
  readonly sections: readonly SectionReport[];
}

export interface ConfigAck {
  readonly schema: typeof CONFIG_ACK_SCHEMA;
  readonly requestId: string | null;
  readonly version: number | null;
  readonly accepted: boolean;
  /** True on the second ack of an update that was accepted, then failed on probation and was undone. */
  readonly rolledBack: boolean;
  readonly reasons: readonly string[];
  /** Per touched section: applied, restart-needed or refused. Empty when refused before applying. */
  readonly sections: readonly SectionReport[];
  readonly activeVersion: number;
  readonly activeHash: string;
  readonly atMs: number;
}

export interface ActiveConfig<C> {
  readonly version: number;
  readonly hash: string;
  readonly config: C;
  readonly appliedAtMs: number;
  readonly by: string;
}

export interface ControlPlaneOptions<C> {
  /** The same zod schema as configuration files (src/config/schema.ts). */
  readonly schema: z.ZodType<C>;
  readonly initial: ActiveConfig<C>;
  /** The last known good configuration before `initial` (the file's when none): what a rollback returns to. */
  readonly previous: ActiveConfig<C> | null;
  /** Updates must be above this (and above the active version). Default: the initial version. */
  readonly versionFloor?: number;
  /** `initial` is still on probation (restored at start before passing it). Default false. */
  readonly onProbation?: boolean;
  readonly requireSignature: boolean;
  readonly publicKeys: ReadonlyMap<string, KeyObject>;
  /** This station's topic root: signed updates must name it. */
  readonly station: string;
  readonly stateDir: string;
  /** Applies a configuration through every section's owner; never throws. */
  readonly apply: (next: C) => Promise<ApplyReport>;
  readonly clock: Clock;
  /**
   * Writes the accepted version into the candidate before validation, so that the running
   * configuration (and every verdict) carries it. Default: none.
   */
  readonly stampVersion?: (candidate: unknown, version: number) => unknown;
  /** Told of every accepted update, after it was persisted (the probation watch starts here). */
  readonly onAccepted?: (active: ActiveConfig<C>) => void;
}

type Outcome<C> =
  | { ok: true; next: ActiveConfig<C>; requestId: string | null; sections: readonly SectionReport[] }
  | { ok: false; reasons: string[]; version: number | null; requestId: string | null; sections: readonly SectionReport[] };

const record = <C>(a: ActiveConfig<C>): AcceptedRecord => ({ version: a.version, hash: a.hash, appliedAtMs: a.appliedAtMs, by: a.by, config: a.config });

/**
 * …/config/set handling: read (limits, signature, station), version, merge, schema, apply through
 * every section's owner, persist, and only then acknowledge. Updates are handled one at a time,
 * in arrival order; a refused one changes nothing. An accepted one is on probation until the
 * composition root says it ran ({@link confirm}) or failed ({@link rollback}).
 */
export class ControlPlane<C> {
  private readonly opts: ControlPlaneOptions<C>;
  private activeValue: ActiveConfig<C>;
  private previousValue: ActiveConfig<C> | null;
  private floor: number;
  private probation: boolean;
  /** The update now on probation, for the ack of its rollback. */
  private lastRequest: { version: number; requestId: string | null } | null = null;
  private requireSignature: boolean;
  private publicKeys: ReadonlyMap<string, KeyObject>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ControlPlaneOptions<C>) {
    this.opts = opts;
    this.activeValue = opts.initial;
    this.previousValue = opts.previous;
    this.floor = Math.max(opts.versionFloor ?? 0, opts.initial.version);
    this.probation = opts.onProbation === true;
    this.requireSignature = opts.requireSignature;
    this.publicKeys = opts.publicKeys;
  }

  get active(): ActiveConfig<C> {
    return this.activeValue;
  }

  /** Whether the active configuration is still on probation. */
  get onProbation(): boolean {
    return this.probation;
  }

  /** Signature settings from the next update on (`mqtt.remoteConfig.requireSignature`, `publicKeys`: hot). */
  setVerification(requireSignature: boolean, publicKeys: ReadonlyMap<string, KeyObject>): void {
    this.requireSignature = requireSignature;
    this.publicKeys = publicKeys;
  }

  /** Handles one raw …/config/set payload; resolves to the ack to publish. */
  handle(payload: Buffer): Promise<ConfigAck> {
    return this.serial(() => this.process(payload));
  }

  /** The active configuration passed its probation: it is the last known good from now on. */
  confirm(): Promise<void> {
    return this.serial(async () => {
      if (!this.probation) return;
      this.probation = false;
      this.lastRequest = null;
      this.persist('good');
    });
  }

  /**
   * The active configuration failed on probation: the previous one is applied again and persisted
   * (the failed version stays burned: it and older ones are refused from now on). Resolves to the
   * ack to publish, or null when there was nothing to roll back.
   */
  rollback(reasons: readonly string[]): Promise<ConfigAck | null> {
    return this.serial(async () => {
      const target = this.previousValue;
      if (!this.probation || target === null) return null;
      const failed = this.activeValue;
      const report = await this.opts.apply(target.config);
      const now = this.opts.clock.nowMs();
      const why = [`version ${failed.version} failed after it was applied: ${reasons.join('; ')}`];
      if (!report.ok) why.push(`rolling back to version ${target.version} was refused too: ${report.reasons.join('; ')}`);
      else {
        this.activeValue = target;
        this.previousValue = null;
        this.probation = false;
        try {
          this.persist('good');
        } catch (err) {
          why.push(errorMessage(err));
        }
      }
      const req = this.lastRequest;
      this.lastRequest = null;
      this.history({ atMs: now, version: failed.version, by: failed.by, outcome: 'rolled-back', hash: failed.hash, reasons: why, requestId: req?.requestId ?? null });
      return this.ack(req?.requestId ?? null, failed.version, false, true, why, report.sections, now);
    });
  }

  /** Retained …/config/state payload. */
  statePayload(): string {
    const a = this.activeValue;
    return JSON.stringify({ schema: CONFIG_STATE_SCHEMA, version: a.version, hash: a.hash, appliedAtMs: a.appliedAtMs, by: a.by });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private persist(state: AcceptedConfig['state']): void {
    const a = this.activeValue;
    const prev = this.previousValue;
    persistVersionFloor(this.opts.stateDir, this.floor);
    if (a.by === 'file') {
      // Back on the file's configuration: the remote one is set aside (kept for a look), so that the
      // file, edited or not, is what the next start runs.
      if (readAcceptedConfig(this.opts.stateDir) !== null) setAsideAcceptedConfig(this.opts.stateDir, this.opts.clock.nowMs());
      return;
    }
    persistAcceptedConfig(this.opts.stateDir, {
      ...record(a),
      state,
      starts: 0,
      previous: prev === null || prev.by === 'file' ? null : record(prev),
      versionFloor: this.floor,
    });
  }

  private history(entry: HistoryEntry): void {
    try {
      appendHistory(this.opts.stateDir, entry);
    } catch {
      // The history is an audit aid; failing to append must not undo an applied, persisted config.
    }
  }

  private ack(requestId: string | null, version: number | null, accepted: boolean, rolledBack: boolean, reasons: readonly string[], sections: readonly SectionReport[], atMs: number): ConfigAck {
    const a = this.activeValue;
    return { schema: CONFIG_ACK_SCHEMA, requestId, version, accepted, rolledBack, reasons, sections, activeVersion: a.version, activeHash: a.hash, atMs };
  }

  private async process(payload: Buffer): Promise<ConfigAck> {
    const outcome = await this.evaluate(payload);
    const now = this.opts.clock.nowMs();
    this.history(
      outcome.ok
        ? { atMs: now, version: outcome.next.version, by: outcome.next.by, outcome: 'applied', hash: outcome.next.hash, reasons: [], requestId: outcome.requestId }
        : { atMs: now, version: outcome.version, by: 'unknown', outcome: 'refused', hash: null, reasons: outcome.reasons, requestId: outcome.requestId },
    );
    const ack = outcome.ok
      ? this.ack(outcome.requestId, outcome.next.version, true, false, [], outcome.sections, now)
      : this.ack(outcome.requestId, outcome.version, false, false, outcome.reasons, outcome.sections, now);
    if (outcome.ok) this.opts.onAccepted?.(outcome.next);
    return ack;
  }

  private async evaluate(payload: Buffer): Promise<Outcome<C>> {
    const read = readUpdate(payload, { requireSignature: this.requireSignature, publicKeys: this.publicKeys, station: this.opts.station });
    if (!read.ok) return { ok: false, reasons: read.reasons, version: read.ids.version, requestId: read.ids.requestId, sections: [] };
    const b = read.body;
    const requestId = b.requestId ?? null;
    const refuse = (reasons: string[], sections: readonly SectionReport[] = []): Outcome<C> => ({ ok: false, reasons, version: b.version, requestId, sections });
    const active = this.activeValue;
    if (b.version <= this.floor) {
      const floor = this.floor > active.version ? ` (version ${this.floor} was rolled back)` : '';
      return refuse([`version ${b.version} is not newer than the active version ${active.version}${floor} (replayed or older update)`]);
    }
    let candidate: unknown;
    if (b.patch !== undefined) {
      if (b.baseVersion !== active.version) {
        return refuse([`patch is against version ${b.baseVersion ?? '?'} but the active version is ${active.version}`]);
      }
      candidate = applyMergePatch(active.config, b.patch);
    } else {
      candidate = b.config;
    }
    if (this.opts.stampVersion !== undefined) candidate = this.opts.stampVersion(candidate, b.version);
    const parsed = this.opts.schema.safeParse(candidate, { error: didYouMeanErrorMap });
    if (!parsed.success) return refuse(formatIssues(parsed.error.issues).map((l) => `configuration: ${l.trim()}`));
    const next = parsed.data;
    const report = await this.opts.apply(next);
    if (!report.ok) return refuse([...report.reasons], report.sections);
    const nextActive: ActiveConfig<C> = { version: b.version, hash: configHash(next), config: next, appliedAtMs: this.opts.clock.nowMs(), by: b.by ?? read.signer ?? 'unsigned' };
    const before = { active: this.activeValue, previous: this.previousValue, floor: this.floor, probation: this.probation };
    this.previousValue = active;
    this.activeValue = nextActive;
    this.floor = b.version;
    this.probation = true;
    try {
      this.persist('probation');
    } catch (err) {
      // Not durable = not accepted: put the running configuration back.
      this.activeValue = before.active;
      this.previousValue = before.previous;
      this.floor = before.floor;
      this.probation = before.probation;
      await this.opts.apply(active.config);
      return refuse([errorMessage(err)]);
    }
    this.lastRequest = { version: b.version, requestId };
    return { ok: true, next: nextActive, requestId, sections: report.sections };
  }
}
