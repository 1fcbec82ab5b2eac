import { LinewatchError, errorMessage } from '../../errors.js';
import type { FrameExtras } from '../../models/adapters/index.js';
import type { ExtrasServer } from '../inspect/index.js';
import type { Manifest } from '../../models/manifest.js';
import { captureTimeNow, type Frame } from '../frame.js';
import { productOf } from './changeover.js';
import { preparePixels, type PreparedPixels } from '../preprocess/index.js';
import type { Recipe, Recipes } from './recipes.js';

/** Decodes and prepares a recipe's image for a model (its geometry, dtype, normalisation): the frames' own code. */
export type PreparePrompt = (recipe: Recipe, manifest: Manifest) => Promise<PreparedPixels>;

/** The production preparation: the prompt goes through preparePixels like a frame (no ROI: see products/schema.ts). */
export function preparePrompt(recipe: Recipe, manifest: Manifest): Promise<PreparedPixels> {
  const frame = { seq: 0, cameraId: `product ${recipe.product}`, capturedAt: captureTimeNow(), image: { kind: 'encoded' as const, data: recipe.bytes, origin: recipe.path }, meta: {} };
  return preparePixels(frame, manifest);
}

/**
 * Each product's prompt, prepared once per model and product — not per frame. Keyed by the
 * manifest object of the model in force: a model swap brings a new manifest, so its prompts are
 * prepared anew (and the old ones go with the old model). The served FrameExtras are shared by
 * every frame of the product: the adapter copies them into its batch, never hands them over.
 */
export class PromptCache {
  readonly recipes: Recipes;
  private readonly prepare: PreparePrompt;
  private readonly byModel: WeakMap<Manifest, Map<string, Promise<FrameExtras>>>;

  constructor(recipes: Recipes, prepare: PreparePrompt = preparePrompt) {
    this.recipes = recipes;
    this.prepare = prepare;
    this.byModel = new WeakMap();
  }

  /** Whether `product` has a recipe here. */
  has(product: string): boolean {
    return this.recipes.has(product);
  }

  /**
   * The extras of a frame of `product` for the model of `manifest` (prepared the first time).
   * Rejects with LW_ERR_PRODUCT_UNKNOWN when the product has no recipe, LW_ERR_PRODUCT_PROMPT when
   * its image cannot be prepared: that frame is then an `error` verdict, never given another prompt.
   */
  extras(manifest: Manifest, product: string): Promise<FrameExtras> {
    let models = this.byModel.get(manifest);
    if (models === undefined) {
      models = new Map();
      this.byModel.set(manifest, models);
    }
    const hit = models.get(product);
    if (hit !== undefined) return hit;
    const recipe = this.recipes.get(product);
    if (recipe === undefined) {
      const known = [...this.recipes.keys()];
      // Not cached: a later configuration may describe it (it is then a new cache anyway).
      return Promise.reject(
        new LinewatchError('LW_ERR_PRODUCT_UNKNOWN', `product "${product}" has no recipe (no products.${product}.prompt; ${known.length > 0 ? `known: ${known.join(', ')}` : 'no product is configured'})`),
      );
    }
    const made = this.prepare(recipe, manifest).then(
      (prompt): FrameExtras => ({ prompt }),
      (err: unknown) => {
        throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.prompt ${recipe.path}: ${errorMessage(err)}`, { cause: err });
      },
    );
    // The same bytes fail the same way: the failure is cached too (no decode per frame of a bad recipe).
    made.catch(() => {});
    models.set(product, made);
    return made;
  }

  /**
   * Prepares every recipe for the model of `manifest`: before a configuration or a model is taken,
   * so that a prompt that cannot be decoded refuses it whole instead of failing its frames.
   *
   * @throws LinewatchError LW_ERR_PRODUCT_PROMPT naming the product and the path
   */
  async prepareAll(manifest: Manifest): Promise<void> {
    for (const product of this.recipes.keys()) await this.extras(manifest, product);
  }
}

/**
 * Serves each frame the prompt of the product stamped on it, from the cache `prompts()` gives at
 * judging time (a station swaps its cache when `products` changes). A frame without a product gets
 * `missing(frame)` as its error — never another product's prompt.
 */
export function promptServer(prompts: () => PromptCache, missing: (frame: Frame) => Error): ExtrasServer {
  return (frame, model) => {
    const product = productOf(frame);
    if (product === undefined) return Promise.reject(missing(frame));
    return prompts().extras(model.bundle.manifest, product);
  };
}
