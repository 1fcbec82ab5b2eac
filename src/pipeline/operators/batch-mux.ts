import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import type { RoomGate } from './bounded-batch.js';

/**
 * Batching across cameras in front of one model (what DeepStream's stream muxer does on the GPU):
 * each camera is a lane with its own bounded queue, drop policy and order; one `work` call takes a
 * batch from all lanes together.
 *
 * - A lane holds at most `capacity` waiting items; one more drops the lane's oldest (the one most
 *   likely to miss its ejector), turned into a value by the lane's `onDrop`. A fast camera never
 *   pushes a slow camera's frames out: queues are not shared.
 * - A batch starts when `work` has room (fewer than `concurrency` batches in it) and either
 *   `batchSize` items wait, the oldest waiting item has waited `batchWaitMs`, or no lane can bring
 *   more. While `work` is full (the model busy), items gather in the lanes, and the next batch
 *   takes them from all lanes at once.
 * - Lanes are served round-robin, one item per lane per turn, starting after the lane that gave
 *   the last item: when every lane is backlogged each gets an equal share of every batch (±1), and
 *   a camera that sends little is served at its own rate whatever the others send.
 * - Each lane's outputs leave in its input order (a drop waits for the batches that took that
 *   lane's earlier items), because the line matches verdicts to parts by their order; lanes do
 *   not wait for one another.
 */
export interface BatchMuxOptions {
  /** Items per call of `work` at most. */
  readonly batchSize: number;
  /** How long the oldest waiting item waits for company before a partial batch goes; 0 = at once. */
  readonly batchWaitMs: number;
  /** Batches in `work` at once, all lanes together. Default 2. */
  readonly concurrency?: number;
}

export interface LaneOptions {
  /** Items allowed to wait in this lane. */
  readonly capacity: number;
  /** Told whenever room appears in this lane (a source that can wait waits on it). */
  readonly gate?: RoomGate;
}

/** What the mux has done so far, all lanes together. */
export interface BatchMuxStats {
  /** Calls of `work`. */
  readonly batches: number;
  /** Items handed to `work`. */
  readonly items: number;
  /** Batches that held items of more than one lane. */
  readonly mixedBatches: number;
  /** Items dropped by the lanes' bounds. */
  readonly dropped: number;
}

interface Slot<R> {
  results: R[] | null;
}

class Lane<T, R> {
  readonly queue: T[];
  /** performance.now() at which each queued item arrived, in queue order. */
  readonly arrivals: number[];
  /** Outputs in input order; a slot's results are null while its batch is being worked on. */
  readonly outbox: Slot<R>[];
  upstreamDone: boolean;
  upstreamError: { err: unknown } | null;
  closed: boolean;

  constructor(
    readonly capacity: number,
    readonly gate: RoomGate | undefined,
    readonly onDrop: (item: T) => R,
    readonly sub: Subscriber<R>,
  ) {
    this.queue = [];
    this.arrivals = [];
    this.outbox = [];
    this.upstreamDone = false;
    this.upstreamError = null;
    this.closed = false;
  }

  flush(): void {
    const outbox = this.outbox;
    while (outbox.length > 0 && outbox[0]!.results !== null) {
      const results = outbox.shift()!.results!;
      if (!this.closed) for (let i = 0; i < results.length; i++) this.sub.next(results[i]!);
    }
  }

  /** Completes (or errors) once its upstream ended and everything it took in has left. */
  finishIfDrained(): boolean {
    if (!this.upstreamDone || this.queue.length > 0 || this.outbox.length > 0 || this.closed) return false;
    this.closed = true;
    if (this.upstreamError !== null) this.sub.error(this.upstreamError.err);
    else this.sub.complete();
    return true;
  }
}

/** One batch being worked on: which lane each item came from, and each lane's outbox slot. */
interface Taken<T, R> {
  readonly items: T[];
  readonly owners: Lane<T, R>[];
  readonly slots: Map<Lane<T, R>, Slot<R>>;
}

