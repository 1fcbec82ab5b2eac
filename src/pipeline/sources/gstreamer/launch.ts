import { LinewatchError } from '../../../errors.js';
import { SOFTWARE_PLAN, convertFragment, decodeFragment, jpegConverterInput, type ConverterInput, type GstElementPlan } from './jetson.js';
import type { UpstreamLossPlan } from './losses.js';
import type { AravisElement } from './own-elements.js';
import { nvargusWhiteBalanceModes, type GstreamerInput, type GstreamerSourceConfig } from './schema.js';

/**
 * Pure: a gstreamer source configuration → the gst-launch description that runs it. Conversion
 * to what the model needs (GRAY8/RGB, Bayer demosaic, scaling) is done by GStreamer elements here,
 * never in JavaScript.
 */

/** Name of the appsink the presets end in. */
export const PRESET_SINK_NAME = 'lwsink';

/** Name of the camera element (lwaravissrc or aravissrc) in the aravis preset. */
const CAMERA_ELEMENT = 'lwcam';

/** How a built pipeline behaves, decided once at configuration time. */
export interface LaunchPlan {
  readonly description: string;
  readonly sinkName: string;
  /**
   * Live inputs drop in the appsink when Node falls behind (counted) and restart on end of stream;
   * finite ones block upstream (lossless) and complete on end of stream.
   */
  readonly live: boolean;
  /** End of stream means the stream was lost (camera, network): restart. Otherwise it completes the source. */
  readonly restartOnEos: boolean;
  /** Appsink caps to set on a raw launch description (presets put them in the description). */
  readonly sinkCaps: string | null;
  /** A stream silent this long while running is a fault, in ms; 0 = never. */
  readonly stallTimeoutMs: number;
  /** Errors of this input are transient (retry) rather than fatal (a corrupt file stays corrupt). */
  readonly retryOnError: boolean;
  /**
   * A property set again before each restart, to make the element reconnect: aravissrc opens its
   * camera when `camera-name` is set and keeps that connection (and its control privilege) for
   * its whole life, even after the camera went away.
   */
  readonly reopen: { readonly element: string; readonly property: string; readonly value: string } | null;
  /** For `images`: the file number the pipeline starts at (so a restart can skip the bad file). */
  readonly startIndex: number | null;
  /** How losses before the appsink can show besides frame-number offsets (losses.ts). */
  readonly upstream: UpstreamLossPlan;
}

/** Sources whose losses before the appsink show only through offsets, if they set them. */
const OFFSETS_ONLY: UpstreamLossPlan = { numbersFrames: false, timestampPeriodNs: null, flagsDiscont: false };
/** Sources that number their frames in buffer offsets (videotestsrc; v4l2src: the driver's sequence). */
const NUMBERED: UpstreamLossPlan = { numbersFrames: true, timestampPeriodNs: null, flagsDiscont: false };
/** Sources that flag lost data with DISCONT (rtp depayloaders do; a custom pipeline may). */
const FLAGS_DISCONT: UpstreamLossPlan = { numbersFrames: false, timestampPeriodNs: null, flagsDiscont: true };

/** GigE Vision 1.x block ids are 16 bits and skip 0: 65535 is followed by 1. */
const GVSP_V1_LAST_ID = 65535;

/**
 * lwaravissrc (linewatch's own element) sets each buffer's offset to the camera's frame id and
 * flags DISCONT after a gap; frames the stream delivered incomplete are not pushed, so their ids
 * are the gap.
 */
const CAMERA_FRAME_IDS: UpstreamLossPlan = { numbersFrames: true, timestampPeriodNs: null, flagsDiscont: true, offsetsWrapAfter: GVSP_V1_LAST_ID };

/**
 * aravissrc stamps each buffer with the camera's own timestamp (the first frame anchored at its
 * arrival, each next one by the camera's clock) but sets neither offsets nor DISCONT, and skips
 * incomplete frames silently: a free-running camera at a set rate shows a lost frame as a gap of
 * two periods between timestamps; a triggered one cannot show it.
 */
