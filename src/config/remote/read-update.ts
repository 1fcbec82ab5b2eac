import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { didYouMeanErrorMap } from '../did-you-mean.js';
import { formatIssues } from '../load.js';
import { MAX_JSON_DEPTH, forbiddenKeyPaths, jsonNesting } from './guard.js';
import { verifyEd25519 } from './signature.js';

/**
 * Reading one `…/config/set` payload up to a checked update request: size, nesting, JSON,
 * forbidden keys, signature, body shape, and which station it is meant for. Nothing here touches
 * the running configuration; every refusal says why, and carries the request's id and version
 * whenever they can be read, so the sender can match the ack.
 */

/** A configuration is a few kB; anything this large is a mistake or an attack, refused before parsing. */
export const MAX_UPDATE_BYTES = 1024 * 1024;

/**
 * The body of a …/config/set: a whole configuration or a JSON merge patch against `baseVersion`.
 * Signed updates carry it as a string (`{ body, signature, keyId? }`) so the signature covers
 * exactly the bytes that were sent.
 */
const updateBodySchema = z
  .strictObject({
    /** Must be higher than the active version: replays and older updates are refused. */
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** Required with `patch`: the version the patch was written against. */
    baseVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    patch: z.record(z.string(), z.unknown()).optional(),
    /**
     * The station this update is for: its topic root (`linewatch/<site>/<line>/<station>`).
     * Required in signed updates, so that one signed for station A is refused by station B.
     */
    station: z.string().min(1).max(512).optional(),
    /** Who sent it, for the history. */
    by: z.string().min(1).max(200).optional(),
    /** Echoed on the ack so the sender can match it. */
    requestId: z.string().max(200).optional(),
  })
  .refine((b) => (b.config === undefined) !== (b.patch === undefined), { message: 'give exactly one of config or patch' })
  .refine((b) => b.patch === undefined || b.baseVersion !== undefined, { message: 'a patch needs baseVersion' });

export type UpdateBody = z.output<typeof updateBodySchema>;

const signedEnvelopeSchema = z.strictObject({
  body: z.string().min(2),
  signature: z.string().min(1).max(200),
  keyId: z.string().min(1).max(64).optional(),
});

export interface ReadUpdateOptions {
  readonly requireSignature: boolean;
  readonly publicKeys: ReadonlyMap<string, KeyObject>;
  /** This station's topic root: a signed update must name it in `station`. */
  readonly station: string;
}

/** What the ack can echo of a request, read leniently before (or without) validation. */
export interface RequestIds {
  readonly version: number | null;
  readonly requestId: string | null;
}

export type ReadUpdate =
  | { readonly ok: true; readonly body: UpdateBody; readonly signer: string | null; readonly ids: RequestIds }
  | { readonly ok: false; readonly reasons: string[]; readonly ids: RequestIds };

const NO_IDS: RequestIds = { version: null, requestId: null };

/** The request's id and version if they are there and plausible (for the ack of a refused request). */
export function peekIds(value: unknown): RequestIds {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return NO_IDS;
  const r = value as Record<string, unknown>;
  const v = r['version'];
  const id = r['requestId'];
  return {
    version: typeof v === 'number' && Number.isSafeInteger(v) ? v : null,
    requestId: typeof id === 'string' && id.length <= 200 ? id : null,
  };
}

/**
 * JSON text → value, refusing too-deep nesting before parsing and forbidden keys after (the parsed
 * value comes back then too, for its ids).
 */
function parseGuarded(text: string, what: string): { ok: true; value: unknown } | { ok: false; reason: string; value?: unknown } {
  const depth = jsonNesting(text, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) return { ok: false, reason: `${what} nests deeper than ${MAX_JSON_DEPTH} levels; refused before parsing` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON${what === 'update' ? '' : ` in ${what}`}: ${errorMessage(err)}` };
  }
  const forbidden = forbiddenKeyPaths(value);
  if (forbidden.length > 0) return { ok: false, reason: `${what}: forbidden key at ${forbidden.join(', ')} (__proto__, constructor and prototype are refused)`, value };
  return { ok: true, value };
}

/**
 * Reads and checks one raw payload.
 *
 * @example
 * const r = readUpdate(payload, { requireSignature: true, publicKeys, station: 'linewatch/s1/l1/st1' });
 * if (!r.ok) ack(r.ids, r.reasons);
 */
export function readUpdate(payload: Buffer, opts: ReadUpdateOptions): ReadUpdate {
  if (payload.length > MAX_UPDATE_BYTES) return { ok: false, reasons: [`update is ${payload.length} bytes; at most ${MAX_UPDATE_BYTES} are accepted`], ids: NO_IDS };
  const outer = parseGuarded(payload.toString('utf8'), 'update');
  if (!outer.ok) return { ok: false, reasons: [outer.reason], ids: peekIds(outer.value) };
  let bodyValue: unknown = outer.value;
  let signer: string | null = null;
  const envelope = signedEnvelopeSchema.safeParse(outer.value);
  if (envelope.success) {
    const inner = parseGuarded(envelope.data.body, 'body');
    // The ids are echoed even when the signature fails: they only let the sender match the ack.
    const ids = peekIds(inner.value);
    signer = verifyEd25519(Buffer.from(envelope.data.body, 'utf8'), envelope.data.signature, opts.publicKeys, envelope.data.keyId);
    if (signer === null) return { ok: false, reasons: ['signature does not verify with any configured Ed25519 public key'], ids };
    if (!inner.ok) return { ok: false, reasons: [inner.reason], ids };
    bodyValue = inner.value;
  } else if (opts.requireSignature) {
    return { ok: false, reasons: ['unsigned update: this station requires { body, signature, keyId } signed with Ed25519'], ids: peekIds(outer.value) };
  }
  const ids = peekIds(bodyValue);
  const body = updateBodySchema.safeParse(bodyValue, { error: didYouMeanErrorMap });
  if (!body.success) return { ok: false, reasons: formatIssues(body.error.issues).map((l) => `update: ${l.trim()}`), ids };
  const b = body.data;
  if (signer !== null && b.station === undefined) {
    return { ok: false, reasons: [`a signed update must name its station ("station": "${opts.station}"), so that it cannot be replayed on another`], ids };
  }
  if (b.station !== undefined && b.station !== opts.station) {
    return { ok: false, reasons: [`update is for station ${b.station}, this is ${opts.station}`], ids };
  }
  return { ok: true, body: b, signer, ids };
}
