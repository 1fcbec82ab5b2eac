import { MapFinisher, type FinishedMaps } from '../../pipeline/postprocess/finish.js';
import type { PreparedPixels } from '../../pipeline/preprocess/index.js';
import type { Bundle } from '../bundle.js';
import type { Manifest } from '../manifest.js';
import type { ModelInput, ModelOutput } from '../types.js';
import type { FrameExtras, ModelAdapter, ModelNeeds } from './types.js';

/**
 * The families so far finish their maps as the manifest says: the graph's map, then its
 * `runtimeSteps`, then its score rule when the graph has no score (MapFinisher: plans and scratch
 * made once per model, here). Subclasses say what goes in.
 */
export abstract class ManifestAdapter implements ModelAdapter {
  readonly architecture: string;
  abstract readonly kind: string;
  abstract readonly needs: ModelNeeds;
  readonly mapHeight: number;
  readonly mapWidth: number;
  protected readonly manifest: Manifest;
  private readonly finisher: MapFinisher;

  constructor(bundle: Bundle) {
    this.architecture = bundle.manifest.architecture;
    this.manifest = bundle.manifest;
    this.finisher = new MapFinisher(bundle.manifest);
    this.mapHeight = this.finisher.height;
    this.mapWidth = this.finisher.width;
  }

  abstract inputs(prepared: readonly PreparedPixels[], extras: readonly FrameExtras[] | null): ModelInput;

  finish(out: ModelOutput): FinishedMaps {
    return this.finisher.finish(out);
  }
}
