/**
 * The pool member nearest to a frame: the row of `features` (rows × dim, L2-normalised) with the
 * largest dot product with `query` — the cosine similarity. Ties go to the first row (pool order),
 * so the same frame always gets the same prompt.
 */
export function nearestRow(features: Float32Array, dim: number, query: Float32Array): number {
  const rows = features.length / dim;
  let best = 0;
  let bestSim = -Infinity;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * dim;
    for (let i = 0; i < dim; i++) s += features[o + i]! * query[i]!;
    if (s > bestSim) {
      bestSim = s;
      best = r;
    }
  }
  return best;
}