function aravisUpstream(input: Extract<GstreamerInput, { preset: 'aravis' }>, element: AravisElement): UpstreamLossPlan {
  if (element === 'lwaravissrc') return CAMERA_FRAME_IDS;
  if (input.trigger !== 'off' || input.fps === undefined) return OFFSETS_ONLY;
  return { numbersFrames: false, timestampPeriodNs: BigInt(Math.round(1e9 / input.fps)), flagsDiscont: false };
}

/** A string property value in launch syntax: always quoted, backslashes and quotes escaped. */
export function quoteLaunchValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A frame rate as a GStreamer fraction (25 → 25/1, 7.5 → 7500/1000). */
export function fpsFraction(fps: number): string {
  return Number.isInteger(fps) ? `${fps}/1` : `${Math.round(fps * 1000)}/1000`;
}

const BAYER_CAPS: Record<string, string> = {
  BayerRG8: 'rggb',
  BayerBG8: 'bggr',
  BayerGR8: 'grbg',
  BayerGB8: 'gbrg',
};

function sizeCaps(width: number | undefined, height: number | undefined, fps: number | undefined): string {
  let caps = '';
  if (width !== undefined) caps += `,width=${width}`;
  if (height !== undefined) caps += `,height=${height}`;
  if (fps !== undefined) caps += `,framerate=${fpsFraction(fps)}`;
  return caps;
}

/** The caps the model side wants at the appsink, or null for `native`. */
export function targetCaps(config: Pick<GstreamerSourceConfig, 'format' | 'width' | 'height'>): string | null {
  if (config.format === 'native') return null;
  return `video/x-raw,format=${config.format}${sizeCaps(config.width, config.height, undefined)}`;
}

/**
 * Convert (and scale, when a size is asked) to the target caps with the plan's elements (the
 * Jetson's VIC through nvvidconv, or videoconvert/videoscale); `bayer` puts the demosaic first.
 * `input` says what arrives (jetson.ts {@link ConverterInput}); NVMM input is copied out even for `native`.
 */
function convertTail(config: GstreamerSourceConfig, bayer: boolean, plan: GstElementPlan, input: ConverterInput = 'raw'): string {
  const demosaic = bayer ? 'bayer2rgb ! ' : '';
  if (config.format === 'native') {
    if (input === 'decoded' && plan.acceleration === 'jetson') return ` ! ${convertFragment(plan, null, input)}`;
    return bayer ? ' ! bayer2rgb' : '';
  }
  return ` ! ${demosaic}${convertFragment(plan, { format: config.format, width: config.width, height: config.height }, input)}`;
}

/** nvarguscamerasrc with its ISP settings and the NVMM caps that carry size and frame rate. */
function nvargusHead(input: Extract<GstreamerInput, { preset: 'nvargus' }>): string {
  let src = `nvarguscamerasrc sensor-id=${input.sensorId}`;
  if (input.sensorMode !== undefined) src += ` sensor-mode=${input.sensorMode}`;
  if (input.exposureUs !== undefined) {
    const ns = Math.round(input.exposureUs * 1000);
    src += ` exposuretimerange=${quoteLaunchValue(`${ns} ${ns}`)}`;
  }
  if (input.gain !== undefined) src += ` gainrange=${quoteLaunchValue(`${input.gain} ${input.gain}`)}`;
  src += ` wbmode=${nvargusWhiteBalanceModes.indexOf(input.whiteBalance)}`;
  // The ISP writes NV12 into NVMM memory only: nvvidconv copies it out.
  return `${src} ! video/x-raw(memory:NVMM),format=NV12${sizeCaps(input.width, input.height, input.fps)}`;
}

