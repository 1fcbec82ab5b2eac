import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LinewatchError, errorMessage } from '../../errors.js';
import { listImages } from '../../util/image-files.js';
import { isPoolProduct, type ProductsConfig } from './schema.js';

/** One good image of a product: its bytes, read once when the configuration is taken. */
export interface Recipe {
  readonly product: string;
  /** As configured (resolved against the configuration's folder): named in refusals and errors. */
  readonly path: string;
  readonly bytes: Buffer;
}

/**
 * A product's good images, in pool order (ties go to the first). `recipe`: configured with
 * `prompt: FILE`, exactly one image; `pool`: configured with `pool:`, one or more. The kind is kept
 * because a recipe bundle serves only recipes (see station.ts promptSuppliers).
 */
export type ProductPrompts =
  | { readonly kind: 'recipe'; readonly product: string; readonly images: readonly [Recipe] }
  | { readonly kind: 'pool'; readonly product: string; /** The folder or the first file, for messages. */ readonly source: string; readonly images: readonly Recipe[] };

/** The prompts of a configuration, by product name (a Map: product names are data, never object keys). */
export type Recipes = ReadonlyMap<string, ProductPrompts>;

/** The name a verdict gives a prompt image: its file name (the folder is the configuration's business). */
export function promptFileName(r: Recipe): string {
  return basename(r.path);
}

async function readImage(product: string, field: string, path: string): Promise<Recipe> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.${field} ${path}: cannot be read: ${errorMessage(err)}`, { cause: err });
  }
  if (bytes.length === 0) throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.${field} ${path}: the file is empty`);
  return { product, path, bytes };
}

/** A pool folder's image files in file-name order; a folder without one is refused (a pool of nothing judges nothing). */
async function poolFiles(product: string, dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await listImages(dir);
  } catch (err) {
    throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.pool ${dir}: cannot be read as a folder of images: ${errorMessage(err)}`, { cause: err });
  }
  if (names.length === 0) throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.pool ${dir}: holds no image file`);
  return names.map((n) => join(dir, n));
}

/**
 * Reads every product's images. The bytes are kept: a file replaced or removed later changes
 * nothing until the next configuration names it again (the line runs what was checked).
 *
 * @throws LinewatchError LW_ERR_PRODUCT_PROMPT naming the product and the path, for the first
 *   file that cannot be read, is empty, or a pool folder that holds no image
 * @example
 * const recipes = await readRecipes({ a: { prompt: '/recipes/a.png' }, b: { pool: '/recipes/b/' } });
 */
export async function readRecipes(products: ProductsConfig): Promise<Recipes> {
  const out = new Map<string, ProductPrompts>();
  for (const [product, p] of Object.entries(products)) {
    if (!isPoolProduct(p)) {
      out.set(product, { kind: 'recipe', product, images: [await readImage(product, 'prompt', p.prompt)] });
      continue;
    }
    const files = typeof p.pool === 'string' ? await poolFiles(product, p.pool) : p.pool;
    const images: Recipe[] = [];
    for (const f of files) images.push(await readImage(product, 'pool', f));
    out.set(product, { kind: 'pool', product, source: typeof p.pool === 'string' ? p.pool : files[0]!, images });
  }
  return out;
}
