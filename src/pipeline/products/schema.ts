import { z } from 'zod';
import { PATH_MAX } from '../../config/sections.js';

/**
 * `products` and `cameras[].product`: what a prompted model (OneNIP) compares each frame with.
 * A product is either a recipe — one good image of it (the prompt) — or a pool of good images, of
 * which each frame gets the one nearest to it by the bundle's global feature (`cosine-pool`).
 * Images are as the camera sees the part (after the camera's ROI: a prompt goes through the
 * bundle's geometry only, like a frame after its ROI).
 * Hot: a change reads and prepares the new prompts before the running ones are replaced.
 */

/** A product name as it appears in configurations, `<root>/<camera>/product` and verdicts. */
export const productNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - (no spaces or slashes)');

const pathSchema = z.string().min(1).max(PATH_MAX);

/** One good image: the recipe of a `selection: recipe` bundle. */
const recipeProductSchema = z.strictObject({
  /** A good image of the product (PNG, JPEG, …); relative paths are relative to the configuration file. */
  prompt: pathSchema.describe('one good image of the product (the prompt of a prompted model), relative to this file'),
});

/** A pool: a folder (its image files, in file-name order) or a list of files (in that order: ties go to the first). */
const poolProductSchema = z.strictObject({
  pool: z
    .union([pathSchema, z.array(pathSchema).min(1).max(256)])
    .describe('good images of the product for a cosine-pool bundle: a folder of images (file-name order) or a list of files; relative to this file'),
});

/** Recipe XOR pool: an entry naming both, or neither, is refused by the schema. */
export const productConfigSchema = z.union([recipeProductSchema, poolProductSchema], {
  error: () => 'a product names either "prompt": FILE (one good image) or "pool": FOLDER or [FILE, …] (good images for a cosine-pool bundle), not both',
});

export const productsSchema = z
  .record(productNameSchema, productConfigSchema)
  .default({})
  .describe('products by name: the recipe (one good image) or pool of good images a prompted model compares each frame with');

export type ProductConfig = z.output<typeof productConfigSchema>;
export type ProductsConfig = z.output<typeof productsSchema>;

/** Whether a product entry is a pool (the type narrows to it). */
export function isPoolProduct(p: ProductConfig): p is z.output<typeof poolProductSchema> {
  return 'pool' in p;
}