function appsink(maxBuffers: number, live: boolean, sync: boolean): string {
  // drop=true only for live inputs: a file must not lose frames, it can wait for us.
  return (
    ` ! appsink name=${PRESET_SINK_NAME} max-buffers=${maxBuffers} drop=${live} sync=${sync}` +
    ' emit-signals=false enable-last-sample=false'
  );
}

function aravisFeatures(input: Extract<GstreamerInput, { preset: 'aravis' }>): string[] {
  const features: string[] = [];
  if (input.trigger === 'off') {
    features.push('TriggerMode=Off');
  } else {
    const source = input.trigger === 'software' ? 'Software' : `Line${input.trigger.slice(4)}`;
    features.push('TriggerSelector=FrameStart', 'TriggerMode=On', `TriggerSource=${source}`);
  }
  for (const f of input.features) features.push(f);
  return features;
}

/**
 * The camera element with the preset's settings. lwaravissrc takes aravissrc's property names;
 * it switches auto exposure/gain off by itself when a value is set and has no auto-packet-size.
 */
function aravisHead(input: Extract<GstreamerInput, { preset: 'aravis' }>, element: AravisElement): { head: string; bayer: boolean } {
  const own = element === 'lwaravissrc';
  let src = `${element} name=${CAMERA_ELEMENT}`;
  if (input.camera !== undefined) src += ` camera-name=${quoteLaunchValue(input.camera)}`;
  if (input.exposureUs !== undefined) src += own ? ` exposure=${input.exposureUs}` : ` exposure-auto=off exposure=${input.exposureUs}`;
  if (input.gainDb !== undefined) src += own ? ` gain=${input.gainDb}` : ` gain-auto=off gain=${input.gainDb}`;
  if (input.packetSizeBytes !== undefined) src += own ? ` packet-size=${input.packetSizeBytes}` : ` auto-packet-size=false packet-size=${input.packetSizeBytes}`;
  if (own && !input.packetResend) src += ' packet-resend=false';
  src += ` features=${quoteLaunchValue(aravisFeatures(input).join(' '))}`;
  const bayer = BAYER_CAPS[input.pixelFormat];
  const rest = sizeCaps(input.width, input.height, input.fps);
  // The caps filter is how aravissrc is told the pixel format, sensor ROI and frame rate.
  const caps =
    bayer !== undefined
      ? `video/x-bayer,format=${bayer}${rest}`
      : `video/x-raw,format=${input.pixelFormat === 'RGB8' ? 'RGB' : 'GRAY8'}${rest}`;
  return { head: `${src} ! ${caps}`, bayer: bayer !== undefined };
}

/**
 * Builds the launch description and its behaviour for a configuration.
 *
 * @example
 * buildLaunch({ type: 'gstreamer', format: 'GRAY8', maxBuffers: 2, …, input: { preset: 'test', … } }).description
 * // 'videotestsrc pattern=smpte is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=lwsink …'
 */
