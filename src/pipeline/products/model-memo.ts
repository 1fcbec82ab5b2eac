import type { Manifest } from '../../models/manifest.js';

/**
 * Promises made once per model and key: the prompt cache's products and line-scan tiles.
 * Keyed first by the manifest object of the model in force, weakly: a model swap brings a new
 * manifest, so everything is made anew, and the old entries go with the old model. A failure is
 * kept like a success: the same bytes fail the same way, and a bad prompt must not be decoded
 * again for every frame.
 */
export class ModelMemo<T> {
  private readonly byModel: WeakMap<Manifest, Map<string, Promise<T>>>;

  constructor() {
    this.byModel = new WeakMap();
  }

  /** What `make` gave the first time `key` was asked for under `manifest`; `make` runs only then. */
  get(manifest: Manifest, key: string, make: () => Promise<T>): Promise<T> {
    let memo = this.byModel.get(manifest);
    if (memo === undefined) {
      memo = new Map();
      this.byModel.set(manifest, memo);
    }
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const made = make();
    // Kept, not awaited here: its failure reaches whoever asks, not the process as unhandled.
    made.catch(() => {});
    memo.set(key, made);
    return made;
  }
}
