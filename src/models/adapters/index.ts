/**
 * One adapter per architecture, chosen by `manifest.architecture`. Nothing else in the runtime
 * knows a model family. To add an architecture (docs/model-bundle.md, "Adding an architecture"):
 * add its name to ARCHITECTURES (src/models/manifest.ts), map it here to an adapter — an existing
 * one when the bundle is one image in and a map out as the manifest says, a new ModelAdapter
 * (types.ts) when it needs more — and give it a test on a tiny bundle made by trainer/.
 */
import { LinewatchError } from '../../errors.js';
import type { Bundle } from '../bundle.js';
import { ARCHITECTURES, isArchitecture, type Architecture } from '../manifest.js';
import { PromptedAdapter } from './prompted.js';
import { SingleImageAdapter } from './single-image.js';
import type { ModelAdapter } from './types.js';

const ADAPTERS: { readonly [A in Architecture]: (bundle: Bundle) => ModelAdapter } = {
  'inp-former': (b) => new SingleImageAdapter(b),
  // Its bundles fuse the reconstruction map and the residual head's mask in the graph; a bundle
  // that left the fusion to the runtime would get its own adapter here (the inspector unchanged).
  'inp-former++': (b) => new SingleImageAdapter(b),
  // anomalib 2.x exports: map and pred_score out of the graph, thresholds recovered into the manifest.
  anomalib: (b) => new SingleImageAdapter(b),
  generic: (b) => new SingleImageAdapter(b),
  onenip: (b) => new PromptedAdapter(b),
};

/**
 * The adapter for a loaded bundle, with its per-model plans and scratch (one per engine).
 *
 * @throws LinewatchError LW_ERR_MODEL_ARCHITECTURE (no adapter for the architecture),
 *   LW_ERR_BUNDLE_MANIFEST (the manifest does not fit the architecture, e.g. a prompt declared
 *   for a single-image model)
 * @example
 * const adapter = adapterFor(await loadBundle('models/demo')); // SingleImageAdapter, needs nothing
 */
export function adapterFor(bundle: Bundle): ModelAdapter {
  const a = bundle.manifest.architecture;
  if (!isArchitecture(a)) {
    throw new LinewatchError(
      'LW_ERR_MODEL_ARCHITECTURE',
      `model bundle ${bundle.dir}: architecture "${a}" has no adapter in this runtime (it runs ${ARCHITECTURES.join(', ')})`,
    );
  }
  return ADAPTERS[a](bundle);
}

export { describeNeeds, needsExtras, type FrameExtras, type ModelAdapter, type ModelNeeds, type PromptNeed } from './types.js';
