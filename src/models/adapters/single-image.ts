/**
 * One image in, a map (and maybe a score) out, all of it as the manifest says: INP-Former,
 * INP-Former++ (its graph fuses its maps), anomalib exports and generic bundles. The manifest's
 * `runtimeSteps` and score rule finish the map (MapFinisher: plans and scratch made once here).
 */
import { LinewatchError } from '../../errors.js';
import { batchTensor, type PreparedPixels } from '../../pipeline/preprocess/index.js';
import type { Bundle } from '../bundle.js';
import type { ModelInput } from '../types.js';
import { ManifestAdapter } from './manifest-adapter.js';
import type { FrameExtras, ModelNeeds } from './types.js';

const NOTHING: ModelNeeds = { prompt: null };

export class SingleImageAdapter extends ManifestAdapter {
  readonly kind = 'single-image';
  readonly needs: ModelNeeds = NOTHING;

  constructor(bundle: Bundle) {
    super(bundle);
    const m = bundle.manifest;
    if (m.prompt !== null) {
      throw new LinewatchError(
        'LW_ERR_BUNDLE_MANIFEST',
        `model bundle ${bundle.dir}: architecture "${m.architecture}" takes one image, but model.json declares a prompt input "${m.prompt.name}"`,
      );
    }
  }

  inputs(prepared: readonly PreparedPixels[], _extras: readonly FrameExtras[] | null): ModelInput {
    return { n: prepared.length, data: batchTensor(prepared, this.manifest) };
  }
}
