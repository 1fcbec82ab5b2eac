import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Subject } from 'rxjs';
import { configSchema, type Config, type ConfigInput } from '../../../../src/config/schema.js';
import { Counters } from '../../../../src/pipeline/counters.js';
import { REASON, failSafeReasons } from '../../../../src/pipeline/decide.js';
import type { Verdict, VerdictKind } from '../../../../src/pipeline/verdict.js';

/**
 * Until the runtime's Station drives these tests end to end, a Subject of verdicts is the input:
 * real Verdict objects, real frame Counters. `applyConfig` takes the configuration as the Station
 * would for hot fields: verdicts emitted after it carry the new config version.
 */
export class SubjectStation {
  readonly verdicts$ = new Subject<Verdict>();
  readonly applied: Config[] = [];
  private readonly frameCounters = new Counters();
  config: Config;

  constructor(config: Config) {
    this.config = config;
  }

  counters(): object {
    return this.frameCounters.snapshot();
  }

  health(): unknown {
    return { state: 'ok', reasons: [], model: { version: 'tiny-1', sha256: 'ab'.repeat(32) } };
  }

  /** Stands in for the Station's own refusals (a model that fails to load) until the real one drives these tests. */
  refuseWhen: ((next: Config) => string | null) | null = null;

  async applyConfig(next: Config): Promise<unknown> {
    const refusal = this.refuseWhen?.(next) ?? null;
    if (refusal !== null) throw new Error(refusal);
    this.config = next;
    this.applied.push(next);
    return { ok: true };
  }

  /** One frame through: received, judged, emitted. */
  emit(seq: number, kind: VerdictKind, opts: { capturedAtMs?: number; deadlineMs?: number } = {}): Verdict {
    this.frameCounters.receive('cam1', seq);
    const v: Verdict = {
      seq,
      cameraId: 'cam1',
      partId: `part-${seq}`,
      verdict: kind,
      score: kind === 'reject' ? 0.9 : 0.1,
      normScore: kind === 'reject' ? 0.8 : 0.2,
      defects: kind === 'reject' ? [{ x: 1, y: 2, w: 3, h: 4, area: 12, maxScore: 0.95 }] : [],
      reasons:
        kind === 'reject'
          ? [{ code: REASON.SCORE, message: 'score 0.8 ≥ 0.5' }]
          : kind === 'error' || kind === 'dropped'
            ? failSafeReasons(kind, this.config.decide.failSafe, { code: REASON.ERROR, message: 'corrupt image' })
            : [],
      timings: { captureToInferMs: 1, inferMs: 2, postMs: 0.5, totalMs: 3.5 },
      modelVersion: 'tiny-1',
      configVersion: this.config.version,
      capturedAtMs: opts.capturedAtMs ?? Date.now(),
      ...(opts.deadlineMs !== undefined ? { meta: { deadlineMs: opts.deadlineMs } } : {}),
    };
    this.frameCounters.settle(kind);
    this.verdicts$.next(v);
    return v;
  }
}

let stateRoot: string | null = null;

/** A fresh state directory under one per-process folder, removed when the test process exits. */
function freshStateDir(): string {
  if (stateRoot === null) {
    const root = mkdtempSync(join(tmpdir(), 'lw-state-'));
    stateRoot = root;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return mkdtempSync(join(stateRoot, 'd-'));
}

export function testConfig(url: string | undefined, mqtt: Partial<NonNullable<ConfigInput['mqtt']>> = {}, stateDir?: string): Config {
  return configSchema.parse({
    model: { bundle: 'test/fixtures/models/tiny-inp' },
    cameras: [{ id: 'cam1', source: { type: 'synthetic' } }],
    mqtt: {
      ...(url !== undefined ? { url } : {}),
      site: 's1',
      line: 'l1',
      station: 'st1',
      reconnect: { initialDelayMs: 100, maxDelayMs: 400, jitter: 0.2 },
      status: { heartbeatMs: 60_000 },
      ...mqtt,
      remoteConfig: { requireSignature: false, stateDir: stateDir ?? freshStateDir(), ...(mqtt.remoteConfig ?? {}) },
    },
  });
}

export const quietLogger = pino({ level: 'silent' });
