import type { BatchProbe } from '../../models/batch-probe.js';
import type { Bundle } from '../../models/bundle.js';
import type { Embedder } from '../../models/embedder.js';
import type { InferenceEngine } from '../../models/engine.js';
import { adapterFor, type ModelAdapter } from '../../models/adapters/index.js';
import { RegionFinder } from '../postprocess/index.js';
import { AreaTiling } from '../tiler/area.js';

/**
 * A loaded model: its bundle, engine, adapter (with the per-model plans and scratch) and region
 * finder sized for its maps. Swapped whole on a warm reload; each batch reads it once, when it starts.
 */
export interface ModelSlot {
  readonly bundle: Bundle;
  readonly engine: InferenceEngine;
  readonly adapter: ModelAdapter;
  /** The bundle's embedding graph, running when some product has a pool to choose from; else null. Closed with the engine. */
  readonly embedder: Embedder | null;
  /** Sized for the frame's map: the adapter's, or the merged frame's when the model takes tiles. */
  readonly finder: RegionFinder;
  /** Frames inspected tile by tile (manifest geometry.tiles), or null. */
  readonly tiling: AreaTiling | null;
  /** Batches that started on this engine and have not finished (the old engine closes at 0). */
  inFlight: number;
  /** What batch this engine runs best for the cameras sharing it (measured when they need one), or null. */
  batchProbe: BatchProbe | null;
}

/** `adapter` defaults to the bundle's own (adapterFor); pass the one already made to check the bundle before the engine starts. */
export function createModelSlot(bundle: Bundle, engine: InferenceEngine, adapter: ModelAdapter = adapterFor(bundle), embedder: Embedder | null = null): ModelSlot {
  const tiling = AreaTiling.forManifest(bundle.manifest, adapter.mapHeight, adapter.mapWidth);
  const finder = tiling === null ? new RegionFinder(adapter.mapHeight, adapter.mapWidth) : new RegionFinder(tiling.frameHeight, tiling.frameWidth);
  return { bundle, engine, adapter, embedder, finder, tiling, inFlight: 0, batchProbe: null };
}
