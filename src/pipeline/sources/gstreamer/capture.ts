import type { Subscriber } from 'rxjs';
import { LinewatchError, errorMessage } from '../../../errors.js';
import { captureTimeNow, type CaptureTime, type Frame, type FrameMeta } from '../../frame.js';
import type { LossReason, SourceHealth } from '../../source.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { gstreamer, type BusMessage, type GstAppSink, type GstPipeline, type SampleCaps, type SampleMeta } from './binding.js';
import { framePeriodNs, sampleLayout } from './caps.js';
import type { LaunchPlan } from './launch.js';
import { RunLosses, lostOffsets, type UpstreamEvidence } from './losses.js';
import { after, between, captureTimeOf, clockMapOf, type ClockMap } from './timing.js';

/**
 * One subscription's acquisition: builds the pipeline, pulls samples into Frames, and on a fault
 * (bus error, lost stream, stall) tears the pipeline down and builds a fresh one after a backoff.
 * `seq` and the lost-frame count live in the owning source, so they survive restarts.
 */

/** What the capture reports to, and reads from, its source (shared across restarts and subscriptions). */
export interface CaptureHost {
  readonly cameraId: string;
  readonly backoff: BackoffPolicy;
  readonly maxBuffers: number;
  /** Plan for a (re)start; `imagesStartIndex` moves a multifilesrc past a bad file. */
  plan(imagesStartIndex?: number): LaunchPlan;
  nextSeq(): number;
  /**
   * Frames lost, in the order they were taken, each with its estimated capture time (`captures`,
   * one per frame) and, where known, its source offset (`offsets`, one per frame): each takes the
   * next seq.
   */
  lost(reason: LossReason, captures: readonly CaptureTime[], offsets: readonly number[] | null): void;
  /** What tells this camera's losses before the appsink (status). */
  setEvidence(e: UpstreamEvidence): void;
  setHealth(h: SourceHealth): void;
  readonly ready: (() => Promise<void>) | undefined;
  readonly random: () => number;
}

const EMPTY_META: FrameMeta = Object.freeze({});

/** What a delivered frame says about its place in the source's own sequence (verdict meta). */
function frameMeta(meta: SampleMeta | null): FrameMeta {
  if (meta === null) return EMPTY_META;
  const numbered = meta.offset !== null && meta.offsetEnd === meta.offset + 1;
  if (!numbered && meta.pts === null) return EMPTY_META;
  // ptsNs as a number (JSON-safe): exact below 104 days of stream time.
  if (!numbered) return { ptsNs: Number(meta.pts) };
  return meta.pts === null ? { sourceOffset: meta.offset } : { sourceOffset: meta.offset, ptsNs: Number(meta.pts) };
}

/** gst_parse_launch names the top-level bin pipeline0, pipeline1, … */
const TOP_LEVEL = /^pipeline\d+$/;

/** How long end of stream waits for an error message that explains it, in ms. */
const EOS_SETTLE_MS = 100;

/** Before the first frame of a (re)start, the stall watchdog waits at least this long, in ms. */
const STARTUP_GRACE_MS = 10_000;

/** Builds and plays a pipeline; a description GStreamer cannot parse throws LW_ERR_SOURCE_PIPELINE with its message. */
export function openPipeline(plan: LaunchPlan, maxBuffers: number): { pipeline: GstPipeline; sink: GstAppSink } {
  const { Pipeline } = gstreamer();
  let pipeline: GstPipeline;
  try {
    pipeline = new Pipeline(plan.description);
  } catch (err) {
    throw new LinewatchError(
      'LW_ERR_SOURCE_PIPELINE',
      `GStreamer cannot parse the pipeline "${plan.description}": ${errorMessage(err)}`,
      { cause: err },
    );
  }
  // Keep the messages that stopping posts: a bus poll waiting on a pool thread returns on one of
  // them, and the pipeline's own READY→NULL tells a stale message from a restarted run's (see
  // staleStops). With the default flush a stop drops them, the wakeup too: before patch 2 of the
  // binding (which also made this assignment reach GStreamer on Node 24) the poll then held its
  // thread, and kept the process alive, for ever.
  pipeline['auto-flush-bus'] = false;
  const sink = pipeline.findChild(plan.sinkName);
  if (sink === undefined || typeof sink.pull !== 'function') {
    throw new LinewatchError(
      'LW_ERR_SOURCE_PIPELINE',
      `pipeline "${plan.description}" has no appsink named "${plan.sinkName}" (end it in "appsink name=${plan.sinkName}")`,
    );
  }
  if (plan.sinkCaps !== null) {
    // A raw launch description: bound and convert at its appsink as the presets do in their text.
    sink.caps = plan.sinkCaps;
    sink['max-buffers'] = maxBuffers;
    sink.drop = plan.live;
    // A live input is delivered as it comes; a clock-synced appsink would hold frames for the latency.
    if (plan.live) sink.sync = false;
  }
  return { pipeline, sink };
}

