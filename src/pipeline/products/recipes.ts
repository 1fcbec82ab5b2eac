import { readFile } from 'node:fs/promises';
import { LinewatchError, errorMessage } from '../../errors.js';
import type { ProductsConfig } from './schema.js';

/** One product's recipe: its prompt image's bytes, read once when the configuration is taken. */
export interface Recipe {
  readonly product: string;
  /** As configured (resolved against the configuration's folder): named in refusals and errors. */
  readonly path: string;
  readonly bytes: Buffer;
}

/** The recipes of a configuration, by product name (a Map: product names are data, never object keys). */
export type Recipes = ReadonlyMap<string, Recipe>;

/**
 * Reads every product's prompt file. The bytes are kept: a file replaced or removed later changes
 * nothing until the next configuration names it again (the line runs what was checked).
 *
 * @throws LinewatchError LW_ERR_PRODUCT_PROMPT naming the product and the path, for the first file that cannot be read
 * @example
 * const recipes = await readRecipes({ a: { prompt: '/recipes/a.png' } });
 */
export async function readRecipes(products: ProductsConfig): Promise<Recipes> {
  const out = new Map<string, Recipe>();
  for (const [product, p] of Object.entries(products)) {
    let bytes: Buffer;
    try {
      bytes = await readFile(p.prompt);
    } catch (err) {
      throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.prompt ${p.prompt}: cannot be read: ${errorMessage(err)}`, { cause: err });
    }
    if (bytes.length === 0) throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `products.${product}.prompt ${p.prompt}: the file is empty`);
    out.set(product, { product, path: p.prompt, bytes });
  }
  return out;
}
