import type { Observable } from 'rxjs';
import type { CaptureTime, Frame, FrameMeta } from './frame.js';

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
 * - `upstream`: lost before the appsink (camera, network, a pipeline element), told by a gap in the
 *   source's frame numbers or timestamps;
 * - `restart`: taken in by the appsink but discarded when the pipeline was restarted after a fault;
 * - `fault`: discarded when the stream failed for good;
 * - `unreadable-file`: a file the decoder could not read, skipped (images preset).
 */
export type LossReason = 'appsink-overflow' | 'upstream' | 'restart' | 'fault' | 'unreadable-file';

/**
 * A frame the source lost: no pixels, but its place in the camera's sequence. `seq` comes from the
 * same counter as the delivered frames' (so a gap in the frames' seqs is exactly the lost frames),
 * in the order the frames were taken as far as the source can tell.
 */
export interface LostFrame {
  readonly kind: 'lost';
  readonly seq: number;
  readonly cameraId: string;
  readonly reason: LossReason;
  /** When it was taken, estimated between its neighbours; when the loss became known where nothing better exists. */
  readonly capturedAt: CaptureTime;
  /** `lost` (the reason) and, where the source numbers its frames, `sourceOffset`. */
  readonly meta: FrameMeta;
}

/**
 * What a source can tell about its losses, for status: the frames it dropped itself (a full
 * appsink) one by one, and those lost before it by what evidence (see sources/gstreamer/losses.ts):
 * `none` says plainly that such losses cannot be seen.
 */
export interface LossVisibility {
  readonly dropped: 'per-frame';
  readonly upstream: 'offsets' | 'timestamps' | 'discont' | 'none';
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
  /**
   * Checks, before this source replaces a running one or a station starts on it, that it can
   * start (a folder: a readable folder with images). Throws LinewatchError LW_ERR_SOURCE_OPEN.
   */
  check?(): Promise<void>;
  readonly health$?: Observable<SourceHealth>;
  /** Frames the source itself lost so far (appsink drops, gaps in its numbering): the frames on `losses$`. */
  readonly lostFrames?: () => number;
  /**
   * Each lost frame as it becomes known (hot: losses before a subscription are not replayed),
   * emitted before the delivered frame that revealed it, so a consumer that subscribes to it
   * before `frames()` sees the camera's frames in seq order.
   */
  readonly losses$?: Observable<LostFrame>;
  /** What the source can tell about its losses (status); absent for sources that lose nothing (folders). */
  readonly lossVisibility?: () => LossVisibility;
}
