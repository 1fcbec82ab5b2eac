/**
 * A fixed-batch model (a TensorRT engine is built for one batch size) takes exactly its batch per
 * run: the worker pads a smaller one with zero images; a larger one is split here into runs of at
 * most that size, and their outputs joined back in order.
 */
import type { ModelInput, ModelOutput } from './types.js';

function copyRange(x: Uint8Array | Float32Array, a: number, b: number): Uint8Array | Float32Array {
  // Copies into buffers of their own: each part is transferred to a worker on its own.
  return x instanceof Float32Array ? new Float32Array(x.subarray(a, b)) : new Uint8Array(x.subarray(a, b));
}

/**
 * `input` as consecutive parts of at most `fixed` images (`perImage` values each), in order.
 *
 * @example
 * splitBatch({ n: 5, data }, 2, 56 * 56 * 3).map((p) => p.n) // [2, 2, 1]
 */
export function splitBatch(input: ModelInput, fixed: number, perImage: number): ModelInput[] {
  const parts: ModelInput[] = [];
  for (let at = 0; at < input.n; at += fixed) {
    const n = Math.min(fixed, input.n - at);
    const a = at * perImage;
    const b = (at + n) * perImage;
    const data = copyRange(input.data, a, b);
    parts.push(input.prompt === undefined ? { n, data } : { n, data, prompt: copyRange(input.prompt, a, b) });
  }
  return parts;
}

/**
 * The outputs of a split batch's runs as one output of `n` images, in order. `inferMs` is their
 * sum: the model time the batch cost, wherever its runs ran.
 */
export function joinOutputs(n: number, outs: readonly ModelOutput[], mapPlane: number): ModelOutput {
  const first = outs[0];
  if (first === undefined) throw new RangeError('joinOutputs: no outputs to join');
  let images = 0;
  for (const o of outs) images += o.n;
  if (images !== n) throw new RangeError(`joinOutputs: the runs hold ${images} images, the batch ${n}`);
  const map = new Float32Array(n * mapPlane);
  const score = first.score === null ? null : new Float32Array(n);
  let at = 0;
  let inferMs = 0;
  for (const o of outs) {
    map.set(o.map, at * mapPlane);
    if (score !== null && o.score !== null) score.set(o.score, at);
    at += o.n;
    inferMs += o.inferMs;
  }
  return { n, map, mapHeight: first.mapHeight, mapWidth: first.mapWidth, score, inferMs };
}