/**
 * @example
 * const mux = new BatchMux({ batchSize: 4, batchWaitMs: 2, concurrency: 2 }, (frames) => inspector.judge(frames));
 * camA$.pipe(mux.lane({ capacity: 8 }, dropped)).subscribe(emit);
 * camB$.pipe(mux.lane({ capacity: 8 }, dropped)).subscribe(emit);
 */
export class BatchMux<T, R> {
  private batchSize: number;
  private readonly batchWaitMs: number;
  private readonly concurrency: number;
  private readonly work: (batch: T[]) => Promise<R[]>;
  private readonly lanes: Lane<T, R>[];
  /** The lane served first in the next batch. */
  private next: number;
  private active: number;
  private timer: NodeJS.Timeout | null;
  private batches: number;
  private items: number;
  private mixed: number;
  private dropped: number;

  constructor(opts: BatchMuxOptions, work: (batch: T[]) => Promise<R[]>) {
    const concurrency = opts.concurrency ?? 2;
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1 && Number.isInteger(concurrency) && concurrency >= 1 && opts.batchWaitMs >= 0)) {
      throw new RangeError(`BatchMux: batchSize ${opts.batchSize} and concurrency ${concurrency} must be integers ≥ 1, batchWaitMs ${opts.batchWaitMs} ≥ 0`);
    }
    this.batchSize = opts.batchSize;
    this.batchWaitMs = opts.batchWaitMs;
    this.concurrency = concurrency;
    this.work = work;
    this.lanes = [];
    this.next = 0;
    this.active = 0;
    this.timer = null;
    this.batches = 0;
    this.items = 0;
    this.mixed = 0;
    this.dropped = 0;
  }

  /**
   * Items per call of `work` from the next batch on (a model swapped for one that batches
   * differently); batches already taken keep their size.
   */
  resize(batchSize: number): void {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`BatchMux: batchSize ${batchSize} must be an integer ≥ 1`);
    this.batchSize = batchSize;
    this.pump();
  }

  /** Items per call of `work` at most, now. */
  get size(): number {
    return this.batchSize;
  }

  stats(): BatchMuxStats {
    return { batches: this.batches, items: this.items, mixedBatches: this.mixed, dropped: this.dropped };
  }

  /**
   * A camera's way in: every item of `source` leaves as exactly one output, in order — the
   * result of `work` for it, or `onDrop(item)` when the lane's bound pushed it out.
   */
  lane(opts: LaneOptions, onDrop: (item: T) => R): OperatorFunction<T, R> {
    if (!(Number.isInteger(opts.capacity) && opts.capacity >= 1)) throw new RangeError(`BatchMux lane: capacity ${opts.capacity} must be an integer ≥ 1`);
    return (source) =>
      new Observable<R>((sub) => {
        const lane = new Lane<T, R>(opts.capacity, opts.gate, onDrop, sub);
        this.lanes.push(lane);
        lane.gate?.attach(() => lane.queue.length < lane.capacity);
        const upstream = source.subscribe({
          next: (item) => this.arrive(lane, item),
          error: (err: unknown) => {
            lane.upstreamDone = true;
            lane.upstreamError = { err };
            this.pump();
          },
          complete: () => {
            lane.upstreamDone = true;
            this.pump();
          },
        });
        return () => {
          // Closed already when it completed or failed here (inside pump); otherwise the consumer
          // left: what it had queued is discarded, and the other lanes may now go without it.
          const fromOutside = !lane.closed;
          lane.closed = true;
          upstream.unsubscribe();
          this.remove(lane);
          lane.gate?.release();
          if (fromOutside) this.pump();
        };
      });
  }

  private arrive(lane: Lane<T, R>, item: T): void {
    lane.queue.push(item);
    lane.arrivals.push(performance.now());
    if (lane.queue.length > lane.capacity) {
      lane.arrivals.shift();
      this.dropped++;
      lane.outbox.push({ results: [lane.onDrop(lane.queue.shift()!)] });
      lane.flush();
    }
    this.pump();
  }

  private remove(lane: Lane<T, R>): void {
    const i = this.lanes.indexOf(lane);
    if (i < 0) return;
    this.lanes.splice(i, 1);
    if (this.next > i) this.next--;
    if (this.next >= this.lanes.length) this.next = 0;
  }

  /** Starts every batch that may start now; arms the window timer for one that must wait. */
  private pump(): void {
    while (this.active < this.concurrency) {
      const wait = this.waitMs();
      if (wait === null) break;
      if (wait > 0) {
        if (this.timer === null) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.pump();
          }, wait);
        }
        break;
      }
      this.start(this.take());
    }
    const lanes = this.lanes;
    for (let i = 0; i < lanes.length; i++) lanes[i]!.gate?.notify();
    for (let i = lanes.length - 1; i >= 0; i--) {
      const lane = lanes[i]!;
      if (lane.finishIfDrained()) this.remove(lane);
    }
    if (this.timer !== null && this.queued() === 0) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private queued(): number {
    let n = 0;
    for (let i = 0; i < this.lanes.length; i++) n += this.lanes[i]!.queue.length;
    return n;
  }

  /** null: nothing waits; 0: a batch may go now; > 0: ms until the oldest item's window closes. */
  private waitMs(): number | null {
    let n = 0;
    let oldest = Number.POSITIVE_INFINITY;
    let live = false;
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = this.lanes[i]!;
      if (lane.closed) continue;
      n += lane.queue.length;
      if (lane.queue.length > 0 && lane.arrivals[0]! < oldest) oldest = lane.arrivals[0]!;
      if (!lane.upstreamDone) live = true;
    }
    if (n === 0) return null;
    if (n >= this.batchSize || this.batchWaitMs === 0 || !live) return 0;
    const left = oldest + this.batchWaitMs - performance.now();
    return left > 0 ? Math.ceil(left) : 0;
  }

  /** Up to batchSize items, one per lane per turn, starting at `next`. */
  private take(): Taken<T, R> {
    const lanes = this.lanes;
    const items: T[] = [];
    const owners: Lane<T, R>[] = [];
    const slots = new Map<Lane<T, R>, Slot<R>>();
    let i = this.next;
    let idle = 0;
    while (items.length < this.batchSize && idle < lanes.length) {
      const lane = lanes[i]!;
      i = (i + 1) % lanes.length;
      if (lane.closed || lane.queue.length === 0) {
        idle++;
        continue;
      }
      idle = 0;
      items.push(lane.queue.shift()!);
      lane.arrivals.shift();
      owners.push(lane);
      if (!slots.has(lane)) {
        const slot: Slot<R> = { results: null };
        lane.outbox.push(slot);
        slots.set(lane, slot);
      }
      this.next = i;
    }
    return { items, owners, slots };
  }

  private start(taken: Taken<T, R>): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.active++;
    this.batches++;
    this.items += taken.items.length;
    if (taken.slots.size > 1) this.mixed++;
    this.work(taken.items).then(
      (results) => {
        this.active--;
        this.deliver(taken, results);
        this.pump();
      },
      (err: unknown) => {
        // `work` must turn per-item failures into values; a rejection is a bug, not a bad frame.
        this.active--;
        for (const lane of taken.slots.keys()) {
          if (lane.closed) continue;
          lane.closed = true;
          lane.sub.error(err);
        }
        this.pump();
      },
    );
  }

  /** Each lane's results of a batch into its outbox slot, in the order the lane gave its items. */
  private deliver(taken: Taken<T, R>, results: R[]): void {
    if (results.length !== taken.items.length) {
      const err = new Error(`BatchMux: work returned ${results.length} results for ${taken.items.length} items`);
      for (const lane of taken.slots.keys()) {
        if (!lane.closed) {
          lane.closed = true;
          lane.sub.error(err);
        }
      }
      return;
    }
    for (const [lane, slot] of taken.slots) {
      const mine: R[] = [];
      for (let k = 0; k < results.length; k++) if (taken.owners[k] === lane) mine.push(results[k]!);
      slot.results = mine;
      lane.flush();
    }
  }
}
