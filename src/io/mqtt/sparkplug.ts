import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sparkplug from 'sparkplug-payload';
import SparkplugProto from 'sparkplug-payload/lib/sparkplugPayloadProto.js';
import { writeFileDurably } from '../../config/remote/persist.js';
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
/** The Tahu protobuf types under sparkplug-payload: NDATA is written with them (no datatypes) and NCMD read with them. */
const Proto = SparkplugProto.org.eclipse.tahu.protobuf;

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

/** One metric as linewatch reports it: its Sparkplug datatype (said in NBIRTH only) and value. */
interface NodeMetric {
  readonly name: string;
  readonly type: 'String' | 'Int64' | 'UInt64' | 'Double' | 'Boolean';
  readonly value: string | number | boolean;
}

/** The status report as Sparkplug metrics: numbers as UInt64/Double, the rest as strings; rates from the node's own window. */
function statusMetrics(status: StatusReporter, rates: RateWindow, nowMs: number): NodeMetric[] {
  const r = status.report('online');
  const rate = rates.sample(r.counters['received'] ?? 0, status.rejectsSent(), nowMs);
  const metrics: NodeMetric[] = [
    { name: 'Health/State', type: 'String', value: r.health.state },
    { name: 'Health/Reasons', type: 'String', value: r.health.reasons.join('; ') },
    { name: 'Model/Version', type: 'String', value: r.model.version ?? '' },
    { name: 'Model/SHA256', type: 'String', value: r.model.sha256 ?? '' },
    { name: 'Config/Version', type: 'Int64', value: r.config.version },
    { name: 'Rates/FramesPerS', type: 'Double', value: rate.framesPerS },
    { name: 'Rates/RejectsPerS', type: 'Double', value: rate.rejectsPerS },
  ];
  for (const [k, v] of Object.entries(r.counters)) metrics.push({ name: `Counters/${k}`, type: 'UInt64', value: v });
  return metrics;
}

/**
 * NDATA: the metrics with their values and no datatype (Sparkplug B 3.0: the datatype is declared
 * in NBIRTH and SHOULD NOT be repeated in NDATA). Written with the Tahu protobuf types directly,
 * because sparkplug-payload always writes one.
 */
export function encodeNdata(timestampMs: number, seq: number, metrics: readonly NodeMetric[]): Buffer {
  const list = metrics.map((m) => {
    const base = { name: m.name, timestamp: timestampMs };
    switch (m.type) {
      case 'String':
        return Proto.Payload.Metric.create({ ...base, stringValue: String(m.value) });
      case 'Boolean':
        return Proto.Payload.Metric.create({ ...base, booleanValue: Boolean(m.value) });
      case 'Double':
        return Proto.Payload.Metric.create({ ...base, doubleValue: Number(m.value) });
      default:
        return Proto.Payload.Metric.create({ ...base, longValue: Number(m.value) });
    }
  });
  return Buffer.from(Proto.Payload.encode(Proto.Payload.create({ timestamp: timestampMs, seq, metrics: list })).finish());
}

/**
 * Whether an NCMD asks for a rebirth: a metric `Node Control/Rebirth` whose boolean value is true,
 * with or without a datatype (Sparkplug B 3.0 recommends none in NCMD).
 */
export function asksRebirth(payload: Uint8Array): boolean {
  let decoded;
  try {
    decoded = Proto.Payload.decode(payload);
  } catch {
    return false; // not a Sparkplug payload: nothing to obey
  }
  return decoded.metrics.some((m) => m.name === 'Node Control/Rebirth' && m.booleanValue === true);
}

/** Frames and rejects per second over the time since this window's previous sample. */
export class RateWindow {
  private lastAtMs: number;
  private lastReceived: number | null = null;
  private lastRejects = 0;

  constructor(nowMs: number) {
    this.lastAtMs = nowMs;
  }

  sample(received: number, rejects: number, nowMs: number): { framesPerS: number; rejectsPerS: number } {
    const dtS = Math.max(1e-3, (nowMs - this.lastAtMs) / 1000);
    // The first sample counts from the window's creation, with the totals then taken as zero.
    const r0 = this.lastReceived ?? 0;
    const out = {
      framesPerS: Math.round(((received - r0) / dtS) * 100) / 100,
      rejectsPerS: Math.round(((rejects - this.lastRejects) / dtS) * 100) / 100,
    };
    this.lastAtMs = nowMs;
    this.lastReceived = received;
    this.lastRejects = rejects;
    return out;
  }
}

const BDSEQ_FILE = 'sparkplug-bdseq.json';

/** The next session's bdSeq, kept in the state folder so that a restarted node never reuses one (Sparkplug B 3.0). */
function readBdSeq(stateDir: string | undefined): number {
  if (stateDir === undefined) return 0;
  try {
    const v = (JSON.parse(readFileSync(join(stateDir, BDSEQ_FILE), 'utf8')) as { next?: unknown }).next;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256 ? v : 0;
  } catch {
    return 0;
  }
}

function writeBdSeq(stateDir: string | undefined, next: number): void {
  if (stateDir === undefined) return;
  try {
    writeFileDurably(join(stateDir, BDSEQ_FILE), `${JSON.stringify({ next })}\n`);
  } catch {
    // Not fatal: a reused bdSeq after a crash only makes a host application wait for the next birth.
  }
}

export interface SparkplugNodeOptions {
  readonly url: string;
  readonly clientId: string;
  readonly mqtt: MqttConfig;
  readonly credentials: BrokerCredentials;
  readonly status: StatusReporter;
  readonly clock: Clock;
  /** Where bdSeq is kept across restarts (mqtt.remoteConfig.stateDir). Absent: each process starts at 0. */
  readonly stateDir?: string;
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
  private readonly stateDir: string | undefined;
  /** Rates of NDATA over NDATA's own heartbeat, whatever …/status reads meanwhile. */
  private readonly rates: RateWindow;

  constructor(opts: SparkplugNodeOptions) {
    const m = opts.mqtt;
    this.topics = sparkplugTopics(m.sparkplug.group, m.sparkplug.node ?? m.station);
    this.status = opts.status;
    this.clock = opts.clock;
    this.heartbeatMs = m.status.heartbeatMs;
    this.stateDir = opts.stateDir;
    this.nextBdSeq = readBdSeq(opts.stateDir);
    this.rates = new RateWindow(opts.clock.nowMs());
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
        writeBdSeq(this.stateDir, this.nextBdSeq);
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
      if (topic === this.topics.ncmd && asksRebirth(payload)) this.birth();
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
      ...statusMetrics(this.status, this.rates, now).map((x) => ({ ...x, timestamp: now })),
    ];
    this.link.publishVolatile({ topic: this.topics.nbirth, payload: encodeSparkplug({ timestamp: now, seq: this.nextSeq(), metrics }), retain: false });
  }

  private data(): void {
    const now = this.clock.nowMs();
    this.link.publishVolatile({ topic: this.topics.ndata, payload: encodeNdata(now, this.nextSeq(), statusMetrics(this.status, this.rates, now)), retain: false });
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }
}
