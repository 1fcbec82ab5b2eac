import { z } from 'zod';
import { LinewatchError } from '../../errors.js';
import { productNameSchema } from '../../pipeline/products/schema.js';

/**
 * `<root>/<camera>/product`, retained, set by the PLC at a changeover: the product the camera
 * makes from now on. Payload: the name as plain text (`bracket-b`) or JSON `{"product":"bracket-b"}`;
 * an empty payload (the retained message cleared) puts the camera back on its configured product.
 */

const jsonMessageSchema = z.strictObject({ product: productNameSchema });

/** The MQTT filter that takes every camera's product topic. */
export function productTopicFilter(root: string): string {
  return `${root}/+/product`;
}

/** The camera a product topic names, or null when `topic` is no product topic of `root`. */
export function cameraOfProductTopic(root: string, topic: string): string | null {
  const prefix = `${root}/`;
  if (!topic.startsWith(prefix) || !topic.endsWith('/product')) return null;
  const camera = topic.slice(prefix.length, topic.length - '/product'.length);
  return camera.length > 0 && !camera.includes('/') ? camera : null;
}

/**
 * Pure: a payload → the product name, or null for an empty payload (cleared).
 *
 * @throws LinewatchError LW_ERR_PRODUCT_INVALID saying what is wrong
 * @example
 * parseProductMessage(Buffer.from('bracket-b'))                  // 'bracket-b'
 * parseProductMessage(Buffer.from('{"product":"bracket-b"}'))    // 'bracket-b'
 */
export function parseProductMessage(payload: Buffer | string): string | null {
  const text = payload.toString().trim();
  if (text.length === 0) return null;
  let candidate: unknown = text;
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new LinewatchError('LW_ERR_PRODUCT_INVALID', `product payload is not JSON: ${text.slice(0, 80)}`, { cause: err });
    }
    const r = jsonMessageSchema.safeParse(json);
    if (!r.success) throw new LinewatchError('LW_ERR_PRODUCT_INVALID', `product payload: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`);
    candidate = r.data.product;
  }
  const name = productNameSchema.safeParse(candidate);
  if (!name.success) throw new LinewatchError('LW_ERR_PRODUCT_INVALID', `product payload "${text.slice(0, 80)}": ${z.prettifyError(name.error).replace(/\n/g, '; ')}`);
  return name.data;
}
