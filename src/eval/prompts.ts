/**
 * Prompts for evaluating a prompted model (OneNIP): each category is judged against one good image
 * of its own, taken from its train/good — the recipe a line would configure for that product.
 * Which one is chosen by a seed (reproducible, and a second seed shows how much the choice moves
 * the figures) or given as one file for every category. The report names each prompt.
 */
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LinewatchError, errorMessage } from '../errors.js';
import { prng } from '../pipeline/sources/synthetic.js';
import type { Recipes } from '../pipeline/products/index.js';
import { listImages, type EvalDataset } from './dataset.js';

/** How each category's prompt is chosen. */
export type PromptRule =
  /** One image of `<category>/train/good`, drawn with the seeded PRNG the synthetic source uses. */
  | { readonly kind: 'seed'; readonly seed: number }
  /** The same image for every category (a product's recipe as the line has it). */
  | { readonly kind: 'file'; readonly path: string };

export const DEFAULT_PROMPT_RULE: PromptRule = { kind: 'seed', seed: 0 };

/** The prompt a category was judged with, as the report states it. */
export interface ChosenPrompt {
  readonly category: string;
  /** Relative to the data root when it lies inside it. */
  readonly image: string;
  /** In words: `train/good image 12 of 209, seed 0`, or `given (--prompt)`. */
  readonly rule: string;
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
  const recipes = new Map<string, { product: string; path: string; bytes: Buffer }>();
  const chosen: ChosenPrompt[] = [];
  for (const c of dataset.categories) {
    let path: string;
    let how: string;
    if (rule.kind === 'file') {
      path = rule.path;
      how = 'given (--prompt)';
    } else {
      const dir = join(c.dir, 'train', 'good');
      let images: string[];
      try {
        images = await listImages(dir);
      } catch (err) {
        throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `category ${c.name}: the model needs a prompt image and ${dir} cannot be read (${errorMessage(err)}); give one with --prompt FILE`, { cause: err });
      }
      if (images.length === 0) {
        throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `category ${c.name}: the model needs a prompt image and ${dir} holds none; give one with --prompt FILE`);
      }
      const k = seededIndex(rule.seed, images.length);
      path = join(dir, images[k]!);
      how = `train/good image ${k + 1} of ${images.length}, seed ${rule.seed}`;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `prompt for category ${c.name}: ${path} cannot be read: ${errorMessage(err)}`, { cause: err });
    }
    recipes.set(c.name, { product: c.name, path, bytes });
    const rel = relative(dataset.root, path);
    chosen.push({ category: c.name, image: rel.startsWith('..') ? path : rel, rule: how });
  }
  return { recipes, chosen };
}
