/**
 * The unit that flows from a source into the pipeline. One per captured image (or one line-scan
 * buffer). `seq` is gap-free per camera: a gap means a frame was lost before it reached us.
 */

/** Raw pixel layouts a source may deliver. Bayer formats are demosaiced before preprocessing. */
export type PixelFormat =
  | 'GRAY8'
  | 'RGB'
  | 'BGR'
  | 'RGBA'
  | 'BGRA'
  | 'BayerRG8'
  | 'BayerBG8'
  | 'BayerGR8'
  | 'BayerGB8';

/** Decoded pixels, tightly packed unless `strideBytes` says otherwise. */
export interface RawImage {
  readonly kind: 'raw';
  readonly format: PixelFormat;
  readonly width: number;
  readonly height: number;
  /** Bytes per row; defaults to width × bytes per pixel. */
  readonly strideBytes?: number;
  readonly data: Buffer;
}

/** Still-encoded bytes (PNG, JPEG, TIFF, …) as read from a file or an RTSP/JPEG stream; decoded in preprocess. */
export interface EncodedImage {
  readonly kind: 'encoded';
  readonly data: Buffer;
  /** Where it came from, for error messages (file path, URL). */
  readonly origin?: string;
}

export type FrameImage = RawImage | EncodedImage;

/** Capture time, taken as early as the source can (GStreamer buffer PTS mapped to clocks, file read time). */
export interface CaptureTime {
  /** process.hrtime.bigint() domain: for latencies. */
  readonly monoNs: bigint;
  /** Date.now() domain: for humans and for the line's deadline. */
  readonly wallMs: number;
}

export interface FrameMeta {
  readonly partId?: string;
  readonly triggerId?: string;
  /** Encoder count at capture (line-scan, triggered lines). */
  readonly encoderPos?: number;
  /** The product this frame is of, stamped when it is received (src/pipeline/products/changeover.ts) or by its trigger. */
  readonly product?: string;
  /** Free-form tags from the source (file path, tile index, strip offset). */
  readonly [key: string]: unknown;
}

export interface Frame {
  readonly seq: number;
  readonly cameraId: string;
  readonly capturedAt: CaptureTime;
  readonly image: FrameImage;
  readonly meta: FrameMeta;
}

/** Bytes per pixel of a raw format. */
export function bytesPerPixel(format: PixelFormat): number {
  switch (format) {
    case 'GRAY8':
    case 'BayerRG8':
    case 'BayerBG8':
    case 'BayerGR8':
    case 'BayerGB8':
      return 1;
    case 'RGB':
    case 'BGR':
      return 3;
    case 'RGBA':
    case 'BGRA':
      return 4;
  }
}

/** Clock reading for "now", in both domains. */
export function captureTimeNow(): CaptureTime {
  return { monoNs: process.hrtime.bigint(), wallMs: Date.now() };
}
