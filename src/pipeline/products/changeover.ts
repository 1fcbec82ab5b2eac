import type { Frame } from '../frame.js';

/**
 * Which product each camera is running now, and the stamp that gives each frame its product when
 * it is received — before it is counted or queued — so that a changeover takes effect from the
 * next frame and frames already in flight are judged as the product they were taken of.
 */

/** Who set a camera's product: its configuration, or the PLC on `<root>/<camera>/product`. */
export type ProductOrigin = 'config' | 'mqtt';

export interface RunningProduct {
  readonly product: string;
  readonly origin: ProductOrigin;
  /** When it was set (ms since epoch). */
  readonly sinceMs: number;
}

interface CameraProducts {
  readonly id: string;
  readonly product?: string | undefined;
}

export class Changeover {
  /** Per camera: what runs now (null: no product). */
  private readonly running: Map<string, RunningProduct | null>;
  /** Per camera: what its configuration says (a cleared PLC topic falls back to it). */
  private readonly configured: Map<string, string | null>;
  private readonly now: () => number;

  constructor(cameras: readonly CameraProducts[], now: () => number = Date.now) {
    this.running = new Map();
    this.configured = new Map();
    this.now = now;
    for (const cam of cameras) this.configure(cam);
  }

  /** What `cameraId` runs now; null when it runs no product (or is unknown). */
  of(cameraId: string): RunningProduct | null {
    return this.running.get(cameraId) ?? null;
  }

  /** Whether `cameraId` is a camera of this station. */
  knows(cameraId: string): boolean {
    return this.running.has(cameraId);
  }

  /**
   * A changeover on `cameraId` from the next frame received. The name is taken as it is, known
   * or not: whether it can be judged is the prompts' business (an unknown one makes its frames
   * `error` verdicts, see station.ts). Returns what ran before.
   */
  set(cameraId: string, product: string, origin: ProductOrigin): RunningProduct | null {
    const before = this.of(cameraId);
    if (before?.product !== product) this.running.set(cameraId, { product, origin, sinceMs: this.now() });
    return before;
  }

  /** The PLC cleared its topic: the camera runs its configured product again. Returns what runs now. */
  reset(cameraId: string): RunningProduct | null {
    const p = this.configured.get(cameraId) ?? null;
    if (p === null) this.running.set(cameraId, null);
    else this.set(cameraId, p, 'config');
    return this.of(cameraId);
  }

  /**
   * A configuration update: a camera whose configured product changed runs the new one (an
   * explicit changeover); the others keep what runs now, a PLC's choice included. New cameras
   * start on theirs; removed ones are forgotten. Returns the cameras whose product changed.
   */
  reconfigure(cameras: readonly CameraProducts[]): string[] {
    const changed: string[] = [];
    const ids = new Set<string>();
    for (const cam of cameras) {
      ids.add(cam.id);
      const next = cam.product ?? null;
      if (this.configured.has(cam.id) && this.configured.get(cam.id) === next) continue;
      const before = this.of(cam.id)?.product ?? null;
      this.configure(cam);
      if ((this.of(cam.id)?.product ?? null) !== before) changed.push(cam.id);
    }
    for (const id of [...this.running.keys()]) {
      if (!ids.has(id)) {
        this.running.delete(id);
        this.configured.delete(id);
      }
    }
    return changed;
  }

  /**
   * The frame with its camera's product in `meta.product` (the same frame when it runs none).
   * Runs for every frame: one lookup, and a new frame object only when there is a product to stamp.
   */
  stamp<F extends Pick<Frame, 'cameraId' | 'meta'>>(frame: F): F {
    const p = this.running.get(frame.cameraId);
    if (p === undefined || p === null) return frame;
    return { ...frame, meta: { ...frame.meta, product: p.product } };
  }

  private configure(cam: CameraProducts): void {
    const p = cam.product ?? null;
    this.configured.set(cam.id, p);
    this.running.set(cam.id, p === null ? null : { product: p, origin: 'config', sinceMs: this.now() });
  }
}

/** The product stamped on a frame (or a part announced by a trigger), if any. */
export function productOf(frame: Pick<Frame, 'meta'>): string | undefined {
  const p = frame.meta.product;
  return typeof p === 'string' ? p : undefined;
}