export function buildLaunch(
  config: GstreamerSourceConfig,
  options: { imagesStartIndex?: number; elements?: GstElementPlan; aravisElement?: AravisElement } = {},
): LaunchPlan {
  const input = config.input;
  const plan = options.elements ?? SOFTWARE_PLAN;
  // linewatch's own element unless told otherwise (GstreamerSource passes what this machine has).
  const aravisElement = options.aravisElement ?? 'lwaravissrc';
  const base = { sinkCaps: null, stallTimeoutMs: config.stallTimeoutMs, retryOnError: true, startIndex: null, reopen: null, upstream: OFFSETS_ONLY };
  switch (input.preset) {
    case 'aravis': {
      const { head, bayer } = aravisHead(input, aravisElement);
      const description = head + convertTail(config, bayer, plan) + appsink(config.maxBuffers, true, false);
      // lwaravissrc opens the camera at each start and closes it at each stop: nothing to redo.
      const reopen =
        input.camera === undefined || aravisElement === 'lwaravissrc' ? null : { element: CAMERA_ELEMENT, property: 'camera-name', value: input.camera };
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: true, restartOnEos: true, reopen, upstream: aravisUpstream(input, aravisElement) };
    }
    case 'v4l2': {
      const caps = sizeCaps(input.width, input.height, input.fps);
      const head = input.mjpeg
        ? `v4l2src device=${quoteLaunchValue(input.device)} ! image/jpeg${caps} ! ${decodeFragment(plan, 'jpeg')}`
        : `v4l2src device=${quoteLaunchValue(input.device)} ! video/x-raw${caps}`;
      const converterInput = input.mjpeg ? jpegConverterInput(plan) : 'raw';
      const description = head + convertTail(config, false, plan, converterInput) + appsink(config.maxBuffers, true, false);
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: true, restartOnEos: true, upstream: NUMBERED };
    }
    case 'nvargus': {
      if (plan.acceleration !== 'jetson') {
        throw new LinewatchError(
          'LW_ERR_SOURCE_OPEN',
          'gstreamer preset nvargus: CSI cameras through the ISP need a Jetson (nvarguscamerasrc with nvvidconv); this machine has no nvvidconv',
        );
      }
      const description = nvargusHead(input) + convertTail(config, false, plan, 'decoded') + appsink(config.maxBuffers, true, false);
      // Whether nvarguscamerasrc numbers its buffers is not known here (no board): offsets only when seen.
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: true, restartOnEos: true };
    }
    case 'rtsp': {
      const head =
        `rtspsrc location=${quoteLaunchValue(input.url)} latency=${input.latencyMs}` +
        ` protocols=${input.transport} ! decodebin`;
      const description = head + convertTail(config, false, plan, 'decoded') + appsink(config.maxBuffers, true, false);
      const stallTimeoutMs = config.stallTimeoutMs > 0 ? config.stallTimeoutMs : input.stallTimeoutMs;
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: true, restartOnEos: true, stallTimeoutMs, upstream: FLAGS_DISCONT };
    }
    case 'video': {
      const head = `filesrc location=${quoteLaunchValue(input.path)} ! decodebin`;
      const description = head + convertTail(config, false, plan, 'decoded') + appsink(config.maxBuffers, false, input.realtime);
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: false, restartOnEos: false, retryOnError: false };
    }
    case 'images': {
      const startIndex = options.imagesStartIndex ?? input.startIndex;
      const jpeg = /\.jpe?g$/i.test(input.location);
      const head =
        `multifilesrc location=${quoteLaunchValue(input.location)} index=${startIndex} loop=${input.loop}` +
        ` caps=${quoteLaunchValue(`${jpeg ? 'image/jpeg' : 'image/png'},framerate=${fpsFraction(input.fps)}`)}` +
        ` ! ${jpeg ? decodeFragment(plan, 'jpeg') : 'pngdec'}`;
      const description = head + convertTail(config, false, plan, jpeg ? jpegConverterInput(plan) : 'raw') + appsink(config.maxBuffers, false, false);
      // A bad file is skipped on restart (startIndex moves past it), so errors are worth retrying.
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: false, restartOnEos: false, startIndex };
    }
    case 'test': {
      const head =
        `videotestsrc pattern=${input.pattern} is-live=${input.live}` +
        (input.numBuffers !== undefined ? ` num-buffers=${input.numBuffers}` : '') +
        ` ! video/x-raw${sizeCaps(input.width, input.height, input.fps)}`;
      const description = head + convertTail(config, false, plan) + appsink(config.maxBuffers, input.live, false);
      // num-buffers makes the test stream finite: its end completes the source even when live.
      return { ...base, description, sinkName: PRESET_SINK_NAME, live: input.live, restartOnEos: false, upstream: NUMBERED };
    }
    case 'launch':
      return {
        ...base,
        description: input.pipeline,
        sinkName: input.sinkName,
        live: input.live,
        restartOnEos: input.live,
        sinkCaps: targetCaps(config),
        upstream: FLAGS_DISCONT,
      };
  }
}
