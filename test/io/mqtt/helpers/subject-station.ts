import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Subject } from 'rxjs';
import { configSchema, type Config, type ConfigInput } from '../../../../src/config/schema.js';
import { ControlPlane, type ActiveConfig, type ApplyReport } from '../../../../src/io/mqtt/control-plane.js';
import { systemClock } from '../../../../src/io/mqtt/clock.js';
import { fileActive, parsePublicKeys, stampConfigVersion } from '../../../../src/io/mqtt/start.js';
import { topicsFor } from '../../../../src/io/mqtt/topics.js';
import type { BatchingSnapshot } from '../../../../src/pipeline/batching.js';
import type { StationCounters, StationHealth } from '../../../../src/pipeline/station.js';
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

  counters(): StationCounters {
    return { ...this.frameCounters.snapshot(), cameras: this.frameCounters.perCamera() };
  }

  /** What a Station reports about its batching; set by a test that reads it back through /metrics. */
  batchingSnapshot: BatchingSnapshot = { batches: 0, batchedFrames: 0, mixedBatches: 0, runs: 0, images: 0, paddedRuns: 0, paddedImages: 0, splitBatches: 0 };

  batching(): BatchingSnapshot {
    return this.batchingSnapshot;
  }

  health(): StationHealth {
    return {
      state: 'ok',
      lifecycle: 'running',
      reasons: [],
      model: { version: 'tiny-1', sha256: 'ab'.repeat(32), provider: 'cpu', fallbacks: [], batch: { size: 1, by: 'one per camera' } },
      configVersion: this.config.version,
      cameras: [{ id: 'cam1', source: 'subject', health: { state: 'running' }, product: null }],
    };
  }

  /** Stands in for the Station's own refusals (a model that fails to load). */
  refuseWhen: ((next: Config) => string | null) | null = null;

  /** Applies as the daemon would through the station: refused whole with a reason, or taken. */
  async apply(next: Config): Promise<ApplyReport> {
    const refusal = this.refuseWhen?.(next) ?? null;
    if (refusal !== null) return { ok: false, reasons: [refusal], sections: [] };
    this.config = next;
    this.applied.push(next);
    return { ok: true, reasons: [], sections: [{ section: 'decide', outcome: 'applied', paths: [] }] };
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
    this.frameCounters.settle('cam1', kind);
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

/** A control plane over a SubjectStation, set up as src/daemon.ts sets up the real one. */
export function subjectControlPlane(config: Config, station: SubjectStation, initial?: { active: ActiveConfig<Config>; previous: ActiveConfig<Config> | null; versionFloor: number }): ControlPlane<Config> {
  const rc = config.mqtt.remoteConfig;
  return new ControlPlane<Config>({
    schema: configSchema,
    initial: initial?.active ?? fileActive(config),
    previous: initial?.previous ?? null,
    versionFloor: initial?.versionFloor ?? 0,
    requireSignature: rc.requireSignature,
    publicKeys: parsePublicKeys(rc.publicKeys),
    station: topicsFor(config.mqtt).root,
    stateDir: rc.stateDir,
    apply: (next) => station.apply(next),
    clock: systemClock,
    stampVersion: stampConfigVersion,
  });
}
