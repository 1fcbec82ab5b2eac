import { z } from 'zod';

/**
 * model.json: the contract between trainer/ (which writes it) and the runtime (which obeys it).
 * The runtime never guesses: pixel scale, layout, resize, what the graph already did to the map
 * and the calibration are all stated here. docs/model-bundle.md explains each field.
 */

/**
 * The architectures this runtime has an adapter for (src/models/adapters/index.ts maps each to
 * one). The schema takes any name, so that a bundle of another architecture is refused by
 * loadBundle with LW_ERR_MODEL_ARCHITECTURE naming it, rather than as a schema error.
 */
export const ARCHITECTURES = ['inp-former', 'inp-former++', 'onenip', 'anomalib', 'generic'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export function isArchitecture(name: string): name is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(name);
}

const size = z.object({ height: z.number().int().positive(), width: z.number().int().positive() });

/** How the runtime turns a camera image into the model's input: resize, then crop or tiles. */
const geometry = z.object({
  /**
   * Resize the whole (ROI of the) image to this size first, whatever its own aspect: a long part
   * keeps its proportions when this size has them (224×560).
   */
  resize: size.extend({
    method: z.enum(['bilinear', 'bicubic', 'nearest']).default('bilinear'),
    /** PIL-style antialiasing when shrinking (what torchvision's Resize on PIL images does). */
    antialias: z.boolean().default(true),
  }),
  /** Then crop this region; `center` puts it in the middle of the resized image. Null: the whole view. */
  crop: size.extend({ mode: z.literal('center').default('center') }).nullable().default(null),
  /**
   * Or cut the resized image into tiles of the input's size, neighbours overlapping by at least
   * `overlap` px (the last along each axis pulled back to end at the edge); each tile's map is
   * merged into the frame's by maximum, the image score is the highest tile score. Needs crop null.
   */
  tiles: size.extend({ overlap: z.number().int().nonnegative() }).nullable().default(null),
});

const tensorInput = z.object({
  name: z.string().min(1),
  dtype: z.enum(['uint8', 'float32', 'float16']),
  layout: z.enum(['NHWC', 'NCHW']),
  height: z.number().int().positive(),
  width: z.number().int().positive(),
  channels: z.union([z.literal(1), z.literal(3)]),
  colorOrder: z.enum(['RGB', 'BGR', 'GRAY']),
  /** Value range the graph expects: [0,255] or [0,1]. */
  valueRange: z.tuple([z.number(), z.number()]),
  /** Mean/std the runtime must apply; null when the graph normalises itself. */
  normalize: z
    .object({ mean: z.array(z.number()).length(3), std: z.array(z.number()).length(3) })
    .nullable(),
  /** Fixed batch size, or 'dynamic'. TensorRT wants fixed shapes or explicit profiles. */
  batch: z.union([z.number().int().positive(), z.literal('dynamic')]),
});

/** One step of map post-processing, applied in order by whoever the manifest says. */
export const mapStep = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('resize'),
    height: z.number().int().positive(),
    width: z.number().int().positive(),
    /** PyTorch's align_corners: true maps corner pixel centres onto each other; false is half-pixel. */
    alignCorners: z.boolean(),
  }),
  z.object({
    op: z.literal('gaussian'),
    sigma: z.number().positive(),
    /** Kernel side in pixels (odd). */
    kernel: z.number().int().positive(),
    padding: z.enum(['zero', 'reflect']),
  }),
]);
export type MapStep = z.infer<typeof mapStep>;

export const scoreRule = z.discriminatedUnion('op', [
  /** Mean of the top fraction of map values: k = floor(H·W·fraction) (INP-Former: 0.01). */
  z.object({ op: z.literal('topk-mean'), fraction: z.number().positive().max(1) }),
  z.object({ op: z.literal('max') }),
  /** Max of a stride-1 average pool (OneNIP: 16×16). */
  z.object({ op: z.literal('avgpool-max'), kernel: z.number().int().positive() }),
]);

const outputs = z.object({
  anomalyMap: z.object({
    name: z.string().min(1),
    /** Resolution of the map the graph emits ([N,1,H,W]). */
    height: z.number().int().positive(),
    width: z.number().int().positive(),
    /** Steps the graph already applied (for the record). */
    appliedInGraph: z.array(mapStep).default([]),
    /** Steps the runtime must still apply, in order, to reach the reference map. */
    runtimeSteps: z.array(mapStep).default([]),
  }),
  score: z.object({
    /** Name of the [N] output, or null when the runtime computes the score from the final map. */
    name: z.string().min(1).nullable(),
    rule: scoreRule,
  }),
  /** Extra outputs (goldens, intermediate maps) the runtime ignores. */
  extra: z.array(z.string()).default([]),
});

