import { BehaviorSubject, Observable, Subject, distinctUntilChanged, type Observable as Obs } from 'rxjs';
import type { CaptureTime, Frame } from '../../frame.js';
import type { FrameSource, LossReason, LossVisibility, LostFrame, SourceHealth } from '../../source.js';
import type { BackoffPolicy } from './backoff.js';
import { Capture, openPipeline, type CaptureHost } from './capture.js';
import { localElementPlan, type GstElementPlan } from './jetson.js';
import { buildLaunch, type LaunchPlan } from './launch.js';
import { plannedEvidence, type UpstreamEvidence } from './losses.js';
import { chooseAravisElement, type AravisElement } from './own-elements.js';
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
  /** The aravis camera element. Default: the configuration's `element`, else the best this machine has (own-elements.ts). */
  readonly aravisElement?: AravisElement;
}

/**
 * A camera or file through GStreamer. `seq` numbers every frame the camera is known to have taken,
 * across restarts: delivered frames, and lost ones (appsink drops under a slow consumer, gaps in
 * the source's own numbering, samples discarded by a restart, skipped bad files), which come on
 * `losses$` each with its seq as they become known — before the frame that revealed them — and
 * are counted in `lostFrames()`.
 */
export class GstreamerSource implements FrameSource {
  readonly kind = 'gstreamer';
  readonly cameraId: string;
  readonly health$: Obs<SourceHealth>;
  readonly lostFrames: () => number;
  readonly losses$: Obs<LostFrame>;
  readonly lossVisibility: () => LossVisibility;
  private readonly config: GstreamerSourceConfig;
  private readonly options: GstreamerSourceOptions;
  private readonly elements: GstElementPlan;
  /** Probed only for aravis cameras; the others never name it. */
  private readonly aravisElement: AravisElement;
  private readonly health: BehaviorSubject<SourceHealth>;
  private seq = 0;
  private lost = 0;
  private evidence: UpstreamEvidence;
  private readonly lossSubject = new Subject<LostFrame>();

  constructor(cameraId: string, config: GstreamerSourceConfig, options: GstreamerSourceOptions = {}) {
    this.cameraId = cameraId;
    this.config = config;
    this.options = options;
    this.elements = options.elements ?? localElementPlan();
    const input = config.input;
    this.aravisElement = options.aravisElement ?? (input.preset === 'aravis' ? chooseAravisElement(input.element) : 'lwaravissrc');
    this.health = new BehaviorSubject<SourceHealth>({ state: 'starting' });
    this.health$ = this.health.pipe(distinctUntilChanged(sameHealth));
    this.lostFrames = () => this.lost;
    this.losses$ = this.lossSubject.asObservable();
    // Until a run's samples show offsets, what its configuration allows.
    this.evidence = plannedEvidence(buildLaunch(config, this.launchOptions()).upstream);
    this.lossVisibility = () => ({ dropped: 'per-frame', upstream: this.evidence });
  }

  /** The launch description this source runs (for logs and `config validate`). */
  describe(): string {
    return buildLaunch(this.config, this.launchOptions()).description;
  }

  /**
   * Parses the description without playing it: throws LW_ERR_SOURCE_PIPELINE with GStreamer's
   * own message, so that a bad pipeline is refused before anything starts.
   */
  validate(): void {
    const input = this.config.input;
    // aravissrc opens (and keeps) the camera as soon as camera-name is set: parse without it.
    const probe = input.preset === 'aravis' ? { ...this.config, input: { ...input, camera: undefined } } : this.config;
    const { pipeline } = openPipeline(buildLaunch(probe, this.launchOptions()), this.config.maxBuffers);
    pipeline.stop();
  }

  private launchOptions(): { elements: GstElementPlan; aravisElement: AravisElement } {
    return { elements: this.elements, aravisElement: this.aravisElement };
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
        buildLaunch(this.config, imagesStartIndex === undefined ? this.launchOptions() : { ...this.launchOptions(), imagesStartIndex }),
      nextSeq: () => this.seq++,
      lost: (reason: LossReason, captures: readonly CaptureTime[], offsets: readonly number[] | null) => {
        for (let i = 0; i < captures.length; i++) {
          this.lost++;
          const offset = offsets?.[i];
          const meta = offset === undefined ? { lost: reason } : { lost: reason, sourceOffset: offset };
          this.lossSubject.next({ kind: 'lost', seq: this.seq++, cameraId: this.cameraId, reason, capturedAt: captures[i]!, meta });
        }
      },
      setEvidence: (e: UpstreamEvidence) => {
        this.evidence = e;
      },
      setHealth: (h: SourceHealth) => this.health.next(h),
      ready: this.options.ready,
      random: this.options.random ?? Math.random,
    };
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
