import { LinewatchError } from '../../errors.js';
import type { Bundle } from '../../models/bundle.js';
import { describeNeeds, needsExtras, type ModelAdapter } from '../../models/adapters/index.js';

/** Someone whose frames a model would judge (a camera, an eval data set) and whether it can serve the model's extras. */
export interface FrameSupplier {
  /** As the refusal names it: `camera cam1`, `the eval data set`. */
  readonly name: string;
  /** null: it can serve them; else why it cannot, in words (e.g. "no product with a prompt image is configured"). */
  readonly cannotServe: string | null;
}

/**
 * Refuses a model whose per-frame needs (OneNIP: a prompt per product) some supplier cannot
 * serve, before any session starts: at station start and model change (the running model then
 * stays), and before eval. Names the bundle, what it needs, and each supplier that cannot.
 *
 * @throws LinewatchError LW_ERR_MODEL_NEEDS_UNMET
 * @example
 * assertNeedsMet(bundle, adapter, [{ name: 'camera cam1', cannotServe: 'no product with a prompt image is configured' }]);
 */
export function assertNeedsMet(bundle: Bundle, adapter: ModelAdapter, suppliers: readonly FrameSupplier[]): void {
  if (!needsExtras(adapter.needs)) return;
  const unmet = suppliers.filter((s) => s.cannotServe !== null);
  if (unmet.length === 0) return;
  throw new LinewatchError(
    'LW_ERR_MODEL_NEEDS_UNMET',
    `model bundle ${bundle.dir} (${adapter.architecture}) needs ${describeNeeds(adapter.needs)}; ${unmet.map((s) => `${s.name} cannot give one: ${s.cannotServe}`).join('; ')}`,
  );
}
