import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observable, Subscription } from 'rxjs';
import type { BatchingSnapshot } from '../../pipeline/batching.js';
import type { Verdict } from '../../pipeline/verdict.js';
import type { LinkCounters, LinkState } from '../mqtt/link.js';
import type { PublisherCounters } from '../mqtt/publisher.js';
import { readCounters, type StationPort } from '../mqtt/station-port.js';

export interface MetricsSources {
  readonly station: Pick<StationPort, 'verdicts$' | 'counters' | 'batching'>;
  readonly link: { counters(): LinkCounters };
  readonly publisher: { counters(): PublisherCounters };
}

const LINK_STATES: readonly LinkState[] = ['connecting', 'online', 'offline', 'closed'];
const VERDICT_KINDS = ['ok', 'reject', 'error', 'dropped'] as const;
const BATCHING_COUNTERS: readonly (readonly [string, string, keyof BatchingSnapshot])[] = [
  ['linewatch_batches_total', 'Batches formed in front of the model (area-scan)', 'batches'],
  ['linewatch_batch_frames_total', 'Frames in those batches', 'batchedFrames'],
  ['linewatch_batches_mixed_total', 'Batches holding frames of more than one camera', 'mixedBatches'],
  ['linewatch_model_runs_total', 'session.run calls', 'runs'],
  ['linewatch_model_padded_runs_total', 'Runs of a fixed-batch model padded up to its batch', 'paddedRuns'],
  ['linewatch_model_padded_images_total', 'Zero images added by that padding', 'paddedImages'],
  ['linewatch_model_split_batches_total', 'Batches larger than a fixed-batch model takes, split into several runs', 'splitBatches'],
];
// Milliseconds: from a fast GPU model (a few ms) to an overloaded CPU one.
const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** A counter whose value is read from a snapshot at scrape time (the source owns the count). */
function snapshotCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * Prometheus metrics of one station: frames, verdicts by kind, latencies, queue depths, broker
 * state. Counts are read from their owners at scrape time; latencies are observed per verdict.
 */
export class StationMetrics {
  readonly registry: Registry;
  private readonly sub: Subscription;

  constructor(src: MetricsSources) {
    const registry = new Registry();
    this.registry = registry;
    const counters = (): Record<string, number> => readCounters(src.station.counters());
    snapshotCounter(registry, 'linewatch_frames_received_total', 'Frames that entered the pipeline', () => counters()['received'] ?? 0);
    new Counter({
      name: 'linewatch_verdicts_total',
      help: 'Verdicts by kind',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        const c = counters();
        for (const k of VERDICT_KINDS) this.inc({ kind: k }, c[k] ?? 0);
      },
    });
    new Counter({
      name: 'linewatch_camera_frames_received_total',
      help: 'Frames that entered the pipeline, per camera',
      labelNames: ['camera'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [camera, c] of Object.entries(src.station.counters().cameras ?? {})) this.inc({ camera }, c.received);
      },
    });
    new Counter({
      name: 'linewatch_camera_verdicts_total',
      help: 'Verdicts by camera and kind (dropped: that camera\'s own queue was full)',
      labelNames: ['camera', 'kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [camera, c] of Object.entries(src.station.counters().cameras ?? {})) {
          for (const k of VERDICT_KINDS) this.inc({ camera, kind: k }, c[k]);
        }
      },
    });
    const batching = src.station.batching?.bind(src.station);
    if (batching !== undefined) {
      for (const [name, help, key] of BATCHING_COUNTERS) snapshotCounter(registry, name, help, () => batching()[key]);
    }
    new Gauge({
      name: 'linewatch_frames_in_flight',
      help: 'Frames received and not yet judged',
      registers: [registry],
      collect() {
        this.set(counters()['inFlight'] ?? 0);
      },
    });
    const latency = new Histogram({
      name: 'linewatch_latency_ms',
      help: 'Per-frame latency by stage, milliseconds',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS_MS,
      registers: [registry],
    });
    new Gauge({
      name: 'linewatch_mqtt_outbox_depth',
      help: 'QoS 1 messages waiting for the broker or its acknowledgement',
      registers: [registry],
      collect() {
        this.set(src.link.counters().outbox.depth);
      },
    });
    new Gauge({
      name: 'linewatch_mqtt_state',
      help: 'Broker link state (1 = current)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const s = src.link.counters().state;
        for (const st of LINK_STATES) this.set({ state: st }, st === s ? 1 : 0);
      },
    });
    snapshotCounter(registry, 'linewatch_mqtt_rejects_total', 'Reject signals published or queued', () => src.publisher.counters().rejects);
    snapshotCounter(registry, 'linewatch_mqtt_rejects_late_total', 'Rejects that missed their deadline (sent on result as late)', () => src.publisher.counters().late);
    snapshotCounter(registry, 'linewatch_mqtt_outbox_expired_total', 'Queued messages dropped at their deadline', () => src.link.counters().outbox.expired);
    snapshotCounter(registry, 'linewatch_mqtt_outbox_dropped_full_total', 'Messages dropped because the outbox was full', () => src.link.counters().outbox.droppedFull);
    snapshotCounter(registry, 'linewatch_mqtt_disconnects_total', 'Broker connections lost', () => src.link.counters().disconnects);

    this.sub = src.station.verdicts$.subscribe({
      next: (v) => {
        const t = v.timings;
        latency.observe({ stage: 'total' }, t.totalMs);
        latency.observe({ stage: 'infer' }, t.inferMs);
        latency.observe({ stage: 'capture_to_infer' }, t.captureToInferMs);
        latency.observe({ stage: 'post' }, t.postMs);
      },
    });
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
