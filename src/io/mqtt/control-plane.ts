import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { configHash } from '../../config/remote/canonical.js';
import { appendHistory, type HistoryEntry } from '../../config/remote/history.js';
import { applyMergePatch } from '../../config/remote/merge-patch.js';
import { persistAcceptedConfig, type AcceptedConfig } from '../../config/remote/persist.js';
import { readUpdate } from '../../config/remote/read-update.js';
import { didYouMeanErrorMap } from '../../config/did-you-mean.js';
import { formatIssues } from '../../config/load.js';
import type { Clock } from './clock.js';
import { applyRefusal } from './station-port.js';

export const CONFIG_ACK_SCHEMA = 'linewatch.config-ack/1';
export const CONFIG_STATE_SCHEMA = 'linewatch.config-state/1';

export interface ConfigAck {
  readonly schema: typeof CONFIG_ACK_SCHEMA;
  readonly requestId: string | null;
  readonly version: number | null;
  readonly accepted: boolean;
  readonly reasons: readonly string[];
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
  readonly requireSignature: boolean;
  readonly publicKeys: ReadonlyMap<string, KeyObject>;
  /** This station's topic root: signed updates must name it. */
  readonly station: string;
  readonly stateDir: string;
  readonly apply: (next: C) => Promise<unknown>;
  readonly clock: Clock;
  /**
   * Writes the accepted version into the candidate before validation, so that the running
   * configuration (and every verdict) carries it. Default: none.
   */
  readonly stampVersion?: (candidate: unknown, version: number) => unknown;
}

type Outcome<C> = { ok: true; next: ActiveConfig<C>; requestId: string | null } | { ok: false; reasons: string[]; version: number | null; requestId: string | null };

/**
 * …/config/set handling: parse, check signature, version and schema, apply through the Station,
 * persist, and only then acknowledge. Updates are handled one at a time, in arrival order. A
 * refused update changes nothing.
 */
export class ControlPlane<C> {
  private readonly opts: ControlPlaneOptions<C>;
  private activeValue: ActiveConfig<C>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ControlPlaneOptions<C>) {
    this.opts = opts;
    this.activeValue = opts.initial;
  }

  get active(): ActiveConfig<C> {
    return this.activeValue;
  }

  /** Handles one raw …/config/set payload; resolves to the ack to publish. */
  handle(payload: Buffer): Promise<ConfigAck> {
    const run = this.queue.then(() => this.process(payload));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Retained …/config/state payload. */
  statePayload(): string {
    const a = this.activeValue;
    return JSON.stringify({ schema: CONFIG_STATE_SCHEMA, version: a.version, hash: a.hash, appliedAtMs: a.appliedAtMs, by: a.by });
  }

  private async process(payload: Buffer): Promise<ConfigAck> {
    const outcome = await this.evaluate(payload);
    const now = this.opts.clock.nowMs();
    const entry: HistoryEntry = outcome.ok
      ? { atMs: now, version: outcome.next.version, by: outcome.next.by, outcome: 'applied', hash: outcome.next.hash, reasons: [], requestId: outcome.requestId }
      : { atMs: now, version: outcome.version, by: 'unknown', outcome: 'refused', hash: null, reasons: outcome.reasons, requestId: outcome.requestId };
    try {
      appendHistory(this.opts.stateDir, entry);
    } catch {
      // The history is an audit aid; failing to append must not undo an applied, persisted config.
    }
    const a = this.activeValue;
    return {
      schema: CONFIG_ACK_SCHEMA,
      requestId: outcome.requestId,
      version: outcome.ok ? outcome.next.version : outcome.version,
      accepted: outcome.ok,
      reasons: outcome.ok ? [] : outcome.reasons,
      activeVersion: a.version,
      activeHash: a.hash,
      atMs: now,
    };
  }

  private async evaluate(payload: Buffer): Promise<Outcome<C>> {
    const read = readUpdate(payload, this.opts);
    if (!read.ok) return { ok: false, reasons: read.reasons, version: read.ids.version, requestId: read.ids.requestId };
    const b = read.body;
    const signer = read.signer;
    const requestId = b.requestId ?? null;
    const refuse = (reasons: string[]): Outcome<C> => ({ ok: false, reasons, version: b.version, requestId });
    const active = this.activeValue;
    if (b.version <= active.version) {
      return refuse([`version ${b.version} is not newer than the active version ${active.version} (replayed or older update)`]);
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
    try {
      const refusal = applyRefusal(await this.opts.apply(next));
      if (refusal.length > 0) return refuse(refusal);
    } catch (err) {
      return refuse([`station refused it: ${errorMessage(err)}`]);
    }
    const accepted: AcceptedConfig = {
      version: b.version,
      hash: configHash(next),
      appliedAtMs: this.opts.clock.nowMs(),
      by: b.by ?? signer ?? 'unsigned',
      config: next,
    };
    try {
      persistAcceptedConfig(this.opts.stateDir, accepted);
    } catch (err) {
      // Not durable = not accepted: put the running configuration back.
      await this.opts.apply(active.config).catch(() => undefined);
      return refuse([errorMessage(err)]);
    }
    this.activeValue = { version: accepted.version, hash: accepted.hash, config: next, appliedAtMs: accepted.appliedAtMs, by: accepted.by };
    return { ok: true, next: this.activeValue, requestId };
  }
}
