import { z } from 'zod';

/**
 * Line-scan settings of a camera (`cameras[].lineScan`, run by src/pipeline/operators/line-scan.ts).
 * Sizes in pixels/lines, lengths in mm.
 */
export const lineScanConfigSchema = z.strictObject({
  /** Lines per camera buffer (the height of each frame the camera delivers). */
  bufferLines: z.number().int().min(1).max(65_535),
  /** Tile size in pixels; default: the model's input size. */
  tileWidth: z.number().int().min(1).max(8192).optional(),
  tileHeight: z.number().int().min(1).max(8192).optional(),
  /** Overlap between tiles across the web, in pixels. Default 32. */
  overlapAcrossPx: z.number().int().min(0).max(8192).default(32),
  /** Overlap between bands along the web, in lines. Default 32. */
  overlapAlongLines: z.number().int().min(0).max(8192).default(32),
  /** Pixel pitch across the web, in mm. */
  mmPerPixel: z.number().positive().max(1000),
  /** Lines → mm along the web: a fixed line pitch, or the encoder counts carried by triggers/frames. */
  resolution: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('fixed'), mmPerLine: z.number().positive().max(1000) }),
    z.strictObject({ kind: z.literal('encoder'), countsPerMm: z.number().positive().max(1e9) }),
  ]),
  /** Length of web decided at once (cut length, part pitch), in mm. */
  segmentLengthMm: z.number().positive().max(1e7),
  /** A segment is rejected for a defect of at least this many pixels. Default 1. */
  minDefectAreaPx: z.number().int().min(1).max(1e12).default(1),
  /**
   * Where each segment's `partId` comes from (absent: segments carry none; tiler/parts.ts):
   * `triggers` — each buffer's PLC trigger names the part under its first line (a new partId
   * starts a new part there); `pitch` — a part every `pitchMm` (default segmentLengthMm) from the
   * web's zero, named `${prefix}${first + n}`. A segment takes the part its middle lies in.
   */
  parts: z
    .discriminatedUnion('from', [
      z.strictObject({ from: z.literal('triggers') }),
      z.strictObject({
        from: z.literal('pitch'),
        pitchMm: z.number().positive().max(1e7).optional(),
        prefix: z.string().max(64).default(''),
        first: z.number().int().min(0).max(1e12).default(0),
      }),
    ])
    .optional(),
});

export type LineScanConfig = z.output<typeof lineScanConfigSchema>;