const distribution = z.object({
  n: z.number().int().nonnegative(),
  min: z.number(),
  max: z.number(),
  mean: z.number(),
  std: z.number().nonnegative(),
  /** Quantiles keyed by 'p50', 'p95', 'p99', 'p99.9'. */
  quantiles: z.record(z.string(), z.number()).default({}),
});

/**
 * Thresholds and the statistics they came from. Normalisation (anomalib's convention):
 * norm = clamp((raw − threshold) / (max − min) + 0.5, 0, 1), so norm 0.5 is the boundary.
 */
const calibration = z.object({
  method: z.string().min(1),
  image: z.object({ threshold: z.number(), min: z.number(), max: z.number() }),
  pixel: z.object({ threshold: z.number(), min: z.number(), max: z.number() }),
  goodImageScores: distribution.optional(),
  goodPixelValues: distribution.optional(),
});

/**
 * The graph that gives an image's global feature, for choosing a prompt from a pool (OneNIP:
 * embed.onnx). Its input takes images exactly as `input` does (same name, geometry, dtype, layout);
 * its output is [N, dim] float32. A pool's images are embedded once, each frame once, and the frame
 * gets the pool image with the highest similarity (ties: the first in pool order).
 */
const promptEmbedding = z.object({
  /** ONNX file name inside the bundle folder. */
  file: z.string().min(1),
  /** sha256 (hex) of that file; the runtime refuses a mismatch. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Graph input name (takes images like `input`). */
  input: z.string().min(1),
  /** Graph output name: [N, dim] float32. */
  output: z.string().min(1),
  dim: z.number().int().positive(),
  /** true: rows are L2-normalised, so cosine similarity is the dot product. */
  normalized: z.boolean(),
  similarity: z.literal('cosine').default('cosine'),
});

const prompt = z
  .object({
    /** Name of the prompt image input; same geometry and dtype as `input`. */
    name: z.string().min(1),
    /**
     * How a frame's prompt is chosen: `recipe` — the product's one prompt image; `cosine-pool` —
     * the nearest of the product's pool of good images by `embedding`.
     */
    selection: z.enum(['recipe', 'cosine-pool']),
    /** Folder of prompt images, relative to the bundle. */
    pool: z.string().optional(),
    /** The global-feature graph; required for `cosine-pool`. */
    embedding: promptEmbedding.optional(),
  })
  .refine((p) => p.selection !== 'cosine-pool' || p.embedding !== undefined, {
    message: 'selection "cosine-pool" needs an "embedding" graph to compare frames with the pool',
    path: ['embedding'],
  });

export const manifestSchema = z.object({
  format: z.literal('linewatch-bundle/1'),
  /** Which adapter runs the bundle: one of ARCHITECTURES (checked by loadBundle). */
  architecture: z.string().min(1),
  /** Human version of this model (shown in verdicts and status). */
  version: z.string().min(1),
  /** ONNX file name inside the bundle folder. */
  file: z.string().min(1).default('model.onnx'),
  /** sha256 (hex) of the ONNX file; the runtime refuses a mismatch. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  opset: z.number().int().positive().optional(),
  input: tensorInput,
  geometry,
  prompt: prompt.nullable().default(null),
  outputs,
  calibration,
  training: z.record(z.string(), z.unknown()).default({}),
  metrics: z.record(z.string(), z.unknown()).default({}),
}).superRefine((m, ctx) => {
  // The input the graph takes must be what preprocess makes, or frames would be silently garbled.
  const g = m.geometry;
  const made = g.tiles ?? g.crop ?? g.resize;
  const what = g.tiles ? 'geometry.tiles' : g.crop ? 'geometry.crop' : 'geometry.resize (no crop)';
  if (made.height !== m.input.height || made.width !== m.input.width) {
    ctx.addIssue({ code: 'custom', path: ['input'], message: `input is ${m.input.height}x${m.input.width} but ${what} makes ${made.height}x${made.width}` });
  }
  const inner = g.tiles ?? g.crop;
  if (inner !== null && (inner.height > g.resize.height || inner.width > g.resize.width)) {
    ctx.addIssue({ code: 'custom', path: ['geometry'], message: `${what} ${inner.height}x${inner.width} is larger than the resize ${g.resize.height}x${g.resize.width}` });
  }
  if (g.tiles !== null && g.crop !== null) {
    ctx.addIssue({ code: 'custom', path: ['geometry', 'crop'], message: 'tiles cover the whole frame: crop must be null' });
  }
  if (g.tiles !== null && g.tiles.overlap >= Math.min(g.tiles.height, g.tiles.width)) {
    ctx.addIssue({ code: 'custom', path: ['geometry', 'tiles', 'overlap'], message: `overlap ${g.tiles.overlap} px must be smaller than the tile` });
  }
});

export type ManifestInput = z.input<typeof manifestSchema>;
export type Manifest = z.output<typeof manifestSchema>;
