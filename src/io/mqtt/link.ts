import { EventEmitter } from 'node:events';
import mqtt from 'mqtt';
import type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
import { errorMessage } from '../../errors.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import type { BrokerCredentials } from './credentials.js';
import { Outbox, type OutboxCounters, type OutboxMessage } from './outbox.js';

/**
 * One connection to the broker, kept alive across broker restarts. A fresh mqtt.js client is made
 * for every attempt (reconnectPeriod 0): retries follow our backoff with jitter, and QoS 1
 * messages stay in our bounded outbox until PUBACK, so that on reconnect we resend exactly what is
 * unacknowledged and still before its deadline, with the expiry recomputed.
 */
export type LinkState = 'connecting' | 'online' | 'offline' | 'closed';

export interface OutgoingMessage {
  readonly topic: string;
  /** JSON text, or bytes (Sparkplug protobuf). */
  readonly payload: string | Buffer;
  readonly retain: boolean;
}

export interface LinkOptions {
  readonly url: string;
  readonly clientId: string;
  /** 5 first; 4 (3.1.1) when the broker refuses 5. */
  readonly protocolVersion: 5 | 4;
  readonly keepaliveS: number;
  readonly connectTimeoutMs: number;
  readonly credentials: BrokerCredentials;
  readonly reconnect: BackoffOptions;
  readonly outbox: Outbox;
  /** Last will, asked for at every connect: published by the broker when we vanish. */
  readonly will: () => OutgoingMessage;
  /** Published (QoS 1) right after every connect, before the outbox is flushed: retained status, config state. */
  readonly onConnectMessages: () => readonly OutgoingMessage[];
  readonly subscriptions: readonly string[];
  readonly clock: Clock;
  /** Default Math.random. */
  readonly random?: () => number;
}

export interface LinkCounters {
  readonly state: LinkState;
  readonly protocolVersion: 5 | 4;
  readonly connects: number;
  readonly disconnects: number;
  /** QoS 0 messages not sent because the broker was away (queueQoSZero is false on purpose). */
  readonly qos0DroppedOffline: number;
  readonly outbox: OutboxCounters;
}

export interface LinkEvents {
  state: [LinkState];
  message: [topic: string, payload: Buffer];
  error: [Error];
}

// mqtt v3 CONNACK return code 1 and v5 reason code 0x84: the broker does not speak our protocol.
const UNSUPPORTED_PROTOCOL = new Set([1, 0x84]);

export class MqttLink extends EventEmitter<LinkEvents> {
  private readonly opts: LinkOptions;
  private readonly random: () => number;
  private stateValue: LinkState;
  private protocol: 5 | 4;
  private client: MqttClient | null;
  /** Bumped for every client: callbacks of an older client are ignored. */
  private generation: number;
  private attempt: number;
  private retryTimer: TimerHandle | null;
  /** Outbox ids written on the current connection and not yet acknowledged. */
  private readonly inflight: Set<number>;
  private nextId: number;
  private connects: number;
  private disconnects: number;
  private qos0DroppedOffline: number;
  /** The next retry skips the backoff (protocol fallback). */
  private retryNow: boolean;

  constructor(opts: LinkOptions) {
    super();
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.stateValue = 'offline';
    this.protocol = opts.protocolVersion;
    this.client = null;
    this.generation = 0;
    this.attempt = 0;
    this.retryTimer = null;
    this.inflight = new Set();
    // A durable outbox may hold messages from before a restart: new ids continue after theirs.
    let maxId = 0;
    for (const m of opts.outbox.pending()) if (m.id > maxId) maxId = m.id;
    this.nextId = maxId + 1;
    this.connects = 0;
    this.disconnects = 0;
    this.qos0DroppedOffline = 0;
    this.retryNow = false;
    // An 'error' without a listener would throw; errors are reported, never fatal here.
    this.on('error', () => {});
  }

  get state(): LinkState {
    return this.stateValue;
  }

  /** Starts connecting; returns at once. Use `whenOnline()` to wait. */
  start(): void {
    if (this.stateValue === 'closed' || this.client !== null) return;
    this.connectNow();
  }

