import { z } from 'zod';
import { PATH_MAX } from '../../config/sections.js';

/**
 * `products` and `cameras[].product`: what a prompted model (OneNIP) compares each frame with.
 * A product is a recipe: one good image of it (the prompt), as the camera sees the part (after the
 * camera's ROI: the prompt goes through the bundle's geometry only, like a frame after its ROI).
 * Hot: a change reads and prepares the new prompts before the running ones are replaced.
 */

/** A product name as it appears in configurations, `<root>/<camera>/product` and verdicts. */
export const productNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - (no spaces or slashes)');

export const productConfigSchema = z.strictObject({
  /** A good image of the product (PNG, JPEG, …); relative paths are relative to the configuration file. */
  prompt: z.string().min(1).max(PATH_MAX).describe('one good image of the product (the prompt of a prompted model), relative to this file'),
});

export const productsSchema = z
  .record(productNameSchema, productConfigSchema)
  .default({})
  .describe('products by name: the recipe (one good image) a prompted model compares each frame with');

export type ProductConfig = z.output<typeof productConfigSchema>;
export type ProductsConfig = z.output<typeof productsSchema>;
