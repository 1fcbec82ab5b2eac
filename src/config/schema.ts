import { z } from 'zod';
import { mqttConfigSchema } from '../io/mqtt/schema.js';
import { executionProvidersSchema } from '../models/providers.js';
import { sourceConfigSchema } from '../pipeline/sources/schema.js';
import { triggerConfigSchema } from '../pipeline/trigger-config.js';
import { lineScanConfigSchema } from '../pipeline/tiler/schema.js';
import { productNameSchema, productsSchema } from '../pipeline/products/schema.js';
import { PATH_MAX, decideConfigSchema, inferenceQueueSchema, rectSchema, sinksSchema } from './sections.js';

/**
 * The whole configuration: ONE zod schema, assembled from the sections each module owns. Unknown
 * keys are refused (a typo must not silently fall back to a default on a production line).
 * `ConfigInput` is what a file or a remote payload may say; `Config` is what runs, defaults filled.
 */

export const modelConfigSchema = z.strictObject({
  /** Bundle folder (model.json + model.onnx); relative paths are relative to the configuration file. */
  bundle: z.string().min(1).max(PATH_MAX).describe('model bundle folder (model.json + model.onnx), relative to this file'),
  executionProviders: executionProvidersSchema,
  /** Session workers (parallel batches). Default 1. */
  workers: z.number().int().min(1).max(64).default(1).describe('inference session workers (parallel batches)'),
  /** ONNX Runtime intra-op threads per session. Default: the cores divided among the workers. */
  intraOpThreads: z.number().int().min(1).max(1024).optional().describe('ONNX Runtime intra-op threads per session; default: cores / workers'),
});

export const cameraConfigSchema = z.strictObject({
  /** Camera id, used in verdicts and topics. */
  id: z.string().max(64).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - (no spaces or slashes)'),
  source: sourceConfigSchema,
  /** Region of the camera image that is inspected (camera pixels); absent = the whole image. */
  roi: rectSchema.optional().describe('inspected region of the camera image, camera pixels; absent = whole image'),
  /** PLC triggers from `<root>/trigger` attached to this camera's frames; absent = none. */
  triggers: triggerConfigSchema.optional().describe('PLC triggers from <root>/trigger attached to this camera\'s frames'),
  /** Line-scan camera: buffers stitched into a strip, tiled, one verdict per segment of web; absent = area-scan. */
  lineScan: lineScanConfigSchema.optional().describe('line-scan: stitch buffers into a strip, tile it, one verdict per segment of web'),
  /**
   * The product running on this camera at start (a key of `products`); its verdicts name it and a
   * prompted model compares its frames with that product's prompt. Changed while running by a
   * configuration update (hot), `<root>/<camera>/product` or a trigger's `product`.
   */
  product: productNameSchema.optional().describe('product running on this camera at start (a key of products); changed by config, <root>/<camera>/product or a trigger'),
  /**
   * Largest frame (width × height) this camera may deliver; a larger one is an `error` verdict,
   * refused from its header before any decoding. Default 150 000 000: the largest industrial area
   * sensors (~151 MP) and line-scan buffers fit; a 12000×12000 test image does not slip through a
   * camera configured lower.
   */
  maxFramePixels: z
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .default(150_000_000)
    .describe('largest frame (width × height) accepted; larger ones are error verdicts, checked before decoding'),
});

export const configSchema = z
  .strictObject({
    /** Version of this configuration, carried by every verdict. Default '1'. */
    version: z.string().min(1).max(64).default('1').describe('version of this configuration, carried by every verdict'),
    model: modelConfigSchema,
    cameras: z.array(cameraConfigSchema).min(1).max(64).describe('one inspection pipeline per camera'),
    products: productsSchema,
    inference: inferenceQueueSchema,
    decide: decideConfigSchema,
    sinks: sinksSchema,
    mqtt: mqttConfigSchema,
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.cameras.forEach((cam, i) => {
      if (seen.has(cam.id)) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'id'], message: `camera id '${cam.id}' is used twice` });
      seen.add(cam.id);
      // A camera running a product nobody described would be judged against no recipe: refused whole.
      if (cam.product !== undefined && !Object.hasOwn(c.products, cam.product)) {
        const known = Object.keys(c.products);
        ctx.addIssue({
          code: 'custom',
          path: ['cameras', i, 'product'],
          message: `product '${cam.product}' has no entry in products (${known.length > 0 ? `known: ${known.join(', ')}` : 'none is configured'})`,
        });
      }
    });
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type CameraConfig = z.output<typeof cameraConfigSchema>;
export type ModelConfig = z.output<typeof modelConfigSchema>;
