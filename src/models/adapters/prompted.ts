/**
 * OneNIP: the frame and one good image of the same product (the prompt) go in as two graph inputs
 * of the same geometry; the map and score come out as the manifest says (OneNIP's graph fuses its
 * reconstruction and refined maps and scores by the 16×16 average-pool maximum itself).
 *
 * Each frame carries its own prompt (FrameExtras), so one batch may mix products and cameras.
 * Prompts are shared between the frames of a product, so they are always copied into the batch,
 * never handed to the engine (which would detach them).
 */
import { LinewatchError } from '../../errors.js';
import { allocateBatch, batchTensor, writeTensor, type PreparedPixels } from '../../pipeline/preprocess/index.js';
import type { Bundle } from '../bundle.js';
import type { ModelInput } from '../types.js';
import { ManifestAdapter } from './manifest-adapter.js';
import type { FrameExtras, ModelNeeds } from './types.js';

export class PromptedAdapter extends ManifestAdapter {
  readonly kind = 'prompted';
  readonly needs: ModelNeeds;

  constructor(bundle: Bundle) {
    super(bundle);
    const m = bundle.manifest;
    if (m.prompt === null) {
      throw new LinewatchError(
        'LW_ERR_BUNDLE_MANIFEST',
        `model bundle ${bundle.dir}: architecture "${m.architecture}" takes a prompt image beside the frame, but model.json has no "prompt" (name the graph's prompt input and how prompts are chosen)`,
      );
    }
    this.needs = { prompt: { input: m.prompt.name, selection: m.prompt.selection, pool: m.prompt.pool ?? null } };
  }

  inputs(prepared: readonly PreparedPixels[], extras: readonly FrameExtras[] | null): ModelInput {
    const m = this.manifest;
    const n = prepared.length;
    if (extras === null || extras.length !== n) {
      throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `${m.architecture} needs a prompt for each of the ${n} frames of the batch; ${extras === null ? 'none were' : `${extras.length} were`} given`);
    }
    const prompt = allocateBatch(m, n);
    for (let k = 0; k < n; k++) {
      const p = extras[k]!.prompt;
      if (p === null) throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `${m.architecture}: frame ${k} of the batch has no prompt`);
      // A prompt prepared for another model (a swap in between) would be read out of shape.
      const c = p.geometry.crop;
      if (c.width !== m.input.width || c.height !== m.input.height || p.channels !== m.input.channels) {
        throw new LinewatchError(
          'LW_ERR_MODEL_NEEDS_UNMET',
          `${m.architecture}: the prompt of frame ${k} of the batch is ${c.width}x${c.height}x${p.channels}, the model takes ${m.input.width}x${m.input.height}x${m.input.channels}`,
        );
      }
      writeTensor(p, m, prompt, k);
    }
    return { n, data: batchTensor(prepared, m), prompt };
  }
}
