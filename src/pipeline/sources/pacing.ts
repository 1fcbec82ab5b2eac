import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How a source that can wait (folder, synthetic) times its frames: at a fixed rate like a camera
 * (frames beyond what the model takes are dropped downstream), or, at fps 0, only when the pipeline
 * has room (lossless: every file is inspected).
 */
export interface Pacer {
  /** Resolves when the next frame may be emitted. */
  next(): Promise<void>;
}

/** `ready` = the pipeline's room signal (RoomGate.ready); absent: as fast as possible. */
export function createPacer(fps: number, ready?: () => Promise<void>): Pacer {
  if (fps > 0) {
    const periodMs = 1000 / fps;
    let due = performance.now();
    return {
      async next() {
        const wait = due - performance.now();
        due = Math.max(due + periodMs, performance.now());
        // Behind schedule, a frame still waits for the event loop's next turn, as a camera's frame
        // arrives as an event of its own: a fast source never holds the loop while it catches up
        // (engine results, other cameras' frames and timers would wait behind it).
        if (wait > 0) await sleep(wait);
        else await new Promise((resolve) => setImmediate(resolve));
      },
    };
  }
  if (ready !== undefined) return { next: ready };
  // Yield to the event loop between frames so that a fast source never starves the rest.
  return { next: () => new Promise((resolve) => setImmediate(resolve)) };
}
