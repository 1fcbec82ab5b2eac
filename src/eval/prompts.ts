/**
 * Prompts for evaluating a prompted model (OneNIP). A `recipe` bundle: each category is judged
 * against one good image of its own, taken from its train/good — the recipe a line would configure
 * for that product; which one is chosen by a seed (reproducible, and a second seed shows how much
 * the choice moves the figures) or given as one file for every category. A `cosine-pool` bundle:
 * each category's pool is the first M images of its train/good in file-name order — trainer/'s own
 * rule for eval and calibration (its RUN's `pool_size`, 8 by default), so both judge alike — and
 * each image gets the pool member nearest to it. The report names each prompt or pool.
 */
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LinewatchError, errorMessage } from '../errors.js';
import { prng } from '../pipeline/sources/synthetic.js';
import type { ProductPrompts, Recipe, Recipes } from '../pipeline/products/index.js';
import type { EvalDataset } from './dataset.js';
import { listImages } from '../util/image-files.js';

/** How each category's prompt is chosen. */
export type PromptRule =
  /** One image of `<category>/train/good`, drawn with the seeded PRNG the synthetic source uses. */
  | { readonly kind: 'seed'; readonly seed: number }
  /** The same image for every category (a product's recipe as the line has it; on a pool bundle, a pool of one). */
  | { readonly kind: 'file'; readonly path: string }
  /** A cosine-pool bundle: the first `size` images of `<category>/train/good` in file-name order (all when fewer). */
  | { readonly kind: 'pool'; readonly size: number };

/** trainer/'s default pool size (its RecipeConfig.pool_size), used when the manifest does not repeat it. */
export const DEFAULT_POOL_SIZE = 8;

/**
 * The rule that fits the bundle: a `cosine-pool` bundle draws pools (of the manifest's
 * `training.recipe.pool_size` unless `poolSize` is given); a given file stays a file (a pool of one).
 */
export function ruleForBundle(rule: PromptRule, selection: 'recipe' | 'cosine-pool', poolSizeOfRun: unknown, poolSize?: number): PromptRule {
  if (selection === 'cosine-pool' && rule.kind === 'seed') {
    const fromRun = typeof poolSizeOfRun === 'number' && Number.isInteger(poolSizeOfRun) && poolSizeOfRun > 0 ? poolSizeOfRun : DEFAULT_POOL_SIZE;
    return { kind: 'pool', size: poolSize ?? fromRun };
  }
  return rule;
}

export const DEFAULT_PROMPT_RULE: PromptRule = { kind: 'seed', seed: 0 };

/** The prompt a category was judged with, as the report states it. */
export interface ChosenPrompt {
  readonly category: string;
  /** Relative to the data root when it lies inside it. */
  readonly image: string;
  /** In words: `train/good image 12 of 209, seed 0`, or `given (--prompt)`, or how the pool was drawn. */
  readonly rule: string;
  /** A pool's images (relative to the data root), in pool order; absent for one prompt. */
  readonly pool?: readonly string[];
}

/** One line for reports and the calibration method: `a: train/good/003.png (train/good image 3 of 8, seed 0); …`. */
export function describePrompts(chosen: readonly ChosenPrompt[]): string {
  return chosen.map((p) => `${p.category}: ${p.image} (${p.rule})`).join('; ');
}

/**
 * The index `seed` picks among `n` images: the first draw of the synthetic source's PRNG, so the
 * same seed picks the same image on every machine (the list is sorted by name).
 */
export function seededIndex(seed: number, n: number): number {
  return Math.min(n - 1, Math.floor(prng(seed)() * n));
}

/**
 * Chooses and reads each category's prompt. The category's name is its product: the frames of a
 * category are served its recipe.
 *
 * @throws LinewatchError LW_ERR_DATASET_LAYOUT naming the category whose train/good holds no image;
 *   LW_ERR_PRODUCT_PROMPT naming a prompt file that cannot be read
 * @example
 * const { recipes, chosen } = await choosePrompts(dataset, { kind: 'seed', seed: 0 });
 */
export async function choosePrompts(dataset: EvalDataset, rule: PromptRule): Promise<{ recipes: Recipes; chosen: ChosenPrompt[] }> {
  const recipes = new Map<string, ProductPrompts>();
  const chosen: ChosenPrompt[] = [];
  const rel = (path: string): string => {
    const r = relative(dataset.root, path);
    return r.startsWith('..') ? path : r;
  };
  for (const c of dataset.categories) {
    if (rule.kind === 'pool') {
      const dir = join(c.dir, 'train', 'good');
      const all = await goodImages(c.name, dir);
      const files = all.slice(0, rule.size).map((f) => join(dir, f));
      const images: Recipe[] = [];
      for (const path of files) images.push({ product: c.name, path, bytes: await readPrompt(c.name, path) });
      recipes.set(c.name, { kind: 'pool', product: c.name, source: dir, images });
      chosen.push({
        category: c.name,
        image: rel(dir),
        rule: `pool: the first ${files.length} of ${all.length} train/good images in file-name order, each image judged against the nearest by cosine`,
        pool: files.map(rel),
      });
      continue;
    }
    let path: string;
    let how: string;
    if (rule.kind === 'file') {
      path = rule.path;
      how = 'given (--prompt)';
    } else {
      const dir = join(c.dir, 'train', 'good');
      const images = await goodImages(c.name, dir);
      const k = seededIndex(rule.seed, images.length);
      path = join(dir, images[k]!);
      how = `train/good image ${k + 1} of ${images.length}, seed ${rule.seed}`;
    }
    recipes.set(c.name, { kind: 'recipe', product: c.name, images: [{ product: c.name, path, bytes: await readPrompt(c.name, path) }] });
    chosen.push({ category: c.name, image: rel(path), rule: how });
  }
  return { recipes, chosen };
}

/** A category's train/good images in file-name order; none, or no folder, is refused naming it. */
async function goodImages(category: string, dir: string): Promise<string[]> {
  let images: string[];
  try {
    images = await listImages(dir);
  } catch (err) {
    throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `category ${category}: the model needs a prompt image and ${dir} cannot be read (${errorMessage(err)}); give one with --prompt FILE`, { cause: err });
  }
  if (images.length === 0) {
    throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `category ${category}: the model needs a prompt image and ${dir} holds none; give one with --prompt FILE`);
  }
  return images;
}

async function readPrompt(category: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `prompt for category ${category}: ${path} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
}
