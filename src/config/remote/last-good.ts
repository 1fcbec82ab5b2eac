import type { z } from 'zod';
import { errorMessage } from '../../errors.js';
import type { ActiveConfig } from '../../io/mqtt/control-plane.js';
import { persistAcceptedConfig, persistVersionFloor, readAcceptedConfig, readVersionFloor, setAsideAcceptedConfig, type AcceptedRecord } from './persist.js';

/**
 * Which configuration a station starts on: the one accepted over MQTT before a restart, unless it
 * cannot start. The rule (docs/configuration.md "Last known good"):
 * - a persisted configuration that does not validate, does not start (model, sources), or was
 *   still on probation when linewatch last started on it (so that run died within its probation)
 *   is set aside — renamed `accepted-config.set-aside-<ms>.json`, kept, named in status;
 * - the station then starts on the last known good one before it, else on the file;
 * - never twice on a poison pill: a crash loop ends after one retry.
 */

export interface SetAside {
  readonly file: string;
  readonly version: number;
  readonly reason: string;
}

export interface StartChoice<C, S> {
  readonly started: S;
  readonly active: ActiveConfig<C>;
  /** The last known good before `active` (the file's when none): what a rollback returns to. */
  readonly previous: ActiveConfig<C> | null;
  readonly versionFloor: number;
  /** `active` has yet to run probationMs without failing. */
  readonly onProbation: boolean;
  readonly setAside: SetAside | null;
}

export interface StartOptions<C, S> {
  readonly fileConfig: ActiveConfig<C>;
  readonly stateDir: string;
  readonly schema: z.ZodType<C>;
  /** Builds and starts the station on a configuration; throws when it cannot. */
  readonly start: (config: C) => Promise<S>;
  readonly nowMs: () => number;
  readonly warn: (msg: string, fields: object) => void;
}

function asActive<C>(rec: AcceptedRecord, config: C): ActiveConfig<C> {
  return { version: rec.version, hash: rec.hash, config, appliedAtMs: rec.appliedAtMs, by: rec.by };
}

/**
 * Starts on the last good configuration (see the rule above).
 *
 * @example
 * const choice = await startOnLastGood({ fileConfig, stateDir, schema: configSchema, start: (c) => Station.start(c), nowMs: Date.now, warn });
 */
export async function startOnLastGood<C, S>(o: StartOptions<C, S>): Promise<StartChoice<C, S>> {
  let floor = readVersionFloor(o.stateDir);
  const onFile = async (setAside: SetAside | null): Promise<StartChoice<C, S>> => {
    const started = await o.start(o.fileConfig.config);
    const versionFloor = Math.max(floor, o.fileConfig.version);
    if (setAside !== null) persistVersionFloor(o.stateDir, versionFloor);
    return { started, active: o.fileConfig, previous: null, versionFloor, onProbation: false, setAside };
  };
  const putAside = (version: number, reason: string): SetAside => {
    const file = setAsideAcceptedConfig(o.stateDir, o.nowMs());
    o.warn('persisted remote configuration set aside; starting on the last good one', { version, reason, file });
    return { file, version, reason };
  };

  let saved;
  try {
    saved = readAcceptedConfig(o.stateDir);
  } catch (err) {
    return onFile(putAside(0, errorMessage(err)));
  }
  if (saved === null) return onFile(null);
  floor = Math.max(floor, saved.versionFloor);
  const parse = (rec: AcceptedRecord): C | string => {
    const p = o.schema.safeParse(rec.config);
    return p.success ? p.data : `version ${rec.version} no longer validates: ${p.error.issues.map((i) => i.message).join('; ')}`;
  };
  const previous = saved.previous;
  const fallBack = async (setAside: SetAside): Promise<StartChoice<C, S>> => {
    if (previous !== null) {
      const config = parse(previous);
      if (typeof config !== 'string') {
        try {
          const started = await o.start(config);
          const active = asActive(previous, config);
          persistAcceptedConfig(o.stateDir, { ...previous, state: 'good', starts: 0, previous: null, versionFloor: floor });
          return { started, active, previous: o.fileConfig, versionFloor: floor, onProbation: false, setAside };
        } catch (err) {
          o.warn('the last good remote configuration does not start either; starting on the file', { version: previous.version, err: errorMessage(err) });
        }
      }
    }
    return onFile(setAside);
  };

  if (saved.state === 'probation' && saved.starts >= 1) {
    return fallBack(putAside(saved.version, `version ${saved.version} was still on probation when linewatch last started on it: that run died before passing it`));
  }
  const config = parse(saved);
  if (typeof config === 'string') return fallBack(putAside(saved.version, config));
  if (saved.state === 'probation') persistAcceptedConfig(o.stateDir, { ...saved, starts: saved.starts + 1 });
  try {
    const started = await o.start(config);
    const prevActive = previous === null ? o.fileConfig : (() => {
      const p = parse(previous);
      return typeof p === 'string' ? o.fileConfig : asActive(previous, p);
    })();
    return { started, active: asActive(saved, config), previous: prevActive, versionFloor: floor, onProbation: saved.state === 'probation', setAside: null };
  } catch (err) {
    return fallBack(putAside(saved.version, `version ${saved.version} cannot start: ${errorMessage(err)}`));
  }
}
