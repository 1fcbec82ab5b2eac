import { z } from 'zod';

/**
 * The `gstreamer` source: one member of the source union. `input` says where pixels come from (a
 * typed preset, or a raw launch string); the rest says what the model gets and how faults are met.
 */

/** Pixel formats a GigE Vision / USB3 Vision camera may be asked for (GenICam PixelFormat names). */
export const cameraPixelFormats = ['Mono8', 'BayerRG8', 'BayerBG8', 'BayerGR8', 'BayerGB8', 'RGB8'] as const;

const aravisInput = z.strictObject({
  preset: z.literal('aravis'),
  /**
   * The GStreamer element: `lwaravissrc`, linewatch's own (built at install by
   * scripts/build-gst-plugin.sh; the camera's frame ids reach the verdicts and lost frames become
   * `dropped` verdicts), or Debian's `aravissrc` (neither). Absent = lwaravissrc where it is built,
   * else aravissrc.
   */
  element: z.enum(['lwaravissrc', 'aravissrc']).optional(),
  /** Camera name as aravis lists it (`arv-tool-0.8`), e.g. `Basler-21234567` or its serial; absent = the first camera found. */
  camera: z.string().min(1).max(256).optional(),
  /** GenICam pixel format. Bayer formats are demosaiced in GStreamer (bayer2rgb). Default Mono8. */
  pixelFormat: z.enum(cameraPixelFormats).default('Mono8'),
  /** Exposure time in µs; absent = the camera's current setting. */
  exposureUs: z.number().positive().max(60_000_000).optional(),
  /** Gain in dB; absent = the camera's current setting. */
  gainDb: z.number().min(0).max(100).optional(),
  /** Frame rate asked of the camera in frames/s; absent = the camera's current setting (or the trigger's pace). */
  fps: z.number().positive().max(200_000).optional(),
  /** Hardware or software trigger: `off` = free running; `line1`…`line4` = FrameStart on that input; `software` = TriggerSoftware. Default off. */
  trigger: z.enum(['off', 'software', 'line1', 'line2', 'line3', 'line4']).default('off'),
  /** GigE Vision packet size in bytes (jumbo frames: 8000–9000); absent = negotiated by aravis. */
  packetSizeBytes: z.number().int().min(576).max(16384).optional(),
  /**
   * Ask the camera to resend missing GigE Vision packets (lwaravissrc only). Off: a frame with a
   * missing packet is lost at once (a `dropped` verdict with its frame id) instead of arriving
   * late. Default true.
   */
  packetResend: z.boolean().default(true),
  /** Image size in pixels (ROI on the sensor), absent = full sensor. */
  width: z.number().int().min(1).max(65_535).optional(),
  height: z.number().int().min(1).max(65_535).optional(),
  /** Further GenICam features as `Name=Value` pairs, passed to aravissrc `features` as they are. */
  features: z.array(z.string().max(256).regex(/^[A-Za-z][A-Za-z0-9_]*=\S+$/, 'Name=Value without spaces')).max(64).default([]),
});

const v4l2Input = z.strictObject({
  preset: z.literal('v4l2'),
  /** Device node. Default /dev/video0. */
  device: z.string().min(1).max(4096).default('/dev/video0'),
  width: z.number().int().min(1).max(65_535).optional(),
  height: z.number().int().min(1).max(65_535).optional(),
  fps: z.number().positive().max(200_000).optional(),
  /** Ask the device for MJPEG (common on USB webcams at high resolutions) and decode it. Default false. */
  mjpeg: z.boolean().default(false),
});

/** White-balance modes of nvarguscamerasrc (`wbmode`), in its own order (0 = off). */
export const nvargusWhiteBalanceModes = [
  'off', 'auto', 'incandescent', 'fluorescent', 'warm-fluorescent', 'daylight', 'cloudy-daylight', 'twilight', 'shade',
] as const;

/** A CSI camera on a Jetson through NVIDIA's ISP (nvarguscamerasrc → nvargus-daemon): demosaic, denoise, auto exposure. */
const nvargusInput = z.strictObject({
  preset: z.literal('nvargus'),
  /** The camera as nvargus-daemon numbers them (`sensor-id`). Default 0. */
  sensorId: z.number().int().min(0).max(255).default(0),
  /** Sensor mode index as the driver lists them; absent = the daemon picks the mode that best fits width/height/fps. */
  sensorMode: z.number().int().min(0).max(255).optional(),
  /** Output size and frame rate of the ISP; absent = the mode's own. */
  width: z.number().int().min(1).max(65_535).optional(),
  height: z.number().int().min(1).max(65_535).optional(),
  fps: z.number().positive().max(10_000).optional(),
  /** Fixed exposure time in µs; absent = auto exposure. Up to 60 s, as for aravis. */
  exposureUs: z.number().positive().max(60_000_000).optional(),
  /** Fixed analog gain as a factor (1 = none); absent = auto. CSI sensors reach a few hundred at most. */
  gain: z.number().min(1).max(1000).optional(),
  /** White balance. Default auto. */
  whiteBalance: z.enum(nvargusWhiteBalanceModes).default('auto'),
});

