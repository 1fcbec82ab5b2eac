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
  /** Frames the source itself lost (gaps in seq, appsink drops), counted as `dropped`. */
  readonly lostFrames?: () => number;
}
