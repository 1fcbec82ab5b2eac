import type { Observable } from 'rxjs';
import type { Frame } from './frame.js';

/**
 * Health a source reports while it runs. `degraded` carries the reason (camera unplugged,
 * stream error) and the source keeps retrying by itself.
 */
export type SourceHealth =
  | { readonly state: 'starting' }
  | { readonly state: 'running' }
  | { readonly state: 'degraded'; readonly reason: string; readonly retryInMs?: number }
  | { readonly state: 'ended' };

/**
 * Why a source lost frames:
 * - `appsink-overflow`: the appsink was full (linewatch behind the camera) and dropped the oldest;
 * - `restart`: taken in by the appsink but discarded when the pipeline was restarted after a fault;
 * - `fault`: discarded when the stream failed for good;
 * - `unreadable-file`: a file the decoder could not read, skipped (images preset).
 */
export type LossReason = 'appsink-overflow' | 'restart' | 'fault' | 'unreadable-file';

/** Frames a source lost, reported when the loss becomes known. `count` ≥ 1; `atMs` wall clock (ms since epoch). */
export interface SourceLoss {
  readonly count: number;
  readonly reason: LossReason;
  readonly atMs: number;
}

/**
 * Every camera and file source implements this; everything downstream only sees Frames.
 *
 * `frames()` is cold: subscribing starts acquisition, unsubscribing stops it and frees the device.
 * It completes on end of stream (file sources) and errors only for a fault that retrying cannot
 * fix (bad pipeline string, missing folder) — transient faults are reported on `health$`.
 */
export interface FrameSource {
  readonly kind: string;
  readonly cameraId: string;
  frames(): Observable<Frame>;
  readonly health$?: Observable<SourceHealth>;
  /** Frames the source itself lost (gaps in seq, appsink drops) so far: the sum of `losses$`. */
  readonly lostFrames?: () => number;
  /**
   * Each loss as it becomes known (hot: losses before a subscription are not replayed). The
   * counts add up to `lostFrames()` and never exceed what was really lost: an estimate while a
   * run goes on is a lower bound, topped up to the exact figure when the run settles.
   */
  readonly losses$?: Observable<SourceLoss>;
}
