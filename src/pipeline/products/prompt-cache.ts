import { LinewatchError, errorMessage } from '../../errors.js';
import type { FrameExtras } from '../../models/adapters/index.js';
import type { Embedder } from '../../models/embedder.js';
import type { ExtrasServer } from '../inspect/index.js';
import type { Manifest } from '../../models/manifest.js';
import { captureTimeNow, type Frame } from '../frame.js';
import { productOf } from './changeover.js';
import { ModelMemo } from './model-memo.js';
import { preparePixels, type PreparedPixels } from '../preprocess/index.js';
import { nearestRow } from './nearest.js';
import { promptFileName, type ProductPrompts, type Recipe, type Recipes } from './recipes.js';
import { prepareStripTile, stripTileOf, type StripLayout } from './strip-prompts.js';

/** Decodes and prepares one prompt image for a model (its geometry, dtype, normalisation): the frames' own code. */
export type PreparePrompt = (recipe: Recipe, manifest: Manifest) => Promise<PreparedPixels>;

/** The production preparation: the prompt goes through preparePixels like a frame (no ROI: see products/schema.ts). */
export function preparePrompt(recipe: Recipe, manifest: Manifest): Promise<PreparedPixels> {
  const frame = { seq: 0, cameraId: `product ${recipe.product}`, capturedAt: captureTimeNow(), image: { kind: 'encoded' as const, data: recipe.bytes, origin: recipe.path }, meta: {} };
  return preparePixels(frame, manifest);
}

/** The model prompts are prepared for: its manifest (the cache key) and its embedding graph (null: none started). */
export interface PromptModel {
  readonly manifest: Manifest;
  readonly embedder: Embedder | null;
}

/**
 * A product's prompts prepared for one model: one member (a recipe, or a pool of one: no choice
 * to make, no embedding per frame) or a pool with each member's global feature, row by row.
 */
type PreparedProduct =
  | { readonly kind: 'single'; readonly extras: FrameExtras }
  | { readonly kind: 'pool'; readonly members: readonly FrameExtras[]; readonly features: Float32Array; readonly dim: number };

/**
 * Each product's prompts, prepared once per model and product — not per frame: each good image
 * decoded and prepared, and a pool's images embedded. Keyed by the manifest object of the model in
 * force: a model swap brings a new manifest, so its prompts are prepared anew (and the old ones go
 * with the old model). The served FrameExtras are shared by every frame that chose them: the
 * adapter copies them into its batch, never hands them over.
 */
export class PromptCache {
  readonly recipes: Recipes;
  private readonly prepare: PreparePrompt;
  /** Per model, per product. */
  private readonly products: ModelMemo<PreparedProduct>;
  /** Line-scan: per model, per product, strip layout and place across, the good tile. */
  private readonly tiles: ModelMemo<FrameExtras>;

  constructor(recipes: Recipes, prepare: PreparePrompt = preparePrompt) {
    this.recipes = recipes;
    this.prepare = prepare;
    this.products = new ModelMemo();
    this.tiles = new ModelMemo();
  }

  /**
   * A line-scan tile's extras: the good tile of `product`'s strip image at `x` across (strip-prompts.ts),
   * prepared once per model, product, layout and place. Rejects like extras().
   */
  stripTile(model: PromptModel, product: string, layout: StripLayout, x: number): Promise<FrameExtras> {
    const prompts = this.recipes.get(product);
    if (prompts === undefined) return Promise.reject(this.unknown(product));
    const key = `${product}|${layout.width}|${layout.tileWidth}x${layout.tileHeight}|${x}`;
    return this.tiles.get(model.manifest, key, () => prepareStripTile(prompts, model.manifest, layout, x));
  }

  /** Whether `product` has a recipe or a pool here. */
  has(product: string): boolean {
    return this.recipes.has(product);
  }

  /** Whether any product has a pool of more than one image (then the model's embedding graph must run). */
  needsEmbedding(): boolean {
    for (const p of this.recipes.values()) if (p.images.length > 1) return true;
    return false;
  }