  /** Resolves at the next (or current) online state; rejects after `timeoutMs`. */
  whenOnline(timeoutMs: number): Promise<void> {
    if (this.stateValue === 'online') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(new Error(`MQTT broker ${this.opts.url} not reached within ${timeoutMs} ms`));
      }, timeoutMs);
      const onState = (s: LinkState): void => {
        if (s !== 'online') return;
        clearTimeout(timer);
        this.off('state', onState);
        resolve();
      };
      this.on('state', onState);
    });
  }

  /**
   * QoS 1, kept until acknowledged. `expiresAtMs` (wall) becomes the MQTT 5 message expiry and
   * drops the message from the outbox once passed. Returns false when the outbox refused it (full).
   */
  publishReliable(msg: OutgoingMessage, expiresAtMs: number | null): boolean {
    const entry: OutboxMessage = { id: this.nextId++, topic: msg.topic, payload: msg.payload, retain: msg.retain, expiresAtMs };
    const res = this.opts.outbox.offer(entry);
    if (res === 'refused-full') return false;
    if (this.stateValue === 'online') this.send(entry);
    return true;
  }

  /** QoS 0: sent only while online, otherwise counted and forgotten. */
  publishVolatile(msg: OutgoingMessage): void {
    const client = this.client;
    if (this.stateValue !== 'online' || client === null) {
      this.qos0DroppedOffline++;
      return;
    }
    client.publish(msg.topic, msg.payload, { qos: 0, retain: msg.retain });
  }

  counters(): LinkCounters {
    return {
      state: this.stateValue,
      protocolVersion: this.protocol,
      connects: this.connects,
      disconnects: this.disconnects,
      qos0DroppedOffline: this.qos0DroppedOffline,
      outbox: this.opts.outbox.counters(),
    };
  }

  /**
   * Publishes `farewell` (e.g. the retained offline status) when online, disconnects cleanly (so
   * the broker does not send the will), and stops retrying. Waits at most `timeoutMs`.
   */
  async close(farewell: OutgoingMessage | null, timeoutMs = 2_000): Promise<void> {
    if (this.stateValue === 'closed') return;
    const client = this.client;
    const wasOnline = this.stateValue === 'online';
    this.setState('closed');
    if (this.retryTimer !== null) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.client = null;
    if (client === null) return;
    if (!wasOnline) {
      // Nothing to say goodbye to: drop the attempt in progress at once.
      client.end(true);
      return;
    }
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    if (farewell !== null) {
      const sent = new Promise<void>((resolve) => {
        client.publish(farewell.topic, farewell.payload, { qos: 1, retain: farewell.retain }, () => resolve());
      });
      await Promise.race([sent, deadline]);
    }
    await Promise.race([client.endAsync(false).catch(() => undefined), deadline]);
    client.end(true);
  }

  private setState(next: LinkState): void {
    if (this.stateValue === next) return;
    this.stateValue = next;
    this.emit('state', next);
  }

  private connectNow(): void {
    this.retryTimer = null;
    const gen = ++this.generation;
    const o = this.opts;
    const c = o.credentials;
    const will = o.will();
    this.setState('connecting');
    const options: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: this.protocol,
      keepalive: o.keepaliveS,
      connectTimeout: o.connectTimeoutMs,
      reconnectPeriod: 0,
      clean: true,
      queueQoSZero: false,
      will: { topic: will.topic, payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload, qos: 1, retain: will.retain },
      rejectUnauthorized: c.rejectUnauthorized,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.ca !== undefined ? { ca: c.ca } : {}),
      ...(c.cert !== undefined ? { cert: c.cert } : {}),
      ...(c.key !== undefined ? { key: c.key } : {}),
    };
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.on('connect', () => {
      if (gen !== this.generation || this.stateValue === 'closed') return;
      this.onConnected(client);
    });
    client.on('message', (topic, payload) => {
      if (gen === this.generation) this.emit('message', topic, payload);
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (gen !== this.generation) return;
      if (this.protocol === 5 && typeof err.code === 'number' && UNSUPPORTED_PROTOCOL.has(err.code)) {
        // Not a fault: the broker speaks 3.1.1. Retry at once in it, no backoff, no error.
        this.protocol = 4;
        this.retryNow = true;
        return;
      }
      this.emit('error', new Error(`MQTT ${o.url}: ${errorMessage(err)}`, { cause: err }));
    });
    client.on('close', () => {
      if (gen !== this.generation || this.stateValue === 'closed') return;
      this.onLost(client);
    });
  }

  private onConnected(client: MqttClient): void {
    this.attempt = 0;
    this.connects++;
    this.inflight.clear();
    if (this.opts.subscriptions.length > 0) client.subscribe([...this.opts.subscriptions], { qos: 1 });
    this.setState('online');
    // Expired messages go before the birth status is built, so that it counts them.
    this.opts.outbox.pruneExpired(this.opts.clock.nowMs());
    const birth = this.opts.onConnectMessages();
    for (let i = 0; i < birth.length; i++) {
      const m = birth[i] as OutgoingMessage;
      client.publish(m.topic, m.payload, { qos: 1, retain: m.retain });
    }
    this.flush();
  }

  private onLost(client: MqttClient): void {
    // mqtt.js may report 'close' more than once per client: one retry per lost client, no more.
    if (this.client !== client) return;
    if (this.stateValue === 'online') this.disconnects++;
    this.inflight.clear();
    this.client = null;
    client.end(true);
    this.setState('offline');
    const delay = this.retryNow ? 0 : backoffDelayMs(this.attempt++, this.opts.reconnect, this.random);
    this.retryNow = false;
    this.retryTimer = this.opts.clock.setTimeout(() => {
      if (this.stateValue !== 'closed') this.connectNow();
    }, delay);
  }

  /** Sends everything in the outbox not yet written on this connection, dropping the expired. */
  private flush(): void {
    this.opts.outbox.pruneExpired(this.opts.clock.nowMs());
    for (const entry of this.opts.outbox.pending()) {
      if (this.stateValue !== 'online') return;
      if (!this.inflight.has(entry.id)) this.send(entry);
    }
  }

  private send(entry: OutboxMessage): void {
    const client = this.client;
    if (client === null) return;
    const gen = this.generation;
    const pubOpts: IClientPublishOptions = { qos: 1, retain: entry.retain };
    if (entry.expiresAtMs !== null) {
      const leftMs = entry.expiresAtMs - this.opts.clock.nowMs();
      if (leftMs <= 0) {
        this.opts.outbox.pruneExpired(this.opts.clock.nowMs());
        return;
      }
      // MQTT 5 expiry is in whole seconds: round up so a broker never drops a message still in time;
      // the payload's deadlineMs is the exact figure for the receiver.
      if (this.protocol === 5) pubOpts.properties = { messageExpiryInterval: Math.ceil(leftMs / 1000) };
    }
    this.inflight.add(entry.id);
    client.publish(entry.topic, entry.payload, pubOpts, (err) => {
      if (gen !== this.generation) return;
      this.inflight.delete(entry.id);
      if (err === undefined || err === null) this.opts.outbox.ack(entry.id);
    });
  }
}
