import sparkplug from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { Clock, TimerHandle } from './clock.js';
import type { BrokerCredentials } from './credentials.js';
import { MqttLink } from './link.js';
import { MemoryOutboxStore, Outbox } from './outbox.js';
import type { MqttConfig } from './schema.js';
import type { StatusReporter } from './status.js';

/**
 * Sparkplug B edge node for SCADA systems that speak it (Ignition, …): NBIRTH at every connect,
 * NDATA with the counters and health every heartbeat, NDEATH as the last will and at shutdown,
 * and a rebirth on `Node Control/Rebirth`. Its own MQTT connection, because the Sparkplug NDEATH
 * must be the will of the session that published the NBIRTH, and …/status already is ours.
 */

const codec = sparkplug.get('spBv1.0');

export interface SparkplugTopics {
  readonly nbirth: string;
  readonly ndata: string;
  readonly ndeath: string;
  readonly ncmd: string;
}

export function sparkplugTopics(group: string, node: string): SparkplugTopics {
  const t = (kind: string): string => `spBv1.0/${group}/${kind}/${node}`;
  return { nbirth: t('NBIRTH'), ndata: t('NDATA'), ndeath: t('NDEATH'), ncmd: t('NCMD') };
}

export function encodeSparkplug(payload: UPayload): Buffer {
  if (codec === null) throw new Error('sparkplug-payload has no spBv1.0 codec');
  return Buffer.from(codec.encodePayload(payload));
}

export function decodeSparkplug(bytes: Uint8Array): UPayload {
  if (codec === null) throw new Error('sparkplug-payload has no spBv1.0 codec');
  return codec.decodePayload(bytes);
}

/** The status report as Sparkplug metrics: numbers as UInt64/Double, the rest as strings. */
function statusMetrics(status: StatusReporter, nowMs: number): UMetric[] {
  const r = status.report('online');
  const metrics: UMetric[] = [
    { name: 'Health/State', type: 'String', value: r.health.state, timestamp: nowMs },
    { name: 'Health/Reasons', type: 'String', value: r.health.reasons.join('; '), timestamp: nowMs },
    { name: 'Model/Version', type: 'String', value: r.model.version ?? '', timestamp: nowMs },
    { name: 'Model/SHA256', type: 'String', value: r.model.sha256 ?? '', timestamp: nowMs },
    { name: 'Config/Version', type: 'Int64', value: r.config.version, timestamp: nowMs },
    { name: 'Rates/FramesPerS', type: 'Double', value: r.rates.framesPerS, timestamp: nowMs },
    { name: 'Rates/RejectsPerS', type: 'Double', value: r.rates.rejectsPerS, timestamp: nowMs },
  ];
  for (const [k, v] of Object.entries(r.counters)) metrics.push({ name: `Counters/${k}`, type: 'UInt64', value: v, timestamp: nowMs });
  return metrics;
}

export interface SparkplugNodeOptions {
  readonly url: string;
  readonly clientId: string;
  readonly mqtt: MqttConfig;
  readonly credentials: BrokerCredentials;
  readonly status: StatusReporter;
  readonly clock: Clock;
}

export class SparkplugNode {
  readonly topics: SparkplugTopics;
  readonly link: MqttLink;
  private readonly status: StatusReporter;
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  /** Birth/death sequence of the current session: its NDEATH will and its NBIRTH carry the same. */
  private sessionBdSeq = 0;
  private nextBdSeq = 0;
  /** Message sequence 0..255, reset by every NBIRTH. */
  private seq = 0;
  private timer: TimerHandle | null = null;

  constructor(opts: SparkplugNodeOptions) {
    const m = opts.mqtt;
    this.topics = sparkplugTopics(m.sparkplug.group, m.sparkplug.node ?? m.station);
    this.status = opts.status;
    this.clock = opts.clock;
    this.heartbeatMs = m.status.heartbeatMs;
    this.link = new MqttLink({
      url: opts.url,
      clientId: opts.clientId,
      // Sparkplug B 3.0 is specified on MQTT 3.1.1 semantics; 5 works too but buys nothing here.
      protocolVersion: m.protocolVersion,
      keepaliveS: m.keepaliveS,
      connectTimeoutMs: m.connectTimeoutMs,
      credentials: opts.credentials,
      reconnect: m.reconnect,
      outbox: new Outbox(new MemoryOutboxStore(), { maxMessages: 16, overflow: 'drop-oldest' }),
      will: () => {
        // Asked once per connection attempt: each session gets the next bdSeq.
        this.sessionBdSeq = this.nextBdSeq;
        this.nextBdSeq = (this.nextBdSeq + 1) % 256;
        return { topic: this.topics.ndeath, payload: this.deathPayload(), retain: false };
      },
      onConnectMessages: () => [],
      subscriptions: [this.topics.ncmd],
      clock: opts.clock,
    });
    this.link.on('state', (s) => {
      if (s === 'online') this.birth();
    });
    this.link.on('message', (topic, payload) => {
      if (topic === this.topics.ncmd) this.onCommand(payload);
    });
  }

  start(): void {
    this.link.start();
    const tick = (): void => {
      if (this.link.state === 'online') this.data();
      this.timer = this.clock.setTimeout(tick, this.heartbeatMs);
    };
    this.timer = this.clock.setTimeout(tick, this.heartbeatMs);
  }

  /** NDEATH (as the spec asks of a clean shutdown), then disconnect. */
  async close(): Promise<void> {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.link.close({ topic: this.topics.ndeath, payload: this.deathPayload(), retain: false });
  }

  private deathPayload(): Buffer {
    return encodeSparkplug({ timestamp: this.clock.nowMs(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.sessionBdSeq }] });
  }

  private birth(): void {
    const now = this.clock.nowMs();
    this.seq = 0;
    const metrics: UMetric[] = [
      { name: 'bdSeq', type: 'UInt64', value: this.sessionBdSeq, timestamp: now },
      { name: 'Node Control/Rebirth', type: 'Boolean', value: false, timestamp: now },
      ...statusMetrics(this.status, now),
    ];
    this.link.publishVolatile({ topic: this.topics.nbirth, payload: encodeSparkplug({ timestamp: now, seq: this.nextSeq(), metrics }), retain: false });
  }

  private data(): void {
    const now = this.clock.nowMs();
    this.link.publishVolatile({ topic: this.topics.ndata, payload: encodeSparkplug({ timestamp: now, seq: this.nextSeq(), metrics: statusMetrics(this.status, now) }), retain: false });
  }

  private onCommand(payload: Buffer): void {
    let decoded: UPayload;
    try {
      decoded = decodeSparkplug(payload);
    } catch {
      return; // not a Sparkplug payload: nothing to obey
    }
    const rebirth = decoded.metrics?.some((m) => m.name === 'Node Control/Rebirth' && m.value === true) ?? false;
    if (rebirth) this.birth();
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }
}