/** One pipeline instance, from play to stop. */
class Run {
  readonly plan: LaunchPlan;
  readonly pipeline: GstPipeline;
  readonly sink: GstAppSink;
  delivered = 0;
  /** Gaps in what its samples say (appsink numbers, source offsets, timestamps). */
  readonly losses: RunLosses;
  /** Pipeline clock → host clocks, from the run's first sample (base time and clock are fixed while it plays). */
  clockMap: ClockMap | null = null;
  /** Capture time of the last delivered frame: lost frames' times are estimated from it. */
  lastCapture: CaptureTime | null = null;
  /** Caps of the last delivered frame (its frame rate spaces the times of frames lost after it). */
  lastCaps: SampleCaps | null = null;
  /** Its trailing losses are settled (settleLost): once per run. */
  settled = false;
  /** Set once we stop it (fault, close): late callbacks are ignored. */
  finished = false;
  /** Non-live fault: keep pulling what already sits in the appsink, then restart. */
  drainTo = -1;
  faultReason = '';
  /**
   * The bus poll of this run has returned at least once, so it runs on a pool thread. Stopping
   * the pipeline before that would let it start later on a stopped pipeline, whose bus never
   * posts again: with patch 1 of the binding it held a pool thread (and kept the process alive)
   * for ever; patch 2's poll ends there by itself, and this ordering stays as a second guard.
   */
  busSeen = false;
  /** stop() wanted before busSeen: done by the first bus callback. */
  stopPending = false;
  readonly onSample: (buf: Buffer | null, caps: SampleCaps, meta: SampleMeta | null) => void;
  readonly pullNext: () => void;

  constructor(capture: Capture, plan: LaunchPlan, pipeline: GstPipeline, sink: GstAppSink) {
    this.plan = plan;
    this.pipeline = pipeline;
    this.sink = sink;
    // Before play: the appsink's numbers go on across runs of the same pipeline.
    this.losses = new RunLosses(sink.arrivals(), plan.upstream);
    // Bound once per run, not per frame.
    this.onSample = (buf, caps, meta) => capture.sample(this, buf, caps, meta);
    this.pullNext = () => {
      if (!this.finished) this.sink.pull(this.onSample);
    };
  }

  /** Buffers that reached the appsink in this run. */
  arrived(): number {
    return this.sink.arrivals();
  }
}

export class Capture {
  private readonly host: CaptureHost;
  private readonly sub: Subscriber<Frame>;
  private run: Run | null = null;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private lastFrameMs = 0;
  private running = false;
  /**
   * The pipeline is kept and played again on restart (same description): the binding never frees
   * a pipeline, and an aravissrc left alive would keep the camera's control channel, so a second
   * one could not take the camera over.
   */
  private opened: { pipeline: GstPipeline; sink: GstAppSink; description: string } | null = null;
  private lastRun: Run | null = null;
  /**
   * The bus keeps its messages across stops (see openPipeline), so after a restart it still holds
   * what the stopped run posted last (often a second error). Each stop of a pipeline that was past
   * NULL ends with the pipeline's own READY→NULL message: until as many of those have been read,
   * messages are stale and ignored.
   */
  private staleStops = 0;
  private pipelineState = 'GST_STATE_NULL';

  constructor(host: CaptureHost, sub: Subscriber<Frame>) {
    this.host = host;
    this.sub = sub;
  }

