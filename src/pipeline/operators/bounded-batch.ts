import { Observable, type OperatorFunction } from 'rxjs';

/**
 * The bounded queue in front of inference. RxJS has no backpressure (mergeMap queues without
 * bound), so this operator owns the queue: at most `capacity` items wait; when one more arrives the
 * oldest waiting item is dropped (it is the one most likely to miss its ejector anyway) and turned
 * into a value by `onDrop`, so every input still ends as exactly one output. Items are handed to
 * `work` in batches of up to `batchSize`, a partial batch waiting at most `batchWaitMs` for company.
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
 * @example
 * frames$.pipe(boundedBatch({ capacity: 8, batchSize: 4, batchWaitMs: 2 }, inferBatch, toDroppedVerdict))
 */
export function boundedBatch<T, R>(
  opts: BoundedBatchOptions,
  work: (batch: T[]) => Promise<R[]>,
  onDrop: (item: T) => R,
): OperatorFunction<T, R> {
  const capacity = opts.capacity;
  const batchSize = opts.batchSize;
  const batchWaitMs = opts.batchWaitMs;
  const concurrency = opts.concurrency ?? 2;
  const gate = opts.gate;
  if (!(capacity >= 1 && batchSize >= 1 && concurrency >= 1)) {
    throw new RangeError(`boundedBatch: capacity ${capacity}, batchSize ${batchSize}, concurrency ${concurrency} must all be ≥ 1`);
  }
  return (source) =>
    new Observable<R>((sub) => {
      const queue: T[] = [];
      let active = 0;
      let upstreamDone = false;
      let upstreamError: { err: unknown } | null = null;
      let partialDue = false;
      let timer: NodeJS.Timeout | null = null;
      let closed = false;
      /** Outputs in input order; `results` null while the batch is still being worked on. */
      const outbox: Array<{ results: R[] | null }> = [];

      const flush = (): void => {
        while (outbox.length > 0 && outbox[0]!.results !== null) {
          const results = outbox.shift()!.results!;
          if (!closed) for (let i = 0; i < results.length; i++) sub.next(results[i]!);
        }
      };

      const finishIfDrained = (): void => {
        if (!upstreamDone || active > 0 || queue.length > 0 || outbox.length > 0 || closed) return;
        closed = true;
        if (upstreamError !== null) sub.error(upstreamError.err);
        else sub.complete();
      };


      const onBatchFailed = (err: unknown): void => {
        // `work` must turn per-item failures into values; a rejection here is a bug, not a bad frame.
        active--;
        if (!closed) {
          closed = true;
          sub.error(err);
        }
      };

      function pump(): void {
        while (!closed && active < concurrency && queue.length > 0) {
          if (queue.length < batchSize && !upstreamDone && !partialDue && batchWaitMs > 0) {
            if (timer === null) {
              timer = setTimeout(() => {
                timer = null;
                partialDue = true;
                pump();
              }, batchWaitMs);
            }
            break;
          }
          partialDue = false;
          if (timer !== null) {
            clearTimeout(timer);
            timer = null;
          }
          const batch = queue.splice(0, batchSize);
          active++;
          const slot: { results: R[] | null } = { results: null };
          outbox.push(slot);
          work(batch).then((results) => {
            active--;
            slot.results = results;
            flush();
            pump();
          }, onBatchFailed);
        }
        gate?.notify();
        finishIfDrained();
      }

      gate?.attach(() => queue.length < capacity);

      const upstream = source.subscribe({
        next(item) {
          queue.push(item);
          if (queue.length > capacity) {
            outbox.push({ results: [onDrop(queue.shift()!)] });
            flush();
          }
          pump();
        },
        error(err) {
          upstreamDone = true;
          upstreamError = { err };
          pump();
        },
        complete() {
          upstreamDone = true;
          pump();
        },
      });

      return () => {
        closed = true;
        upstream.unsubscribe();
        if (timer !== null) clearTimeout(timer);
        gate?.release();
      };
    });
}