  /**
   * The extras of a frame of `product` for `model`: the recipe, or the pool member nearest to
   * `frame` (its prepared pixels) by cosine similarity of the model's global feature (ties: the
   * first in pool order). Rejects with LW_ERR_PRODUCT_UNKNOWN when the product has no recipe,
   * LW_ERR_PRODUCT_PROMPT when its images cannot be prepared: that frame is then an `error`
   * verdict, never given another prompt.
   */
  async extras(model: PromptModel, product: string, frame: PreparedPixels | null): Promise<FrameExtras> {
    const p = await this.prepared(model, product);
    if (p.kind === 'single') return p.extras;
    if (model.embedder === null) throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `products.${product}: a pool needs the model's embedding graph, and none runs`);
    if (frame === null) throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `products.${product}: choosing from a pool needs the frame's pixels`);
    const [f] = await model.embedder.embed([frame]);
    return p.members[nearestRow(p.features, p.dim, f!)]!;
  }

  /**
   * Prepares every product for `model`: before a configuration or a model is taken, so that an
   * image that cannot be decoded refuses it whole instead of failing its frames.
   *
   * @throws LinewatchError LW_ERR_PRODUCT_PROMPT naming the product and the path
   */
  async prepareAll(model: PromptModel): Promise<void> {
    for (const product of this.recipes.keys()) await this.prepared(model, product);
  }

  private prepared(model: PromptModel, product: string): Promise<PreparedProduct> {
    const prompts = this.recipes.get(product);
    // Not cached: a later configuration may describe it (it is then a new cache anyway). Asked
    // before the memo: the recipes are fixed for the cache's life, so a product the memo holds
    // is always known.
    if (prompts === undefined) return Promise.reject(this.unknown(product));
    // The same bytes fail the same way: the failure is cached too (no decode per frame of a bad recipe).
    return this.products.get(model.manifest, product, () => this.make(model, prompts));
  }

  private unknown(product: string): LinewatchError {
    const known = [...this.recipes.keys()];
    return new LinewatchError('LW_ERR_PRODUCT_UNKNOWN', `product "${product}" has no recipe (no products.${product}.prompt or .pool; ${known.length > 0 ? `known: ${known.join(', ')}` : 'no product is configured'})`);
  }

  private async make(model: PromptModel, prompts: ProductPrompts): Promise<PreparedProduct> {
    const field = prompts.kind === 'recipe' ? 'prompt' : 'pool';
    const members: FrameExtras[] = [];
    const pixels: PreparedPixels[] = [];
    for (const image of prompts.images) {
      let prompt: PreparedPixels;
      try {
        prompt = await this.prepare(image, model.manifest);
      } catch (err) {
        throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${prompts.product}.${field} ${image.path}: ${errorMessage(err)}`, { cause: err });
      }
      pixels.push(prompt);
      members.push({ prompt, promptName: promptFileName(image) });
    }
    if (members.length === 1) return { kind: 'single', extras: members[0]! };
    if (model.embedder === null) {
      throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${prompts.product}.pool ${prompts.kind === 'pool' ? prompts.source : ''}: the model ${model.manifest.version} has no embedding graph to choose from a pool with`);
    }
    let rows: Float32Array[];
    try {
      rows = await model.embedder.embed(pixels);
    } catch (err) {
      throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${prompts.product}.pool: embedding its ${pixels.length} images failed: ${errorMessage(err)}`, { cause: err });
    }
    const dim = model.embedder.dim;
    const features = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => features.set(r, i * dim));
    return { kind: 'pool', members, features, dim };
  }
}

/**
 * Serves each frame the prompt of the product stamped on it, from the cache `prompts()` gives at
 * judging time (a station swaps its cache when `products` changes), chosen from its pool by the
 * frame's prepared pixels. A frame without a product gets `missing(frame)` as its error — never
 * another product's prompt.
 */
export function promptServer(prompts: () => PromptCache, missing: (frame: Frame) => Error): ExtrasServer {
  return (frame, model, prepared) => {
    const product = productOf(frame);
    if (product === undefined) return Promise.reject(missing(frame));
    const m = { manifest: model.bundle.manifest, embedder: model.embedder };
    // A line-scan tile is judged against the good tile at its own place across the web.
    const tile = stripTileOf(frame.meta);
    if (tile !== undefined) return prompts().stripTile(m, product, tile.layout, tile.x);
    return prompts().extras(m, product, prepared);
  };
}
