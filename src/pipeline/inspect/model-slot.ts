import type { Bundle } from '../../models/bundle.js';
import type { InferenceEngine } from '../../models/engine.js';
import { adapterFor, type ModelAdapter } from '../../models/adapters/index.js';
import { RegionFinder } from '../postprocess/index.js';

/**
 * A loaded model: its bundle, engine, adapter (with the per-model plans and scratch) and region
 * finder sized for its maps. Swapped whole on a warm reload; each batch reads it once, when it starts.
 */
export interface ModelSlot {
  readonly bundle: Bundle;
  readonly engine: InferenceEngine;
  readonly adapter: ModelAdapter;
  readonly finder: RegionFinder;
  /** Batches that started on this engine and have not finished (the old engine closes at 0). */
  inFlight: number;
}

/** `adapter` defaults to the bundle's own (adapterFor); pass the one already made to check the bundle before the engine starts. */
export function createModelSlot(bundle: Bundle, engine: InferenceEngine, adapter: ModelAdapter = adapterFor(bundle)): ModelSlot {
  return { bundle, engine, adapter, finder: new RegionFinder(adapter.mapHeight, adapter.mapWidth), inFlight: 0 };
}
