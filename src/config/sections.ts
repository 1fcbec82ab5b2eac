import { z } from 'zod';

/**
 * The configuration sections owned by the runtime core (model, cameras, decision rules, pipeline,
 * sinks). Sections owned by other modules (sources, mqtt, execution providers) are imported by
 * schema.ts; this file only holds ours so that schema.ts stays an assembly.
 */

/** Largest image side in pixels anything in a configuration may name (sensors are ≤ 16k wide; strips are cut in bands). */
export const MAX_IMAGE_SIDE = 1_000_000;

/** Longest file path accepted (Linux PATH_MAX). */
export const PATH_MAX = 4096;

/** An axis-aligned rectangle in camera pixels (x, y = top-left corner). */
export const rectSchema = z.strictObject({
  x: z.number().int().min(0).max(MAX_IMAGE_SIDE),
  y: z.number().int().min(0).max(MAX_IMAGE_SIDE),
  width: z.number().int().min(1).max(MAX_IMAGE_SIDE),
  height: z.number().int().min(1).max(MAX_IMAGE_SIDE),
});
export type RectConfig = z.output<typeof rectSchema>;

/** A threshold either on the bundle's calibrated scale (0.5 = calibrated boundary) or on raw model values. */
const thresholdSchema = z
  .strictObject({
    value: z
      .number()
      // Scores and maps are ≥ 0: a threshold at or below 0 rejects every part. Not a setting, a mistake.
      .positive('a threshold must be > 0 (at or below 0 every part would be rejected)')
      .max(1e9)
      .default(0.5)
      .describe('threshold; normalized: in (0, 1], 0.5 is the bundle\'s calibrated boundary; raw: > 0, in model units'),
    scale: z.enum(['normalized', 'raw']).default('normalized').describe('normalized (by the bundle calibration) or raw model values'),
  })
  .superRefine((t, ctx) => {
    // Normalized scores are ≤ 1: a threshold above would never reject (rejectOn says that, not a threshold).
    if (t.scale === 'normalized' && t.value > 1) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${t.value} is off the normalized scale (0, 1]; use scale: raw for model units` });
    }
  });
export type ThresholdConfig = z.output<typeof thresholdSchema>;

/**
 * Decision rules. `rejectOn` says which evidence rejects a part:
 * - `score`: the image score reaches `image` (defects are still reported);
 * - `defect`: a defect region (map ≥ `pixel`, area ≥ `minDefectAreaPx`, inside `include` if given,
 *   not inside any `exclude`) exists;
 * - `score-or-defect`, `score-and-defect`: both rules combined.
 */
export const decideConfigSchema = z
  .strictObject({
    rejectOn: z
      .enum(['score', 'defect', 'score-or-defect', 'score-and-defect'])
      .default('score')
      .describe('which evidence rejects a part: the image score, a defect region, or both combined'),
    image: thresholdSchema.prefault({}).describe('image score threshold'),
    pixel: thresholdSchema.prefault({}).describe('anomaly-map threshold that outlines defect regions'),
    /** Smallest region (camera pixels) that counts as a defect. Default 0: every region counts. */
    minDefectAreaPx: z.number().min(0).max(1e12).default(0).describe('smallest defect region that counts, in camera pixels'),
    /** A region counts only if its centre lies in one of these rectangles (empty = whole image). */
    include: z.array(rectSchema).max(256).default([]).describe('regions count only with their centre inside one of these (camera pixels); empty = everywhere'),
    /** A region whose centre lies in one of these rectangles never counts. */
    exclude: z.array(rectSchema).max(256).default([]).describe('regions with their centre inside one of these never count'),
    /** What `error` and `dropped` frames become for the line. Default reject: nothing passes uninspected. */
    failSafe: z.enum(['reject', 'pass']).default('reject').describe('what error and dropped frames are for the line; reject: nothing passes uninspected'),
  })
  .prefault({});
export type DecideConfig = z.output<typeof decideConfigSchema>;

/** Batching and the bounded queue in front of inference. */
export const inferenceQueueSchema = z
  .strictObject({
    /**
     * Frames per model call at most. Default: a fixed-batch model's batch; else, batching across
     * cameras, the smallest batch the model runs within 5 % of its best images/s, measured on the
     * engine when it starts (at most the number of area-scan cameras; status says which); else 1.
     */
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(256)
      .optional()
      .describe("frames per model call at most; default: a fixed-batch model's batch, else (batching across cameras) the smallest batch within 5 % of the model's best images/s, measured at start, at most the number of area-scan cameras; else 1"),
    /**
     * Frames of different cameras share a model call: while the model is busy (or a partial batch
     * waits batchWaitMs), frames gather from every camera, each camera keeping its own bounded
     * queue, drops and counters, served in turn. false: each camera batches only its own frames.
     * Default true.
     */
    batchAcrossCameras: z.boolean().default(true).describe("frames of several cameras share one model call (each camera keeps its own queue, drops and counters); false: each camera batches its own"),
    /** How long the oldest waiting frame waits for company before a partial batch goes. Default 2 ms. */
    batchWaitMs: z.number().min(0).max(10_000).default(2).describe('how long the oldest waiting frame waits for company before a partial batch goes, ms'),
    /**
     * Frames allowed to wait (decoded or not) in front of inference, per camera; more are dropped
     * (that camera's oldest) and judged by failSafe. Default 8.
     */
    maxQueuedFrames: z.number().int().min(1).max(10_000).default(8).describe("frames waiting in front of inference, per camera; beyond, that camera's oldest is dropped and judged by failSafe"),
    /**
     * Worker threads that decode and resize frames, so that the main loop (acquisition, MQTT)
     * never waits on pixels; 0 = on the main thread. Default 1.
     */
    preprocessWorkers: z.number().int().min(0).max(64).default(1).describe('threads that decode and resize frames; 0 = main thread'),
    /**
     * A camera whose frames take less than this to prepare (ms, running average) is prepared on
     * the main thread even with workers: the hop to a worker would cost more than it saves.
     * 0 = always in a worker. Default 1.
     */
    preprocessInlineBelowMs: z
      .number()
      .min(0)
      .max(1_000)
      .default(1)
      .describe('cameras whose frames take less than this (ms, measured) to prepare are prepared on the main thread; 0 = always in a worker'),
    /** Verdicts slower than this (capture → verdict) are counted as late. Default: none counted. */
    lateAfterMs: z.number().positive().max(3_600_000).optional().describe('verdicts slower than this (capture to verdict, ms) are counted as late'),
  })
  .prefault({});
export type InferenceQueueConfig = z.output<typeof inferenceQueueSchema>;

export const consoleSinkSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** One JSON verdict per line instead of a human line. */
    json: z.boolean().default(false),
  })
  .prefault({});

export const ngImagesSinkSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Folder for NG image + heatmap overlay JPEGs. */
    dir: z.string().min(1).max(PATH_MAX).default('var/ng-images'),
    /** Ring size: the oldest pairs are deleted beyond this many rejected frames. Default 200. */
    maxFrames: z.number().int().min(1).max(100_000).default(200),
    /** JPEG quality 1–100. Default 85. */
    quality: z.number().int().min(1).max(100).default(85),
  })
  .prefault({});

export const sinksSchema = z
  .strictObject({ console: consoleSinkSchema, ngImages: ngImagesSinkSchema })
  .prefault({});
export type SinksConfig = z.output<typeof sinksSchema>;
