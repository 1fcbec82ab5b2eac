import { BehaviorSubject, Observable, Subject, distinctUntilChanged, type Observable as Obs } from 'rxjs';
import type { Frame } from '../../frame.js';
import type { FrameSource, LossReason, SourceHealth, SourceLoss } from '../../source.js';
import type { BackoffPolicy } from './backoff.js';
import { Capture, openPipeline, type CaptureHost } from './capture.js';
import { localElementPlan, type GstElementPlan } from './jetson.js';
import { buildLaunch, type LaunchPlan } from './launch.js';
import type { GstreamerSourceConfig } from './schema.js';

export { gstreamerSourceSchema, type GstreamerSourceConfig, type GstreamerSourceInput } from './schema.js';
export { buildLaunch, type LaunchPlan } from './launch.js';

export interface GstreamerSourceOptions {
  /** The pipeline's room signal: finite inputs (files) pull the next sample only when it resolves (lossless). */
  readonly ready?: () => Promise<void>;
  /** [0, 1) source for the backoff jitter. Default Math.random. */
  readonly random?: () => number;
  /** Hardware or software elements for convert/decode. Default: probed on this machine (Jetson elements when present). */
  readonly elements?: GstElementPlan;
}

/**
 * A camera or file through GStreamer. `seq` counts delivered frames gap-free across restarts;
 * frames lost on the way (appsink drops under a slow consumer, samples discarded by a restart,
 * skipped bad files) are counted in `lostFrames()` and reported on `losses$` as they become known.
 */
export class GstreamerSource implements FrameSource {
  readonly kind = 'gstreamer';
  readonly cameraId: string;
  readonly health$: Obs<SourceHealth>;
  readonly lostFrames: () => number;
  readonly losses$: Obs<SourceLoss>;
  private readonly config: GstreamerSourceConfig;
  private readonly options: GstreamerSourceOptions;
  private readonly elements: GstElementPlan;
  private readonly health: BehaviorSubject<SourceHealth>;
  private seq = 0;
  /** Settled losses: finished runs (exact) and skipped files. */
  private lost = 0;
  /** Lower bound of the current run's appsink drops (0 between runs). */
  private runLostEstimate = 0;
  /** Total already reported on losses$: never more than lost + runLostEstimate. */
  private reported = 0;
  private readonly lossSubject = new Subject<SourceLoss>();

  constructor(cameraId: string, config: GstreamerSourceConfig, options: GstreamerSourceOptions = {}) {
    this.cameraId = cameraId;
    this.config = config;
    this.options = options;
    this.elements = options.elements ?? localElementPlan();
    this.health = new BehaviorSubject<SourceHealth>({ state: 'starting' });
    this.health$ = this.health.pipe(distinctUntilChanged(sameHealth));
    this.lostFrames = () => this.lost + this.runLostEstimate;
    this.losses$ = this.lossSubject.asObservable();
  }

  /** The launch description this source runs (for logs and `config validate`). */
  describe(): string {
    return buildLaunch(this.config, { elements: this.elements }).description;
  }

  /**
   * Parses the description without playing it: throws LW_ERR_SOURCE_PIPELINE with GStreamer's
   * own message, so that a bad pipeline is refused before anything starts.
   */
  validate(): void {
    const input = this.config.input;
    // aravissrc opens (and keeps) the camera as soon as camera-name is set: parse without it.
    const probe = input.preset === 'aravis' ? { ...this.config, input: { ...input, camera: undefined } } : this.config;
    const { pipeline } = openPipeline(buildLaunch(probe, { elements: this.elements }), this.config.maxBuffers);
    pipeline.stop();
  }

  frames(): Observable<Frame> {
    return new Observable<Frame>((sub) => {
      const capture = new Capture(this.host(), sub);
      capture.start();
      return () => capture.close();
    });
  }

  private host(): CaptureHost {
    const backoff: BackoffPolicy = this.config.restart;
    return {
      cameraId: this.cameraId,
      backoff,
      maxBuffers: this.config.maxBuffers,
      plan: (imagesStartIndex?: number): LaunchPlan =>
        buildLaunch(this.config, imagesStartIndex === undefined ? { elements: this.elements } : { imagesStartIndex, elements: this.elements }),
      nextSeq: () => this.seq++,
      addLost: (n: number, reason: LossReason) => {
        this.lost += n;
        this.reportLosses(reason);
      },
      setRunLostEstimate: (n: number) => {
        // A lower bound only grows during a run; a smaller reading (it can lag) is ignored.
        if (n > this.runLostEstimate) this.runLostEstimate = n;
        this.reportLosses('appsink-overflow');
      },
      settleRunLost: (n: number, reason: LossReason) => {
        // Never below the lower bound already reported, so the reported total stays ≤ lostFrames().
        this.lost += Math.max(n, this.runLostEstimate);
        this.runLostEstimate = 0;
        this.reportLosses(reason);
      },
      setHealth: (h: SourceHealth) => this.health.next(h),
      ready: this.options.ready,
      random: this.options.random ?? Math.random,
    };
  }

  /**
   * Reports what is known lost beyond what was reported already. The estimate is a lower bound
   * and the settled figure exact (≥ it), so the reported total reaches the exact figure when a
   * run ends and never passes it.
   */
  private reportLosses(reason: LossReason): void {
    const known = this.lost + this.runLostEstimate;
    if (known <= this.reported) return;
    const count = known - this.reported;
    this.reported = known;
    this.lossSubject.next({ count, reason, atMs: Date.now() });
  }
}

function sameHealth(a: SourceHealth, b: SourceHealth): boolean {
  if (a.state !== b.state) return false;
  if (a.state === 'degraded' && b.state === 'degraded') return a.reason === b.reason && a.retryInMs === b.retryInMs;
  return true;
}

/**
 * The factory the source registry calls. Refuses a description GStreamer cannot parse at once
 * (LW_ERR_SOURCE_PIPELINE with GStreamer's message).
 *
 * @example
 * const source = createGstreamerSource(gstreamerSourceSchema.parse({ type: 'gstreamer', input: { preset: 'test' } }), 'cam1');
 */
export function createGstreamerSource(
  config: GstreamerSourceConfig,
  cameraId: string,
  options: GstreamerSourceOptions = {},
): GstreamerSource {
  const source = new GstreamerSource(cameraId, config, options);
  source.validate();
  return source;
}
