/**
 * The offline outbox: QoS 1 messages wait here from the moment they are produced until the broker
 * acknowledges them (PUBACK), so that a lost connection loses nothing that is still worth sending.
 * Bounded: the overflow policy decides what goes when it is full, and everything that goes is counted.
 */

export interface OutboxMessage {
  /** Unique and increasing per process; not the MQTT packet id (that one is per connection). */
  readonly id: number;
  readonly topic: string;
  readonly payload: string | Buffer;
  readonly retain: boolean;
  /** Wall time after which the message is worthless (the ejector has passed); null = never. */
  readonly expiresAtMs: number | null;
}

/**
 * Where waiting messages live. Implementations keep insertion order; the `Outbox` above them owns
 * the policy (capacity, overflow, expiry). Every implementation passes test/io/mqtt/outbox-store.contract.ts.
 */
export interface OutboxStore {
  readonly size: number;
  add(msg: OutboxMessage): void;
  /** True when the message was there. */
  delete(id: number): boolean;
  /** Oldest message, or undefined when empty. */
  oldest(): OutboxMessage | undefined;
  /** Oldest first. Safe against deletes of already-visited entries while iterating. */
  values(): IterableIterator<OutboxMessage>;
}

/** In-process store: a Map keeps insertion order and deletes in O(1). */
export class MemoryOutboxStore implements OutboxStore {
  private readonly byId = new Map<number, OutboxMessage>();

  get size(): number {
    return this.byId.size;
  }

  add(msg: OutboxMessage): void {
    this.byId.set(msg.id, msg);
  }

  delete(id: number): boolean {
    return this.byId.delete(id);
  }

  oldest(): OutboxMessage | undefined {
    return this.byId.values().next().value;
  }

  values(): IterableIterator<OutboxMessage> {
    return this.byId.values();
  }
}

export type OverflowPolicy = 'drop-oldest' | 'drop-newest';

export interface OutboxOptions {
  /** Messages kept at most (waiting + unacknowledged). */
  readonly maxMessages: number;
  readonly overflow: OverflowPolicy;
}

export interface OutboxCounters {
  /** Messages waiting or unacknowledged now. */
  readonly depth: number;
  /** Dropped because the outbox was full. */
  readonly droppedFull: number;
  /** Dropped because their deadline passed before the broker took them. */
  readonly expired: number;
  /** Acknowledged by the broker. */
  readonly acked: number;
}

export type OfferResult = 'queued' | 'queued-evicted-oldest' | 'refused-full';

export class Outbox {
  private readonly store: OutboxStore;
  private readonly opts: OutboxOptions;
  private droppedFull = 0;
  private expired = 0;
  private acked = 0;

  constructor(store: OutboxStore, opts: OutboxOptions) {
    this.store = store;
    this.opts = opts;
  }

  /** Adds a message, applying the overflow policy when full. */
  offer(msg: OutboxMessage): OfferResult {
    if (this.store.size < this.opts.maxMessages) {
      this.store.add(msg);
      return 'queued';
    }
    this.droppedFull++;
    if (this.opts.overflow === 'drop-newest') return 'refused-full';
    const oldest = this.store.oldest();
    if (oldest !== undefined) this.store.delete(oldest.id);
    this.store.add(msg);
    return 'queued-evicted-oldest';
  }

  /** The broker took it. */
  ack(id: number): void {
    if (this.store.delete(id)) this.acked++;
  }

  /** Removes and counts messages whose deadline is at or before `nowMs`. Returns how many. */
  pruneExpired(nowMs: number): number {
    const dead: number[] = [];
    for (const msg of this.store.values()) {
      if (msg.expiresAtMs !== null && msg.expiresAtMs <= nowMs) dead.push(msg.id);
    }
    for (let i = 0; i < dead.length; i++) this.store.delete(dead[i] as number);
    this.expired += dead.length;
    return dead.length;
  }

  /** Oldest first. */
  pending(): IterableIterator<OutboxMessage> {
    return this.store.values();
  }

  counters(): OutboxCounters {
    return { depth: this.store.size, droppedFull: this.droppedFull, expired: this.expired, acked: this.acked };
  }
}
