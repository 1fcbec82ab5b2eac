import sharp from 'sharp';
import { LinewatchError, errorMessage } from '../../errors.js';
import type { FrameExtras } from '../../models/adapters/index.js';
import type { Manifest } from '../../models/manifest.js';
import { captureTimeNow } from '../frame.js';
import { preparePixels } from '../preprocess/index.js';
import { promptFileName, type ProductPrompts } from './recipes.js';

/**
 * Line-scan prompts. A line-scan camera's product gives one good image of its web, as wide as the
 * strip (the camera's pixels across) and at least one tile high; each tile of the web is judged
 * against the tile of that good strip at the same place across (its top rows): tile i against good
 * tile i, so a pattern that varies across the web is compared with itself.
 */

/** Where a camera's tiles lie across its strip. */
export interface StripLayout {
  /** Strip width (pixels across). */
  readonly width: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
}

/** A tile of a line-scan band, as its frame's meta carries it (line-scan.ts): where it lies across. */
export interface StripTile {
  readonly layout: StripLayout;
  readonly x: number;
}

export function stripTileOf(meta: Readonly<Record<string, unknown>>): StripTile | undefined {
  const t = meta['stripTile'];
  return typeof t === 'object' && t !== null ? (t as StripTile) : undefined;
}

/**
 * The good tile of `prompts` at `x` across, prepared for `manifest` as a tile is (cut, then the
 * bundle's geometry).
 *
 * @throws LinewatchError LW_ERR_PRODUCT_PROMPT naming the product and the path: a pool (a line-scan
 *   camera takes one good strip per product), an image of another width than the strip, or lower
 *   than a tile, or one that cannot be decoded
 */
export async function prepareStripTile(prompts: ProductPrompts, manifest: Manifest, layout: StripLayout, x: number): Promise<FrameExtras> {
  const field = prompts.kind === 'recipe' ? 'prompt' : 'pool';
  const image = prompts.images[0]!;
  const where = `products.${prompts.product}.${field} ${image.path}`;
  if (prompts.images.length !== 1) {
    throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `${where}: a line-scan camera takes one good image of the web per product (products.${prompts.product}.prompt), not a pool`);
  }
  let size: { width?: number | undefined; height?: number | undefined };
  try {
    size = await sharp(image.bytes).metadata();
  } catch (err) {
    throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `${where}: ${errorMessage(err)}`, { cause: err });
  }
  if (size.width !== layout.width || size.height === undefined || size.height < layout.tileHeight) {
    throw new LinewatchError(
      'LW_ERR_PRODUCT_PROMPT',
      `${where}: a line-scan camera's good image must be as wide as its strip (${layout.width} px) and at least one tile high (${layout.tileHeight} lines); it is ${size.width ?? '?'}x${size.height ?? '?'}`,
    );
  }
  const frame = { seq: 0, cameraId: `product ${prompts.product}`, capturedAt: captureTimeNow(), image: { kind: 'encoded' as const, data: image.bytes, origin: image.path }, meta: {} };
  try {
    const prompt = await preparePixels(frame, manifest, { x, y: 0, width: layout.tileWidth, height: layout.tileHeight });
    return { prompt, promptName: promptFileName(image) };
  } catch (err) {
    throw new LinewatchError('LW_ERR_PRODUCT_PROMPT', `${where}: ${errorMessage(err)}`, { cause: err });
  }
}
