import { defer, type OperatorFunction } from 'rxjs';
import { BatchMux } from './batch-mux.js';

/**
 * The bounded queue in front of inference. RxJS has no backpressure (mergeMap queues without
 * bound), so this operator owns the queue: at most `capacity` items wait; when one more arrives the
 * oldest waiting item is dropped (it is the one most likely to miss its ejector anyway) and turned
 * into a value by `onDrop`, so every input still ends as exactly one output. Items are handed to
 * `work` in batches of up to `batchSize`, a partial batch waiting at most `batchWaitMs` for company
 * (counted from the oldest waiting item's arrival).
 * Up to `concurrency` batches are worked on at once so that preparing the next batch overlaps the
 * model running the current one. Outputs leave in input order (a batch that finishes early waits
 * for the ones before it; a drop waits for the batches started before it), because the line matches
 * verdicts to parts by their order.
 */
export interface BoundedBatchOptions {
  /** Items allowed to wait in front of `work`. */
  readonly capacity: number;
  /** Items per call of `work` at most. */
  readonly batchSize: number;
  /** How long a partial batch waits for more items; 0 = start at once. */
  readonly batchWaitMs: number;
  /** Batches in `work` at once. Default 2. */
  readonly concurrency?: number;
  /** Told whenever room appears in the queue (pull sources wait on it; see RoomGate). */
  readonly gate?: RoomGate;
}

/**
 * Lets a source that can wait (a folder, the synthetic generator) emit only when the queue has
 * room, so that it is inspected losslessly, while cameras, which cannot wait, are dropped by policy.
 */
export class RoomGate {
  private waiters: Array<() => void>;
  private hasRoom: () => boolean;

  constructor() {
    this.waiters = [];
    this.hasRoom = () => true;
  }

  /** Resolves when the queue behind this gate can take one more item without dropping. */
  ready(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** @internal the operator says how to tell whether there is room. */
  attach(hasRoom: () => boolean): void {
    this.hasRoom = hasRoom;
  }

  /** @internal the operator says room may have appeared. */
  notify(): void {
    while (this.waiters.length > 0 && this.hasRoom()) this.waiters.shift()!();
  }

  /** Release every waiter (the pipeline is closing). */
  release(): void {
    this.hasRoom = () => true;
    this.notify();
  }
}

/**
 * One camera's bounded batching on its own: a BatchMux with a single lane (each subscription gets
 * its own).
 *
 * @example
 * frames$.pipe(boundedBatch({ capacity: 8, batchSize: 4, batchWaitMs: 2 }, inferBatch, toDroppedVerdict))
 */
export function boundedBatch<T, R>(
  opts: BoundedBatchOptions,
  work: (batch: T[]) => Promise<R[]>,
  onDrop: (item: T) => R,
): OperatorFunction<T, R> {
  const concurrency = opts.concurrency ?? 2;
  if (!(opts.capacity >= 1 && opts.batchSize >= 1 && concurrency >= 1)) {
    throw new RangeError(`boundedBatch: capacity ${opts.capacity}, batchSize ${opts.batchSize}, concurrency ${concurrency} must all be ≥ 1`);
  }
  const lane = { capacity: opts.capacity, ...(opts.gate !== undefined ? { gate: opts.gate } : {}) };
  return (source) => defer(() => source.pipe(new BatchMux<T, R>({ batchSize: opts.batchSize, batchWaitMs: opts.batchWaitMs, concurrency }, work).lane(lane, onDrop)));
}
