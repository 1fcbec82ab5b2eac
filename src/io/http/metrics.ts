import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observable, Subscription } from 'rxjs';
import type { Verdict } from '../../pipeline/verdict.js';
import type { LinkCounters, LinkState } from '../mqtt/link.js';
import type { PublisherCounters } from '../mqtt/publisher.js';
import { readCounters, type StationPort } from '../mqtt/station-port.js';

export interface MetricsSources {
  readonly station: Pick<StationPort, 'verdicts$' | 'counters'>;
  readonly link: { counters(): LinkCounters };
  readonly publisher: { counters(): PublisherCounters };
}

const LINK_STATES: readonly LinkState[] = ['connecting', 'online', 'offline', 'closed'];
const VERDICT_KINDS = ['ok', 'reject', 'error', 'dropped'] as const;
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