const rtspInput = z.strictObject({
  preset: z.literal('rtsp'),
  url: z.string().max(2048).regex(/^rtsps?:\/\//, 'an rtsp:// or rtsps:// URL'),
  /** Jitter buffer in ms: lower = fresher frames, higher = fewer artefacts on a lossy network. Default 200. */
  latencyMs: z.number().int().min(0).max(60_000).default(200),
  /** RTP transport; tcp passes NAT and firewalls and loses nothing, udp has the least latency. Default tcp. */
  transport: z.enum(['tcp', 'udp']).default('tcp'),
  /** A stream silent this long counts as lost and is reconnected, in ms. Default 5000. */
  stallTimeoutMs: z.number().int().min(1).max(3_600_000).default(5000),
});

const videoInput = z.strictObject({
  preset: z.literal('video'),
  /** Video file, any container GStreamer decodes. */
  path: z.string().min(1).max(4096),
  /** Deliver at the file's own frame rate (true) or as fast as it decodes (false). Default false. */
  realtime: z.boolean().default(false),
});

const imagesInput = z.strictObject({
  preset: z.literal('images'),
  /** printf-style pattern of numbered files, e.g. `/data/parts/img_%05d.png` (multifilesrc). */
  location: z
    .string()
    .max(4096)
    .regex(/%0?\d*d/, 'a printf pattern with %d, e.g. img_%05d.png')
    .regex(/\.(png|jpe?g)$/i, 'PNG or JPEG files (.png, .jpg, .jpeg)'),
  /** First file number. Default 0. */
  startIndex: z.number().int().min(0).max(1e9).default(0),
  /** Frames per second announced in the caps (pacing only with realtime). Default 10. */
  fps: z.number().positive().max(10_000).default(10),
  /** Start again at startIndex after the last file. Default false. */
  loop: z.boolean().default(false),
});

const testInput = z.strictObject({
  preset: z.literal('test'),
  /** videotestsrc pattern name (smpte, snow, ball, gradient, …). Default smpte. */
  pattern: z.string().max(64).regex(/^[a-z0-9-]+$/).default('smpte'),
  width: z.number().int().min(1).max(65_535).default(640),
  height: z.number().int().min(1).max(65_535).default(480),
  fps: z.number().positive().max(10_000).default(30),
  /** Stop after this many frames (end of stream → the source completes); absent = endless. */
  numBuffers: z.number().int().min(1).max(1e12).optional(),
  /** Behave like a camera (frames produced at fps whether or not they are taken). Default true. */
  live: z.boolean().default(true),
});

const launchInput = z.strictObject({
  preset: z.literal('launch'),
  /** A gst-launch-1.0 description ending in an appsink, e.g. `v4l2src ! videoconvert ! appsink name=sink`. */
  pipeline: z.string().min(1).max(16_384),
  /** Name of the appsink in the description. Default sink. */
  sinkName: z.string().min(1).max(128).default('sink'),
  /**
   * A live input (camera, network stream) never waits for us: the appsink drops what Node cannot
   * take, and end of stream means the stream was lost (restart). A finite one (file) is read
   * losslessly at the pipeline's pace, and end of stream completes the source. Default true.
   */
  live: z.boolean().default(true),
});

export const gstreamerInputSchema = z.discriminatedUnion('preset', [
  aravisInput,
  v4l2Input,
  nvargusInput,
  rtspInput,
  videoInput,
  imagesInput,
  testInput,
  launchInput,
]);

export const gstreamerSourceSchema = z.strictObject({
  type: z.literal('gstreamer'),
  input: gstreamerInputSchema,
  /**
   * What the model gets; the conversion (and Bayer demosaicing) happens in GStreamer. `native`
   * passes the launch string's own output through (raw launch only makes sense with it). Default GRAY8.
   */
  format: z.enum(['GRAY8', 'RGB', 'native']).default('GRAY8'),
  /** Scale in GStreamer to this size in pixels; absent = as delivered. */
  width: z.number().int().min(1).max(65_535).optional(),
  height: z.number().int().min(1).max(65_535).optional(),
  /** Frames held in the appsink when Node falls behind; older ones are dropped and counted, the camera never stalls. Default 2. */
  maxBuffers: z.number().int().min(1).max(64).default(2),
  restart: z
    .strictObject({
      /** First wait after a fault, in ms. Default 500. */
      initialDelayMs: z.number().int().min(1).max(600_000).default(500),
      /** Longest wait between attempts, in ms. Default 30000. */
      maxDelayMs: z.number().int().min(1).max(3_600_000).default(30_000),
      /** Each wait is drawn in ±jitter × delay so that many stations do not retry in step. Default 0.2. */
      jitter: z.number().min(0).max(1).default(0.2),
    })
    .prefault({}),
  /** No frame for this long while running counts as a fault (camera unplugged without an error), in ms; 0 = off (triggered cameras may idle). Default 0. */
  stallTimeoutMs: z.number().int().min(0).max(3_600_000).default(0),
});

export type GstreamerSourceConfig = z.output<typeof gstreamerSourceSchema>;
export type GstreamerSourceInput = z.input<typeof gstreamerSourceSchema>;
export type GstreamerInput = z.output<typeof gstreamerInputSchema>;
