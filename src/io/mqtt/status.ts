import type { Clock, TimerHandle } from './clock.js';
import type { MqttLink, OutgoingMessage } from './link.js';
import { statusPayload, type ConfigStatus, type StatusReport } from './messages.js';
import type { PublisherCounters } from './publisher.js';
import { readCounters, type StationPort } from './station-port.js';
import type { StationHealth } from '../../pipeline/station.js';

export interface StatusSources {
  readonly station: Pick<StationPort, 'counters' | 'health'>;
  readonly publisher: { counters(): PublisherCounters };
  readonly link: MqttLink;
  readonly config: () => ConfigStatus;
}

/**
 * The retained …/status: built on demand (birth message on every connect, heartbeat, shutdown).
 * Rates are frames and rejects per second since the previous report.
 */
export class StatusReporter {
  private readonly src: StatusSources;
  private readonly topic: string;
  private readonly clock: Clock;
  private heartbeatMs: number;
  private timer: TimerHandle | null = null;
  private lastAtMs: number;
  private lastReceived = 0;
  private lastRejects = 0;

  constructor(src: StatusSources, topic: string, heartbeatMs: number, clock: Clock) {
    this.src = src;
    this.topic = topic;
    this.heartbeatMs = heartbeatMs;
    this.clock = clock;
    this.lastAtMs = clock.nowMs();
  }

  /**
   * The current report. Rates cover the time since the last published status; only publishing
   * (`message`) starts a new window, so /healthz and Sparkplug reads do not disturb them.
   */
  report(state: 'online' | 'offline', advanceRates = false): StatusReport {
    const now = this.clock.nowMs();
    const counters = readCounters(this.src.station.counters());
    const health = this.src.station.health();
    const link = this.src.link.counters();
    const pub = this.src.publisher.counters();
    const reasons = [...health.reasons];
    if (link.outbox.depth > 0 && link.state !== 'online') reasons.push(`broker away: ${link.outbox.depth} QoS 1 messages waiting`);
    if (pub.late > 0) reasons.push(`${pub.late} rejects missed their deadline`);
    if (link.outbox.expired > 0) reasons.push(`${link.outbox.expired} queued messages expired before the broker took them`);
    if (link.outbox.droppedFull > 0) reasons.push(`${link.outbox.droppedFull} messages dropped: outbox full`);
    const received = counters['received'] ?? 0;
    const dtS = Math.max(1e-3, (now - this.lastAtMs) / 1000);
    const rates = {
      framesPerS: Math.round(((received - this.lastReceived) / dtS) * 100) / 100,
      rejectsPerS: Math.round(((pub.rejects - this.lastRejects) / dtS) * 100) / 100,
    };
    if (advanceRates) {
      this.lastAtMs = now;
      this.lastReceived = received;
      this.lastRejects = pub.rejects;
    }
    const cfg = this.src.config();
    return {
      state,
      atMs: now,
      health: { state: reasons.length === 0 ? 'ok' : 'degraded', reasons },
      model: {
        version: health.model.version,
        sha256: health.model.sha256,
        provider: health.model.provider,
        fallbacks: health.model.fallbacks,
        tensorrtEngine: health.model.tensorrtEngine?.state ?? null,
        batchSize: health.model.batch.size,
        batchSizeBy: health.model.batch.by,
      },
      cameras: health.cameras.map((c) => ({ id: c.id, state: c.health.state, losses: c.losses ?? null, product: productStatus(c.product) })),
      config: cfg,
      rates,
      counters,
      mqtt: {
        state: link.state,
        protocolVersion: link.protocolVersion,
        connects: link.connects,
        disconnects: link.disconnects,
        outboxDepth: link.outbox.depth,
        outboxExpired: link.outbox.expired,
        outboxDroppedFull: link.outbox.droppedFull,
        qos0DroppedOffline: link.qos0DroppedOffline,
        rejects: pub.rejects,
        late: pub.late,
        results: pub.results,
      },
    };
  }

  /** Reject signals handed to the link so far (for rates kept elsewhere, e.g. Sparkplug's). */
  rejectsSent(): number {
    return this.src.publisher.counters().rejects;
  }

  message(state: 'online' | 'offline'): OutgoingMessage {
    return { topic: this.topic, payload: statusPayload(this.report(state, true)), retain: true };
  }

  /** Republishes the retained status every heartbeatMs while online. */
  start(): void {
    this.stop();
    const tick = (): void => {
      if (this.src.link.state === 'online') this.src.link.publishVolatile(this.message('online'));
      this.timer = this.clock.setTimeout(tick, this.heartbeatMs);
    };
    this.timer = this.clock.setTimeout(tick, this.heartbeatMs);
  }

  setHeartbeatMs(ms: number): void {
    this.heartbeatMs = ms;
    if (this.timer !== null) this.start();
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A camera's product as …/status reports it (docs/mqtt.md). */
function productStatus(p: StationHealth['cameras'][number]['product']): StatusReport['cameras'][number]['product'] {
  return p === null ? null : { name: p.product, by: p.origin, sinceMs: p.sinceMs, known: p.known };
}
