import { ejects } from '../../pipeline/decide.js';
import type { Verdict } from '../../pipeline/verdict.js';
import type { Clock } from './clock.js';
import type { MqttLink } from './link.js';
import { deadlineOf, rejectPayload, resultPayload } from './messages.js';
import type { MqttConfig } from './schema.js';
import type { Topics } from './topics.js';

export interface PublisherCounters {
  /** Reject signals handed to the link (queued or sent). */
  readonly rejects: number;
  /** Reject signals the full outbox refused (overflow drop-newest). */
  readonly rejectsRefusedFull: number;
  /** Parts that should have been ejected but whose verdict came after the deadline: on …/result as late. */
  readonly late: number;
  readonly results: number;
  readonly heatmaps: number;
  readonly heatmapsSkipped: number;
}

/**
 * Verdicts → …/reject, …/result, …/heatmap. Decides per verdict with no allocation beyond the
 * payload strings; publishing options are swapped whole by `reconfigure` (hot).
 */
export class VerdictPublisher {
  private readonly link: MqttLink;
  private readonly topics: Topics;
  private readonly clock: Clock;
  private cfg: Pick<MqttConfig, 'reject' | 'result' | 'heatmap'>;
  private rejects = 0;
  private rejectsRefusedFull = 0;
  private late = 0;
  private results = 0;
  private sampleCountdown = 0;
  private heatmaps = 0;
  private heatmapsSkipped = 0;
  private lastHeatmapAtMs = Number.NEGATIVE_INFINITY;

  constructor(link: MqttLink, topics: Topics, cfg: Pick<MqttConfig, 'reject' | 'result' | 'heatmap'>, clock: Clock) {
    this.link = link;
    this.topics = topics;
    this.cfg = cfg;
    this.clock = clock;
  }

  reconfigure(cfg: Pick<MqttConfig, 'reject' | 'result' | 'heatmap'>): void {
    this.cfg = cfg;
  }

  publish(v: Verdict): void {
    const deadline = deadlineOf(v, this.cfg.reject.deadlineMs);
    let late = false;
    if (ejects(v)) {
      if (this.clock.nowMs() < deadline) {
        this.rejects++;
        const ok = this.link.publishReliable({ topic: this.topics.reject, payload: rejectPayload(v, deadline), retain: false }, deadline);
        if (!ok) this.rejectsRefusedFull++;
      } else {
        // Too late to eject this part: a reject now would hit whatever part is at the ejector.
        late = true;
        this.late++;
      }
    }
    const every = this.cfg.result.sampleEvery;
    let sampled = false;
    if (every > 0) {
      if (this.sampleCountdown <= 0) {
        sampled = true;
        this.sampleCountdown = every;
      }
      this.sampleCountdown--;
    }
    if (!(sampled || late || v.verdict !== 'ok')) return;
    this.results++;
    const msg = { topic: this.topics.result, payload: resultPayload(v, deadline, late), retain: false };
    if (this.cfg.result.qos === 1) this.link.publishReliable(msg, null);
    else this.link.publishVolatile(msg);
  }

  /**
   * Whether a heatmap may go out now (enabled, and heatmap.maxPerSecond not reached). Ask before
   * rendering one: rendering is the expensive part. A `false` while enabled is counted as skipped.
   */
  takeHeatmapSlot(): boolean {
    if (!this.cfg.heatmap.enabled) return false;
    const now = this.clock.nowMs();
    if (now - this.lastHeatmapAtMs < 1000 / this.cfg.heatmap.maxPerSecond) {
      this.heatmapsSkipped++;
      return false;
    }
    this.lastHeatmapAtMs = now;
    return true;
  }

  /** An overlay JPEG (raw bytes) rendered after `takeHeatmapSlot()` said yes. */
  publishHeatmap(jpeg: Buffer): void {
    this.heatmaps++;
    this.link.publishVolatile({ topic: this.topics.heatmap, payload: jpeg, retain: false });
  }

  counters(): PublisherCounters {
    return {
      rejects: this.rejects,
      rejectsRefusedFull: this.rejectsRefusedFull,
      late: this.late,
      results: this.results,
      heatmaps: this.heatmaps,
      heatmapsSkipped: this.heatmapsSkipped,
    };
  }
}
