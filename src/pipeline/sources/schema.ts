import { z } from 'zod';
import { gstreamerSourceSchema } from './gstreamer/schema.js';

/**
 * Source configuration: one member per source kind, discriminated by `type`. Each source module
 * owns its member; this file only assembles the union. The GStreamer work adds its members here.
 */
export const folderSourceSchema = z.strictObject({
  type: z.literal('folder'),
  /** Folder of images, read in sorted order; file name (without extension) becomes partId. */
  path: z.string().min(1).max(4096),
  loop: z.boolean().default(false),
  /** Frames per second; 0 = as fast as the pipeline takes them, never dropping (lossless). */
  fps: z.number().min(0).max(100_000).default(0),
  /**
   * Decode every image once at start and deliver raw pixels, as a camera does: replays a set at a
   * camera's pace without paying the decode per frame (benchmarks, soak runs). Holds all pixels
   * in memory (refused above 2 GiB); a file that does not decode is still sent as it is, so it
   * becomes an `error` verdict like any corrupt frame.
   */
  preload: z.boolean().default(false),
});

export const syntheticSourceSchema = z.strictObject({
  type: z.literal('synthetic'),
  width: z.number().int().min(1).max(65_535).default(256),
  height: z.number().int().min(1).max(65_535).default(256),
  /** Fraction of parts that carry an injected defect. */
  defectRate: z.number().min(0).max(1).default(0.2),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
  fps: z.number().min(0).max(100_000).default(0),
  /** Stop after this many frames; absent = endless. */
  count: z.number().int().min(1).max(1e12).optional(),
  /** Pixel format of the generated frames. */
  format: z.enum(['RGB', 'GRAY8']).default('RGB'),
});

export const sourceConfigSchema = z.discriminatedUnion('type', [folderSourceSchema, syntheticSourceSchema, gstreamerSourceSchema]);
export type SourceConfig = z.output<typeof sourceConfigSchema>;
export type FolderSourceConfig = z.output<typeof folderSourceSchema>;
export type SyntheticSourceConfig = z.output<typeof syntheticSourceSchema>;