  /** First start: a description that does not parse errors the stream at once (retrying cannot fix it). */
  start(): void {
    this.host.setHealth({ state: 'starting' });
    this.startRun(undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const run = this.run;
    if (run !== null) {
      // The consumer stops us: what still sits in the appsink was not dropped, only not taken.
      run.settled = true;
      this.stopRun(run);
    }
  }

  private startRun(imagesStartIndex: number | undefined): void {
    this.retryTimer = null;
    if (this.closed) return;
    let plan: LaunchPlan;
    let opened = this.opened;
    try {
      plan = this.host.plan(imagesStartIndex);
      if (opened === null || opened.description !== plan.description) {
        opened = { ...openPipeline(plan, this.host.maxBuffers), description: plan.description };
        this.opened = opened;
        this.staleStops = 0;
        this.pipelineState = 'GST_STATE_NULL';
      } else if (this.lastRun !== null && this.lastRun.stopPending) {
        // Its bus poll never returned: stop now (the poll wakes on the state change and ends).
        this.lastRun.stopPending = false;
        this.stopPipeline(opened.pipeline);
      }
      if (plan.reopen !== null && opened === this.opened && this.lastRun !== null) {
        const element = opened.pipeline.findChild(plan.reopen.element);
        if (element !== undefined) element[plan.reopen.property] = plan.reopen.value;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    const run = new Run(this, plan, opened.pipeline, opened.sink);
    this.run = run;
    this.lastRun = run;
    this.running = false;
    this.lastFrameMs = performance.now();
    run.pipeline.play();
    // pollBus only after play: on a pipeline still in NULL it would wait forever on a pool thread.
    // Messages go to whichever run is current on this pipeline (a poller may outlive its run).
    const pipeline = opened.pipeline;
    run.pipeline.pollBus((msg) => {
      run.busSeen = true;
      if (msg.type === 'state-changed' && TOP_LEVEL.test(msg._src_element_name ?? '')) {
        if (this.staleStops > 0) {
          if (msg['new-state'] === 'GST_STATE_NULL') this.staleStops--;
        } else if (typeof msg['new-state'] === 'string') {
          this.pipelineState = msg['new-state'];
        }
      }
      if (run.stopPending) {
        // Playing always posts (state changes), so this comes; after it, the poll sees NULL and ends.
        run.stopPending = false;
        this.stopPipeline(pipeline);
        return;
      }
      if (this.staleStops > 0) return;
      const current = this.run;
      if (current !== null && current.pipeline === pipeline) this.bus(current, msg);
    });
    run.sink.pull(run.onSample);
    if (run.plan.stallTimeoutMs > 0 && this.stallTimer === null) {
      const every = Math.max(50, Math.floor(run.plan.stallTimeoutMs / 4));
      this.stallTimer = setInterval(() => this.checkStall(), every);
    }
  }

  /** A sample (or null: end of stream, or our own stop) from `run`'s appsink. */
  sample(run: Run, buf: Buffer | null, caps: SampleCaps, meta: SampleMeta | null): void {
    if (run.finished || this.closed) return;
    if (buf === null) {
      // A failing element posts its error and then sends end of stream: both race to us from two
      // pool threads. Let the error (the real reason) arrive first.
      setTimeout(() => {
        if (!run.finished && !this.closed) this.endOfStream(run);
      }, EOS_SETTLE_MS);
      return;
    }
    const arrival = captureTimeNow();
    const layout = sampleLayout(caps);
    if (typeof layout === 'string') {
      this.fault(run, `${this.host.cameraId}: ${layout}`, false);
      return;
    }
    run.delivered++;
    this.lastFrameMs = performance.now();
    if (!this.running) {
      this.running = true;
      this.attempt = 0;
      this.host.setHealth({ state: 'running' });
    }
    let capturedAt = arrival;
    if (meta !== null) {
      // A live source stamps when it took the frame; a file's timestamps are positions in the file.
      if (run.plan.live) {
        if (run.clockMap === null) run.clockMap = clockMapOf(meta);
        capturedAt = captureTimeOf(meta, run.clockMap, arrival);
      }
      this.reportGap(run, meta, capturedAt);
    }
    run.lastCapture = capturedAt;
    run.lastCaps = caps;
    const frame: Frame = {
      seq: this.host.nextSeq(),
      cameraId: this.host.cameraId,
      capturedAt,
      image: {
        kind: 'raw',
        format: layout.format,
        width: layout.width,
        height: layout.height,
        // Padded rows only when the buffer has them; a size that fits neither fails in preprocess as a bad frame.
        strideBytes: buf.length === layout.strideBytes * layout.height ? layout.strideBytes : undefined,
        data: buf,
      },
      meta: frameMeta(meta),
    };
    this.sub.next(frame);
    if (run.drainTo >= 0 && run.delivered >= run.drainTo) {
      this.restartAfter(run, run.faultReason, 1);
      return;
    }
    if (!run.plan.live && this.host.ready !== undefined) {
      this.host.ready().then(run.pullNext, run.pullNext);
    } else {
      run.sink.pull(run.onSample);
    }
  }

  /** Frames missing before this sample become lost frames (each its seq) ahead of it. */
  private reportGap(run: Run, meta: SampleMeta, capturedAt: CaptureTime): void {
    const evidence = run.losses.evidence;
    const gap = run.losses.next(meta);
    if (run.losses.evidence !== evidence || run.delivered === 1) this.host.setEvidence(run.losses.evidence);
    const n = gap.appsink + gap.upstream;
    if (n === 0) return;
    const times = between(run.lastCapture ?? capturedAt, capturedAt, n);
    if (gap.upstream > 0) this.host.lost('upstream', times.slice(0, gap.upstream), lostOffsets(gap, run.plan.upstream.offsetsWrapAfter));
    if (gap.appsink > 0) this.host.lost('appsink-overflow', times.slice(gap.upstream), null);
  }

  bus(run: Run, msg: BusMessage): void {
    if (run.finished || this.closed) return;
    if (msg.type === 'error') {
      const where = msg._src_element_name !== undefined ? ` (${msg._src_element_name})` : '';
      this.fault(run, `GStreamer error${where}: ${msg.message ?? 'unknown'}`, true);
    }
  }

  private endOfStream(run: Run): void {
    // The appsink hands over all it holds before end of stream: what is missing, it dropped.
    this.settleLost(run, 'appsink-overflow');
    if (run.plan.restartOnEos) {
      this.fault(run, 'end of stream on a live input (stream lost)', true);
      return;
    }
    this.stopRun(run);
    this.clearTimers();
    this.closed = true;
    this.host.setHealth({ state: 'ended' });
    this.sub.complete();
  }

  /** A fault in `run`: transient ones restart after a backoff; others end the stream with an error. */
  private fault(run: Run, reason: string, fromStream: boolean): void {
    if (!run.plan.retryOnError || !fromStream) {
      this.stopRun(run);
      this.settleLost(run, 'fault');
      this.fail(new LinewatchError('LW_ERR_SOURCE_STREAM', `${this.host.cameraId}: ${reason}`));
      return;
    }
    if (!run.plan.live && run.plan.startIndex !== null) {
      // A finite input (images): first take what already sits in the appsink, then restart past the bad file.
      const queued = run.losses.trailing(run.arrived());
      if (queued > 0 && run.drainTo < 0) {
        run.drainTo = run.delivered + queued;
        run.faultReason = reason;
        return;
      }
      this.restartAfter(run, reason, 1);
      return;
    }
    this.restartAfter(run, reason, 0);
  }

  /** Stops `run` and schedules the next one; `skip` files are passed over (counted lost). */
  private restartAfter(run: Run, reason: string, skip: number): void {
    // Stopped first: once in NULL nothing reaches the appsink any more, so the count is final.
    this.stopRun(run);
    this.settleLost(run, 'restart');
    if (skip > 0) this.host.lost('unreadable-file', Array<CaptureTime>(skip).fill(captureTimeNow()), null);
    const nextIndex = run.plan.startIndex !== null ? run.plan.startIndex + run.delivered + skip : undefined;
    const delay = backoffDelayMs(this.attempt, this.host.backoff, this.host.random);
    this.attempt++;
    this.running = false;
    this.host.setHealth({ state: 'degraded', reason, retryInMs: delay });
    this.retryTimer = setTimeout(() => this.startRun(nextIndex), delay);
  }

  /**
   * What reached the appsink after the last delivered sample is lost; settled once per run.
   * `reason` names it: at a restart after an error or a stall, the frames still queued
   * (discarded) and those the appsink dropped after the last delivered one cannot be told apart,
   * and are both `restart`. (A stop by the consumer — close() — settles nothing: the frames still
   * queued then were not dropped, only not taken.)
   */
  private settleLost(run: Run, reason: LossReason): void {
    if (run.settled) return;
    run.settled = true;
    const n = run.losses.trailing(run.arrived());
    if (n === 0) return;
    const now = captureTimeNow();
    this.host.lost(reason, after(run.lastCapture ?? now, n, framePeriodNs(run.lastCaps), now), null);
  }

  private stopRun(run: Run): void {
    if (run.finished) return;
    run.finished = true;
    // NULL state unblocks the pending pull (returns null) and ends the bus poll.
    if (run.busSeen) this.stopPipeline(run.pipeline);
    else run.stopPending = true;
    if (this.run === run) this.run = null;
  }

  private stopPipeline(pipeline: GstPipeline): void {
    if (this.opened !== null && pipeline === this.opened.pipeline && this.pipelineState !== 'GST_STATE_NULL') this.staleStops++;
    pipeline.stop();
    this.pipelineState = 'GST_STATE_NULL';
  }

  private checkStall(): void {
    const run = this.run;
    if (run === null || run.finished || this.closed) return;
    const silentMs = performance.now() - this.lastFrameMs;
    // Cameras take seconds to start streaming (GigE: discovery, control, packet-size negotiation).
    const limitMs = run.delivered > 0 ? run.plan.stallTimeoutMs : Math.max(run.plan.stallTimeoutMs, STARTUP_GRACE_MS);
    if (silentMs > limitMs) {
      this.fault(run, `no frame for ${Math.round(silentMs)} ms (camera unplugged or stream stalled)`, true);
    }
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.host.setHealth({ state: 'ended' });
    this.sub.error(err);
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.stallTimer !== null) clearInterval(this.stallTimer);
    this.retryTimer = null;
    this.stallTimer = null;
  }
}
